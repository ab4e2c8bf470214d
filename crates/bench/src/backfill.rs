//! `canopy-bench backfill`: how fast one node copies a whole remote thread from another.
//!
//! Node A (the thread's home) gets a post with (by default) 5,000 comments in the thread shape
//! of [`crate::shape`] by 20 authors, inserted through `canopy_db::comments::create`. Then, each
//! round, a fresh node B (its own database) resyncs the post's URL at once, as
//! `canopy admin resync` does: B fetches the post, reads A's `context` collection (pages of 50
//! items; A embeds its own comments, so no comment is fetched by itself) and stores every
//! comment through the verified object path (authors are fetched the first time they are met),
//! with the default bounds. A second resync on the same B must add nothing. As a same-run
//! baseline, one more fresh node copies the thread with one request at a time
//! (`backfill_per_host = 1`), as a fetcher without concurrency would; with embedded comments
//! the pages are read one after another either way, so the two now run at about the same rate.
//!
//! Both nodes run in this process on loopback and share its two cores with PostgreSQL. The last
//! line is the summary BENCHMARKS.md quotes.

use crate::node::{Api, Database, Node};
use crate::shape;
use anyhow::{anyhow, bail, Result};
use canopy_core::PostId;
use canopy_federation::backfill::{self, HostLimits, Settings};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::json;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Admin URL of the PostgreSQL the benchmark creates its databases on.
    #[arg(long, env = "BENCH_DATABASE_URL")]
    database_url: String,
    /// Comments in the thread.
    #[arg(long, default_value_t = 5_000)]
    comments: usize,
    /// Accounts on A that write them.
    #[arg(long, default_value_t = 20)]
    authors: u32,
    /// Timed copies (each into a fresh node B).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Skip the one-request-at-a-time baseline.
    #[arg(long)]
    no_baseline: bool,
    #[arg(long, default_value_t = 20_261_202)]
    seed: u64,
}

/// One copy of the thread.
struct Copy {
    items: usize,
    requests: u32,
    elapsed: Duration,
    second_added: usize,
    second_requests: u32,
}

impl Copy {
    fn per_s(&self) -> f64 {
        self.items as f64 / self.elapsed.as_secs_f64()
    }
}

pub async fn run(args: Args) -> Result<()> {
    if args.rounds == 0 || args.comments == 0 {
        bail!("--rounds and --comments must be at least 1");
    }
    let tag = std::process::id();
    let home_db = Database::create(
        &args.database_url,
        &format!("canopy_bench_backfill_{tag}_a"),
        16,
    )
    .await?;
    let result = bench(&args, &home_db.pool, tag).await;
    home_db.drop_now().await?;
    result
}

async fn bench(args: &Args, pool: &sqlx::PgPool, tag: u32) -> Result<()> {
    println!(
        "machine reference: RSA-2048 signatures on one thread: {:.0}/s with the rsa crate (what \
         activitypub_federation signs fetches with), {:.0}/s with aws-lc-rs",
        rsa_crate_signs_per_s()?,
        aws_lc_signs_per_s()?,
    );
    let home = Node::start(pool.clone()).await?;
    let api = Api::new(&home.base_url)?;
    let (_, token) = api.account("bench_owner").await?;
    let community = api
        .post(
            "/api/v1/communities",
            Some(&token),
            json!({"name": "bench", "title": "Benchmark threads"}),
        )
        .await?;
    let post = api
        .post(
            "/api/v1/posts",
            Some(&token),
            json!({"community_id": community["id"], "title": "A long thread",
                   "body": "Backfill benchmark."}),
        )
        .await?;
    let post_id = PostId(
        post["id"]
            .as_i64()
            .ok_or_else(|| anyhow!("post answer has no id: {post}"))?,
    );
    let post_url = url::Url::parse(
        post["ap_id"]
            .as_str()
            .ok_or_else(|| anyhow!("post answer has no ap_id: {post}"))?,
    )?;
    let started = Instant::now();
    let people = crate::tree::voters(&api, args.authors).await?;
    let mut rng = StdRng::seed_from_u64(args.seed);
    let thread = shape::generate(&mut rng, args.comments, args.authors);
    crate::tree::insert_comments(pool, &home, post_id, &thread, &people, &mut rng).await?;
    sqlx::query("VACUUM ANALYZE comment, person, post")
        .execute(pool)
        .await?;
    println!(
        "setup: thread of {} comments by {} authors on A in {:.1} s ({} top-level, deepest at \
         depth {})",
        args.comments,
        people.len(),
        started.elapsed().as_secs_f64(),
        thread.top_level(),
        thread.max_depth(),
    );

    let mut copies = Vec::new();
    for round in 1..=args.rounds {
        let c = copy(
            args,
            &post_url,
            Settings::default(),
            tag,
            &format!("b{round}"),
        )
        .await?;
        println!(
            "round {round}: items={} in {:.2} s = {:.0}/s, requests={}; second resync: added={} \
             requests={}",
            c.items,
            c.elapsed.as_secs_f64(),
            c.per_s(),
            c.requests,
            c.second_added,
            c.second_requests,
        );
        copies.push(c);
    }
    let baseline = if args.no_baseline {
        None
    } else {
        let sequential = Settings {
            per_host: 1,
            ..Settings::default()
        };
        let c = copy(args, &post_url, sequential, tag, "seq").await?;
        println!(
            "baseline, one request at a time: items={} in {:.2} s = {:.0}/s, requests={}",
            c.items,
            c.elapsed.as_secs_f64(),
            c.per_s(),
            c.requests,
        );
        Some(c)
    };

    copies.sort_by(|a, b| a.per_s().total_cmp(&b.per_s()));
    let median = &copies[copies.len() / 2];
    let ratio = baseline
        .as_ref()
        .map(|b| format!(" vs_sequential={:.2}x", median.per_s() / b.per_s()))
        .unwrap_or_default();
    println!(
        "backfill: items={} per_s={:.0} requests={} seconds={:.2} second_resync_added={}{ratio} \
         (median of {} rounds)",
        median.items,
        median.per_s(),
        median.requests,
        median.elapsed.as_secs_f64(),
        median.second_added,
        copies.len(),
    );
    Ok(())
}

/// A fresh node B resyncs `post_url` twice with `settings`.
async fn copy(
    args: &Args,
    post_url: &url::Url,
    settings: Settings,
    tag: u32,
    name: &str,
) -> Result<Copy> {
    let db = Database::create(
        &args.database_url,
        &format!("canopy_bench_backfill_{tag}_{name}"),
        16,
    )
    .await?;
    let result = async {
        let node = Node::start(db.pool.clone()).await?;
        let hosts = HostLimits::new(settings.per_host);
        let data = node.federation.request_data();
        // B learns of the community first, as a follower would have.
        let community = url::Url::parse(&format!(
            "{}://{}/c/bench",
            post_url.scheme(),
            canopy_core::authority(post_url)
        ))?;
        canopy_federation::resolve::resolve(&community, &data)
            .await
            .map_err(|e| anyhow!("resolving the community: {e}"))?;
        let started = Instant::now();
        let first = backfill::resync_url(post_url, &data, &settings, &hosts)
            .await
            .map_err(|e| anyhow!("resync: {e}"))?;
        let elapsed = started.elapsed();
        let report = first
            .threads
            .first()
            .map(|(_, r)| r.clone())
            .ok_or_else(|| anyhow!("the resync synced no thread"))?;
        if report.added() != args.comments {
            bail!(
                "the copy holds {} of {} comments (failed {}, stopped {:?})",
                report.added(),
                args.comments,
                report.failed,
                report.stopped
            );
        }
        let second = backfill::resync_url(post_url, &data, &settings, &hosts)
            .await
            .map_err(|e| anyhow!("second resync: {e}"))?;
        Ok(Copy {
            items: report.added(),
            requests: report.requests,
            elapsed,
            second_added: second.added(),
            second_requests: second.threads.iter().map(|(_, r)| r.requests).sum(),
        })
    }
    .await;
    db.drop_now().await?;
    result
}

fn rsa_crate_signs_per_s() -> Result<f64> {
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::sha2::{Digest as _, Sha256};
    let pair = canopy_federation::keys::generate_actor_keys().map_err(|e| anyhow!("{e}"))?;
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(&pair.private_key_pem)?;
    let digest = Sha256::digest(b"(request-target): get /post/1\nhost: a\ndate: now");
    per_second(|| {
        std::hint::black_box(key.sign(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest)).ok();
    })
}

pub(crate) fn aws_lc_signs_per_s() -> Result<f64> {
    let pair = canopy_federation::keys::generate_actor_keys().map_err(|e| anyhow!("{e}"))?;
    let key = canopy_federation::signatures::PrivateKey::from_pem(&pair.private_key_pem)
        .map_err(|e| anyhow!("{e}"))?;
    let url = url::Url::parse("http://localhost/post/1")?;
    per_second(|| {
        std::hint::black_box(canopy_federation::signatures::sign_get(
            &key,
            "http://localhost/actor#main-key",
            &url,
            std::time::SystemTime::now(),
        ))
        .ok();
    })
}

/// How many times `f` runs per second, over one second.
fn per_second(mut f: impl FnMut()) -> Result<f64> {
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(1) {
        f();
        n += 1;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}
