//! `canopy-bench delivery`: how fast the delivery worker turns the outbox into delivered
//! activities, and what it costs.
//!
//! The worker under test is the release `canopy worker` in its own process, on a fresh database
//! of the benchmark's PostgreSQL. The receivers are loopback inboxes in a process of their own
//! ([`crate::receiver`], this executable run again): one listener per instance on its own port
//! of `127.0.0.1` (instances are keyed by host and port), each verifying the HTTP signature of
//! every delivery. This process sets up content through the REST API of a node served
//! in-process (no worker of its own), so every delivery is written by the real path: a comment
//! created through `POST /api/v1/comments` makes its local community announce it to its remote
//! followers, one delivery row per follower instance, in the comment's transaction.
//!
//! Phases, in this order:
//! 1. signing: our signer (`canopy_federation::signatures::sign_post`, aws-lc-rs) against the
//!    pure-Rust `rsa` crate signing the same draft-cavage signing string with the same key, the
//!    way activitypub_federation signs; one thread each, in alternating slices;
//! 2. far instance: `--far-activities` comments in a community followed only from a receiver
//!    that waits `--far-delay-ms` before each answer, queued while no worker runs; then a worker
//!    starts and drains them; and a one-at-a-time sender (sign, POST, wait, next) to a second
//!    such receiver, for comparison;
//! 3. fan-out, on the same worker: `--fanout-rounds` times, one comment in a community followed
//!    from `--instances` instances, timed from the API request to the last delivery marked done;
//!    then, with that worker stopped, `--behind-far` far deliveries and one more fan-out queued
//!    behind them, for a fresh worker: how long the fan-out waits behind a slow instance;
//! 4. backlog: with the worker stopped, `--backlog-activities` comments in the fan-out community
//!    (`--instances` deliveries each); then a fresh worker drains them, and its peak resident
//!    memory is read.
//!
//! The last line of the output is the summary line BENCHMARKS.md quotes.

use crate::node::{Api, Database, Node};
use crate::process::{cpu_seconds, memory_kib, process_cpu_seconds, tail, CpuMeter};
use anyhow::{anyhow, bail, Context, Result};
use canopy_core::CommunityId;
use canopy_db::actors::{self, RemotePerson};
use canopy_db::follows;
use canopy_federation::signatures::{parse_signature, sign_post, PrivateKey};
use canopy_testkit::process::WorkerProcess;
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::Url;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::sha2::{Digest as _, Sha256};
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use serde_json::{json, Value};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgPool};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Admin URL of the PostgreSQL the benchmark creates its database on.
    #[arg(long, env = "BENCH_DATABASE_URL")]
    database_url: String,
    /// The `canopy` binary to run as the worker (default: `canopy` next to this binary).
    #[arg(long, env = "BENCH_CANOPY_BIN")]
    canopy_bin: Option<PathBuf>,
    /// Follower instances of the fan-out community: one receiver listener (port) each.
    #[arg(long, default_value_t = 1000)]
    instances: usize,
    /// Fan-out rounds, one comment each.
    #[arg(long, default_value_t = 5)]
    fanout_rounds: usize,
    /// Activities queued for the far instance.
    #[arg(long, default_value_t = 500)]
    far_activities: usize,
    /// What the far instance adds to every request.
    #[arg(long, default_value_t = 200)]
    far_delay_ms: u64,
    /// Activities the one-at-a-time sender sends to a far instance.
    #[arg(long, default_value_t = 25)]
    sequential: usize,
    /// Seconds of signing per signer.
    #[arg(long, default_value_t = 2.0)]
    sign_seconds: f64,
    /// Far deliveries queued ahead of one more fan-out, for a fresh worker (0: skip that phase).
    #[arg(long, default_value_t = 300)]
    behind_far: usize,
    /// Comments queued for the backlog, each to every fan-out instance.
    #[arg(long, default_value_t = 100)]
    backlog_activities: usize,
    /// A phase that has not finished after this many seconds fails the run.
    #[arg(long, default_value_t = 600)]
    max_seconds: u64,
    /// Leave the database and the working directory (logs) in place after the run.
    #[arg(long)]
    keep_database: bool,
}

/// How long the receiver process may take to bind its listeners.
const RECEIVER_START: Duration = Duration::from_secs(60);
/// Per-request timeout of the one-at-a-time sender and of the receiver's control requests.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes in a MiB, for memory figures.
const MIB: f64 = 1024.0 * 1024.0;

pub async fn run(args: Args) -> Result<()> {
    if args.instances == 0 || args.fanout_rounds == 0 || args.far_activities == 0 {
        bail!("--instances, --fanout-rounds and --far-activities must be at least 1");
    }
    if !(args.sign_seconds > 0.0 && args.sign_seconds < 600.0) {
        bail!("--sign-seconds must be between 0 and 600");
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
    let db_name = format!("canopy_bench_delivery_{}", std::process::id());
    let db = Database::create(&args.database_url, &db_name, 8).await?;
    let dir = std::env::temp_dir().join(format!("canopy-bench-delivery-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;

    let result = bench(&args, &db.pool, &bin, &db.url, &dir).await;

    if args.keep_database {
        println!(
            "database kept: {db_name}; logs and key file in {}",
            dir.display()
        );
    } else {
        // A killed worker's backends may outlive it by a moment: drop with FORCE.
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

/// Counters of one group of receiver listeners (see [`crate::receiver`]).
#[derive(Debug, Clone, Copy, Default)]
struct GroupCounts {
    accepted: u64,
    refused: u64,
    duplicates: u64,
    max_in_flight: u64,
    /// Unix nanoseconds of the first and last accepted delivery since the last mark.
    first_ns: Option<u64>,
    last_ns: Option<u64>,
}

impl GroupCounts {
    fn from_json(v: &Value) -> Self {
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        Self {
            accepted: n("accepted"),
            refused: n("refused"),
            duplicates: n("duplicates"),
            max_in_flight: n("max_in_flight"),
            first_ns: v["first_ns"].as_u64(),
            last_ns: v["last_ns"].as_u64(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    fast: GroupCounts,
    far: GroupCounts,
}

/// The receiver process; killed when dropped (and it exits by itself when its stdin closes).
struct Receivers {
    child: Child,
    _stdin: ChildStdin,
    pid: u32,
    control: String,
    fast: Vec<u16>,
    far: Vec<u16>,
    http: reqwest::Client,
    log: PathBuf,
}

impl Receivers {
    async fn start(args: &Args, far: usize, keys: &Path, dir: &Path) -> Result<Self> {
        let log = dir.join("receivers.log");
        let stderr = std::fs::File::create(&log)?;
        let mut child = Command::new(std::env::current_exe()?)
            .arg("delivery-receiver")
            .args(["--fast", &args.instances.to_string()])
            .args(["--far", &far.to_string()])
            .args(["--far-delay-ms", &args.far_delay_ms.to_string()])
            .arg("--keys")
            .arg(keys)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true)
            .spawn()
            .context("start the receiver process")?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow!("the receiver process exited at once"))?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| anyhow!("no stdin of the receivers"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("no stdout of the receivers"))?;
        let mut lines = BufReader::new(stdout).lines();
        let line = match tokio::time::timeout(RECEIVER_START, lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            _ => bail!("the receivers did not start; their log:\n{}", tail(&log)),
        };
        let ports: Value = serde_json::from_str(&line).context("the receivers' port line")?;
        let list = |k: &str| -> Vec<u16> {
            ports[k]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|p| p.as_u64().and_then(|p| u16::try_from(p).ok()))
                        .collect()
                })
                .unwrap_or_default()
        };
        let control = ports["control"]
            .as_u64()
            .ok_or_else(|| anyhow!("no control port in {line}"))?;
        Ok(Self {
            child,
            _stdin: stdin,
            pid,
            control: format!("http://127.0.0.1:{control}"),
            fast: list("fast"),
            far: list("far"),
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(REQUEST_TIMEOUT)
                .build()?,
            log,
        })
    }

    async fn counts(&mut self) -> Result<Counts> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "the receivers exited ({status}); their log:\n{}",
                tail(&self.log)
            );
        }
        let v: Value = self
            .http
            .get(format!("{}/counts", self.control))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(Counts {
            fast: GroupCounts::from_json(&v["fast"]),
            far: GroupCounts::from_json(&v["far"]),
        })
    }

    /// Forget the first and last delivery times and the most in flight.
    async fn mark(&self) -> Result<()> {
        self.http
            .post(format!("{}/mark", self.control))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
}

fn unix_ns(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Seconds from `since` to a receiver's Unix-nanosecond time stamp.
fn secs_after(since: SystemTime, ns: Option<u64>) -> Option<f64> {
    ns.map(|ns| (ns as f64 - unix_ns(since) as f64) / 1e9)
}

/// A local community through the API, with its key pair and id as ActivityPub knows it.
struct Community {
    id: CommunityId,
    ap_id: String,
    post: i64,
    public_key_pem: String,
    private_key_pem: String,
}

impl Community {
    fn key_id(&self) -> String {
        format!("{}#main-key", self.ap_id)
    }
}

async fn community(api: &Api, pool: &PgPool, token: &str, name: &str) -> Result<Community> {
    let c = api
        .post(
            "/api/v1/communities",
            Some(token),
            json!({"name": name, "title": format!("Delivery benchmark: {name}")}),
        )
        .await?;
    let id = c["id"]
        .as_i64()
        .ok_or_else(|| anyhow!("community answer has no id: {c}"))?;
    let post = api
        .post(
            "/api/v1/posts",
            Some(token),
            json!({"community_id": id, "title": "Announced to every follower",
                   "body": "Each comment under this post goes to every follower instance."}),
        )
        .await?;
    let (ap_id, public_key_pem, private_key_pem): (String, String, Option<String>) =
        sqlx::query_as(
            "SELECT ap_id, public_key_pem, private_key_pem FROM community WHERE id = $1",
        )
        .bind(id)
        .fetch_one(pool)
        .await?;
    Ok(Community {
        id: CommunityId(id),
        ap_id,
        post: post["id"]
            .as_i64()
            .ok_or_else(|| anyhow!("post answer has no id: {post}"))?,
        public_key_pem,
        private_key_pem: private_key_pem
            .ok_or_else(|| anyhow!("the local community {name} has no private key"))?,
    })
}

/// A remote person on each of `ports` (instance `127.0.0.1:PORT`, shared inbox
/// `http://127.0.0.1:PORT/inbox`) follows `community`, as an accepted Follow leaves it.
async fn followers(pool: &PgPool, community: &Community, ports: &[u16]) -> Result<()> {
    for port in ports {
        let authority = format!("127.0.0.1:{port}");
        let ap_id = format!("http://{authority}/u/follower");
        let person = actors::upsert_person(
            pool,
            &RemotePerson {
                authority: &authority,
                ap_id: &ap_id,
                name: "follower",
                display_name: None,
                bio: None,
                bio_html: None,
                inbox_url: &format!("{ap_id}/inbox"),
                shared_inbox_url: Some(&format!("http://{authority}/inbox")),
                // Never used: nothing comes from the followers.
                public_key_pem: &community.public_key_pem,
                avatar_url: None,
                banner_url: None,
            },
        )
        .await?;
        let mut conn = pool.acquire().await?;
        follows::follow_community(&mut conn, community.id, person, false, None).await?;
    }
    Ok(())
}

/// Post a comment under the community's post; returns its ActivityPub id.
async fn comment(api: &Api, token: &str, community: &Community, n: usize) -> Result<String> {
    let c = api
        .post(
            "/api/v1/comments",
            Some(token),
            json!({"post_id": community.post,
                   "content": format!("Comment {n}: the canopy is *dense* today, and the \
                                       [moss](https://example.org/moss) is green.")}),
        )
        .await?;
    c["ap_id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("comment answer has no ap_id: {c}"))
}

/// Deliveries by state, e.g. `{"done": 1000}`.
async fn states(pool: &PgPool, filter: &str) -> Result<BTreeMap<String, i64>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT state, count(*) FROM delivery WHERE {filter} GROUP BY state"
    ))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Some last errors of deliveries that failed or are waiting for a retry.
async fn problems(pool: &PgPool) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT inbox_url || ': ' || last_error FROM delivery WHERE last_error IS NOT NULL LIMIT 5",
    )
    .fetch_all(pool)
    .await?)
}

async fn backend_pid(pool: &PgPool) -> Option<u32> {
    sqlx::query_scalar::<_, i32>("SELECT pg_backend_pid()")
        .fetch_one(pool)
        .await
        .ok()
        .and_then(|p| u32::try_from(p).ok())
}

/// The draft-cavage signing string of a POST signed by [`sign_post`], rebuilt from its headers
/// (`(request-target) host date digest`, the order `sign_post` signs in).
fn signing_string(url: &Url, headers: &HeaderMap) -> Result<String> {
    let get = |name: &str| -> Result<&str> {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| anyhow!("sign_post set no {name} header"))
    };
    Ok(format!(
        "(request-target): post {}\nhost: {}\ndate: {}\ndigest: {}",
        url.path(),
        get("host")?,
        get("date")?,
        get("digest")?
    ))
}

/// Operations, wall seconds and CPU seconds of one signer.
#[derive(Debug, Clone, Copy, Default)]
struct SignTotals {
    ops: u64,
    wall: f64,
    cpu: f64,
}

impl SignTotals {
    /// Per CPU second of the signing thread: what the signer costs, whatever else runs.
    fn per_cpu_s(&self) -> f64 {
        self.ops as f64 / self.cpu
    }

    fn per_wall_s(&self) -> f64 {
        self.ops as f64 / self.wall
    }
}

/// What each signer did.
struct SignFigures {
    ours: SignTotals,
    ours_with_parse: SignTotals,
    rsa: SignTotals,
    signing_string_bytes: usize,
}

/// CPU time this thread has run, in seconds (`/proc/thread-self/schedstat`, nanoseconds).
fn thread_cpu_seconds() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .context("read /proc/thread-self/schedstat")?;
    let ns: u64 = stat
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow!("unexpected /proc/thread-self/schedstat: {stat}"))?;
    Ok(ns as f64 / 1e9)
}

/// Run `op` for `slice` of wall time and add what it did to `totals`.
fn time_slice(
    totals: &mut SignTotals,
    slice: Duration,
    mut op: impl FnMut() -> Result<()>,
) -> Result<()> {
    let cpu = thread_cpu_seconds()?;
    let started = Instant::now();
    loop {
        op()?;
        totals.ops += 1;
        let elapsed = started.elapsed();
        if elapsed >= slice {
            totals.wall += elapsed.as_secs_f64();
            totals.cpu += thread_cpu_seconds()? - cpu;
            return Ok(());
        }
    }
}

/// Our signer and the `rsa` crate, signing the same signing string with the same key, in
/// alternating 200 ms slices on this one thread until each has had `seconds`.
fn sign_bench(
    pem: &str,
    key_id: &str,
    url: &Url,
    body: &[u8],
    seconds: f64,
) -> Result<SignFigures> {
    let ours = PrivateKey::from_pem(pem).map_err(|e| anyhow!("our key: {e}"))?;
    let theirs = RsaPrivateKey::from_pkcs8_pem(pem).context("the rsa crate's key")?;
    let headers = sign_post(&ours, key_id, url, body, SystemTime::now())
        .map_err(|e| anyhow!("signing: {e}"))?;
    let string = signing_string(url, &headers)?;
    let our_signature = parse_signature(&headers)
        .map_err(|e| anyhow!("our Signature header: {e}"))?
        .signature;
    // What activitypub_federation does with the signing string.
    let rsa_sign =
        |s: &str| theirs.sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(s.as_bytes()));
    // RSASSA-PKCS1-v1_5 is deterministic: the same string and key give the same bytes.
    if rsa_sign(&string)? != our_signature {
        bail!("the rsa crate's signature of the rebuilt signing string differs from ours");
    }
    let slice = Duration::from_millis(200);
    let rounds = ((seconds / slice.as_secs_f64()).ceil() as usize).max(1);
    let mut figures = SignFigures {
        ours: SignTotals::default(),
        ours_with_parse: SignTotals::default(),
        rsa: SignTotals::default(),
        signing_string_bytes: string.len(),
    };
    for _ in 0..rounds {
        time_slice(&mut figures.ours, slice, || {
            let h = sign_post(&ours, key_id, url, body, SystemTime::now())
                .map_err(|e| anyhow!("signing: {e}"))?;
            std::hint::black_box(h);
            Ok(())
        })?;
        time_slice(&mut figures.ours_with_parse, slice, || {
            let key = PrivateKey::from_pem(pem).map_err(|e| anyhow!("our key: {e}"))?;
            let h = sign_post(&key, key_id, url, body, SystemTime::now())
                .map_err(|e| anyhow!("signing: {e}"))?;
            std::hint::black_box(h);
            Ok(())
        })?;
        time_slice(&mut figures.rsa, slice, || {
            std::hint::black_box(rsa_sign(std::hint::black_box(&string))?);
            Ok(())
        })?;
    }
    Ok(figures)
}

/// CPU seconds of the worker, PostgreSQL and the receivers between two points.
struct Cpu {
    meter: CpuMeter,
    receivers: u32,
}

#[derive(Clone)]
struct CpuPoint {
    snapshot: crate::process::CpuSnapshot,
    receivers: f64,
}

impl Cpu {
    fn now(&self) -> CpuPoint {
        CpuPoint {
            snapshot: self.meter.snapshot(),
            receivers: process_cpu_seconds(self.receivers),
        }
    }

    /// (worker, PostgreSQL, receivers, this process) seconds from `a` to `b`.
    fn between(a: &CpuPoint, b: &CpuPoint) -> (f64, f64, f64, f64) {
        let (worker, pg, bench) = cpu_seconds(&a.snapshot, &b.snapshot);
        (worker, pg, b.receivers - a.receivers, bench)
    }
}

fn cpu_line(cpu: (f64, f64, f64, f64), per: usize, pg_measured: bool) -> String {
    let (worker, pg, receivers, bench) = cpu;
    let us = |s: f64| s * 1e6 / per.max(1) as f64;
    format!(
        "cpu: worker {worker:.2} s ({:.0} µs per delivery), PostgreSQL {}, receivers {receivers:.2} s ({:.0} µs), this process {bench:.2} s",
        us(worker),
        if pg_measured {
            format!("{pg:.2} s ({:.0} µs per delivery)", us(pg))
        } else {
            "not measured".to_string()
        },
        us(receivers),
    )
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

async fn bench(
    args: &Args,
    pool: &PgPool,
    bin: &Path,
    database_url: &str,
    dir: &Path,
) -> Result<()> {
    let max = Duration::from_secs(args.max_seconds);
    // Setup through the REST API of a node served in this process (it runs no worker).
    let node = Node::start(pool.clone()).await?;
    let api = Api::new(&node.base_url)?;
    let (_, token) = api.account("bench_owner").await?;
    let fanout = community(&api, pool, &token, "fanout").await?;
    let far_community = community(&api, pool, &token, "far").await?;
    let keys = dir.join("keys.json");
    std::fs::write(
        &keys,
        serde_json::to_string(&json!({
            fanout.key_id(): fanout.public_key_pem,
            far_community.key_id(): far_community.public_key_pem,
        }))?,
    )?;
    // Two far receivers: one for the worker, one for the one-at-a-time sender.
    let mut receivers = Receivers::start(args, 2, &keys, dir).await?;
    if receivers.fast.len() != args.instances || receivers.far.len() != 2 {
        bail!(
            "the receivers bound {} + {} ports",
            receivers.fast.len(),
            receivers.far.len()
        );
    }
    let setup = Instant::now();
    followers(pool, &fanout, &receivers.fast).await?;
    followers(pool, &far_community, &receivers.far[..1]).await?;
    println!(
        "setup: node {} (in this process, no worker), receivers pid {} ({} fast listeners, 2 far \
         listeners adding {} ms, each on its own 127.0.0.1 port), {} + 1 remote followers in {:.1} s",
        node.public_url,
        receivers.pid,
        receivers.fast.len(),
        args.far_delay_ms,
        receivers.fast.len(),
        setup.elapsed().as_secs_f64()
    );

    // Far activities are queued while no worker runs; the worker then starts on them.
    let queued = Instant::now();
    for n in 0..args.far_activities {
        comment(&api, &token, &far_community, n).await?;
    }
    let far_authority = format!("127.0.0.1:{}", receivers.far[0]);
    let (far_pending,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM delivery WHERE state = 'pending' AND authority = $1")
            .bind(&far_authority)
            .fetch_one(pool)
            .await?;
    println!(
        "queued {far_pending} deliveries to the far instance {far_authority} ({} comments through the API in {:.1} s)",
        args.far_activities,
        queued.elapsed().as_secs_f64()
    );
    let sample: (Value,) = sqlx::query_as(
        "SELECT payload FROM outbox_activity WHERE community_id = $1 ORDER BY id LIMIT 1",
    )
    .bind(far_community.id)
    .fetch_one(pool)
    .await?;
    let sample_body = serde_json::to_vec(&sample.0)?;

    // 1. Signing, while nothing else of the benchmark runs.
    let far_inbox = Url::parse(&format!("http://127.0.0.1:{}/inbox", receivers.far[0]))?;
    let sign = {
        let (pem, key_id, url, body, seconds) = (
            far_community.private_key_pem.clone(),
            far_community.key_id(),
            far_inbox.clone(),
            sample_body.clone(),
            args.sign_seconds,
        );
        tokio::task::spawn_blocking(move || sign_bench(&pem, &key_id, &url, &body, seconds))
            .await??
    };
    println!(
        "signing ({} s each, one thread, alternating 200 ms slices; one RSA-2048 key; a {}-byte \
         signing string over a {}-byte Announce; byte-identical signatures checked); per second \
         of the signing thread's CPU time (per second of wall time):",
        args.sign_seconds,
        sign.signing_string_bytes,
        sample_body.len()
    );
    let show = |what: &str, t: &SignTotals| {
        println!(
            "  {what}: {:.0}/s ({:.0} µs of CPU each; {:.0}/s of wall time, {} signatures)",
            t.per_cpu_s(),
            1e6 / t.per_cpu_s(),
            t.per_wall_s(),
            t.ops
        );
    };
    show(
        "ours (sign_post, aws-lc-rs, key parsed once; Date, Digest and headers included)",
        &sign.ours,
    );
    show("ours, parsing the PEM key each time", &sign.ours_with_parse);
    show(
        "rsa crate 0.9 (RsaPrivateKey::sign of the SHA-256 of the signing string, as activitypub_federation signs)",
        &sign.rsa,
    );
    let sign_ratio = sign.ours.per_cpu_s() / sign.rsa.per_cpu_s();
    println!(
        "  ours / rsa crate: {sign_ratio:.1}x per CPU second ({:.1}x per wall second)",
        sign.ours.per_wall_s() / sign.rsa.per_wall_s()
    );

    // 2. Far instance: a worker starts on the queued deliveries.
    let backend = backend_pid(pool).await;
    receivers.mark().await?;
    let counts0 = receivers.counts().await?;
    let spawned = Instant::now();
    let mut worker = WorkerProcess::start(
        bin,
        database_url,
        &node.public_url,
        &dir.join("worker-1.log"),
    )
    .await?;
    let ready = Instant::now();
    let ready_wall = SystemTime::now();
    let cpu = Cpu {
        meter: CpuMeter::new(worker.pid, backend),
        receivers: receivers.pid,
    };
    let cpu0 = cpu.now();
    println!(
        "worker 1: `canopy worker` pid {} started in {:.2} s",
        worker.pid,
        (ready - spawned).as_secs_f64()
    );
    loop {
        let (pending,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM delivery WHERE state = 'pending' AND authority = $1",
        )
        .bind(&far_authority)
        .fetch_one(pool)
        .await?;
        if pending == 0 {
            break;
        }
        if ready.elapsed() > max {
            bail!("the far instance still had {pending} deliveries pending after {max:?}");
        }
        worker.check_running()?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let far_wall = ready.elapsed().as_secs_f64();
    let cpu1 = cpu.now();
    let counts1 = receivers.counts().await?;
    let far_got = counts1.far.accepted - counts0.far.accepted;
    let far_per_s = far_pending as f64 / far_wall;
    let first = secs_after(ready_wall, counts1.far.first_ns).unwrap_or(f64::NAN);
    let last = secs_after(ready_wall, counts1.far.last_ns).unwrap_or(f64::NAN);
    println!(
        "far instance: {far_pending} deliveries drained in {far_wall:.2} s from the worker's start: \
         {far_per_s:.1}/s; the receiver accepted {far_got} ({} refused, {} duplicates), the first \
         {first:.3} s and the last {last:.3} s after the start ({:.1}/s between them), at most {} in flight",
        counts1.far.refused - counts0.far.refused,
        counts1.far.duplicates - counts0.far.duplicates,
        (far_got.saturating_sub(1)) as f64 / (last - first),
        counts1.far.max_in_flight,
    );
    println!(
        "  states {:?}; {}",
        states(pool, &format!("authority = '{far_authority}'")).await?,
        cpu_line(
            Cpu::between(&cpu0, &cpu1),
            far_pending as usize,
            cpu.meter.has_postgres()
        )
    );

    // The one-at-a-time sender, to the second far receiver: sign, POST, wait, next.
    let payloads: Vec<(Value,)> = sqlx::query_as(
        "SELECT payload FROM outbox_activity WHERE community_id = $1 ORDER BY id LIMIT $2",
    )
    .bind(far_community.id)
    .bind(i64::try_from(args.sequential)?)
    .fetch_all(pool)
    .await?;
    let key =
        PrivateKey::from_pem(&far_community.private_key_pem).map_err(|e| anyhow!("key: {e}"))?;
    let key_id = far_community.key_id();
    let second = Url::parse(&format!("http://127.0.0.1:{}/inbox", receivers.far[1]))?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    let started = Instant::now();
    let mut accepted = 0;
    for (payload,) in &payloads {
        let body = serde_json::to_vec(payload)?;
        let headers = sign_post(&key, &key_id, &second, &body, SystemTime::now())
            .map_err(|e| anyhow!("signing: {e}"))?;
        let answer = client
            .post(second.clone())
            .headers(headers)
            .header(CONTENT_TYPE, "application/activity+json")
            .body(body)
            .send()
            .await?;
        if answer.status().is_success() {
            accepted += 1;
        }
    }
    let sequential_s = started.elapsed().as_secs_f64();
    let far_sequential_per_s = accepted as f64 / sequential_s;
    println!(
        "one-at-a-time sender (this process: sign, POST, wait for the answer, next) to a second far \
         receiver: {accepted} of {} accepted in {sequential_s:.2} s: {far_sequential_per_s:.2}/s; \
         the worker is {:.1}x faster",
        payloads.len(),
        far_per_s / far_sequential_per_s
    );

    // 3. Fan-out on the same worker.
    let mut walls = Vec::new();
    let (mut fanout_worker_us, mut fanout_pg_us) = (Vec::new(), Vec::new());
    for round in 0..args.fanout_rounds {
        receivers.mark().await?;
        let before = receivers.counts().await?;
        let cpu0 = cpu.now();
        let started = Instant::now();
        let started_wall = SystemTime::now();
        let ap_id = comment(&api, &token, &fanout, round).await?;
        let enqueued = started.elapsed().as_secs_f64();
        let cpu_enqueued = cpu.now();
        let (activity,): (i64,) =
            sqlx::query_as("SELECT id FROM outbox_activity WHERE object_ap_id = $1")
                .bind(&ap_id)
                .fetch_one(pool)
                .await?;
        let (expected,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM delivery WHERE activity_id = $1")
                .bind(activity)
                .fetch_one(pool)
                .await?;
        let expected = u64::try_from(expected)?;
        // Watch the receivers (cheap) and ask the database only once they have everything (or
        // every second), so that the benchmark's polling does not load PostgreSQL.
        let mut polls = 0;
        let mut asked = Instant::now();
        loop {
            let got = receivers.counts().await?.fast.accepted - before.fast.accepted;
            polls += 1;
            if got >= expected || asked.elapsed() > Duration::from_secs(1) {
                asked = Instant::now();
                let (pending,): (i64,) = sqlx::query_as(
                    "SELECT count(*) FROM delivery WHERE activity_id = $1 AND state = 'pending'",
                )
                .bind(activity)
                .fetch_one(pool)
                .await?;
                if pending == 0 {
                    break;
                }
            }
            if started.elapsed() > max {
                bail!("fan-out round {round}: {got} of {expected} received after {max:?}");
            }
            worker.check_running()?;
            let pause = if got >= expected { 1 } else { 5 };
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        let wall = started.elapsed().as_secs_f64();
        let cpu1 = cpu.now();
        let after = receivers.counts().await?;
        let states = states(pool, &format!("activity_id = {activity}")).await?;
        let total: i64 = states.values().sum();
        let (_, pg_enqueue, _, _) = Cpu::between(&cpu0, &cpu_enqueued);
        println!(
            "fan-out round {}: 1 comment → {total} deliveries {states:?}: all done {wall:.3} s after \
             the API request (which took {enqueued:.3} s, PostgreSQL {pg_enqueue:.2} s CPU); the \
             receivers accepted {} ({} refused, {} duplicates), the first {:.3} s and the last {:.3} s after the request; {polls} polls of the receivers",
            round + 1,
            after.fast.accepted - before.fast.accepted,
            after.fast.refused - before.fast.refused,
            after.fast.duplicates - before.fast.duplicates,
            secs_after(started_wall, after.fast.first_ns).unwrap_or(f64::NAN),
            secs_after(started_wall, after.fast.last_ns).unwrap_or(f64::NAN),
        );
        println!(
            "  delivery {}",
            cpu_line(
                Cpu::between(&cpu_enqueued, &cpu1),
                usize::try_from(total)?,
                cpu.meter.has_postgres()
            )
        );
        let (worker_s, pg_s, _, _) = Cpu::between(&cpu_enqueued, &cpu1);
        fanout_worker_us.push(worker_s * 1e6 / total.max(1) as f64);
        fanout_pg_us.push(pg_s * 1e6 / total.max(1) as f64);
        walls.push(wall);
        // Let the worker go idle again between rounds (this is spacing, not synchronisation:
        // the round above has been checked to be complete).
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let fanout_max = walls.iter().copied().fold(0.0, f64::max);
    println!(
        "fan-out: {} rounds, all done after: median {:.3} s, worst {fanout_max:.3} s, first (new connections, new instance rows) {:.3} s",
        walls.len(),
        median(&walls),
        walls[0]
    );
    if let Some((rss, hwm)) = memory_kib(worker.pid) {
        println!(
            "worker 1 resident memory: now {:.1} MiB, peak {:.1} MiB",
            rss as f64 * 1024.0 / MIB,
            hwm as f64 * 1024.0 / MIB
        );
    }
    worker.check_running()?;
    worker.stop().await?;

    // 3b. A fan-out queued behind a far backlog: does a slow instance hold up the others?
    let mut behind = None;
    if args.behind_far > 0 {
        for n in 0..args.behind_far {
            comment(&api, &token, &far_community, args.far_activities + n).await?;
        }
        let ap_id = comment(&api, &token, &fanout, args.far_activities + args.behind_far).await?;
        let (activity,): (i64,) =
            sqlx::query_as("SELECT id FROM outbox_activity WHERE object_ap_id = $1")
                .bind(&ap_id)
                .fetch_one(pool)
                .await?;
        let mut worker = WorkerProcess::start(
            bin,
            database_url,
            &node.public_url,
            &dir.join("worker-behind.log"),
        )
        .await?;
        let ready = Instant::now();
        let mut fanout_done = None;
        loop {
            let (fan, far): (i64, i64) = sqlx::query_as(
                "SELECT count(*) FILTER (WHERE activity_id = $1), count(*) FILTER (WHERE authority = $2)
                 FROM delivery WHERE state = 'pending'",
            )
            .bind(activity)
            .bind(&far_authority)
            .fetch_one(pool)
            .await?;
            if fan == 0 && fanout_done.is_none() {
                fanout_done = Some(ready.elapsed().as_secs_f64());
            }
            if fan == 0 && far == 0 {
                break;
            }
            if ready.elapsed() > max {
                bail!("behind a far backlog: {fan} fan-out and {far} far deliveries pending after {max:?}");
            }
            worker.check_running()?;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let all = ready.elapsed().as_secs_f64();
        let fanout_s = fanout_done.unwrap_or(all);
        println!(
            "fan-out behind a far backlog: {} far deliveries (older) and one fan-out to {} instances \
             (newer) queued, then a fresh worker: the fan-out was all done {fanout_s:.3} s after the \
             worker started, the far backlog after {all:.2} s ({:.1}/s)",
            args.behind_far,
            args.instances,
            args.behind_far as f64 / all
        );
        behind = Some(fanout_s);
        worker.stop().await?;
    }

    // 4. Backlog: queued while no worker runs, then drained by a fresh worker.
    let queued = Instant::now();
    for n in 0..args.backlog_activities {
        comment(&api, &token, &fanout, args.fanout_rounds + n).await?;
    }
    let queue_s = queued.elapsed().as_secs_f64();
    sqlx::query("ANALYZE delivery, outbox_activity, instance")
        .execute(pool)
        .await?;
    let (backlog,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM delivery WHERE state = 'pending'")
            .fetch_one(pool)
            .await?;
    println!(
        "backlog: {backlog} pending deliveries ({} comments × {} instances through the API in {queue_s:.1} s; then ANALYZE)",
        args.backlog_activities,
        args.instances
    );
    let expected = u64::try_from(backlog)?;
    receivers.mark().await?;
    let before = receivers.counts().await?;
    let spawned = Instant::now();
    let mut worker = WorkerProcess::start(
        bin,
        database_url,
        &node.public_url,
        &dir.join("worker-backlog.log"),
    )
    .await?;
    let ready = Instant::now();
    let cpu = Cpu {
        meter: CpuMeter::new(worker.pid, backend),
        receivers: receivers.pid,
    };
    let cpu0 = cpu.now();
    println!(
        "backlog worker: `canopy worker` pid {} started in {:.2} s",
        worker.pid,
        (ready - spawned).as_secs_f64()
    );
    let mut rss_max = 0;
    let mut per_second: Vec<u64> = Vec::new();
    // Resident memory (KiB) at the first sample of every fifth second.
    let mut rss_every_5s: Vec<u64> = Vec::new();
    let mut last_check = Instant::now();
    loop {
        let now = receivers.counts().await?;
        let got = now.fast.accepted - before.fast.accepted;
        let second = ready.elapsed().as_secs() as usize;
        if per_second.len() <= second {
            per_second.resize(second + 1, got);
        }
        per_second[second] = got;
        if let Some((rss, _)) = memory_kib(worker.pid) {
            rss_max = rss_max.max(rss);
            if rss_every_5s.len() <= second / 5 {
                rss_every_5s.push(rss);
            }
        }
        // The receivers have it all (or it is time to look anyway): ask the database.
        if got >= expected || last_check.elapsed() > Duration::from_secs(2) {
            last_check = Instant::now();
            let pending: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM delivery WHERE state = 'pending')",
            )
            .fetch_one(pool)
            .await?;
            if !pending {
                break;
            }
        }
        if ready.elapsed() > max {
            bail!("the backlog was not drained after {max:?}: {got} of {expected} received");
        }
        worker.check_running()?;
        tokio::time::sleep(Duration::from_millis(if got >= expected {
            10
        } else {
            100
        }))
        .await;
    }
    let drain_s = ready.elapsed().as_secs_f64();
    let cpu1 = cpu.now();
    let (rss_now, hwm) =
        memory_kib(worker.pid).ok_or_else(|| anyhow!("no /proc status of the worker"))?;
    let after = receivers.counts().await?;
    let drain_per_s = backlog as f64 / drain_s;
    let backlog_rss_mb = hwm as f64 * 1024.0 / MIB;
    println!(
        "backlog drained in {drain_s:.1} s from the worker's start: {drain_per_s:.0}/s; states {:?}; \
         the receivers accepted {} ({} refused, {} duplicates)",
        states(pool, "true").await?,
        after.fast.accepted - before.fast.accepted,
        after.fast.refused - before.fast.refused,
        after.fast.duplicates - before.fast.duplicates,
    );
    let increments: Vec<u64> = per_second
        .iter()
        .scan(0, |prev, &n| {
            let d = n.saturating_sub(*prev);
            *prev = n;
            Some(d)
        })
        .collect();
    println!("  received in each second: {increments:?}");
    println!(
        "  {}",
        cpu_line(
            Cpu::between(&cpu0, &cpu1),
            backlog as usize,
            cpu.meter.has_postgres()
        )
    );
    println!(
        "  backlog worker's resident memory: peak (VmHWM) {backlog_rss_mb:.1} MiB, largest sampled {:.1} MiB, at the end {:.1} MiB",
        rss_max as f64 * 1024.0 / MIB,
        rss_now as f64 * 1024.0 / MIB
    );
    let mib: Vec<String> = rss_every_5s
        .iter()
        .map(|k| format!("{:.1}", *k as f64 * 1024.0 / MIB))
        .collect();
    println!(
        "  its resident memory every 5 s from its start, MiB: [{}]",
        mib.join(", ")
    );
    let problems = problems(pool).await?;
    if !problems.is_empty() {
        println!("  last errors (up to 5): {problems:?}");
    }
    worker.check_running()?;
    worker.stop().await?;

    println!(
        "also: fanout_worker_us_per_delivery={:.0} fanout_pg_us_per_delivery={:.0} behind_far_fanout_s={} backlog_per_s={drain_per_s:.0}",
        median(&fanout_worker_us),
        median(&fanout_pg_us),
        behind.map_or("-".to_string(), |s| format!("{s:.3}"))
    );
    println!(
        "delivery: fanout_1000_s={fanout_max:.3} far_per_s={far_per_s:.1} far_sequential_per_s={far_sequential_per_s:.2} sign_ratio={sign_ratio:.1} backlog_rss_mb={backlog_rss_mb:.1}"
    );
    Ok(())
}
