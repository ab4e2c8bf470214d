//! `canopy-bench inbox`: how many signed Create(Note) replies from remote actors the shared inbox
//! of a Canopy node accepts per second, and at what latency.
//!
//! The node under test is the release `canopy serve` in its own process, on a fresh database of
//! the benchmark's PostgreSQL. This process is the load generator: it runs a stand-in remote
//! server ([`crate::standin`]) serving the actors, creates a user, a local community and a post
//! through the REST API, and then delivers Create(Note) activities to `POST /inbox`, signed
//! the way Mastodon and Lemmy sign them. The actors are spread over `--instances` stand-in
//! instances (one port each), so that the node's default per-instance inbox limit holds with
//! room to spare and the figure is the node's capacity with its default limits on. Each reply goes under the post, or (a share) under a
//! note the node accepted before the phase began, so the thread becomes a tree.
//!
//! Phases:
//! 1. warm-up, not timed: one activity per actor, one at a time, so that the node fetches every
//!    actor once from the stand-in and keeps it in its database;
//! 2. sequential baseline: activities sent one at a time, the next after the previous answer
//!    (what a sender that delivers to an inbox strictly in order sees);
//! 3. timed: a fixed number of activities, at most `--concurrency` in flight (closed loop).
//!
//! Activities of phases 2 and 3 are signed before the phase starts, so signing does not compete
//! with the node for the CPU while it is measured. A request's latency runs from sending to the
//! end of the answer. The last line of the output is the summary line BENCHMARKS.md quotes.

use crate::node::{Api, Database};
use crate::process::{cpu_seconds, tail, CpuMeter, CpuSnapshot};
use crate::standin::StandIn;
use crate::stats::summarise;
use anyhow::{anyhow, bail, Result};
use canopy_federation::signatures::{sign_post, PrivateKey};
use canopy_testkit::process::{free_port, NodeProcess, Serve};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::Url;
use serde_json::json;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgPool};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Admin URL of the PostgreSQL the benchmark creates its database on.
    #[arg(long, env = "BENCH_DATABASE_URL")]
    database_url: String,
    /// The `canopy` binary to run as the node (default: `canopy` next to this binary).
    #[arg(long, env = "BENCH_CANOPY_BIN")]
    canopy_bin: Option<PathBuf>,
    /// Remote actors served by the stand-in.
    #[arg(long, default_value_t = 200)]
    actors: usize,
    /// Remote instances (ports) the actors are dealt to. The node limits each instance to 200
    /// activities a second on average by default; 20 instances keep each near 100 a second at
    /// 2,000 a second in all.
    #[arg(long, default_value_t = 20)]
    instances: usize,
    /// Activities in the timed phase.
    #[arg(long, default_value_t = 20_000)]
    activities: usize,
    /// Requests in flight at once in the timed phase. 16 keeps this machine's two cores busy;
    /// more only lengthens the queue (latency grows as in-flight / rate).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Activities in the sequential baseline.
    #[arg(long, default_value_t = 500)]
    sequential: usize,
    /// Local posts the replies go under (all in one community). With one, every reply updates
    /// the same post row (its comment count).
    #[arg(long, default_value_t = 1)]
    posts: usize,
    /// Share of replies that answer an earlier note rather than a post.
    #[arg(long, default_value_t = 0.2)]
    reply_to_note: f64,
    /// The timed phase stops sending after this many seconds, whatever is left.
    #[arg(long, default_value_t = 180)]
    max_seconds: u64,
    /// The node's `database_max_connections` (default: the node's own default).
    #[arg(long)]
    node_connections: Option<u32>,
    #[arg(long, default_value_t = 20_261_129)]
    seed: u64,
    /// Leave the database and the node's data directory in place after the run.
    #[arg(long)]
    keep_database: bool,
}

const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";
/// Per-request timeout of the load generator.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// PostgreSQL backends flush their statistics when idle, at the latest after 10 s (PG 15);
/// the database figures are read after waiting this long.
const STATS_SETTLE: Duration = Duration::from_secs(11);
/// How often the node's database connections are sampled in the timed phase.
const SAMPLE_EVERY: Duration = Duration::from_millis(25);

pub async fn run(args: Args) -> Result<()> {
    if args.actors == 0
        || args.instances == 0
        || args.activities == 0
        || args.concurrency == 0
        || args.posts == 0
    {
        bail!("--actors, --instances, --activities, --concurrency and --posts must be at least 1");
    }
    if !(0.0..=1.0).contains(&args.reply_to_note) {
        bail!("--reply-to-note is a share between 0 and 1");
    }
    let bin = match &args.canopy_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?.with_file_name("canopy"),
    };
    if !bin.is_file() {
        bail!(
            "no canopy binary at {} (build it with `cargo build --release -p canopy` or pass --canopy-bin)",
            bin.display()
        );
    }
    let db_name = format!("canopy_bench_inbox_{}", std::process::id());
    let db = Database::create(&args.database_url, &db_name, 4).await?;
    let dir = std::env::temp_dir().join(format!("canopy-bench-inbox-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;

    let port = free_port()?;
    let public_url = format!("http://localhost:{port}");
    let mut serve = Serve::new(&bin, &dir)
        .name("canopy")
        .env("CANOPY_DATABASE_URL", db.url.as_str())
        .env("CANOPY_BIND", format!("127.0.0.1:{port}"))
        .env("CANOPY_PUBLIC_URL", public_url.as_str())
        .env("CANOPY_LOG_LEVEL", "warn");
    if let Some(n) = args.node_connections {
        serve = serve.env("CANOPY_DATABASE_MAX_CONNECTIONS", n.to_string());
    }
    let result = match serve.start().await {
        Ok(mut node) => {
            let result = bench(&args, &db.pool, &mut node, &public_url, port).await;
            let result = match result {
                Err(e) => Err(e.context(format!(
                    "node log {}:\n{}",
                    node.stderr_log.display(),
                    tail(&node.stderr_log)
                ))),
                ok => ok,
            };
            node.stop().await?;
            result
        }
        Err(e) => Err(e),
    };
    if args.keep_database {
        println!(
            "database kept: {db_name}; node data directory and log: {}",
            dir.display()
        );
    } else {
        // The node's backends may outlive its process by a moment: drop with FORCE.
        db.pool.close().await;
        let mut admin = PgConnectOptions::from_str(&args.database_url)?
            .connect()
            .await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
            .execute(&mut admin)
            .await?;
        std::fs::remove_dir_all(&dir).ok();
    }
    result
}

/// What the generator knows: where to send, whom to play, and which notes the node accepted.
struct Generator {
    actors: Vec<String>,
    community: String,
    posts: Vec<String>,
    /// Notes whose delivery was answered with a 2xx; replies may go under them.
    accepted: Vec<String>,
    next: u64,
    reply_to_note: f64,
    rng: StdRng,
}

/// An activity before signing.
struct Unsigned {
    actor: String,
    note: String,
    body: Vec<u8>,
}

/// A signed delivery, ready to send.
struct Signed {
    note: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Generator {
    /// A Create(Note) by `actor` (or a random actor), replying to a post or to an accepted note.
    fn activity(&mut self, actor: Option<usize>) -> Result<Unsigned> {
        let n = self.next;
        self.next += 1;
        let actor = match actor {
            Some(i) => self.actors.get(i),
            None => self.actors.choose(&mut self.rng),
        }
        .cloned()
        .ok_or_else(|| anyhow!("no actors"))?;
        let parent = if !self.accepted.is_empty() && self.rng.gen_bool(self.reply_to_note) {
            self.accepted.choose(&mut self.rng)
        } else {
            self.posts.choose(&mut self.rng)
        }
        .cloned()
        .ok_or_else(|| anyhow!("no posts"))?;
        // Ids live on the actor's own instance, as the node requires.
        let base = actor
            .split_once("/users/")
            .map_or(actor.as_str(), |(b, _)| b);
        let note = format!("{base}/notes/{n}");
        let activity = json!({
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": format!("{base}/activities/{n}"),
            "type": "Create",
            "actor": actor,
            "to": [PUBLIC],
            "cc": [self.community],
            "object": {
                "id": note,
                "type": "Note",
                "attributedTo": actor,
                "inReplyTo": parent,
                "to": [PUBLIC],
                "cc": [self.community],
                "content": format!("<p>Reply {n}: the canopy is <em>dense</em> today, \
                                    and the <a href=\"https://example.org/moss\">moss</a> is green.</p>"),
                "mediaType": "text/html",
                "published": chrono::Utc::now().to_rfc3339(),
            },
        });
        Ok(Unsigned {
            actor,
            note,
            body: serde_json::to_vec(&activity)?,
        })
    }
}

fn sign(key: &PrivateKey, inbox: &Url, a: Unsigned) -> Result<Signed> {
    let mut headers = sign_post(
        key,
        &format!("{}#main-key", a.actor),
        inbox,
        &a.body,
        SystemTime::now(),
    )
    .map_err(|e| anyhow!("signing: {e}"))?;
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/activity+json"),
    );
    Ok(Signed {
        note: a.note,
        headers,
        body: a.body,
    })
}

/// Sign `activities` on two blocking threads (this machine has two cores), keeping their order.
async fn sign_all(
    key: &Arc<PrivateKey>,
    inbox: &Url,
    activities: Vec<Unsigned>,
) -> Result<Vec<Signed>> {
    let half = activities.len().div_ceil(2);
    let mut parts = Vec::new();
    let mut rest = activities;
    while !rest.is_empty() {
        let tail = rest.split_off(half.min(rest.len()));
        parts.push(std::mem::replace(&mut rest, tail));
    }
    let mut handles = Vec::new();
    for part in parts {
        let key = key.clone();
        let inbox = inbox.clone();
        handles.push(tokio::task::spawn_blocking(move || {
            part.into_iter()
                .map(|a| sign(&key, &inbox, a))
                .collect::<Result<Vec<_>>>()
        }));
    }
    let mut signed = Vec::new();
    for h in handles {
        signed.extend(h.await??);
    }
    Ok(signed)
}

/// The answer to one delivery.
struct Outcome {
    note: String,
    /// None when the request failed without an answer.
    status: Option<u16>,
    latency: Duration,
    /// When the answer had arrived, from the start of the phase.
    done_at: Duration,
    problem: Option<String>,
}

impl Outcome {
    fn accepted(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

async fn deliver(client: &reqwest::Client, target: &Url, s: Signed, phase: Instant) -> Outcome {
    let started = Instant::now();
    let sent = client
        .post(target.clone())
        .headers(s.headers)
        .body(s.body)
        .send()
        .await;
    let (status, problem) = match sent {
        Ok(resp) => {
            let status = resp.status();
            let body = resp.bytes().await;
            let problem = match body {
                Err(e) => Some(format!("reading the answer: {e}")),
                Ok(b) if !status.is_success() => Some(String::from_utf8_lossy(&b).into_owned()),
                Ok(_) => None,
            };
            (Some(status.as_u16()), problem)
        }
        Err(e) => (None, Some(e.to_string())),
    };
    Outcome {
        note: s.note,
        status,
        latency: started.elapsed(),
        done_at: phase.elapsed(),
        problem,
    }
}

/// Deliver one at a time, in order.
async fn sequential(
    client: &reqwest::Client,
    target: &Url,
    signed: Vec<Signed>,
) -> (Vec<Outcome>, Duration) {
    let phase = Instant::now();
    let mut outcomes = Vec::with_capacity(signed.len());
    for s in signed {
        outcomes.push(deliver(client, target, s, phase).await);
    }
    (outcomes, phase.elapsed())
}

/// Deliver with at most `concurrency` requests in flight, each worker taking the next activity
/// when its previous one is answered; stops taking new ones after `limit`.
async fn concurrent(
    client: &reqwest::Client,
    target: &Url,
    signed: Vec<Signed>,
    concurrency: usize,
    limit: Duration,
) -> Result<(Vec<Outcome>, Duration)> {
    let queue = Arc::new(Mutex::new(signed.into_iter()));
    let phase = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let queue = queue.clone();
        let client = client.clone();
        let target = target.clone();
        workers.spawn(async move {
            let mut outcomes = Vec::new();
            while phase.elapsed() < limit {
                let next = queue
                    .lock()
                    .map_err(|_| anyhow!("queue lock poisoned"))?
                    .next();
                let Some(s) = next else { break };
                outcomes.push(deliver(&client, &target, s, phase).await);
            }
            Ok::<_, anyhow::Error>(outcomes)
        });
    }
    let mut all = Vec::new();
    while let Some(done) = workers.join_next().await {
        all.extend(done??);
    }
    let wall = phase.elapsed();
    all.sort_by_key(|o| o.done_at);
    Ok((all, wall))
}

/// Figures of one phase.
struct PhaseFigures {
    accepted: usize,
    refused: BTreeMap<u16, usize>,
    failed: usize,
    per_s: f64,
    p50: f64,
    p99: f64,
    mean: f64,
    max: f64,
}

fn figures(outcomes: &[Outcome], wall: Duration) -> PhaseFigures {
    let accepted: Vec<Duration> = outcomes
        .iter()
        .filter(|o| o.accepted())
        .map(|o| o.latency)
        .collect();
    let mut refused = BTreeMap::new();
    let mut failed = 0;
    for o in outcomes.iter().filter(|o| !o.accepted()) {
        match o.status {
            Some(s) => *refused.entry(s).or_insert(0) += 1,
            None => failed += 1,
        }
    }
    let s = summarise(&accepted);
    let max = accepted
        .iter()
        .map(|d| d.as_secs_f64() * 1000.0)
        .fold(0.0, f64::max);
    PhaseFigures {
        accepted: accepted.len(),
        refused,
        failed,
        per_s: accepted.len() as f64 / wall.as_secs_f64(),
        p50: s.p50,
        p99: s.p99,
        mean: s.mean,
        max,
    }
}

fn report_problems(outcomes: &[Outcome]) {
    for o in outcomes.iter().filter(|o| !o.accepted()).take(5) {
        println!(
            "  not accepted: {} -> {:?}: {}",
            o.note,
            o.status,
            o.problem
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(300)
                .collect::<String>()
        );
    }
}

/// Database activity counters of the benchmark's database.
#[derive(Debug, Default)]
struct DbCounters {
    xact_commit: i64,
    xact_rollback: i64,
    /// (rows inserted, rows updated) by table.
    tables: BTreeMap<String, (i64, i64)>,
}

async fn db_counters(pool: &PgPool) -> Result<DbCounters> {
    let (xact_commit, xact_rollback): (i64, i64) = sqlx::query_as(
        "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(pool)
    .await?;
    let rows: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT relname::text, n_tup_ins, n_tup_upd FROM pg_stat_user_tables")
            .fetch_all(pool)
            .await?;
    Ok(DbCounters {
        xact_commit,
        xact_rollback,
        tables: rows.into_iter().map(|(t, i, u)| (t, (i, u))).collect(),
    })
}

/// What the node's database connections were doing, sampled every `SAMPLE_EVERY` until `stop`:
/// counts of samples by state (`active`, `waiting: Lock/transactionid`, `idle in transaction`
/// = waiting for the node, `idle` = free in the pool).
async fn sample_connections(
    pool: PgPool,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(usize, BTreeMap<String, usize>)> {
    let mut counts = BTreeMap::new();
    let mut samples = 0;
    while !*stop.borrow() {
        let rows: Vec<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT state, wait_event_type, wait_event FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND backend_type = 'client backend'",
        )
        .fetch_all(&pool)
        .await?;
        samples += 1;
        for (state, wait_type, wait) in rows {
            let state = state.unwrap_or_default();
            let key = match (state.as_str(), wait_type, wait) {
                ("active", Some(t), Some(w)) => format!("active, waiting on {t}/{w}"),
                ("active", _, _) => "active (running or runnable)".to_string(),
                ("idle in transaction", _, _) => {
                    "idle in transaction (waiting for the node)".to_string()
                }
                ("idle", _, _) => "idle (free in the node's pool)".to_string(),
                (other, _, _) => other.to_string(),
            };
            *counts.entry(key).or_insert(0) += 1;
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    Ok((samples, counts))
}

async fn bench(
    args: &Args,
    pool: &PgPool,
    node: &mut NodeProcess,
    public_url: &str,
    port: u16,
) -> Result<()> {
    let stand_in = StandIn::start(args.actors, args.instances).await?;
    let api = Api::new(&node.listen_url)?;
    let (_, token) = api.account("bench_owner").await?;
    let community = api
        .post(
            "/api/v1/communities",
            Some(&token),
            json!({"name": "bench", "title": "Inbox benchmark"}),
        )
        .await?;
    let community_id = community["id"]
        .as_i64()
        .ok_or_else(|| anyhow!("community answer has no id: {community}"))?;
    let community_ap_id = community["ap_id"]
        .as_str()
        .ok_or_else(|| anyhow!("community answer has no ap_id: {community}"))?
        .to_string();
    let mut posts = Vec::with_capacity(args.posts);
    for i in 0..args.posts {
        let post = api
            .post(
                "/api/v1/posts",
                Some(&token),
                json!({"community_id": community_id, "title": format!("Replies from far away {i}"),
                       "body": "Federated replies land here."}),
            )
            .await?;
        posts.push(
            post["ap_id"]
                .as_str()
                .ok_or_else(|| anyhow!("post answer has no ap_id: {post}"))?
                .to_string(),
        );
    }
    let backend: Option<i32> = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(pool)
        .await
        .ok();
    let meter = CpuMeter::new(node.pid, backend.and_then(|p| u32::try_from(p).ok()));
    println!(
        "node: `canopy serve` pid {} listening on {} as {}, default rate limits; stand-in: {} actors \
         (one shared RSA-2048 key) on {} instances ({}, …)",
        node.pid,
        node.listen_url,
        public_url,
        args.actors,
        stand_in.bases.len(),
        stand_in.bases.first().map_or("", String::as_str),
    );
    println!(
        "{} local post(s) ({}{}) in community {community_ap_id}",
        posts.len(),
        posts.first().map_or("", String::as_str),
        if posts.len() > 1 { ", …" } else { "" }
    );

    // Signed for the public URL (as a remote server would), sent to the loopback address the
    // node listens on; the signed Host header names the public authority.
    let inbox = Url::parse(&format!("{public_url}/inbox"))?;
    let target = Url::parse(&format!("http://127.0.0.1:{port}/inbox"))?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(args.concurrency.max(1))
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    let key = Arc::new(
        PrivateKey::from_pem(&stand_in.keys.private_key_pem).map_err(|e| anyhow!("key: {e}"))?,
    );
    let mut generator = Generator {
        actors: stand_in.actors.clone(),
        community: community_ap_id,
        posts,
        accepted: Vec::new(),
        next: 0,
        reply_to_note: args.reply_to_note,
        rng: StdRng::seed_from_u64(args.seed),
    };

    // 1. Warm-up: every actor once; the node fetches each from the stand-in.
    let started = Instant::now();
    let mut warm = Vec::with_capacity(args.actors);
    for i in 0..args.actors {
        let a = generator.activity(Some(i))?;
        let s = sign(&key, &inbox, a)?;
        let o = deliver(&client, &target, s, started).await;
        if o.accepted() {
            generator.accepted.push(o.note.clone());
        }
        warm.push(o);
    }
    let warm_figures = figures(&warm, started.elapsed());
    let after_warm = stand_in.counts();
    println!(
        "warm-up: {} activities (one per actor, one at a time, not timed) in {:.1} s: {} accepted; \
         the node fetched {} actors from the stand-in",
        warm.len(),
        started.elapsed().as_secs_f64(),
        warm_figures.accepted,
        after_warm.actor_fetches
    );
    report_problems(&warm);
    if warm_figures.accepted == 0 {
        bail!("the node accepted none of the warm-up activities");
    }
    node.check_running()?;

    // 2. Sequential baseline.
    let mut seq = None;
    if args.sequential > 0 {
        let unsigned = (0..args.sequential)
            .map(|_| generator.activity(None))
            .collect::<Result<Vec<_>>>()?;
        let signed = sign_all(&key, &inbox, unsigned).await?;
        let (outcomes, wall) = sequential(&client, &target, signed).await;
        generator.accepted.extend(
            outcomes
                .iter()
                .filter(|o| o.accepted())
                .map(|o| o.note.clone()),
        );
        let f = figures(&outcomes, wall);
        println!(
            "sequential: {} activities one at a time in {:.2} s: {} accepted, refused {:?}, {} failed; \
             {:.1}/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            outcomes.len(),
            wall.as_secs_f64(),
            f.accepted,
            f.refused,
            f.failed,
            f.per_s,
            f.p50,
            f.p99,
            f.max
        );
        report_problems(&outcomes);
        seq = Some(f);
    }

    // 3. Timed, concurrent. Sign everything first.
    let signing = Instant::now();
    let unsigned = (0..args.activities)
        .map(|_| generator.activity(None))
        .collect::<Result<Vec<_>>>()?;
    let signed = sign_all(&key, &inbox, unsigned).await?;
    let signing = signing.elapsed();
    println!(
        "signed {} activities in {:.1} s before the timed phase; replies under earlier notes pick \
         from the {} notes accepted so far",
        signed.len(),
        signing.as_secs_f64(),
        generator.accepted.len()
    );
    if signing < STATS_SETTLE {
        tokio::time::sleep(STATS_SETTLE - signing).await;
    }
    let db_before = db_counters(pool).await?;
    let counts_before = stand_in.counts();
    let cpu_before: CpuSnapshot = meter.snapshot();
    let (stop_sampler, stop) = tokio::sync::watch::channel(false);
    let sampler = tokio::spawn(sample_connections(pool.clone(), stop));
    let (outcomes, wall) = concurrent(
        &client,
        &target,
        signed,
        args.concurrency,
        Duration::from_secs(args.max_seconds),
    )
    .await?;
    let cpu_after = meter.snapshot();
    stop_sampler.send(true).ok();
    let (samples, states) = sampler.await??;
    let counts_after = stand_in.counts();
    node.check_running()?;
    let f = figures(&outcomes, wall);
    println!(
        "timed: {} activities, {} in flight, in {:.2} s: {} accepted, refused {:?}, {} failed",
        outcomes.len(),
        args.concurrency,
        wall.as_secs_f64(),
        f.accepted,
        f.refused,
        f.failed
    );
    report_problems(&outcomes);
    if outcomes.len() < args.activities {
        println!(
            "  stopped after --max-seconds {}: {} activities not sent",
            args.max_seconds,
            args.activities - outcomes.len()
        );
    }
    println!(
        "  accepted per second: {:.1} (latency ms: p50 {:.2}, p99 {:.2}, mean {:.2}, max {:.2})",
        f.per_s, f.p50, f.p99, f.mean, f.max
    );
    let mut buckets = vec![0_usize; wall.as_secs() as usize + 1];
    for o in outcomes.iter().filter(|o| o.accepted()) {
        if let Some(b) = buckets.get_mut(o.done_at.as_secs() as usize) {
            *b += 1;
        }
    }
    // The last second is partial.
    buckets.pop();
    if !buckets.is_empty() {
        let mut sorted = buckets.clone();
        sorted.sort_unstable();
        println!(
            "  whole seconds: {} (accepted in each: min {}, median {}, max {}): {:?}",
            buckets.len(),
            sorted[0],
            sorted[sorted.len() / 2],
            sorted[sorted.len() - 1],
            buckets
        );
    }
    if let Some(s) = &seq {
        println!(
            "  concurrent / sequential rate: {:.1}x ({:.1}/s vs {:.1}/s)",
            f.per_s / s.per_s,
            f.per_s,
            s.per_s
        );
    }
    let (node_cpu, pg_cpu, bench_cpu) = cpu_seconds(&cpu_before, &cpu_after);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let available = wall.as_secs_f64() * cores as f64;
    println!(
        "cpu in the timed phase ({cores} cores, {available:.1} core-seconds): node {node_cpu:.1} s \
         ({:.0} µs per accepted activity), PostgreSQL {}, load generator {bench_cpu:.1} s; \
         idle or other {:.1} s",
        node_cpu * 1e6 / f.accepted.max(1) as f64,
        if meter.has_postgres() {
            format!(
                "{pg_cpu:.1} s ({:.0} µs per accepted activity)",
                pg_cpu * 1e6 / f.accepted.max(1) as f64
            )
        } else {
            "not measured".to_string()
        },
        available - node_cpu - pg_cpu - bench_cpu
    );
    let states: Vec<String> = states
        .iter()
        .map(|(k, n)| format!("{k} {:.2}", *n as f64 / samples.max(1) as f64))
        .collect();
    println!(
        "node's database connections, mean number in each state ({samples} samples of \
         pg_stat_activity every {SAMPLE_EVERY:?}): {}",
        states.join("; ")
    );
    println!(
        "stand-in during the timed phase: {} actor fetches, {} deliveries received, {} other requests",
        counts_after.actor_fetches - counts_before.actor_fetches,
        counts_after.deliveries - counts_before.deliveries,
        counts_after.other_gets - counts_before.other_gets
    );

    tokio::time::sleep(STATS_SETTLE).await;
    let db_after = db_counters(pool).await?;
    let per = |x: i64| x as f64 / f.accepted.max(1) as f64;
    let mut rows = Vec::new();
    for (table, (ins, upd)) in &db_after.tables {
        let (ins0, upd0) = db_before.tables.get(table).copied().unwrap_or_default();
        if ins - ins0 > 0 || upd - upd0 > 0 {
            rows.push(format!(
                "{table} +{:.2}/~{:.2}",
                per(ins - ins0),
                per(upd - upd0)
            ));
        }
    }
    println!(
        "database per accepted activity (pg_stat counters, flushed lazily by PostgreSQL: a lower bound): {:.2} commits (each statement outside a transaction \
         counts as one), {:.2} rollbacks; rows inserted (+) / updated (~): {}",
        per(db_after.xact_commit - db_before.xact_commit),
        per(db_after.xact_rollback - db_before.xact_rollback),
        rows.join(", ")
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM comment WHERE NOT local")
        .fetch_one(pool)
        .await?;
    let total_accepted =
        warm_figures.accepted + seq.as_ref().map_or(0, |s| s.accepted) + f.accepted;
    println!("remote comments stored: {stored} (accepted deliveries: {total_accepted})");

    println!(
        "inbox: per_s={:.1} p50_ms={:.2} p99_ms={:.2}",
        f.per_s, f.p50, f.p99
    );
    Ok(())
}
