//! A Canopy node for a benchmark: a fresh database on the benchmark's PostgreSQL, the real node
//! (`canopy::Node`, as `canopy serve` builds it) served on a loopback port in this process, and a
//! keep-alive HTTP client that talks to it.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::time::{Duration, Instant};

pub use canopy_testkit::database::Database;

/// The real node, served in this process on 127.0.0.1.
pub struct Node {
    pub base_url: String,
    /// `http://localhost:PORT`: its public URL (ActivityPub ids are built from it).
    pub public_url: String,
    /// Prefix of the ActivityPub ids of local comments.
    pub comment_prefix: String,
    /// The node's federation side (for benchmarks that drive it directly).
    pub federation: canopy_federation::Federation,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Node {
    pub async fn start(pool: PgPool) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let public_url = format!("http://localhost:{port}");
        let base = canopy_federation::urls::PublicBase::parse(&public_url)
            .map_err(|e| anyhow!("public base URL: {e}"))?;
        let comment_prefix = base.comment_prefix();
        // The benchmarks that use this node measure reads and deliveries, not the limits: they
        // register many accounts and write from one address as fast as they can.
        let options =
            canopy::Options::default().with_limits(canopy_api::limits::Limits::unlimited());
        let node = canopy::Node::build(pool, base, options).await?;
        let federation = node.federation().clone();
        let server = tokio::spawn(node.serve(listener, std::future::pending()));
        Ok(Self {
            base_url: format!("http://127.0.0.1:{port}"),
            public_url,
            comment_prefix,
            federation,
            server,
        })
    }
}

/// A response body read to the end and parsed, with the time it took from sending the request.
pub struct Fetched {
    pub elapsed: Duration,
    /// Until the status line and headers arrived: the server's whole work, since a JSON answer
    /// is encoded before its headers go out.
    pub headers: Duration,
    pub bytes: usize,
    pub body: Value,
}

/// One keep-alive HTTP client for a node.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base_url: String,
}

impl Api {
    pub fn new(base_url: &str) -> Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder().no_proxy().build()?,
            base_url: base_url.to_string(),
        })
    }

    /// POST a JSON body; fails unless the answer is a 2xx.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Result<Value> {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base_url))
            .json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("POST {path}: {status}: {text}");
        }
        Ok(serde_json::from_str(&text)?)
    }

    /// GET with query parameters, timed from sending to a parsed body; fails unless 200.
    pub async fn get(&self, path: &str, query: &[(String, String)]) -> Result<Fetched> {
        let started = Instant::now();
        let resp = self
            .client
            .get(format!("{}{path}", self.base_url))
            .query(query)
            .send()
            .await?;
        let headers = started.elapsed();
        let status = resp.status();
        let raw = resp.bytes().await?;
        let body: Value = serde_json::from_slice(&raw)
            .with_context(|| format!("GET {path}: {status}: body is not JSON"))?;
        let elapsed = started.elapsed();
        if status != reqwest::StatusCode::OK {
            bail!("GET {path} {query:?}: {status}: {body}");
        }
        Ok(Fetched {
            elapsed,
            headers,
            bytes: raw.len(),
            body,
        })
    }

    /// Register `name` and log in; returns the person id and a bearer token.
    pub async fn account(&self, name: &str) -> Result<(i64, String)> {
        let password = "benchmark password 1";
        let user = self
            .post(
                "/api/v1/accounts",
                None,
                json!({"name": name, "password": password}),
            )
            .await?;
        let session = self
            .post(
                "/api/v1/sessions",
                None,
                json!({"name": name, "password": password}),
            )
            .await?;
        let id = user["id"]
            .as_i64()
            .ok_or_else(|| anyhow!("registration answer has no id: {user}"))?;
        let token = session["token"]
            .as_str()
            .ok_or_else(|| anyhow!("login answer has no token: {session}"))?;
        Ok((id, token.to_string()))
    }
}
