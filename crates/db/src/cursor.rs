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

/// The value of the sort key at a position. Floats are carried as their IEEE 754 bits: a keyset
/// position must come back exactly, and a decimal float read back by serde_json (without its
/// `float_roundtrip` feature) can be one unit in the last place off, which made a page repeat
/// the row it ended with.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum SortValue {
    #[serde(rename = "f", with = "float_bits")]
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

mod float_bits {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(f: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(f.to_bits())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        u64::deserialize(d).map(f64::from_bits)
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
    fn every_float_round_trips_exactly() {
        // Hot ranks look like this: about 39,000 with every bit of the mantissa in use.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let f = 39_000.0 + (x >> 11) as f64 / (1u64 << 53) as f64 * 2_000.0;
            let p = Position {
                value: SortValue::Float(f),
                id: 1,
            };
            let back: Position = decode(&encode(&p)).unwrap();
            assert_eq!(back.value, p.value, "{f:?}");
        }
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
