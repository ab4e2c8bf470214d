//! Mentions: `@name` and `@name@host` in local markdown, and `Mention` tags of incoming objects
//! that name local people. Both notify the local people mentioned (see
//! `canopy_db::notifications`); at most [`MAX_MENTIONS`] per item are looked at.

use crate::error::FedError;
use crate::fetch::{self, FedData};
use crate::json::{id_of, kind_of};
use crate::objects::Stored;
use canopy_core::PersonId;
use canopy_db::PgPool;
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

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn is_host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':')
}

/// The distinct mentions in `markdown`, in order, at most [`MAX_MENTIONS`]. Text in code spans,
/// code blocks and links is not looked at; a mention starts with `@` at the start of a word.
pub fn parse(markdown: &str) -> Vec<Handle> {
    let mut found: Vec<Handle> = Vec::new();
    let mut skip = 0usize;
    for event in Parser::new(markdown) {
        match event {
            Event::Start(Tag::CodeBlock(_) | Tag::Link { .. } | Tag::Image { .. }) => skip += 1,
            Event::End(TagEnd::CodeBlock | TagEnd::Link | TagEnd::Image) => {
                skip = skip.saturating_sub(1)
            }
            Event::Text(text) if skip == 0 => {
                for h in scan(&text) {
                    if found.len() >= MAX_MENTIONS {
                        return found;
                    }
                    if !found.contains(&h) {
                        found.push(h);
                    }
                }
            }
            _ => {}
        }
    }
    found
}

/// Mentions in one run of plain text.
fn scan(text: &str) -> Vec<Handle> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !(is_name_char(chars[i - 1]) || chars[i - 1] == '@');
        if chars[i] != '@' || !starts_word {
            i += 1;
            continue;
        }
        let name_start = i + 1;
        let mut j = name_start;
        while j < chars.len() && is_name_char(chars[j]) {
            j += 1;
        }
        if j == name_start || j - name_start > canopy_core::limits::MAX_NAME_CHARS * 3 {
            i = j.max(i + 1);
            continue;
        }
        let name: String = chars[name_start..j].iter().collect();
        let mut host = None;
        if j < chars.len() && chars[j] == '@' {
            let host_start = j + 1;
            let mut k = host_start;
            while k < chars.len() && is_host_char(chars[k]) {
                k += 1;
            }
            // A sentence may end right after the host.
            let mut end = k;
            while end > host_start && matches!(chars[end - 1], '.' | '-' | ':') {
                end -= 1;
            }
            let h: String = chars[host_start..end].iter().collect();
            if h.contains('.') || h.contains(':') || h == "localhost" {
                host = Some(h.to_lowercase());
            }
            j = k;
        }
        out.push(Handle { name, host });
        i = j;
    }
    out
}

/// The local people among `handles` (a bare `@name`, or `@name@` this node's authority).
pub async fn local_people(
    pool: &PgPool,
    own_authority: &str,
    handles: &[Handle],
) -> Result<Vec<PersonId>, FedError> {
    let names: Vec<&str> = handles
        .iter()
        .filter(|h| h.host.as_deref().is_none_or(|a| a == own_authority))
        .map(|h| h.name.as_str())
        .collect();
    Ok(canopy_db::notifications::local_people_by_name(pool, &names).await?)
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
    canopy_db::notifications::mentions(&data.db, post, comment, author, &people).await?;
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
        assert_eq!(parse(md), vec![h("alice", None), h("bob", Some("example.org"))]);
    }

    #[test]
    fn mentions_are_bounded() {
        let md: String = (0..30).map(|i| format!("@u{i} ")).collect();
        assert_eq!(parse(&md).len(), MAX_MENTIONS);
    }

    #[test]
    fn a_port_belongs_to_the_host() {
        assert_eq!(parse("@carol@127.0.0.1:8080!"), vec![h("carol", Some("127.0.0.1:8080"))]);
    }
}
