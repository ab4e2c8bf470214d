//! `canopy-bench tree`: how the cost of a comment-tree page grows with the size of the thread.
//!
//! Creates posts with (by default) 2,000, 10,000 and 50,000 comments in the thread shape of
//! [`crate::shape`], inserted through `canopy_db::comments::create` and voted through
//! `canopy_db::votes::vote_comment` (so the triggers maintain every count as in production),
//! then times through the HTTP API, one request at a time on one keep-alive connection:
//!
//! - `first`: the first page (50 top-level comments, depth 6, hot);
//! - `last`: the last full page of top-level comments (followed by `next_cursor`), depth 6;
//! - `replies`: a page deep in the direct replies of the busiest top-level comment (its
//!   `more_replies.cursor`, then `next_cursor` up to four full pages on), depth 6.
//!
//! Requests go round-robin over every (size, page) pair, so background load on the machine
//! falls on every figure alike. As a same-run baseline it times the naive read of the whole
//! thread ordered by path, directly in SQL. The last line of the output is the summary line
//! BENCHMARKS.md quotes.

use crate::node::{Api, Database, Fetched, Node};
use crate::shape::{self, Thread};
use crate::stats::{summarise, Summary};
use anyhow::{anyhow, bail, Context, Result};
use canopy_core::{CommentId, PersonId, PostId};
use canopy_db::comments::NewComment;
use chrono::{DateTime, Duration as TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::json;
use sqlx::PgPool;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Admin URL of the PostgreSQL the benchmark creates its database on.
    #[arg(long, env = "BENCH_DATABASE_URL")]
    database_url: String,
    /// Comments per post.
    #[arg(long, value_delimiter = ',', default_values_t = [2_000, 10_000, 50_000])]
    sizes: Vec<usize>,
    /// Timed requests per (size, page) pair.
    #[arg(long, default_value_t = 200)]
    rounds: usize,
    /// Untimed requests per (size, page) pair before timing.
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// Timed full reads per size for the SQL baseline.
    #[arg(long, default_value_t = 15)]
    baseline_rounds: usize,
    /// Accounts that vote (and write comments); bounds a comment's score.
    #[arg(long, default_value_t = 120)]
    voters: u32,
    #[arg(long, default_value_t = 20_261_129)]
    seed: u64,
    /// Leave the database in place after the run (for EXPLAIN ANALYZE and the like).
    #[arg(long)]
    keep_database: bool,
}

/// Query parameters of every timed page.
const PAGE_LIMIT: usize = 50;
const PAGE_DEPTH: u32 = 6;
/// How many pages into the busiest comment's replies the `replies` page is (at most).
const REPLY_PAGES_IN: usize = 5;
/// Spread of the comments' publication times, oldest first. Over 12 hours the age term of
/// `hot` moves by about one, as much as a score of 10: score and age both matter.
const THREAD_HOURS: i64 = 12;
/// Comments inserted per transaction.
const INSERT_BATCH: usize = 1_000;
/// Concurrent voting tasks.
const VOTE_TASKS: usize = 6;

const WORDS: &[&str] = &[
    "tree",
    "branch",
    "leaf",
    "root",
    "canopy",
    "moss",
    "fern",
    "bark",
    "river",
    "stone",
    "path",
    "light",
    "shade",
    "rain",
    "wind",
    "seed",
    "the",
    "a",
    "and",
    "of",
    "is",
    "not",
    "*really*",
    "`code`",
    "[link](https://example.org)",
    "why",
    "because",
    "maybe",
    "agreed",
    "source?",
];

/// A page the benchmark times.
struct Target {
    size: usize,
    kind: &'static str,
    query: Vec<(String, String)>,
    path: String,
    samples: Vec<Duration>,
    /// Time to the response headers of the same requests.
    headers: Vec<Duration>,
    bytes: usize,
    comments: u64,
}

pub async fn run(args: Args) -> Result<()> {
    if args.rounds == 0 || args.sizes.is_empty() {
        bail!("--rounds and --sizes must not be empty");
    }
    let db_name = format!("canopy_bench_tree_{}", std::process::id());
    let db = Database::create(&args.database_url, &db_name, 16).await?;
    let result = bench(&args, &db.pool).await;
    if args.keep_database {
        println!("database kept: {db_name}");
    } else {
        db.drop_now().await?;
    }
    result
}

async fn bench(args: &Args, pool: &PgPool) -> Result<()> {
    let node = Node::start(pool.clone()).await?;
    let api = Api::new(&node.base_url)?;
    let setup = Instant::now();
    let (_, token) = api.account("bench_owner").await?;
    let community = api
        .post(
            "/api/v1/communities",
            Some(&token),
            json!({"name": "bench", "title": "Benchmark threads"}),
        )
        .await?;
    let community_id = community["id"]
        .as_i64()
        .ok_or_else(|| anyhow!("community answer has no id: {community}"))?;
    let people = voters(&api, args.voters).await?;
    println!(
        "setup: {} voter accounts through the API in {:.1} s",
        people.len(),
        setup.elapsed().as_secs_f64()
    );

    let mut posts = Vec::new();
    for &size in &args.sizes {
        let started = Instant::now();
        // One generator per size: a thread does not depend on which other sizes run.
        let mut rng = StdRng::seed_from_u64(args.seed ^ size as u64);
        let thread = shape::generate(&mut rng, size, args.voters);
        let post = api
            .post(
                "/api/v1/posts",
                Some(&token),
                json!({"community_id": community_id, "title": format!("{size} comments"),
                       "body": "A benchmark thread."}),
            )
            .await?;
        let post_id = PostId(
            post["id"]
                .as_i64()
                .ok_or_else(|| anyhow!("post answer has no id: {post}"))?,
        );
        let ids = insert_comments(pool, &node, post_id, &thread, &people, &mut rng).await?;
        let votes = cast_votes(pool, &thread, &ids, &people, &mut rng).await?;
        println!(
            "generated post {post_id} with {size} comments in {:.1} s: {} top-level, busiest has {} \
             direct replies, deepest at depth {}, {votes} votes, {} comments net negative",
            started.elapsed().as_secs_f64(),
            thread.top_level(),
            thread.max_children(),
            thread.max_depth(),
            thread.negative(),
        );
        posts.push((size, post_id));
    }
    // What autovacuum would have done by the time a thread this size is read.
    sqlx::query("VACUUM ANALYZE comment, comment_vote, person, post")
        .execute(pool)
        .await?;

    let mut targets = Vec::new();
    for &(size, post) in &posts {
        targets.extend(find_targets(&api, size, post).await?);
    }
    for t in &mut targets {
        for _ in 0..args.warmup {
            record(&api, t, false).await?;
        }
    }
    for _ in 0..args.rounds {
        for t in &mut targets {
            record(&api, t, true).await?;
        }
    }
    let baselines = full_reads(pool, &posts, args.baseline_rounds).await?;
    report(args, &targets, &baselines)
}

/// Register `count` voter accounts, two at a time (registration hashes a password and makes
/// a key pair).
async fn voters(api: &Api, count: u32) -> Result<Vec<PersonId>> {
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..2 {
        let api = api.clone();
        tasks.spawn(async move {
            let mut ids = Vec::new();
            for i in (lane..count).step_by(2) {
                ids.push((i, PersonId(api.account(&format!("voter{i}")).await?.0)));
            }
            Ok::<_, anyhow::Error>(ids)
        });
    }
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        all.extend(done??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, id)| id).collect())
}

/// Insert the planned comments in order, `INSERT_BATCH` to a transaction; returns their ids.
async fn insert_comments(
    pool: &PgPool,
    node: &Node,
    post: PostId,
    thread: &Thread,
    people: &[PersonId],
    rng: &mut StdRng,
) -> Result<Vec<CommentId>> {
    let start: DateTime<Utc> = Utc::now() - TimeDelta::hours(THREAD_HOURS);
    let step_ms = THREAD_HOURS * 3_600_000 / thread.comments.len().max(1) as i64;
    let mut ids: Vec<CommentId> = Vec::with_capacity(thread.comments.len());
    for (batch_no, batch) in thread.comments.chunks(INSERT_BATCH).enumerate() {
        let mut tx = pool.begin().await?;
        for (j, planned) in batch.iter().enumerate() {
            let i = batch_no * INSERT_BATCH + j;
            let content = (0..planned.words)
                .map(|_| WORDS.choose(rng).copied().unwrap_or("tree"))
                .collect::<Vec<_>>()
                .join(" ");
            let html = canopy_core::content::markdown_to_html(&content);
            let creator = people.choose(rng).copied().context("no voter accounts")?;
            let id = canopy_db::comments::create(
                &mut tx,
                &NewComment {
                    post_id: post,
                    parent_id: planned.parent.map(|p| ids[p]),
                    creator_id: creator,
                    content: &content,
                    content_html: &html,
                    local: true,
                    ap_id: None,
                    ap_id_prefix: &node.comment_prefix,
                    published: Some(start + TimeDelta::milliseconds(step_ms * i as i64)),
                    updated: None,
                },
            )
            .await?;
            ids.push(id);
        }
        tx.commit().await?;
    }
    Ok(ids)
}

/// Cast the planned votes from distinct voters; returns how many.
async fn cast_votes(
    pool: &PgPool,
    thread: &Thread,
    ids: &[CommentId],
    people: &[PersonId],
    rng: &mut StdRng,
) -> Result<usize> {
    // One lane per comment, so that votes on one comment never wait for each other.
    let mut lanes: Vec<Vec<(CommentId, PersonId, i16)>> = vec![Vec::new(); VOTE_TASKS];
    for (i, planned) in thread.comments.iter().enumerate() {
        let n = (planned.up + planned.down) as usize;
        let chosen = rand::seq::index::sample(rng, people.len(), n.min(people.len()));
        for (k, who) in chosen.iter().enumerate() {
            let score = if k < planned.up as usize { 1 } else { -1 };
            lanes[i % VOTE_TASKS].push((ids[i], people[who], score));
        }
    }
    let total = lanes.iter().map(Vec::len).sum();
    let mut tasks = tokio::task::JoinSet::new();
    for lane in lanes {
        let pool = pool.clone();
        tasks.spawn(async move {
            for (comment, person, score) in lane {
                canopy_db::votes::vote_comment(&pool, comment, person, score).await?;
            }
            Ok::<_, canopy_db::DbError>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(total)
}

/// The three pages timed for one post.
async fn find_targets(api: &Api, size: usize, post: PostId) -> Result<Vec<Target>> {
    let path = format!("/api/v1/posts/{}/comments", post.0);
    let page_params = |cursor: Option<&str>| {
        let mut q = vec![
            ("limit".to_string(), PAGE_LIMIT.to_string()),
            ("max_depth".to_string(), PAGE_DEPTH.to_string()),
        ];
        match cursor {
            Some(c) => q.push(("cursor".to_string(), c.to_string())),
            None => q.push(("sort".to_string(), "hot".to_string())),
        }
        q
    };
    let target = |kind, query| Target {
        size,
        kind,
        query,
        path: path.clone(),
        samples: Vec::new(),
        headers: Vec::new(),
        bytes: 0,
        comments: 0,
    };

    let full =
        |page: &serde_json::Value| page["comments"].as_array().map_or(0, Vec::len) == PAGE_LIMIT;
    // Walk every top-level page (one level only) for the last full page and the busiest comment.
    let mut cursor: Option<String> = None;
    let mut last_full: Option<String> = None;
    let mut busiest: Option<(i64, String)> = None;
    loop {
        let mut q = vec![
            ("limit".to_string(), PAGE_LIMIT.to_string()),
            ("max_depth".to_string(), "1".to_string()),
        ];
        if let Some(c) = &cursor {
            q.push(("cursor".to_string(), c.clone()));
        }
        let page = api.get(&path, &q).await?.body;
        if full(&page) && cursor.is_some() {
            last_full = cursor.clone();
        }
        for c in page["comments"].as_array().into_iter().flatten() {
            let replies = c["counts"]["replies"].as_i64().unwrap_or(0);
            if let Some(more) = c["more_replies"]["cursor"].as_str() {
                if busiest.as_ref().is_none_or(|(n, _)| replies > *n) {
                    busiest = Some((replies, more.to_string()));
                }
            }
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let last = last_full.ok_or_else(|| anyhow!("post {post} has a single full page"))?;
    // Pages on in the busiest comment's replies, as long as the next page is a full one.
    let (_, mut reply_cursor) = busiest.ok_or_else(|| anyhow!("post {post} has no replies"))?;
    for _ in 1..REPLY_PAGES_IN {
        let page = api
            .get(&path, &page_params(Some(&reply_cursor)))
            .await?
            .body;
        let Some(next) = page["next_cursor"].as_str() else {
            break;
        };
        let q = page_params(Some(next));
        if !full(&api.get(&path, &q).await?.body) {
            break;
        }
        reply_cursor = next.to_string();
    }
    Ok(vec![
        target("first", page_params(None)),
        target("last", page_params(Some(&last))),
        target("replies", page_params(Some(&reply_cursor))),
    ])
}

async fn record(api: &Api, t: &mut Target, timed: bool) -> Result<()> {
    let Fetched {
        elapsed,
        headers,
        bytes,
        body,
    } = api.get(&t.path, &t.query).await?;
    let comments = body["total"]
        .as_u64()
        .ok_or_else(|| anyhow!("tree page without total"))?;
    if comments == 0 {
        bail!("{} page of the {} thread is empty", t.kind, t.size);
    }
    if timed {
        t.samples.push(elapsed);
        t.headers.push(headers);
    }
    t.bytes = bytes;
    t.comments = comments;
    Ok(())
}

/// The naive baseline: the whole thread ordered by path, read directly in SQL.
async fn full_reads(
    pool: &PgPool,
    posts: &[(usize, PostId)],
    rounds: usize,
) -> Result<Vec<(usize, Summary, usize)>> {
    const FULL_READ: &str = "SELECT id, parent_id, path, depth, content, content_html, published,
            score, upvotes, downvotes, child_count, hot
         FROM comment WHERE post_id = $1 ORDER BY path";
    let mut samples = vec![Vec::new(); posts.len()];
    let mut rows = vec![0; posts.len()];
    for round in 0..rounds + 1 {
        for (k, &(_, post)) in posts.iter().enumerate() {
            let started = Instant::now();
            let got = sqlx::query(FULL_READ).bind(post).fetch_all(pool).await?;
            if round > 0 {
                samples[k].push(started.elapsed());
            }
            rows[k] = got.len();
        }
    }
    Ok(posts
        .iter()
        .zip(samples)
        .zip(rows)
        .map(|((&(size, _), s), n)| (size, summarise(&s), n))
        .collect())
}

fn label(size: usize) -> String {
    if size / 1000 * 1000 == size {
        format!("{}k", size / 1000)
    } else {
        size.to_string()
    }
}

fn report(args: &Args, targets: &[Target], baselines: &[(usize, Summary, usize)]) -> Result<()> {
    println!();
    println!(
        "tree pages through HTTP (limit={PAGE_LIMIT}, max_depth={PAGE_DEPTH}, sort=hot; {} timed \
         requests each after {} warm-up, round-robin, one keep-alive connection; times include \
         reading and parsing the body, `headers` is the time to the response headers)",
        args.rounds, args.warmup
    );
    println!(
        "{:>7}  {:<8} {:>8} {:>8} {:>8} {:>11} {:>9} {:>8} {:>14}",
        "size",
        "page",
        "p50 ms",
        "p99 ms",
        "mean ms",
        "headers p50",
        "comments",
        "bytes",
        "p50 µs/comment"
    );
    for t in targets {
        let s = summarise(&t.samples);
        println!(
            "{:>7}  {:<8} {:>8.2} {:>8.2} {:>8.2} {:>11.2} {:>9} {:>8} {:>14.1}",
            t.size,
            t.kind,
            s.p50,
            s.p99,
            s.mean,
            summarise(&t.headers).p50,
            t.comments,
            t.bytes,
            s.p50 * 1000.0 / t.comments.max(1) as f64
        );
    }
    println!();
    println!(
        "baseline: whole thread ordered by path, directly in SQL ({} timed reads each)",
        args.baseline_rounds
    );
    println!(
        "{:>7}  {:>8} {:>8} {:>8} {:>9}  {:>22}",
        "size", "p50 ms", "p99 ms", "mean ms", "rows", "first-page p50 / this"
    );
    let first = |size: usize| {
        targets
            .iter()
            .find(|t| t.size == size && t.kind == "first")
            .map(|t| summarise(&t.samples))
    };
    for (size, s, rows) in baselines {
        let ratio = first(*size).map_or(f64::NAN, |f| f.p50 / s.p50);
        println!(
            "{:>7}  {:>8.2} {:>8.2} {:>8.2} {:>9}  {:>22.3}",
            size, s.p50, s.p99, s.mean, rows, ratio
        );
    }
    println!();

    let firsts: Vec<(usize, Summary)> = args
        .sizes
        .iter()
        .filter_map(|&size| first(size).map(|s| (size, s)))
        .collect();
    let (Some((smallest, base)), Some((largest, top))) = (firsts.first(), firsts.last()) else {
        bail!("no first-page figures");
    };
    let mut line = String::from("tree:");
    for (size, s) in &firsts {
        line.push_str(&format!(" p50_{}_ms={:.2}", label(*size), s.p50));
    }
    line.push_str(&format!(
        " p99_{}_ms={:.2} ratio_{}_{}={:.2}",
        label(*largest),
        top.p99,
        label(*largest),
        label(*smallest),
        top.p50 / base.p50
    ));
    println!("{line}");
    Ok(())
}
