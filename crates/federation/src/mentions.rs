//! Mentions: `@name` and `@name@host` in local markdown, and `Mention` tags of incoming objects
//! that name local people. Both notify the local people mentioned (see
//! `canopy_db::notifications`); at most [`MAX_MENTIONS`] per item are looked at.

use crate::error::FedError;
use crate::fetch::{self, FedData};
use crate::json::{id_of, kind_of};
use crate::objects::Stored;
use canopy_core::PersonId;
use pulldown_cmark::{Event, Parser, Tag, TagEnd};
use serde_json::Value;

/// Most mentions of one post or comment that are looked up (the rest stay plain text).
pub const MAX_MENTIONS: usize = 10;

/// A mention written in markdown: `@name` (a local user) or `@name@host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handle {
    pub name: String,
    /// Lower-cased host (with its port, if any); `None` for `@name`.
    pub host: Option<String>,
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':')
}

/// A mention found in markdown, at bytes `start..end` of the source.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Found {
    start: usize,
    end: usize,
    handle: Handle,
}

/// Every mention in `markdown` outside code spans, code blocks and links, in order. Only text
/// that stands in the source as written is looked at (so offsets are offsets of the source).
fn find(markdown: &str) -> Vec<Found> {
    let mut found = Vec::new();
    let mut skip = 0usize;
    let mut options = pulldown_cmark::Options::empty();
    options.insert(pulldown_cmark::Options::ENABLE_STRIKETHROUGH);
    options.insert(pulldown_cmark::Options::ENABLE_TABLES);
    for (event, range) in Parser::new_ext(markdown, options).into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(_) | Tag::Link { .. } | Tag::Image { .. }) => skip += 1,
            Event::End(TagEnd::CodeBlock | TagEnd::Link | TagEnd::Image) => {
                skip = skip.saturating_sub(1)
            }
            Event::Text(text) if skip == 0 && markdown.get(range.clone()) == Some(&*text) => {
                found.extend(scan(&text).into_iter().map(|f| Found {
                    start: range.start + f.start,
                    end: range.start + f.end,
                    handle: f.handle,
                }));
            }
            _ => {}
        }
    }
    found
}

/// The distinct mentions in `markdown`, in order, at most [`MAX_MENTIONS`]. Text in code spans,
/// code blocks and links is not looked at; a mention starts with `@` at the start of a word.
pub fn parse(markdown: &str) -> Vec<Handle> {
    let mut out: Vec<Handle> = Vec::new();
    for f in find(markdown) {
        if out.len() >= MAX_MENTIONS {
            break;
        }
        if !out.contains(&f.handle) {
            out.push(f.handle);
        }
    }
    out
}

/// Mentions in one run of plain text, with their byte offsets in it. Every byte looked at is
/// ASCII, so offsets always fall on character boundaries.
fn scan(text: &str) -> Vec<Found> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts_word = i == 0 || !(is_name_byte(b[i - 1]) || b[i - 1] == b'@');
        if b[i] != b'@' || !starts_word {
            i += 1;
            continue;
        }
        let name_start = i + 1;
        let mut j = name_start;
        while j < b.len() && is_name_byte(b[j]) {
            j += 1;
        }
        if j == name_start || j - name_start > canopy_core::limits::MAX_NAME_CHARS * 3 {
            i = j.max(i + 1);
            continue;
        }
        let name = text[name_start..j].to_string();
        let mut host = None;
        let mut end = j;
        if j < b.len() && b[j] == b'@' {
            let host_start = j + 1;
            let mut k = host_start;
            while k < b.len() && is_host_byte(b[k]) {
                k += 1;
            }
            // A sentence may end right after the host.
            let mut host_end = k;
            while host_end > host_start && matches!(b[host_end - 1], b'.' | b'-' | b':') {
                host_end -= 1;
            }
            let h = &text[host_start..host_end];
            if h.contains('.') || h.contains(':') || h == "localhost" {
                host = Some(h.to_lowercase());
                end = host_end;
            }
            j = k.max(j + 1);
        }
        out.push(Found {
            start: i,
            end,
            handle: Handle { name, host },
        });
        i = j;
    }
    out
}

/// A mention that names a known person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub handle: Handle,
    /// The person's ActivityPub id.
    pub href: String,
    /// `@name@host` (with this node's authority for a local user), the tag's `name`.
    pub name: String,
    /// The person is a local user (notified here).
    pub local: Option<PersonId>,
}

/// Resolve the mentions in `markdown` (at most [`MAX_MENTIONS`]): local users from the database,
/// `@name@host` of other servers through WebFinger and the actor fetch (within the request's
/// fetch budget). A mention that does not resolve stays plain text.
pub async fn resolve(markdown: &str, data: &FedData) -> Vec<Resolved> {
    let own = data.base.authority().to_string();
    let mut out = Vec::new();
    for handle in parse(markdown) {
        let host = handle.host.clone().unwrap_or_else(|| own.clone());
        let found = if host == own {
            match canopy_db::people::local_by_name(&data.db, &handle.name).await {
                Ok(p) if !p.deleted => Some((p.ap_id, p.name, Some(p.id))),
                _ => None,
            }
        } else {
            let at = format!("{}@{host}", handle.name);
            match fetch::webfinger(&at, Some("Person"), data).await {
                Ok(url) => match fetch::person(&url, data).await {
                    Ok(p) => Some((p.ap_id, handle.name.clone(), None)),
                    Err(e) => {
                        tracing::debug!(mention = %at, error = %e, "mentioned actor not fetched");
                        None
                    }
                },
                Err(e) => {
                    tracing::debug!(mention = %at, error = %e, "mention did not resolve");
                    None
                }
            }
        };
        if let Some((href, name, local)) = found {
            out.push(Resolved {
                name: format!("@{name}@{host}"),
                handle,
                href,
                local,
            });
        }
    }
    out
}

/// `markdown` with each resolved mention made a link to the person (for rendering to HTML;
/// the stored source keeps what was written).
pub fn linkify(markdown: &str, resolved: &[Resolved]) -> String {
    if resolved.is_empty() {
        return markdown.to_string();
    }
    let mut out = String::with_capacity(markdown.len() + resolved.len() * 64);
    let mut at = 0;
    for f in find(markdown) {
        let Some(r) = resolved.iter().find(|r| r.handle == f.handle) else {
            continue;
        };
        out.push_str(&markdown[at..f.start]);
        let text = &markdown[f.start..f.end];
        out.push('[');
        out.push_str(text);
        out.push_str("](<");
        out.push_str(&r.href);
        out.push_str(">)");
        at = f.end;
    }
    out.push_str(&markdown[at..]);
    out
}

/// Notify the local people an incoming object's `Mention` tags name (at most [`MAX_MENTIONS`]
/// tags are looked at). Called only for an object that was stored; costs nothing when no tag
/// names this node.
pub async fn notify_incoming(
    object: &Value,
    stored: Stored,
    author: PersonId,
    data: &FedData,
) -> Result<(), FedError> {
    let Some(Value::Array(tags)) = object.get("tag") else {
        return Ok(());
    };
    let local: Vec<String> = tags
        .iter()
        .filter(|t| kind_of(t) == "Mention")
        .filter_map(|t| t.get("href").and_then(id_of))
        .filter(|u| fetch::is_local(u, data))
        .take(MAX_MENTIONS)
        .map(|u| u.to_string())
        .collect();
    if local.is_empty() {
        return Ok(());
    }
    let people = canopy_db::notifications::local_people_by_ap_id(&data.db, &local).await?;
    let (post, comment) = match stored {
        Stored::Post { id, .. } => (id, None),
        Stored::Comment { id, post, .. } => (post, Some(id)),
    };
    let mut conn = data.db.acquire().await?;
    canopy_db::notifications::mentions(&mut conn, post, comment, author, &people).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: &str, host: Option<&str>) -> Handle {
        Handle {
            name: name.into(),
            host: host.map(str::to_string),
        }
    }

    #[test]
    fn mentions_are_found_at_word_starts_outside_code_and_links() {
        let md = "hi @alice and @bob@Example.org. mail x@y.org `@code` [@link](http://a.b)\n\n    @block\n@alice again";
        assert_eq!(
            parse(md),
            vec![h("alice", None), h("bob", Some("example.org"))]
        );
    }

    #[test]
    fn mentions_are_bounded() {
        let md: String = (0..30).map(|i| format!("@u{i} ")).collect();
        assert_eq!(parse(&md).len(), MAX_MENTIONS);
    }

    #[test]
    fn linkify_links_resolved_mentions_only() {
        let md = "hi @alice and @bob@example.org, not `@alice`";
        let r = Resolved {
            handle: h("bob", Some("example.org")),
            href: "https://example.org/u/bob".into(),
            name: "@bob@example.org".into(),
            local: None,
        };
        assert_eq!(
            linkify(md, &[r]),
            "hi @alice and [@bob@example.org](<https://example.org/u/bob>), not `@alice`"
        );
    }

    #[test]
    fn a_port_belongs_to_the_host() {
        assert_eq!(
            parse("@carol@127.0.0.1:8080!"),
            vec![h("carol", Some("127.0.0.1:8080"))]
        );
    }
}
