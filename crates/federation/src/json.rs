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

/// Host and port of a URL as instances are keyed (`localhost:8001`, `example.com`).
pub fn authority(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{}:{p}", h.to_lowercase()),
        (Some(h), None) => h.to_lowercase(),
        _ => String::new(),
    }
}

/// Whether two URLs belong to the same server: same scheme-independent authority.
pub fn same_authority(a: &Url, b: &Url) -> bool {
    let x = authority(a);
    !x.is_empty() && x == authority(b)
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

    #[test]
    fn authority_keeps_ports_apart() {
        let a = Url::parse("http://localhost:8001/u/x").unwrap();
        let b = Url::parse("http://localhost:8002/u/x").unwrap();
        assert!(!same_authority(&a, &b));
        assert!(same_authority(
            &a,
            &Url::parse("https://LOCALHOST:8001/y").unwrap()
        ));
    }
}
