//! Reports from other servers, and what moderators elsewhere do about them: `Flag` (Lemmy's,
//! Mastodon's and Mbin's shapes) becomes a report for the moderators of the reported content's
//! community, or for this node's administrators when it names only an account; `Resolve` of a
//! `Flag` (Lemmy) resolves it when its actor moderates that community; `Warn` (Lemmy) records a
//! moderator's warning in the moderation log.
//!
//! Reports are not public: nothing here is forwarded to a community's followers. A local
//! community forwards a report about its content received directly, and its resolution, to the
//! servers of its moderators on other servers (as Lemmy does), never back to where it came from.

use super::rules;
use crate::error::FedError;
use crate::fetch::{self, FedData};
use crate::json::id_of;
use crate::outgoing::reports::{self as outgoing, FlagOf};
use crate::protocol::activities::{Flag, Resolve, Warn};
use canopy_core::authority;
use canopy_core::limits::MAX_REASON_CHARS;
use canopy_db::actors::{self, CommunityActor, PersonActor};
use canopy_db::moderation::{self as db_moderation, Action, NewEntry};
use canopy_db::reports::{self as db_reports, NewReport};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

/// Most items of one `Flag` looked at (a Mastodon report may attach many statuses).
pub const MAX_FLAG_OBJECTS: usize = 20;

/// A received reason or warning: control characters (but line breaks) dropped, cut to
/// [`MAX_REASON_CHARS`], surrounding blanks trimmed.
fn clean_reason(text: &str) -> String {
    let kept: String = text
        .chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .take(MAX_REASON_CHARS)
        .collect();
    kept.trim().to_string()
}

/// The URLs an `object` field names: one, or a list (at most [`MAX_FLAG_OBJECTS`]).
fn named(object: &Value) -> Vec<Url> {
    match object {
        Value::Array(items) => items
            .iter()
            .take(MAX_FLAG_OBJECTS)
            .filter_map(id_of)
            .collect(),
        other => id_of(other).into_iter().collect(),
    }
}

/// A report by `reporter` (the Flag's signer, or the inner actor of a relayed one). Each post
/// or comment it names that is stored here becomes a report for its community's moderators;
/// when it names none, an account stored here becomes a report for the administrators; anything
/// else (content this node never stored, unknown accounts) is not fetched, and the Flag is
/// acknowledged and dropped with a log line. `via` is the community that relayed it: then only
/// content of that community is taken.
pub(super) async fn flag(
    f: &Flag,
    reporter: &PersonActor,
    via: Option<&CommunityActor>,
    data: &FedData,
) -> Result<(), FedError> {
    let flag_id =
        f.id.as_ref()
            .map(|i| i.0.to_string())
            .ok_or_else(|| FedError::bad("Flag without id: a report is named by its id"))?;
    let reason = [f.summary.as_deref(), f.content.as_deref()]
        .into_iter()
        .flatten()
        .map(clean_reason)
        .find(|r| !r.is_empty())
        .unwrap_or_default();
    let objects = named(&f.object);
    if objects.is_empty() {
        return Err(FedError::bad("Flag names nothing to report"));
    }
    // Lemmy's shape (one item, sent to the community) is answered with `Resolve` when resolved.
    let single = !f.object.is_array();
    let mut content = vec![];
    let mut account = None;
    for url in &objects {
        if let Some(stored) = canopy_db::content::by_ap_id(&data.db, url.as_str()).await? {
            if let Some(c) = via {
                if stored.community_id != c.id {
                    return Err(FedError::forbidden(format!(
                        "{} relayed a report about {url}, which is not in it; a community \
                         relays only reports about its own content",
                        c.ap_id
                    )));
                }
            }
            if canopy_db::bans::refusal(&data.db, reporter.id, Some(stored.community_id))
                .await?
                .is_some()
            {
                return Err(FedError::forbidden(format!(
                    "{} is banned from the community of {url}; they report nothing there",
                    reporter.ap_id
                )));
            }
            content.push(stored);
        } else if account.is_none() {
            account = actors::person_by_ap_id(&data.db, url.as_str()).await?;
        }
    }
    let mut tx = data.db.begin().await?;
    let mut stored_reports = 0;
    if content.is_empty() {
        // A report about an account alone is for this node's administrators; a community does
        // not relay one.
        if let (Some(person), None) = (&account, via) {
            db_reports::upsert(
                &mut tx,
                &NewReport {
                    ap_id: &flag_id,
                    reporter: reporter.id,
                    community: None,
                    post: None,
                    comment: None,
                    object_ap_id: &person.ap_id,
                    person_ap_id: &person.ap_id,
                    reason: &reason,
                    local: false,
                    answer_resolve: false,
                },
            )
            .await?;
            stored_reports += 1;
        }
    }
    let origin = authority(&reporter_url(reporter)?);
    for c in &content {
        let community = actors::community_by_id(&data.db, c.community_id).await?;
        db_reports::upsert(
            &mut tx,
            &NewReport {
                ap_id: &flag_id,
                reporter: reporter.id,
                community: Some(c.community_id),
                post: Some(c.post_id),
                comment: c.comment_id,
                object_ap_id: &c.ap_id,
                person_ap_id: &c.creator_ap_id,
                reason: &reason,
                local: false,
                answer_resolve: single && via.is_none() && community.local,
            },
        )
        .await?;
        stored_reports += 1;
        if via.is_none() {
            // A local community's moderators on other servers see it there.
            let forwarded = FlagOf {
                id: &flag_id,
                reporter: &reporter.ap_id,
                community: &community.ap_id,
                object: &c.ap_id,
                reason: &reason,
            };
            outgoing::to_moderators(
                &mut tx,
                &data.base,
                &community,
                &forwarded.json(),
                &c.ap_id,
                &[origin.as_str()],
            )
            .await?;
        }
    }
    tx.commit().await?;
    if stored_reports == 0 {
        tracing::info!(flag = %flag_id, reporter = %reporter.ap_id,
            "report about nothing stored here dropped");
    } else {
        tracing::info!(flag = %flag_id, reporter = %reporter.ap_id, reports = stored_reports,
            "report received");
    }
    Ok(())
}

fn reporter_url(reporter: &PersonActor) -> Result<Url, FedError> {
    Url::parse(&reporter.ap_id)
        .map_err(|_| FedError::Internal("a stored actor's id is not a URL".into()))
}

/// What a `Resolve` names: the report's `Flag` id, its reporter and the reported item.
struct Named {
    flag: Option<String>,
    reporter: Option<String>,
    object: Url,
}

/// The report a `Resolve` names: the embedded `Flag` (Lemmy), or its id, looked up among the
/// reports stored here (nothing is fetched for this).
async fn named_report(object: &Value, data: &FedData) -> Result<Option<Named>, FedError> {
    if object.is_object() {
        let inner = Flag::deserialize(object)
            .map_err(|e| FedError::bad(format!("malformed Flag inside Resolve: {e}")))?;
        let Some(first) = named(&inner.object).into_iter().next() else {
            return Err(FedError::bad("the Flag inside Resolve names nothing"));
        };
        return Ok(Some(Named {
            flag: inner.id.map(|i| i.0.to_string()),
            reporter: Some(inner.actor.0.to_string()),
            object: first,
        }));
    }
    let id = id_of(object).ok_or_else(|| FedError::bad("Resolve without object"))?;
    let stored = canopy_db::reports::by_ap_id(&data.db, id.as_str()).await?;
    Ok(match stored {
        Some(r) => Some(Named {
            flag: Some(id.to_string()),
            reporter: Some(r.reporter_ap_id),
            object: Url::parse(&r.object_ap_id)
                .map_err(|_| FedError::Internal("stored report object is not a URL".into()))?,
        }),
        None => None,
    })
}

/// `actor` resolves a report. It must moderate the reported content's community as its home
/// lists them (or the community relays it: `via`); reports about content not stored here, or
/// that match no open report, change nothing.
pub(super) async fn resolve(
    r: &Resolve,
    raw: &Value,
    via: Option<&CommunityActor>,
    data: &FedData,
) -> Result<(), FedError> {
    let Some(named) = named_report(&r.object, data).await? else {
        return Ok(());
    };
    let Some(content) = canopy_db::content::by_ap_id(&data.db, named.object.as_str()).await? else {
        return Ok(());
    };
    let community = actors::community_by_id(&data.db, content.community_id).await?;
    let actor = &r.actor.0;
    rules::moderates(&community, actor, via, data).await?;
    let open = db_reports::open_for_resolve(
        &data.db,
        community.id,
        named.flag.as_deref(),
        named.reporter.as_deref(),
        named.object.as_str(),
    )
    .await?;
    if open.is_empty() {
        return Ok(());
    }
    let moderator = fetch::person(actor, data).await?;
    let mut tx = data.db.begin().await?;
    let mut changed = false;
    for report in &open {
        if db_reports::set_resolved(&mut tx, report.id, Some(moderator.id), true).await? {
            changed = true;
            db_moderation::record(
                &mut tx,
                &NewEntry {
                    action: Action::ResolveReport,
                    moderator: moderator.id,
                    community: community.id,
                    post: report.post_id,
                    comment: report.comment_id,
                    target_ap_id: None,
                    reason: None,
                    until: None,
                    local: false,
                },
            )
            .await?;
        }
    }
    if changed && via.is_none() {
        // A local community tells its moderators on other servers, except where it came from.
        let origin = authority(actor);
        outgoing::to_moderators(
            &mut tx,
            &data.base,
            &community,
            raw,
            named.object.as_str(),
            &[origin.as_str()],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A moderator of the content's community warns the author of the post or comment `object`:
/// recorded in the moderation log as a warning about that person. A warning about content this
/// node never stored is acknowledged and changes nothing.
pub(super) async fn warn(w: &Warn, data: &FedData) -> Result<(), FedError> {
    let object = &w.object.0;
    let Some(stored) = canopy_db::content::by_ap_id(&data.db, object.as_str()).await? else {
        return Ok(());
    };
    let community = actors::community_by_id(&data.db, stored.community_id).await?;
    let actor = &w.actor.0;
    rules::moderates(&community, actor, None, data).await?;
    let moderator = fetch::person(actor, data).await?;
    let reason = w.summary.as_deref().map(clean_reason);
    let mut tx = data.db.begin().await?;
    db_moderation::record(
        &mut tx,
        &NewEntry {
            action: Action::Warn,
            moderator: moderator.id,
            community: community.id,
            post: Some(stored.post_id),
            comment: stored.comment_id,
            target_ap_id: Some(&stored.creator_ap_id),
            reason: reason.as_deref(),
            until: None,
            local: false,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_flag_names_one_item_or_a_bounded_list() {
        let one = named(&json!("https://a.example/post/1"));
        assert_eq!(one.len(), 1);
        let list = named(&json!(["https://a.example/u/x", {"id": "https://a.example/p/2"}, 3]));
        assert_eq!(list.len(), 2);
        let many: Vec<String> = (0..100)
            .map(|i| format!("https://a.example/p/{i}"))
            .collect();
        assert_eq!(named(&json!(many)).len(), MAX_FLAG_OBJECTS);
    }

    #[test]
    fn received_reasons_are_cut_and_lose_control_characters() {
        assert_eq!(clean_reason("  spam\u{7}\nand more "), "spam\nand more");
        assert_eq!(
            clean_reason(&"x".repeat(5000)).chars().count(),
            MAX_REASON_CHARS
        );
    }
}
