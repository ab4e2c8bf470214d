//! A real Fedify server as a peer: `tests/peers/fedify/peer.mjs` run with `node`. It has one
//! user, `alice`, whose personal inbox and shared inbox check HTTP signatures the way Fedify
//! does, and it reports what it receives (and refuses) as JSON lines on its stdout, which
//! [`FedifyPeer`] collects. `scripts/test` installs its npm dependencies.

use serde_json::Value;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// How long the peer may take to start (Node loads Fedify and makes two key pairs).
const START_LIMIT: Duration = Duration::from_secs(60);

/// How the peer lets Fedify reach loopback addresses (peer.mjs says more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivateAddresses {
    /// `allowPrivateAddress: true`: every fetch may reach loopback, as a peer should be set up.
    All,
    /// Only unsigned fetches may: the key of a request to a personal inbox, which Fedify fetches
    /// signed as the recipient, cannot be fetched from a node on loopback, so every delivery to
    /// a personal inbox is refused with 401 while the shared inbox verifies.
    UnsignedOnly,
}

/// The running peer. Dropping it kills the process.
pub struct FedifyPeer {
    child: Child,
    /// `http://localhost:PORT`
    pub origin: String,
    events: Arc<Mutex<Vec<Value>>>,
    stderr: Arc<Mutex<String>>,
}

/// `tests/peers/fedify`, or `FEDIFY_PEER_DIR` to try another copy (say, another Fedify version).
fn peer_dir() -> PathBuf {
    std::env::var_os("FEDIFY_PEER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/fedify")
        })
}

fn collect_lines(
    stream: impl AsyncRead + Unpin + Send + 'static,
    mut each: impl FnMut(String) + Send + 'static,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            each(line);
        }
    });
}

impl FedifyPeer {
    /// Start the peer on a free loopback port. Its NodeInfo names `software`, so Canopy speaks
    /// to it as it speaks to that software. Panics with what to do when Node.js or the peer's
    /// dependencies are missing: the test must not pass without the peer.
    pub async fn start(software: &str, private: PrivateAddresses) -> Self {
        Self::start_with_hosts(software, private, &[]).await
    }

    /// [`FedifyPeer::start`], with host names the peer resolves to the given addresses before
    /// DNS (its `--hosts`), to reach nodes that run under test host names such as `alpha.test`.
    pub async fn start_with_hosts(
        software: &str,
        private: PrivateAddresses,
        hosts: &[(&str, IpAddr)],
    ) -> Self {
        let dir = peer_dir();
        let hosts: serde_json::Map<String, Value> = hosts
            .iter()
            .map(|(name, address)| (name.to_string(), Value::String(address.to_string())))
            .collect();
        assert!(
            ["@fedify/fedify", "undici"].iter().all(|package| dir
                .join("node_modules")
                .join(package)
                .join("package.json")
                .exists()),
            "the Fedify peer's dependencies are not installed: run \
             `npm ci --prefix tests/peers/fedify --no-audit --no-fund` (scripts/test does this)"
        );
        let mut child = match Command::new("node")
            .arg("peer.mjs")
            .args(["--port", "0", "--software", software, "--allow-private"])
            .arg(match private {
                PrivateAddresses::All => "all",
                PrivateAddresses::UnsignedOnly => "documents",
            })
            .arg("--hosts")
            .arg(Value::Object(hosts).to_string())
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "`node` is not on PATH: the Fedify peer test needs Node.js 20 or later \
                 (e.g. `apt-get install nodejs npm`)"
            ),
            Err(e) => panic!("could not start the Fedify peer with node: {e}"),
        };
        let events: Arc<Mutex<Vec<Value>>> = Arc::default();
        let stderr: Arc<Mutex<String>> = Arc::default();
        let sink = events.clone();
        collect_lines(child.stdout.take().unwrap(), move |line| {
            let event = serde_json::from_str(&line)
                .unwrap_or_else(|_| serde_json::json!({"event": "stdout", "line": line}));
            sink.lock().unwrap().push(event);
        });
        let sink = stderr.clone();
        collect_lines(child.stderr.take().unwrap(), move |line| {
            let mut all = sink.lock().unwrap();
            all.push_str(&line);
            all.push('\n');
        });

        let deadline = Instant::now() + START_LIMIT;
        let origin = loop {
            let listening = events
                .lock()
                .unwrap()
                .iter()
                .find(|e| e["event"] == "listening")
                .map(|e| e["origin"].as_str().unwrap().to_owned());
            if let Some(origin) = listening {
                break origin;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the Fedify peer exited ({status}) before listening:\n{}",
                    stderr.lock().unwrap()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the Fedify peer did not start within {START_LIMIT:?}:\n{}",
                stderr.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        Self {
            child,
            origin,
            events,
            stderr,
        }
    }

    /// The peer's user.
    pub fn alice(&self) -> String {
        format!("{}/users/alice", self.origin)
    }

    /// Every event the peer reported so far.
    pub fn events(&self) -> Vec<Value> {
        self.events.lock().unwrap().clone()
    }

    /// Events with `"event": kind`.
    pub fn events_of(&self, kind: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["event"] == kind)
            .collect()
    }

    /// Everything the peer reported, for a failure message.
    pub fn transcript(&self) -> String {
        let mut text: String = self.events().iter().map(|e| format!("{e}\n")).collect();
        text.push_str("--- stderr ---\n");
        text.push_str(&self.stderr.lock().unwrap());
        text
    }

    /// Make alice follow `actor`; returns the Follow's id once the peer delivered it.
    pub async fn follow(&self, actor: &str) -> String {
        let response = reqwest::Client::new()
            .post(format!("{}/_control/follow", self.origin))
            .json(&serde_json::json!({ "actor": actor }))
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(
            status,
            reqwest::StatusCode::ACCEPTED,
            "the peer could not follow {actor}: {body}\n{}",
            self.transcript()
        );
        body["follow"].as_str().unwrap().to_owned()
    }

    /// Wait until an event matches `found`, and return it. Fails at once when an event matches
    /// `fatal` (say, a refused signature), and after `limit` otherwise, with the transcript.
    pub async fn wait_for(
        &self,
        limit: Duration,
        what: &str,
        found: impl Fn(&Value) -> bool,
        fatal: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let events = self.events();
            if let Some(bad) = events.iter().find(|e| fatal(e)) {
                panic!(
                    "while waiting for {what}, the peer reported {bad}\n{}",
                    self.transcript()
                );
            }
            if let Some(event) = events.into_iter().find(|e| found(e)) {
                return event;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {limit:?} waiting for {what}\n{}",
                self.transcript()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stop the peer and wait for the process to end.
    pub async fn stop(mut self) {
        self.child.kill().await.unwrap();
    }
}

impl Drop for FedifyPeer {
    /// When the test is failing, whatever failed, print the peer's account of it.
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "===== Fedify peer ({}) =====\n{}",
                self.origin,
                self.transcript()
            );
        }
    }
}
