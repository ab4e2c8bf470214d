//! The Lemmy fallback of thread backfill: where a thread's home is a Lemmy, which serves neither
//! a `context` nor a `replies` collection, the ids of a post's comments are read from its public
//! read API (`GET /api/v3/comment/list` up to 0.19, `/api/v4/comment/list` from 1.0), page by
//! page. The ids are only hints: the caller fetches each from its own id through the verified
//! object path, so nothing this API says is stored as it is.
//!
//! Kept in this one module: it is the only place Canopy speaks a server's client API.

use crate::error::FedError;
use crate::fetch::{self, FedData};
use canopy_core::{authority, limits};
use serde_json::Value;
use std::collections::HashSet;
use std::time::Duration;
use tokio::time::Instant;
use url::Url;

/// Most comments Lemmy returns per page (its `limit` refuses more).
pub const PAGE_SIZE: usize = 50;

/// How far one listing may go: pages requested, ids collected, and time spent. Reaching a bound
/// ends the listing with what it collected so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListBounds {
    pub max_pages: usize,
    pub max_ids: usize,
    pub max_time: Duration,
}

impl Default for ListBounds {
    /// 100 pages of 50 (5,000 comments) in at most a minute.
    fn default() -> Self {
        Self {
            max_pages: 100,
            max_ids: 5_000,
            max_time: Duration::from_secs(60),
        }
    }
}

/// Which of Lemmy's client APIs a version serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    /// `/api/v3`: page numbers (Lemmy up to 0.19).
    V3,
    /// `/api/v4`: opaque cursors (`page_cursor`, answered `next_page`; Lemmy 1.0 on).
    V4,
}

impl ApiVersion {
    /// The API of a Lemmy reporting `version` in its NodeInfo: v4 from 1.0 on, else v3 (also
    /// when the version is missing or unreadable).
    pub fn of(version: Option<&str>) -> Self {
        let major = version
            .and_then(|v| v.split(['.', '-']).next())
            .and_then(|m| m.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if major >= 1 {
            ApiVersion::V4
        } else {
            ApiVersion::V3
        }
    }

    fn path(self) -> &'static str {
        match self {
            ApiVersion::V3 => "/api/v3/comment/list",
            ApiVersion::V4 => "/api/v4/comment/list",
        }
    }
}

/// Lemmy's own id of a post it hosts: its ActivityPub id is `…/post/{id}` on its authority.
pub fn local_post_id(post_ap_id: &Url) -> Option<u64> {
    let mut segments = post_ap_id.path_segments()?;
    match (segments.next(), segments.next(), segments.next()) {
        (Some("post"), Some(id), None) if post_ap_id.query().is_none() => id.parse().ok(),
        _ => None,
    }
}

/// The ActivityPub ids of the comments of the post `post_ap_id`, as its home lists them through
/// its client API, oldest first, without duplicates and without anything that is not an
/// http(s) URL; ids on other hosts are kept (comments from elsewhere are listed by their own ids).
///
/// `None` when this fallback does not apply: the post's home is not a Lemmy (as its NodeInfo
/// says, read now when the node does not know it yet), or the id is not that of a post the Lemmy
/// hosts (`…/post/{id}`). Bounded by `bounds` (the ids collected until a bound is reached are
/// returned) and by the outbound client's size limit and policy. An answer that is not a page of
/// comments is an error.
pub async fn comment_ids(
    post_ap_id: &Url,
    data: &FedData,
    bounds: &ListBounds,
) -> Result<Option<Vec<Url>>, FedError> {
    let home = authority(post_ap_id);
    if fetch::is_local(post_ap_id, data) || !matches!(post_ap_id.scheme(), "http" | "https") {
        return Ok(None);
    }
    let Some(post_id) = local_post_id(post_ap_id) else {
        return Ok(None);
    };
    let software = fetch::software(&home, data).await?;
    let Some(software) = software.filter(|s| s.name == "lemmy") else {
        return Ok(None);
    };
    let api = ApiVersion::of(software.version.as_deref());
    list(post_ap_id, post_id, api, data, bounds).await.map(Some)
}

/// Where the listing stands between pages.
enum Next {
    Page(u64),
    Cursor(String),
}

async fn list(
    post_ap_id: &Url,
    post_id: u64,
    api: ApiVersion,
    data: &FedData,
    bounds: &ListBounds,
) -> Result<Vec<Url>, FedError> {
    let deadline = Instant::now() + bounds.max_time;
    let mut ids = Vec::new();
    let mut seen = HashSet::new();
    let mut cursors_used = HashSet::new();
    let mut next = match api {
        ApiVersion::V3 => Some(Next::Page(1)),
        ApiVersion::V4 => None,
    };
    for page in 0..bounds.max_pages {
        let url = page_url(post_ap_id, post_id, api, next.as_ref());
        let json = match tokio::time::timeout_at(
            deadline,
            data.http.get_json(url, "application/json"),
        )
        .await
        {
            Ok(answer) => answer.map_err(|e| {
                FedError::outbound(format!("listing the comments of {post_ap_id}"), e)
            })?,
            Err(_) => {
                tracing::info!(post = %post_ap_id, pages = page, ids = ids.len(), "Lemmy comment listing stopped at its time bound");
                return Ok(ids);
            }
        };
        let items = items_of(&json, api).ok_or_else(|| {
            FedError::Unresolvable(format!(
                "{post_ap_id}'s home did not answer a page of comments"
            ))
        })?;
        let mut new = 0;
        for url in items.iter().filter_map(ap_id_of) {
            if ids.len() >= bounds.max_ids {
                tracing::info!(post = %post_ap_id, ids = ids.len(), "Lemmy comment listing stopped at its id bound");
                return Ok(ids);
            }
            if seen.insert(url.clone()) {
                ids.push(url);
                new += 1;
            }
        }
        next = match api {
            // A short page is the last; a page with nothing new means the server ignores paging.
            ApiVersion::V3 => match next {
                Some(Next::Page(n)) if items.len() >= PAGE_SIZE && new > 0 => {
                    Some(Next::Page(n + 1))
                }
                _ => None,
            },
            ApiVersion::V4 => json
                .get("next_page")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty() && c.len() <= limits::MAX_URL_BYTES)
                .filter(|c| cursors_used.insert(c.to_string()))
                .map(|c| Next::Cursor(c.to_string())),
        };
        if next.is_none() || items.is_empty() {
            return Ok(ids);
        }
    }
    tracing::info!(post = %post_ap_id, pages = bounds.max_pages, ids = ids.len(), "Lemmy comment listing stopped at its page bound");
    Ok(ids)
}

fn page_url(post_ap_id: &Url, post_id: u64, api: ApiVersion, next: Option<&Next>) -> Url {
    let mut url = post_ap_id.clone();
    url.set_path(api.path());
    url.set_query(None);
    url.set_fragment(None);
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("post_id", &post_id.to_string())
            .append_pair("limit", &PAGE_SIZE.to_string());
        // Oldest first keeps the pages stable while new comments arrive (they come last).
        match api {
            ApiVersion::V3 => q.append_pair("sort", "Old").append_pair("type_", "All"),
            ApiVersion::V4 => q.append_pair("sort", "old").append_pair("type_", "all"),
        };
        match next {
            Some(Next::Page(n)) => {
                q.append_pair("page", &n.to_string());
            }
            Some(Next::Cursor(c)) => {
                q.append_pair("page_cursor", c);
            }
            None => {}
        }
    }
    url
}

/// The comment views of a page: `comments` (v3, and v4 before 1.0's paged answers) or `items`.
fn items_of(json: &Value, api: ApiVersion) -> Option<&Vec<Value>> {
    let field = match api {
        ApiVersion::V3 => json.get("comments"),
        ApiVersion::V4 => json.get("items").or_else(|| json.get("comments")),
    };
    field.and_then(Value::as_array)
}

/// The `comment.ap_id` of a comment view, when it is a usable http(s) URL.
fn ap_id_of(view: &Value) -> Option<Url> {
    let raw = view.get("comment")?.get("ap_id")?.as_str()?;
    if raw.len() > limits::MAX_URL_BYTES {
        return None;
    }
    let url = Url::parse(raw).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host_str().is_some()).then_some(url)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_from_one_on_use_v4_and_older_or_unknown_ones_v3() {
        assert_eq!(ApiVersion::of(Some("0.19.11")), ApiVersion::V3);
        assert_eq!(ApiVersion::of(Some("0.18.5")), ApiVersion::V3);
        assert_eq!(ApiVersion::of(Some("1.0.0")), ApiVersion::V4);
        assert_eq!(ApiVersion::of(Some("1.0.0-beta.7")), ApiVersion::V4);
        assert_eq!(ApiVersion::of(Some("2.1")), ApiVersion::V4);
        assert_eq!(ApiVersion::of(Some("garbage")), ApiVersion::V3);
        assert_eq!(ApiVersion::of(None), ApiVersion::V3);
    }

    #[test]
    fn only_a_post_path_names_a_lemmy_post() {
        let id = |s: &str| local_post_id(&Url::parse(s).unwrap());
        assert_eq!(id("https://lemmy.example/post/42"), Some(42));
        assert_eq!(id("https://lemmy.example/post/42/"), None);
        assert_eq!(id("https://lemmy.example/post/x"), None);
        assert_eq!(id("https://lemmy.example/comment/42"), None);
        assert_eq!(id("https://lemmy.example/post/42?x=1"), None);
        assert_eq!(id("https://lemmy.example/c/post/42"), None);
    }

    #[test]
    fn page_urls_carry_the_post_the_limit_and_the_position() {
        let post = Url::parse("https://lemmy.example/post/7?x#y").unwrap();
        let v3 = page_url(&post, 7, ApiVersion::V3, Some(&Next::Page(3)));
        assert_eq!(
            v3.as_str(),
            "https://lemmy.example/api/v3/comment/list?post_id=7&limit=50&sort=Old&type_=All&page=3"
        );
        let v4 = page_url(&post, 7, ApiVersion::V4, Some(&Next::Cursor("a b".into())));
        assert_eq!(
            v4.as_str(),
            "https://lemmy.example/api/v4/comment/list?post_id=7&limit=50&sort=old&type_=all&page_cursor=a+b"
        );
    }

    #[test]
    fn comment_views_give_their_http_ap_ids_only() {
        let ok = json!({"comment": {"id": 1, "ap_id": "https://l.example/comment/1"}});
        assert_eq!(
            ap_id_of(&ok).unwrap().as_str(),
            "https://l.example/comment/1"
        );
        for bad in [
            json!({"comment": {"ap_id": "javascript:alert(1)"}}),
            json!({"comment": {"ap_id": "file:///etc/passwd"}}),
            json!({"comment": {"ap_id": 5}}),
            json!({"comment": "https://l.example/comment/1"}),
            json!({"ap_id": "https://l.example/comment/1"}),
            json!({"comment": {"ap_id": format!("https://l.example/{}", "a".repeat(3000))}}),
        ] {
            assert!(ap_id_of(&bad).is_none(), "{bad}");
        }
    }
}
