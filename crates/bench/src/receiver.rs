//! Loopback inboxes for the `delivery` benchmark, in a process of their own:
//! `canopy-bench delivery-receiver`, which `canopy-bench delivery` starts by running its own
//! executable again, so that the receivers' CPU is not the benchmark's or the worker's.
//!
//! It binds `--fast` listeners and `--far` listeners on `127.0.0.1`, each on its own port (so
//! each is an instance of its own, instances being keyed by host and port), plus a control
//! listener. Every listener answers `POST /inbox`: a far one first waits `--far-delay-ms`, as a
//! server that far away would; then the request's HTTP signature (draft-cavage, with its
//! `Digest`) is verified with the public key of its `keyId`, read from `--keys` (a JSON object
//! of key id → PEM), and the answer is 202, or 401 when it does not verify. Each accepted delivery is counted per group, with duplicates (the same activity id
//! twice on one port) and the wall-clock times of the first and last accepted delivery.
//!
//! On start it prints one JSON line to stdout: `{"control": port, "fast": [ports], "far":
//! [ports]}`. `GET /counts` on the control port returns the counters; `POST /mark` forgets the
//! first and last times, so that the next phase measures its own. It exits when its stdin
//! closes (when the benchmark ends, however it ends).

use anyhow::{anyhow, Context, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use canopy_federation::signatures::{parse_signature, verify_request, PublicKey};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::AsyncReadExt as _;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Listeners that answer at once.
    #[arg(long, default_value_t = 1000)]
    fast: usize,
    /// Listeners that wait `--far-delay-ms` before answering.
    #[arg(long, default_value_t = 1)]
    far: usize,
    #[arg(long, default_value_t = 200)]
    far_delay_ms: u64,
    /// JSON file `{"<key id>": "<public key PEM>", …}`: the keys deliveries may be signed with.
    #[arg(long)]
    keys: PathBuf,
}

/// Counters of one group of listeners.
#[derive(Default)]
struct Group {
    accepted: AtomicU64,
    refused: AtomicU64,
    duplicates: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    /// Unix nanoseconds of the first and last accepted delivery since the last mark.
    first_ns: AtomicU64,
    last_ns: AtomicU64,
}

impl Group {
    fn mark(&self) {
        self.first_ns.store(u64::MAX, Ordering::Relaxed);
        self.last_ns.store(0, Ordering::Relaxed);
        self.max_in_flight.store(0, Ordering::Relaxed);
    }

    fn report(&self) -> Value {
        let first = self.first_ns.load(Ordering::Relaxed);
        let last = self.last_ns.load(Ordering::Relaxed);
        json!({
            "accepted": self.accepted.load(Ordering::Relaxed),
            "refused": self.refused.load(Ordering::Relaxed),
            "duplicates": self.duplicates.load(Ordering::Relaxed),
            "max_in_flight": self.max_in_flight.load(Ordering::Relaxed),
            "first_ns": (first != u64::MAX).then_some(first),
            "last_ns": (last != 0).then_some(last),
        })
    }
}

struct Shared {
    keys: HashMap<String, PublicKey>,
    fast: Group,
    far: Group,
    /// (port, activity id) of every accepted delivery.
    seen: Mutex<HashSet<(u16, String)>>,
}

#[derive(Clone)]
struct Listener {
    shared: Arc<Shared>,
    port: u16,
    far: bool,
    delay: Duration,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The activity's `id`, read without building the whole JSON tree.
fn activity_id(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Head {
        id: String,
    }
    serde_json::from_slice::<Head>(body).ok().map(|h| h.id)
}

async fn inbox(State(l): State<Listener>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let group = if l.far { &l.shared.far } else { &l.shared.fast };
    let now = group.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    group.max_in_flight.fetch_max(now, Ordering::Relaxed);
    if !l.delay.is_zero() {
        tokio::time::sleep(l.delay).await;
    }
    let verified = parse_signature(&headers).ok().is_some_and(|params| {
        l.shared.keys.get(&params.key_id).is_some_and(|key| {
            verify_request(
                &Method::POST,
                "/inbox",
                &headers,
                Some(&body),
                &params,
                key,
                SystemTime::now(),
            )
            .is_ok()
        })
    });
    let status = match activity_id(&body).filter(|_| verified) {
        Some(id) => {
            let fresh = l
                .shared
                .seen
                .lock()
                .map(|mut s| s.insert((l.port, id)))
                .unwrap_or(true);
            if !fresh {
                group.duplicates.fetch_add(1, Ordering::Relaxed);
            }
            group.accepted.fetch_add(1, Ordering::Relaxed);
            let at = now_ns();
            group.first_ns.fetch_min(at, Ordering::Relaxed);
            group.last_ns.fetch_max(at, Ordering::Relaxed);
            StatusCode::ACCEPTED
        }
        None => {
            group.refused.fetch_add(1, Ordering::Relaxed);
            StatusCode::UNAUTHORIZED
        }
    };
    group.in_flight.fetch_sub(1, Ordering::Relaxed);
    status
}

async fn counts(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({"fast": shared.fast.report(), "far": shared.far.report()}))
}

async fn mark(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.fast.mark();
    shared.far.mark();
    StatusCode::NO_CONTENT
}

async fn bind() -> Result<(tokio::net::TcpListener, u16)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("bind a receiver listener on 127.0.0.1")?;
    let port = listener.local_addr()?.port();
    Ok((listener, port))
}

pub async fn run(args: Args) -> Result<()> {
    let text = std::fs::read_to_string(&args.keys)
        .with_context(|| format!("read {}", args.keys.display()))?;
    let pems: HashMap<String, String> = serde_json::from_str(&text).context("the keys file")?;
    let mut keys = HashMap::new();
    for (id, pem) in pems {
        let key = PublicKey::from_pem(&pem).map_err(|e| anyhow!("public key {id}: {e}"))?;
        keys.insert(id, key);
    }
    let shared = Arc::new(Shared {
        keys,
        fast: Group::default(),
        far: Group::default(),
        seen: Mutex::new(HashSet::new()),
    });
    shared.fast.mark();
    shared.far.mark();
    let delay = Duration::from_millis(args.far_delay_ms);
    let mut servers = tokio::task::JoinSet::new();
    let mut ports: [Vec<u16>; 2] = [Vec::new(), Vec::new()];
    for (far, count) in [(false, args.fast), (true, args.far)] {
        for _ in 0..count {
            let (listener, port) = bind().await?;
            let state = Listener {
                shared: shared.clone(),
                port,
                far,
                delay: if far { delay } else { Duration::ZERO },
            };
            let router = Router::new().route("/inbox", post(inbox)).with_state(state);
            servers.spawn(async move { axum::serve(listener, router).await });
            ports[usize::from(far)].push(port);
        }
    }
    let (listener, control) = bind().await?;
    let router = Router::new()
        .route("/counts", get(counts))
        .route("/mark", post(mark))
        .with_state(shared);
    servers.spawn(async move { axum::serve(listener, router).await });

    let [fast, far] = ports;
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "{}",
        json!({"control": control, "fast": fast, "far": far})
    )?;
    stdout.flush()?;
    drop(stdout);

    // Serve until stdin closes (the benchmark ended) or a server fails.
    let mut stdin = tokio::io::stdin();
    let mut sink = Vec::new();
    tokio::select! {
        _ = stdin.read_to_end(&mut sink) => Ok(()),
        Some(ended) = servers.join_next() => Err(anyhow!("a receiver listener stopped: {ended:?}")),
    }
}
