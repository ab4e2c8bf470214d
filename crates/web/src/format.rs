//! Small formatting rules the pages share: handles, ages, links that may be followed, excerpts.

use chrono::{DateTime, Utc};

/// How an actor is named on a page: `name` when local, `name@instance` when remote.
pub fn handle(name: &str, local: bool, authority: &str) -> String {
    if local {
        name.to_string()
    } else {
        format!("{name}@{authority}")
    }
}

/// A path segment with everything but unreserved characters (and `@`, `:`) percent-encoded, so a
/// remote name cannot add path segments or a query to a link.
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' | b':' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A query value, percent-encoded.
pub fn query_value(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The page of an actor: `/u/{handle}` or `/c/{handle}`.
pub fn actor_path(kind: &str, name: &str, local: bool, authority: &str) -> String {
    format!("/{kind}/{}", segment(&handle(name, local, authority)))
}

/// How long ago `t` was, shortly: `now`, `5 min`, `3 h`, `2 d`, `4 mo`, `1 y`.
pub fn age(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = now.signed_duration_since(t).num_seconds().max(0);
    match secs {
        0..60 => "now".to_string(),
        60..3_600 => format!("{} min", secs / 60),
        3_600..86_400 => format!("{} h", secs / 3_600),
        86_400..2_592_000 => format!("{} d", secs / 86_400),
        2_592_000..31_536_000 => format!("{} mo", secs / 2_592_000),
        _ => format!("{} y", secs / 31_536_000),
    }
}

/// A link a page may print as `href`: only `http` and `https` URLs (a stored URL from another
/// server may say anything, `javascript:` included).
pub fn followable(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url.trim()).ok()?;
    matches!(parsed.scheme(), "http" | "https")
        .then(|| parsed.host_str().is_some())
        .filter(|ok| *ok)
        .map(|_| parsed.to_string())
}

/// The host a link points to, shown beside a post's title.
pub fn domain(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url.trim()).ok()?;
    parsed
        .host_str()
        .map(|h| h.trim_start_matches("www.").to_string())
}

/// Plain text of stored (sanitised) HTML, at most `max` characters, for a page's description.
pub fn excerpt(html: &str, max: usize) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out = String::new();
    for w in words {
        if out.chars().count() + w.chars().count() + 1 > max {
            out.push('…');
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn only_http_links_are_followable() {
        assert_eq!(
            followable("https://example.com/a?b=1").as_deref(),
            Some("https://example.com/a?b=1")
        );
        assert!(followable("http://example.com").is_some());
        for bad in [
            "javascript:alert(1)",
            " JavaScript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:x",
            "//example.com",
            "/relative",
            "file:///etc/passwd",
            "",
        ] {
            assert_eq!(followable(bad), None, "{bad}");
        }
    }

    #[test]
    fn segments_cannot_add_paths_or_queries() {
        assert_eq!(segment("alice@lemmy.example"), "alice@lemmy.example");
        assert_eq!(segment("../x?y=1#z"), "..%2Fx%3Fy%3D1%23z");
        assert_eq!(segment("a b\"<"), "a%20b%22%3C");
    }

    #[test]
    fn ages_are_short() {
        let now = Utc::now();
        assert_eq!(age(now, now), "now");
        assert_eq!(age(now - Duration::minutes(5), now), "5 min");
        assert_eq!(age(now - Duration::hours(3), now), "3 h");
        assert_eq!(age(now - Duration::days(2), now), "2 d");
        assert_eq!(age(now - Duration::days(65), now), "2 mo");
        assert_eq!(age(now - Duration::days(800), now), "2 y");
        assert_eq!(age(now + Duration::hours(1), now), "now", "clock skew");
    }

    #[test]
    fn excerpts_are_plain_text_within_the_limit() {
        assert_eq!(
            excerpt("<p>Hello <b>world</b> &amp; more</p>", 100),
            "Hello world & more"
        );
        let long = excerpt(&"<p>word </p>".repeat(100), 30);
        assert!(long.chars().count() <= 31, "{long}");
        assert!(long.ends_with('…'));
    }
}
