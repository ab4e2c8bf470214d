//! The two small HTML pages the federation side still answers browsers with: the instance
//! actor's and a deleted object's. Pages for people (posts, threads, communities, users) are
//! `canopy-web`'s.

/// Escape text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: `title` is text, `body` is already safe HTML.
fn document(title: &str, ap_id: &str, body: &str) -> String {
    let title = escape(title);
    let ap_id = escape(ap_id);
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>\
         <link rel=\"alternate\" type=\"application/activity+json\" href=\"{ap_id}\"></head>\n\
         <body>\n{body}\n</body></html>\n"
    )
}

pub fn instance_actor(name: &str, ap_id: &str) -> String {
    let body = format!(
        "<h1>{}</h1>\n<p>The instance actor of this Canopy node; it signs the node's own requests.</p>",
        escape(name)
    );
    document(name, ap_id, &body)
}

pub fn gone(ap_id: &str) -> String {
    document(
        "Deleted",
        ap_id,
        "<h1>Deleted</h1>\n<p>This was deleted.</p>",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<b>"x" & 'y'</b>"#),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }
}
