//! Opaque keyset cursors: a position in one ordering, serialised to JSON and base64url-encoded.
//! Clients pass them back unchanged; anything that does not decode is `BadCursor`.

use crate::DbError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Longest cursor string accepted; real ones are well under 200 bytes.
const MAX_CURSOR_LEN: usize = 1024;

/// The value of the sort key at a position. Floats survive the JSON round trip exactly.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum SortValue {
    #[serde(rename = "f")]
    Float(f64),
    #[serde(rename = "i")]
    Int(i64),
    /// Microseconds since the Unix epoch.
    #[serde(rename = "t")]
    Time(i64),
}

impl SortValue {
    pub fn time(t: DateTime<Utc>) -> Self {
        SortValue::Time(t.timestamp_micros())
    }

    pub(crate) fn as_time(self) -> Result<DateTime<Utc>, DbError> {
        match self {
            SortValue::Time(us) => {
                DateTime::from_timestamp_micros(us).ok_or(DbError::BadCursor("time out of range"))
            }
            _ => Err(DbError::BadCursor("cursor does not fit this sort")),
        }
    }
    pub(crate) fn as_float(self) -> Result<f64, DbError> {
        match self {
            SortValue::Float(f) if f.is_finite() => Ok(f),
            _ => Err(DbError::BadCursor("cursor does not fit this sort")),
        }
    }
    pub(crate) fn as_int(self) -> Result<i64, DbError> {
        match self {
            SortValue::Int(i) => Ok(i),
            _ => Err(DbError::BadCursor("cursor does not fit this sort")),
        }
    }
}

/// The last row a page returned: its sort value and its id (the tie-breaker).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Position {
    #[serde(rename = "v")]
    pub value: SortValue,
    #[serde(rename = "id")]
    pub id: i64,
}

pub fn encode<T: Serialize>(value: &T) -> String {
    // Serialising these plain structs cannot fail; an empty cursor would be refused on decode.
    let json = serde_json::to_vec(value).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

pub fn decode<T: DeserializeOwned>(raw: &str) -> Result<T, DbError> {
    if raw.len() > MAX_CURSOR_LEN {
        return Err(DbError::BadCursor("too long"));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(raw.trim_end_matches('='))
        .map_err(|_| DbError::BadCursor("not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| DbError::BadCursor("not a cursor of this listing"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_exactly() {
        let p = Position {
            value: SortValue::Float(38_123.456_789_012_34),
            id: 42,
        };
        let back: Position = decode(&encode(&p)).unwrap();
        assert_eq!(p, back);
    }

    #[test]
    fn garbage_is_a_bad_cursor() {
        assert!(matches!(
            decode::<Position>("%%%"),
            Err(DbError::BadCursor(_))
        ));
        assert!(matches!(
            decode::<Position>("e30"),
            Err(DbError::BadCursor(_))
        ));
        assert!(matches!(
            decode::<Position>(&"a".repeat(5000)),
            Err(DbError::BadCursor(_))
        ));
    }
}
