//! Markdown in, sanitised HTML out. The markdown source is stored beside the HTML so it can be
//! edited and federated; only the HTML produced here is ever served as markup.

use pulldown_cmark::{html, Options, Parser};
use std::sync::OnceLock;

fn sanitizer() -> &'static ammonia::Builder<'static> {
    static BUILDER: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    BUILDER.get_or_init(|| {
        let mut b = ammonia::Builder::default();
        b.url_schemes(["http", "https", "mailto"].into_iter().collect())
            .link_rel(Some("nofollow noopener noreferrer ugc"))
            .add_tags(["del", "s", "sup", "sub"]);
        b
    })
}

/// Render user markdown to HTML that is safe to embed: no scripts, no event attributes,
/// no `javascript:` or `data:` URLs, and links marked `nofollow`.
pub fn markdown_to_html(markdown: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TABLES);
    let parser = Parser::new_ext(markdown, options);
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut raw, parser);
    sanitize_html(&raw)
}

/// Sanitise HTML from an untrusted source (remote servers send HTML, not markdown).
pub fn sanitize_html(html: &str) -> String {
    sanitizer().clean(html).to_string()
}

/// The text of an HTML fragment, one line per paragraph or line break, with tags removed and
/// entities decoded (for titles made from remote HTML).
pub fn html_to_text(html: &str) -> String {
    let spaced = html
        .replace("</p>", "</p>\n")
        .replace("<br>", "\n")
        .replace("<br/>", "\n")
        .replace("<br />", "\n");
    let stripped = ammonia::Builder::empty().clean(&spaced).to_string();
    stripped
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

/// Markdown for remote HTML that came without a markdown `source` (Mastodon, Pleroma, PeerTube
/// send only HTML). The HTML is sanitised first, so the markdown carries nothing the sanitiser
/// would not let through; rendering it again gives equivalent HTML, though the stored HTML stays
/// the sanitised original. Falls back to plain text if the converter fails.
pub fn html_to_markdown(html: &str) -> String {
    let clean = sanitize_html(html);
    match htmd::convert(&clean) {
        Ok(md) => md.trim().to_string(),
        Err(_) => html_to_text(&clean).trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn remote_html_becomes_markdown() {
        let md = super::html_to_markdown(
            "<p>Hello <strong>world</strong>, see <a href=\"https://example.com/a\">this</a></p>\
             <p>second<br>line</p><script>alert(1)</script><ul><li>one</li><li>two</li></ul>",
        );
        assert!(md.contains("Hello **world**"), "{md}");
        assert!(md.contains("[this](https://example.com/a)"), "{md}");
        assert!(md.contains("second"), "{md}");
        assert!(!md.contains("alert"), "script dropped: {md}");
        assert!(!md.contains('<'), "no HTML left: {md}");
        assert!(md.contains("one") && md.contains("two"), "{md}");
        // Rendering it again gives the same text.
        let again = super::markdown_to_html(&md);
        assert!(again.contains("<strong>world</strong>"), "{again}");
        assert!(again.contains("href=\"https://example.com/a\""), "{again}");
    }

    #[test]
    fn html_becomes_lines_of_text() {
        let text = super::html_to_text(
            "<p>A &amp; B <b>bold</b></p><p>second<br>third</p><script>x</script>",
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines, ["A & B bold", "second", "third"]);
    }

    use super::*;

    #[test]
    fn markdown_renders_basic_formatting() {
        let html = markdown_to_html("**bold** and [link](https://example.com)");
        assert!(html.contains("<strong>bold</strong>"));
        assert!(html.contains(r#"href="https://example.com""#));
        assert!(html.contains("nofollow"));
    }

    #[test]
    fn script_tags_event_handlers_and_javascript_urls_are_removed() {
        let html = markdown_to_html(
            "<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n[x](javascript:alert(1)) <a href=\"javascript:alert(2)\">y</a>",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
    }
}
