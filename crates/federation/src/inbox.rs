//! The shared inbox and the per-actor inboxes.
//!
//! Order of checks: body size; a Signature header; JSON with `id`, `type` and `actor`; the
//! activity id on the actor's host (whole authority, port included) and not on ours; that host
//! not refused by the instance policy (403, see [`crate::governance`]); the signing key belonging to the actor; the signature by Mastodon's rules, before anything is
//! written (an unknown actor is fetched and stored only once its key verifies; a stored key that
//! fails is refetched at most once per actor per interval, for key rotation: see
//! [`crate::guard`]); then the rate limit of the actor's instance (429 with `Retry-After`); then
//! de-duplication by activity id (a replay is acknowledged and changes
//! nothing); then the activity itself, under the origin rules of [`crate::receive::rules`]. An
//! activity that fails is forgotten again, so its sender's retry is processed.

use crate::error::FedError;
use crate::fetch::{self, FedData};
use crate::json::{id_of, kind_of};
use crate::signatures;
use crate::{receive, FedContext};
use activitypub_federation::config::FederationConfig;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use canopy_core::{authority, same_authority};
use serde_json::Value;
use std::time::SystemTime;
use url::Url;

/// Largest activity accepted, in bytes.
pub const MAX_ACTIVITY_BYTES: usize = 256 * 1024;

/// State of the inbox routes.
#[derive(Clone)]
pub struct InboxState {
    pub config: FederationConfig<FedContext>,
}

pub async fn inbox(
    State(state): State<InboxState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, FedError> {
    let body = match axum::body::to_bytes(body, MAX_ACTIVITY_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            let refused = Err(FedError::TooLarge(MAX_ACTIVITY_BYTES));
            count(&refused);
            return refused;
        }
    };
    let data = state.config.to_request_data();
    let result = receive(&method, &uri, &headers, &body, &data).await;
    count(&result);
    result
}

/// Count an inbox request in `canopy_inbox_activities_total` by outcome (`accepted`,
/// `duplicate` for a replay acknowledged without effect, `refused`) and, when refused, the
/// error's code.
fn count(result: &Result<StatusCode, FedError>) {
    let (outcome, reason) = match result {
        Ok(StatusCode::ACCEPTED) => ("accepted", ""),
        Ok(_) => ("duplicate", ""),
        Err(e) => ("refused", e.code()),
    };
    metrics::counter!("canopy_inbox_activities_total", "outcome" => outcome, "reason" => reason)
        .increment(1);
}

/// Verify and process one activity.
pub async fn receive(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    data: &FedData,
) -> Result<StatusCode, FedError> {
    let params = signatures::parse_signature(headers)?;
    let activity: Value = serde_json::from_slice(body)
        .map_err(|e| FedError::bad(format!("body is not JSON: {e}")))?;
    let id = activity
        .get("id")
        .and_then(id_of)
        .ok_or_else(|| FedError::bad("activity without an id"))?;
    if kind_of(&activity).is_empty() {
        return Err(FedError::bad("activity without a type"));
    }
    let actor_id = activity
        .get("actor")
        .and_then(id_of)
        .ok_or_else(|| FedError::bad("activity without an actor"))?;
    if !same_authority(&id, &actor_id) {
        return Err(FedError::forbidden(format!(
            "activity id {id} is on another host than its actor {actor_id}"
        )));
    }
    if fetch::is_local(&actor_id, data) {
        return Err(FedError::forbidden("activity claims a local actor"));
    }
    // Before the signature is checked: a refused instance costs no actor fetch.
    data.governance.check(&authority(&actor_id))?;
    if data.governance.site_banned(actor_id.as_str()) {
        return Err(FedError::forbidden(format!(
            "{actor_id} is banned from this node"
        )));
    }
    let key_owner = Url::parse(&params.key_id)
        .map(|mut u| {
            u.set_fragment(None);
            u
        })
        .map_err(|_| FedError::Unauthorized("keyId is not a URL".into()))?;
    if key_owner != actor_id {
        return Err(FedError::Unauthorized(format!(
            "the signing key {} does not belong to the actor {actor_id}",
            params.key_id
        )));
    }

    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    // HTTP/2 carries the host in the URI, not a header; the signature still covers it.
    let mut with_host;
    let headers = if headers.contains_key(http::header::HOST) {
        headers
    } else {
        with_host = headers.clone();
        let host = uri
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_else(|| data.base.authority().to_string());
        if let Ok(v) = http::HeaderValue::from_str(&host) {
            with_host.insert(http::header::HOST, v);
        }
        &with_host
    };
    let now = SystemTime::now();
    // Verified before anything is written: an unknown actor is stored only once its key
    // verifies, and a failing stored key is refetched at most once per actor per interval.
    let actor = fetch::verified_actor(&actor_id, data, |pem| {
        let key = data.actors.parsed_key(pem)?;
        signatures::verify_request(method, path, headers, Some(body), &params, &key, now)
    })
    .await?;
    data.inbox_limiter.admit(&actor_id)?;

    if !canopy_db::received::record(&data.db, id.as_str()).await? {
        tracing::debug!(activity = %id, "replayed activity ignored");
        return Ok(StatusCode::OK);
    }
    match receive::handle(&activity, &actor, data).await {
        Ok(()) => {
            tracing::debug!(activity = %id, kind = kind_of(&activity), from = %authority(&actor_id), "activity received");
            Ok(StatusCode::ACCEPTED)
        }
        Err(e) => {
            canopy_db::received::forget(&data.db, id.as_str()).await?;
            tracing::info!(activity = %id, kind = kind_of(&activity), error = %e, "activity refused");
            Err(e)
        }
    }
}
