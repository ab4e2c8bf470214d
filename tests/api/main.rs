//! End-to-end tests of the REST API over real HTTP against real PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod actor_fields;
mod backfill_bounds;
mod bad_input;
mod bans;
mod browser;
mod cleanup;
mod community_settings;
mod concurrency;
mod content;
mod convergence;
mod delivery;
mod delivery_signatures;
mod dialects;
mod discovery_serving;
mod federation;
mod federation_discovery;
mod federation_snapshots;
mod fedify;
mod governance;
mod inbox_security;
mod inbox_semantics;
mod interop;
mod lemmy_fallback;
mod listing;
mod meta;
mod moderation;
mod notifications;
mod origin_rules;
mod outbound;
mod outbox_fill;
mod pages;
mod posts;
mod profiles;
mod queue_admin;
mod rate_limits;
mod reports;
mod saved;
mod scores;
mod search;
mod subscriptions;
mod thread_collections;
mod tree;

use canopy_testkit::TestApp;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};

/// Follow every cursor of a post's tree (next pages and more-replies continuations) and return
/// how many times each comment id was seen, and how many pages it took.
pub async fn walk_tree(app: &TestApp, post: i64, query: &str) -> (HashMap<i64, usize>, usize) {
    let mut seen: HashMap<i64, usize> = HashMap::new();
    let mut queue: VecDeque<String> = VecDeque::new();
    let mut pages = 0;
    let first = format!("/api/v1/posts/{post}/comments?{query}");
    let mut next: Option<String> = Some(first);
    while let Some(path) = next.take().or_else(|| {
        queue
            .pop_front()
            .map(|c| format!("/api/v1/posts/{post}/comments?{query}&cursor={c}"))
    }) {
        pages += 1;
        assert!(pages < 10_000, "tree walk does not end");
        let (status, body) = app.get(&path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        let mut stack: Vec<&Value> = body["comments"].as_array().unwrap().iter().collect();
        while let Some(node) = stack.pop() {
            *seen.entry(node["id"].as_i64().unwrap()).or_default() += 1;
            if let Some(more) = node["more_replies"].as_object() {
                assert!(more["count"].as_i64().unwrap() > 0);
                queue.push_back(more["cursor"].as_str().unwrap().to_string());
            }
            stack.extend(node["replies"].as_array().unwrap().iter());
        }
        if let Some(c) = body["next_cursor"].as_str() {
            queue.push_back(c.to_string());
        }
    }
    (seen, pages)
}
