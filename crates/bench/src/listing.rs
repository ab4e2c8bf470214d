//! `canopy-bench listing`: the front page and search at size.
//!
//! Inserts (in bulk SQL, `generate_series`, through the production triggers) 1,000 communities
//! on 50 remote instances, 100,000 posts spread over a year and 500,000 comments of words drawn
//! from a skewed vocabulary, then VACUUM ANALYZE, and times through the HTTP API of an
//! in-process node, one request at a time on one keep-alive connection, round-robin over:
//!
//! - `front_hot`: `GET /api/v1/posts` (scope all, hot, 20 posts), the front page figure;
//! - `front_hot_deep`: the same, 50 pages in (by cursor);
//! - `front_active`, `front_top_week`, `community_hot`: other sorts and a community's list;
//! - `search`: `GET /api/v1/search?q=…` (type all) for a word in about 0.2% of the comments, the
//!   issue's search figure; `search_common`: a word in about 5% of them.
//!
//! Same-run baselines, in SQL: the front page with the hot rank computed per row (what a
//! listing without a stored key must do: sort every post), and the search word matched without
//! the GIN index (to_tsvector of every comment). The last line is the summary BENCHMARKS.md
//! quotes; its `thread_html_p50_ms` is the thread page of [`crate::thread_html`].

use crate::node::{Api, Database, Node};
use crate::stats::{summarise, Summary};
use anyhow::{anyhow, bail, Result};
use sqlx::PgPool;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Admin URL of the PostgreSQL the benchmark creates its database on.
    #[arg(long, env = "BENCH_DATABASE_URL")]
    database_url: String,
    #[arg(long, default_value_t = 1_000)]
    communities: i64,
    #[arg(long, default_value_t = 100_000)]
    posts: i64,
    #[arg(long, default_value_t = 500_000)]
    comments: i64,
    /// Timed requests per target.
    #[arg(long, default_value_t = 200)]
    rounds: usize,
    /// Untimed requests per target before timing.
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// Timed runs of each SQL baseline.
    #[arg(long, default_value_t = 5)]
    baseline_rounds: usize,
    /// Comments in the thread whose HTML page is timed.
    #[arg(long, default_value_t = 50_000)]
    thread_comments: usize,
    /// Leave the database in place after the run (for EXPLAIN ANALYZE and the like).
    #[arg(long)]
    keep_database: bool,
}

pub async fn run(args: Args) -> Result<()> {
    if args.rounds == 0 || args.communities == 0 || args.posts == 0 {
        bail!("--rounds, --communities and --posts must be at least 1");
    }
    let db_name = format!("canopy_bench_listing_{}", std::process::id());
    let db = Database::create(&args.database_url, &db_name, 16).await?;
    let result = bench(&args, &db.pool).await;
    if args.keep_database {
        println!("database kept: {db_name}");
    } else {
        db.drop_now().await?;
    }
    result
}

/// The vocabulary: `w0` … `w4999`, word n drawn with probability falling with n (the cube of a
/// uniform number), so low-numbered words are common and high-numbered ones rare.
const WORD_EXPR: &str = "'w' || floor(power(random(), 3) * 5000)::int";

async fn populate(args: &Args, pool: &PgPool) -> Result<()> {
    let started = Instant::now();
    sqlx::query(
        "INSERT INTO instance (authority)
         SELECT 'peer' || n || '.example' FROM generate_series(1, 50) n",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO community (instance_id, name, title, description, ap_id, inbox_url,
                                public_key_pem, local, subscriber_count)
         SELECT i.id, 'c' || n, 'Community ' || n, 'About topic ' || n,
                'https://' || i.authority || '/c/c' || n, 'https://' || i.authority || '/inbox',
                'not used', false, (n * 7919) % 5000
           FROM generate_series(1, $1) n
           JOIN instance i ON i.authority = 'peer' || (1 + n % 50) || '.example'",
    )
    .bind(args.communities)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO person (instance_id, name, ap_id, inbox_url, public_key_pem, local)
         SELECT i.id, 'u' || n, 'https://' || i.authority || '/u/u' || n,
                'https://' || i.authority || '/inbox', 'not used', false
           FROM generate_series(1, 2000) n
           JOIN instance i ON i.authority = 'peer' || (1 + n % 50) || '.example'",
    )
    .execute(pool)
    .await?;
    // Posts over the last year, in random communities by random authors, scores 1–100 skewed low.
    sqlx::query(&format!(
        "INSERT INTO post (community_id, creator_id, title, body, ap_id, local, published)
         SELECT c.id, u.id, {w} || ' ' || {w} || ' ' || {w}, {w} || ' ' || {w} || ' ' || {w},
                'https://example.net/post/' || n, false,
                now() - random() * interval '365 days'
           FROM generate_series(1, $1) n
           JOIN community c ON c.name = 'c' || (1 + (n * 31) % $2)
           JOIN person u ON u.name = 'u' || (1 + (n * 17) % 2000)",
        w = WORD_EXPR
    ))
    .bind(args.posts)
    .bind(args.communities)
    .execute(pool)
    .await?;
    // Scores (the vote trigger's work, done in bulk: the front page reads the stored keys).
    sqlx::query(
        "UPDATE post p SET upvotes = v.up, downvotes = v.down, score = v.up - v.down
           FROM (SELECT id, 1 + floor(power(random(), 4) * 100)::int AS up,
                        floor(power(random(), 4) * 20)::int AS down FROM post) v
          WHERE v.id = p.id",
    )
    .execute(pool)
    .await?;
    println!(
        "setup: {} communities, {} posts in {:.1} s",
        args.communities,
        args.posts,
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let batch = 50_000;
    let mut done = 0;
    while done < args.comments {
        let n = batch.min(args.comments - done);
        sqlx::query(&format!(
            "WITH bounds AS (SELECT min(id) AS lo, max(id) - min(id) + 1 AS span FROM post),
                  n AS (SELECT nextval('comment_id_seq') AS id, g FROM generate_series(1, $1) g)
             INSERT INTO comment (id, post_id, creator_id, path, content, content_html, ap_id,
                                  local, published)
             SELECT n.id, b.lo + floor(random() * b.span)::bigint, u.id, ARRAY[n.id], t.text,
                    '<p>' || t.text || '</p>', 'https://example.net/comment/' || n.id, false,
                    now() - random() * interval '365 days'
               FROM n CROSS JOIN bounds b
               CROSS JOIN LATERAL (SELECT {w} || ' ' || {w} || ' ' || {w} || ' ' || {w} || ' '
                                          || {w} || ' ' || {w} || ' ' || {w} || ' ' || {w}
                                          || ' ' || n.g AS text) t
               JOIN person u ON u.name = 'u' || (1 + (n.g * 13) % 2000)",
            w = WORD_EXPR
        ))
        .bind(n)
        .execute(pool)
        .await?;
        done += n;
    }
    println!(
        "setup: {} comments in {:.1} s",
        args.comments,
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    sqlx::query("VACUUM ANALYZE").execute(pool).await?;
    println!(
        "setup: VACUUM ANALYZE in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A word of the vocabulary in about `share` of the comments (each has eight words).
async fn word_with_share(pool: &PgPool, share: f64) -> Result<(String, i64)> {
    // P(word n) = (cbrt((n+1)/5000) - cbrt(n/5000)): invert for the word whose share is closest.
    let mut best = (0usize, f64::MAX);
    for n in 0..5000usize {
        let p = ((n + 1) as f64 / 5000.0).cbrt() - (n as f64 / 5000.0).cbrt();
        let in_comment = 1.0 - (1.0 - p).powi(8);
        let d = (in_comment - share).abs();
        if d < best.1 {
            best = (n, d);
        }
    }
    let word = format!("w{}", best.0);
    let (count,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM comment WHERE search @@ websearch_to_tsquery('simple', $1)",
    )
    .bind(&word)
    .fetch_one(pool)
    .await?;
    Ok((word, count))
}

struct Target {
    name: &'static str,
    path: String,
    query: Vec<(String, String)>,
    samples: Vec<Duration>,
    items: usize,
}

fn target(name: &'static str, path: &str, query: &[(&str, &str)]) -> Target {
    Target {
        name,
        path: path.to_owned(),
        query: query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        samples: Vec::new(),
        items: 0,
    }
}

/// The cursor `pages` pages into the front page (hot, 20 a page).
async fn deep_cursor(api: &Api, pages: usize) -> Result<String> {
    let mut cursor = String::new();
    for _ in 0..pages {
        let mut q = vec![("limit".to_owned(), "20".to_owned())];
        if !cursor.is_empty() {
            q.push(("cursor".to_owned(), cursor.clone()));
        }
        let page = api.get("/api/v1/posts", &q).await?;
        cursor = page.body["next_cursor"]
            .as_str()
            .ok_or_else(|| anyhow!("front page ended early"))?
            .to_owned();
    }
    Ok(cursor)
}

async fn time_sql(pool: &PgPool, sql: &str, bind: Option<&str>, rounds: usize) -> Result<Summary> {
    let mut samples = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        let q = sqlx::query(sql);
        let q = match bind {
            Some(b) => q.bind(b.to_owned()),
            None => q,
        };
        q.fetch_all(pool).await?;
        samples.push(started.elapsed());
    }
    Ok(summarise(&samples))
}

/// The summary line BENCHMARKS.md quotes.
fn summary_line(front: f64, search: f64, thread_html: f64) -> String {
    format!(
        "listing: front_p50_ms={front:.2} search_p50_ms={search:.2} \
         thread_html_p50_ms={thread_html:.2}"
    )
}

async fn bench(args: &Args, pool: &PgPool) -> Result<()> {
    println!(
        "machine reference: RSA-2048 signatures on one thread: {:.0}/s with aws-lc-rs",
        crate::backfill::aws_lc_signs_per_s()?,
    );
    let node = Node::start(pool.clone()).await?;
    let api = Api::new(&node.base_url)?;
    populate(args, pool).await?;
    let (rare, rare_count) = word_with_share(pool, 0.002).await?;
    let (common, common_count) = word_with_share(pool, 0.05).await?;
    println!(
        "search words: `{rare}` in {rare_count} comments, `{common}` in {common_count} comments \
         (of {})",
        args.comments
    );
    let deep = deep_cursor(&api, 50).await?;
    let mut targets = vec![
        target("front_hot", "/api/v1/posts", &[("limit", "20")]),
        target(
            "front_hot_deep",
            "/api/v1/posts",
            &[("limit", "20"), ("cursor", &deep)],
        ),
        target(
            "front_active",
            "/api/v1/posts",
            &[("limit", "20"), ("sort", "active")],
        ),
        target(
            "front_top_week",
            "/api/v1/posts",
            &[("limit", "20"), ("sort", "top"), ("window", "week")],
        ),
        target(
            "community_hot",
            "/api/v1/communities/c7@peer8.example/posts",
            &[("limit", "20")],
        ),
        target("search", "/api/v1/search", &[("q", &rare), ("limit", "20")]),
        target(
            "search_common",
            "/api/v1/search",
            &[("q", &common), ("limit", "20")],
        ),
    ];
    for t in &mut targets {
        for _ in 0..args.warmup {
            api.get(&t.path, &t.query).await?;
        }
    }
    for _ in 0..args.rounds {
        for t in &mut targets {
            let f = api.get(&t.path, &t.query).await?;
            t.samples.push(f.elapsed);
            t.items = f.body["posts"]
                .as_array()
                .or_else(|| f.body["results"].as_array())
                .map_or(0, Vec::len);
        }
    }
    let mut p50 = std::collections::HashMap::new();
    for t in &targets {
        let s = summarise(&t.samples);
        println!(
            "{:<15} p50 {:>7.2} ms  p99 {:>7.2} ms  mean {:>7.2} ms  ({} requests, {} items a page)",
            t.name, s.p50, s.p99, s.mean, s.samples, t.items
        );
        p50.insert(t.name, s.p50);
    }
    // Baselines: what the same answers cost without the stored keys and indexes.
    let whole_sort = time_sql(
        pool,
        "SELECT p.id FROM post p JOIN community c ON c.id = p.community_id
          WHERE NOT p.deleted AND NOT p.removed
          ORDER BY canopy_hot(p.score, p.published) DESC, p.id DESC LIMIT 20",
        None,
        args.baseline_rounds,
    )
    .await?;
    let offset = time_sql(
        pool,
        "SELECT p.id FROM post p WHERE NOT p.deleted AND NOT p.removed
          ORDER BY p.hot DESC, p.id DESC OFFSET 1000 LIMIT 20",
        None,
        args.baseline_rounds,
    )
    .await?;
    let no_gin = time_sql(
        pool,
        "SELECT id FROM comment
          WHERE to_tsvector('simple', content) @@ websearch_to_tsquery('simple', $1)
          ORDER BY ts_rank(to_tsvector('simple', content), websearch_to_tsquery('simple', $1)) DESC
          LIMIT 20",
        Some(&rare),
        args.baseline_rounds,
    )
    .await?;
    let front = p50["front_hot"];
    let search = p50["search"];
    println!(
        "baseline front page, hot rank computed per row (whole-table sort, SQL only): p50 {:.2} ms \
         = {:.0}x front_hot over HTTP",
        whole_sort.p50,
        whole_sort.p50 / front
    );
    println!(
        "baseline front page 51st page by OFFSET 1000 on the stored key (SQL only): p50 {:.2} ms; \
         front_hot_deep by cursor over HTTP: {:.2} ms",
        offset.p50, p50["front_hot_deep"]
    );
    println!(
        "baseline search without the stored tsvector and GIN index (SQL only): p50 {:.2} ms \
         = {:.0}x search over HTTP",
        no_gin.p50,
        no_gin.p50 / search
    );
    println!(
        "goals: front_hot p50 <= 10 ms: {}; search p50 <= 30 ms: {}",
        if front <= 10.0 { "met" } else { "MISSED" },
        if search <= 30.0 { "met" } else { "MISSED" },
    );
    // The thread page last: its 50,000-comment thread does not change what came before.
    let thread = crate::thread_html::measure(
        pool,
        &node,
        args.thread_comments,
        args.rounds,
        args.warmup,
        20_261_202,
    )
    .await?;
    println!(
        "thread page (HTML, {} comments on the page, {} bytes): p50 {:.2} ms, p99 {:.2} ms; \
         baseline, the same tree page as API JSON: p50 {:.2} ms (html/json {:.2}x)",
        thread.comments_on_page,
        thread.html_bytes,
        thread.html.p50,
        thread.html.p99,
        thread.json.p50,
        thread.html.p50 / thread.json.p50,
    );
    println!(
        "goal: thread_html p50 <= 20 ms: {}",
        if thread.html.p50 <= 20.0 {
            "met"
        } else {
            "MISSED"
        }
    );
    println!("{}", summary_line(front, search, thread.html.p50));
    Ok(())
}
