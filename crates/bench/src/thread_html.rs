//! A thread's HTML page at 50,000 comments: the page a person gets at a post's URL, timed over
//! HTTP, with the same page of the tree as JSON from the API (same request, same tree query) as
//! the same-run baseline, so the ratio is the cost of the page itself.
//!
//! The thread has the shape of [`crate::shape`], written through `canopy_db::comments::create`
//! (as the tree benchmark writes its threads). `scripts/bench listing` runs this after the front
//! page and search figures and prints its p50 in the summary line.

use crate::node::{Api, Node};
use crate::shape;
use crate::stats::{summarise, Summary};
use crate::tree::{insert_comments, voters};
use anyhow::{anyhow, bail, Result};
use canopy_core::PostId;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::json;
use sqlx::PgPool;
use std::time::Instant;

/// What was measured.
pub struct ThreadHtml {
    pub html: Summary,
    pub json: Summary,
    pub html_bytes: usize,
    pub comments_on_page: usize,
}

/// Build a thread of `comments` comments on `node` and time its page `rounds` times (after
/// `warmup` untimed requests), alternating with the API's JSON of the same tree page.
pub async fn measure(
    pool: &PgPool,
    node: &Node,
    comments: usize,
    rounds: usize,
    warmup: usize,
    seed: u64,
) -> Result<ThreadHtml> {
    let api = Api::new(&node.base_url)?;
    let started = Instant::now();
    let (_, token) = api.account("thread_html_owner").await?;
    let community = api
        .post(
            "/api/v1/communities",
            Some(&token),
            json!({"name": "thread_html", "title": "A big thread"}),
        )
        .await?;
    let community_id = community["id"]
        .as_i64()
        .ok_or_else(|| anyhow!("community answer has no id: {community}"))?;
    let people = voters(&api, 20).await?;
    let mut rng = StdRng::seed_from_u64(seed);
    let thread = shape::generate(&mut rng, comments, 20);
    let post = api
        .post(
            "/api/v1/posts",
            Some(&token),
            json!({"community_id": community_id, "title": format!("{comments} comments"),
                   "url": "https://example.com/an/article",
                   "body": "A benchmark thread with a **body**."}),
        )
        .await?;
    let post_id = PostId(
        post["id"]
            .as_i64()
            .ok_or_else(|| anyhow!("post answer has no id: {post}"))?,
    );
    insert_comments(pool, node, post_id, &thread, &people, &mut rng).await?;
    sqlx::query("VACUUM ANALYZE comment, comment_vote, person, post")
        .execute(pool)
        .await?;
    println!(
        "thread page: post {post_id} with {comments} comments in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let client = reqwest::Client::builder().no_proxy().build()?;
    // Oldest first: in this shape the oldest top-level comments carry the most replies, so the
    // page is a full one (up to 300 comments), as the busiest page of a real thread would be.
    let page_url = format!("{}/post/{}?sort=old", node.base_url, post_id.0);
    let json_path = format!("/api/v1/posts/{}/comments", post_id.0);
    // The page reads the tree with the same parameters as this API request.
    let query: Vec<(String, String)> = [
        ("sort", "old"),
        ("limit", "50"),
        ("max_depth", "8"),
        ("replies_per_comment", "10"),
        ("max_comments", "300"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut html_times = Vec::with_capacity(rounds);
    let mut json_times = Vec::with_capacity(rounds);
    let mut html_bytes = 0;
    let mut comments_on_page = 0;
    for i in 0..warmup + rounds {
        let t0 = Instant::now();
        let resp = client
            .get(&page_url)
            .header(reqwest::header::ACCEPT, "text/html")
            .send()
            .await?;
        let status = resp.status();
        let body = resp.text().await?;
        let html_time = t0.elapsed();
        if status != reqwest::StatusCode::OK {
            bail!("GET {page_url}: {status}");
        }
        let fetched = api.get(&json_path, &query).await?;
        if i >= warmup {
            html_times.push(html_time);
            json_times.push(fetched.elapsed);
        }
        html_bytes = body.len();
        comments_on_page = body.matches("<details open class=\"comment\"").count();
    }
    if comments_on_page == 0 {
        bail!("the thread page shows no comments");
    }
    Ok(ThreadHtml {
        html: summarise(&html_times),
        json: summarise(&json_times),
        html_bytes,
        comments_on_page,
    })
}
