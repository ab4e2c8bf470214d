//! Lenient readers for ActivityStreams JSON as real servers send it: a field may hold a URL, an
//! embedded object with an `id`, or an array of either; `type` may be a string or an array.

use serde_json::Value;
use url::Url;

/// The URL a value names: the string itself, or the `id` of an embedded object.
pub fn id_of(v: &Value) -> Option<Url> {
    match v {
        Value::String(s) => Url::parse(s).ok(),
        Value::Object(o) => o
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| Url::parse(s).ok()),
        Value::Array(a) => a.first().and_then(id_of),
        _ => None,
    }
}

/// Every URL a field names (one or many).
pub fn ids_of(v: Option<&Value>) -> Vec<Url> {
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(id_of).collect(),
        Some(other) => id_of(other).into_iter().collect(),
        None => Vec::new(),
    }
}

/// The (first) type of an object, or "" when it has none.
pub fn kind_of(v: &Value) -> &str {
    match v.get("type") {
        Some(Value::String(s)) => s,
        Some(Value::Array(a)) => a.first().and_then(Value::as_str).unwrap_or(""),
        _ => "",
    }
}

pub fn str_field<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The markdown source of an object when it carries one (`source` with `text/markdown`).
pub fn markdown_source(v: &Value) -> Option<&str> {
    let source = v.get("source")?;
    let media = source
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or("");
    if media.eq_ignore_ascii_case("text/markdown") {
        source.get("content").and_then(Value::as_str)
    } else {
        None
    }
}

/// A timestamp field in RFC 3339.
pub fn time_field(v: &Value, name: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    str_field(v, name)
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_come_from_strings_objects_and_arrays() {
        assert_eq!(
            id_of(&json!("https://a.example/u/x")).unwrap().as_str(),
            "https://a.example/u/x"
        );
        assert_eq!(
            id_of(&json!({"id": "https://a.example/1"}))
                .unwrap()
                .as_str(),
            "https://a.example/1"
        );
        assert_eq!(
            ids_of(Some(
                &json!(["https://a.example/1", {"id": "https://b.example/2"}])
            ))
            .len(),
            2
        );
        assert!(id_of(&json!(3)).is_none());
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;
        use serde_json::json;

        /// Strings that are sometimes URLs, sometimes almost, sometimes anything.
        fn url_ish() -> impl Strategy<Value = String> {
            prop_oneof![
                "(https?|ftp|x-y|data|urn):(//)?[a-zA-Z0-9.:@\\[\\]%_~/-]{0,30}",
                "https?://[a-z0-9.-]{1,20}(:[0-9]{1,6})?/[ -~]{0,20}",
                ".{0,40}",
            ]
        }

        /// ActivityStreams-like JSON: objects with `id`, `type` and a few other fields, arrays,
        /// and any scalar, nested a few levels.
        fn as_json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(|n| json!(n)),
                any::<f64>().prop_map(|f| json!(f)),
                url_ish().prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 64, 6, |inner| {
                let key = prop_oneof![
                    Just("id".to_owned()),
                    Just("type".to_owned()),
                    Just("actor".to_owned()),
                    Just("object".to_owned()),
                    "[a-z]{1,6}",
                ];
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    proptest::collection::btree_map(key, inner, 0..6)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn the_readers_never_panic_and_agree_with_each_other(v in as_json()) {
                let one = id_of(&v);
                let many = ids_of(Some(&v));
                match &v {
                    Value::Array(items) => {
                        prop_assert_eq!(one, items.first().and_then(id_of));
                        prop_assert!(many.len() <= items.len());
                    }
                    _ => prop_assert_eq!(one.into_iter().collect::<Vec<_>>(), many),
                }
                let kind = kind_of(&v);
                prop_assert!(kind.is_empty() || v.get("type").is_some());
                for field in ["id", "type", "actor", "object"] {
                    let _ = (ids_of(v.get(field)), str_field(&v, field), time_field(&v, field));
                }
                let _ = markdown_source(&v);
            }
        }
    }
}
