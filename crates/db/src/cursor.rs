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

    mod properties {
        use super::super::*;
        use crate::tree::{CommentSort, TreeCursor};
        use proptest::prelude::*;

        fn sort_value() -> impl Strategy<Value = SortValue> {
            prop_oneof![
                any::<u64>().prop_map(|bits| SortValue::Float(f64::from_bits(bits))),
                any::<i64>().prop_map(SortValue::Int),
                any::<i64>().prop_map(SortValue::Time),
            ]
        }

        fn position() -> impl Strategy<Value = Position> {
            (sort_value(), any::<i64>()).prop_map(|(value, id)| Position { value, id })
        }

        fn comment_sort() -> impl Strategy<Value = CommentSort> {
            prop_oneof![
                Just(CommentSort::Hot),
                Just(CommentSort::Top),
                Just(CommentSort::New),
                Just(CommentSort::Old),
                Just(CommentSort::Controversial),
            ]
        }

        /// Equality that also holds for a NaN carried bit for bit.
        fn same(a: &Position, b: &Position) -> bool {
            let bits = |v: &SortValue| match *v {
                SortValue::Float(f) => (0, f.to_bits() as i64),
                SortValue::Int(i) => (1, i),
                SortValue::Time(t) => (2, t),
            };
            a.id == b.id && bits(&a.value) == bits(&b.value)
        }

        /// Base64url of JSON shaped like a cursor, with the field names, tags and value types
        /// mixed up: the input that gets past base64 and exercises the JSON side.
        fn cursor_like() -> impl Strategy<Value = String> {
            let key = prop_oneof![
                Just("v"),
                Just("id"),
                Just("f"),
                Just("i"),
                Just("t"),
                Just("p"),
                Just("r"),
                Just("s"),
                Just("a"),
                Just("x"),
            ];
            let scalar = prop_oneof![
                any::<i64>().prop_map(|n| n.to_string()),
                any::<u64>().prop_map(|n| n.to_string()),
                any::<f64>().prop_map(|f| format!("{f:?}")),
                Just("null".to_owned()),
                Just("\"Hot\"".to_owned()),
                Just("\"Controversial\"".to_owned()),
                Just("1e999".to_owned()),
                Just("-0".to_owned()),
                "[ -~]{0,6}".prop_map(|s| format!("{s:?}")),
            ];
            let leaf = (key.clone(), scalar).prop_map(|(k, v)| format!("\"{k}\":{v}"));
            let fields =
                proptest::collection::vec(leaf, 0..4).prop_map(|f| format!("{{{}}}", f.join(",")));
            (
                proptest::collection::vec((key, fields), 0..4),
                any::<bool>(),
            )
                .prop_map(|(entries, cut)| {
                    let json = format!(
                        "{{{}}}",
                        entries
                            .iter()
                            .map(|(k, v)| format!("\"{k}\":{v}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    );
                    let json = if cut {
                        &json[..json.len() / 2]
                    } else {
                        &json[..]
                    };
                    URL_SAFE_NO_PAD.encode(json)
                })
        }

        /// Decoding as every cursor type the listings use, and reading the sort value as
        /// every kind a listing asks for: an error or a value, never a panic.
        fn decode_everything(raw: &str) {
            if let Ok(p) = decode::<Position>(raw) {
                let _ = (p.value.as_time(), p.value.as_float(), p.value.as_int());
            }
            if let Ok(c) = decode::<TreeCursor>(raw) {
                if let Some(p) = c.after {
                    let _ = (p.value.as_time(), p.value.as_float(), p.value.as_int());
                }
            }
            let _ = decode::<serde_json::Value>(raw);
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn arbitrary_strings_decode_to_a_cursor_or_an_error(raw in ".{0,1200}") {
                decode_everything(&raw);
                if raw.len() > MAX_CURSOR_LEN {
                    prop_assert!(matches!(decode::<Position>(&raw), Err(DbError::BadCursor(_))));
                }
            }

            #[test]
            fn base64_of_arbitrary_bytes_decodes_to_a_cursor_or_an_error(
                bytes in proptest::collection::vec(any::<u8>(), 0..600)
            ) {
                decode_everything(&URL_SAFE_NO_PAD.encode(bytes));
            }

            #[test]
            fn cursor_shaped_json_decodes_to_a_cursor_or_an_error(raw in cursor_like()) {
                decode_everything(&raw);
            }

            #[test]
            fn positions_round_trip(p in position()) {
                let back: Position = decode(&encode(&p)).unwrap();
                prop_assert!(same(&p, &back), "{p:?} came back as {back:?}");
            }

            #[test]
            fn tree_cursors_round_trip(
                post in any::<i64>(),
                parent in any::<i64>(),
                sort in comment_sort(),
                after in proptest::option::of(position()),
            ) {
                let c = TreeCursor { post, parent, sort, after };
                let back = TreeCursor::decode(&c.encode()).unwrap();
                prop_assert_eq!((back.post, back.parent, back.sort), (post, parent, sort));
                match (&after, &back.after) {
                    (None, None) => {}
                    (Some(a), Some(b)) => prop_assert!(same(a, b), "{a:?} came back as {b:?}"),
                    _ => prop_assert!(false, "{after:?} came back as {:?}", back.after),
                }
            }

            #[test]
            fn a_decoded_time_is_in_range_or_an_error(micros in any::<i64>()) {
                match SortValue::Time(micros).as_time() {
                    Ok(t) => prop_assert_eq!(t.timestamp_micros(), micros),
                    Err(e) => prop_assert!(matches!(e, DbError::BadCursor(_))),
                }
            }
        }
    }
}
