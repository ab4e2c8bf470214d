//! Content negotiation: one URL answers ActivityPub peers with ActivityStreams JSON and browsers
//! with HTML.

use super::error::RouteError;
use crate::protocol::{WithContext, ACTIVITY_JSON};
use axum::http::header::{ACCEPT, CONTENT_TYPE, VARY};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Whether the client wants ActivityStreams JSON rather than a page. `application/activity+json`,
/// `application/ld+json` (with or without the ActivityStreams profile) and `application/json`
/// count as JSON; `text/html`, `application/xhtml+xml` and wildcards as HTML. The higher quality
/// value wins, JSON on a tie; no `Accept` at all means a browser-ish client and gets HTML.
pub fn wants_activity_json(headers: &HeaderMap) -> bool {
    let mut json_q = 0.0_f32;
    let mut html_q = 0.0_f32;
    for value in headers.get_all(ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("q")
                        .then(|| v.trim().parse::<f32>().ok())
                        .flatten()
                })
                .next()
                .unwrap_or(1.0);
            match media.as_str() {
                "application/activity+json" | "application/ld+json" | "application/json" => {
                    json_q = json_q.max(q);
                }
                "text/html" | "application/xhtml+xml" | "text/*" | "*/*" => {
                    html_q = html_q.max(q);
                }
                _ => {}
            }
        }
    }
    json_q > 0.0 && json_q >= html_q
}

/// An ActivityStreams document with its `@context`, served as `application/activity+json`.
pub fn activity_json<T: Serialize>(status: StatusCode, object: T) -> Response {
    match serde_json::to_vec(&WithContext::new(object)) {
        Ok(body) => (
            status,
            [
                (CONTENT_TYPE, HeaderValue::from_static(ACTIVITY_JSON)),
                (VARY, HeaderValue::from_static("Accept")),
            ],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "serialising an ActivityStreams document failed");
            RouteError::internal().into_response()
        }
    }
}

/// An HTML page from a negotiated URL.
pub fn html(status: StatusCode, page: String) -> Response {
    (
        status,
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (VARY, HeaderValue::from_static("Accept")),
        ],
        page,
    )
        .into_response()
}

/// Any JSON document with the given content type (WebFinger, NodeInfo).
pub fn json_as<T: Serialize>(content_type: &'static str, object: &T) -> Response {
    match serde_json::to_vec(object) {
        Ok(body) => (
            [
                (CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (
                    axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                ),
            ],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "serialising a JSON document failed");
            RouteError::internal().into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn activitypub_peers_get_json() {
        assert!(wants_activity_json(&accept("application/activity+json")));
        assert!(wants_activity_json(&accept(
            r#"application/ld+json; profile="https://www.w3.org/ns/activitystreams""#
        )));
        assert!(wants_activity_json(&accept("application/json")));
        assert!(wants_activity_json(&accept(
            "application/activity+json, */*;q=0.1"
        )));
    }

    #[test]
    fn browsers_get_html() {
        assert!(!wants_activity_json(&HeaderMap::new()));
        assert!(!wants_activity_json(&accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(!wants_activity_json(&accept("*/*")));
        assert!(!wants_activity_json(&accept(
            "text/html, application/activity+json;q=0.5"
        )));
        assert!(!wants_activity_json(&accept(
            "application/activity+json;q=0"
        )));
    }
}
