//! The small HTML pages browsers get from actor and object URLs. Names and titles are escaped;
//! bodies are the stored HTML, which was sanitised when it was rendered from markdown.

use crate::urls::PublicBase;
use canopy_db::published::{LocalComment, LocalCommunity, LocalPerson, LocalPost};

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

fn api_link(path: &str) -> String {
    format!(
        "<p><a href=\"{}\">JSON (API)</a></p>",
        escape(&format!("/api/v1{path}"))
    )
}

pub fn person(row: &LocalPerson, base: &PublicBase) -> String {
    let shown = row.display_name.as_deref().unwrap_or(&row.name);
    let body = format!(
        "<h1>{}</h1>\n<p>@{}@{}</p>\n{}\n{}",
        escape(shown),
        escape(&row.name),
        escape(base.authority()),
        row.bio_html.as_deref().unwrap_or(""),
        api_link(&format!("/users/{}", row.name)),
    );
    document(shown, &row.ap_id, &body)
}

pub fn community(row: &LocalCommunity, base: &PublicBase) -> String {
    let body = format!(
        "<h1>{}</h1>\n<p>!{}@{}</p>\n{}\n{}",
        escape(&row.title),
        escape(&row.name),
        escape(base.authority()),
        row.description_html.as_deref().unwrap_or(""),
        api_link(&format!("/communities/{}", row.name)),
    );
    document(&row.title, &row.ap_id, &body)
}

pub fn post(row: &LocalPost) -> String {
    let link = row
        .url
        .as_deref()
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .map(|u| {
            format!(
                "<p><a href=\"{0}\" rel=\"nofollow noopener noreferrer ugc\">{0}</a></p>\n",
                escape(u)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<h1>{}</h1>\n<p>by <a href=\"{}\">{}</a> in <a href=\"{}\">{}</a></p>\n{link}{}\n{}",
        escape(&row.title),
        escape(&row.creator_ap_id),
        escape(&row.creator_ap_id),
        escape(&row.community_ap_id),
        escape(&row.community_ap_id),
        row.body_html.as_deref().unwrap_or(""),
        api_link(&format!("/posts/{}", row.id)),
    );
    document(&row.title, &row.ap_id, &body)
}

pub fn comment(row: &LocalComment) -> String {
    let parent = row.parent_ap_id.as_deref().unwrap_or(&row.post_ap_id);
    let body = format!(
        "<p>by <a href=\"{0}\">{0}</a>, in reply to <a href=\"{1}\">{1}</a></p>\n{2}\n{3}",
        escape(&row.creator_ap_id),
        escape(parent),
        row.content_html,
        api_link(&format!("/comments/{}", row.id)),
    );
    document("Comment", &row.ap_id, &body)
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
