//! A stand-in for a remote ActivityPub server, for the `inbox` benchmark: serves `count` Person
//! actors at `/users/u{i}` (all with one shared key pair) and a shared inbox that accepts
//! anything, on a free loopback port named `http://localhost:PORT`. It counts what it is asked,
//! so the benchmark can show that the node fetched each actor once and sent nothing back.
//!
//! Modelled on `tests/support/standin.rs` (which lives in the test crate).

use anyhow::{Context, Result};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use canopy_federation::keys::{generate_actor_keys, ActorKeys};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

struct Shared {
    /// Actor JSON by name, rendered once.
    actors: HashMap<String, String>,
    actor_fetches: AtomicU64,
    deliveries: AtomicU64,
    other_gets: AtomicU64,
}

/// The running stand-in.
pub struct StandIn {
    /// `http://localhost:PORT`
    pub base: String,
    pub keys: ActorKeys,
    /// Actor ids, `{base}/users/u{i}`.
    pub actors: Vec<String>,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn actor(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    match shared.actors.get(&name) {
        Some(body) => {
            shared.actor_fetches.fetch_add(1, Ordering::Relaxed);
            (
                [(
                    header::CONTENT_TYPE,
                    "application/activity+json; charset=utf-8",
                )],
                body.clone(),
            )
                .into_response()
        }
        None => {
            shared.other_gets.fetch_add(1, Ordering::Relaxed);
            StatusCode::NOT_FOUND.into_response()
        }
    }
}

async fn inbox(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.deliveries.fetch_add(1, Ordering::Relaxed);
    StatusCode::ACCEPTED
}

async fn other(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.other_gets.fetch_add(1, Ordering::Relaxed);
    StatusCode::NOT_FOUND
}

/// What the stand-in has been asked so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub actor_fetches: u64,
    pub deliveries: u64,
    pub other_gets: u64,
}

impl StandIn {
    pub async fn start(count: usize) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("bind the stand-in")?;
        let port = listener.local_addr()?.port();
        let base = format!("http://localhost:{port}");
        // One key pair shared by every actor: generating 2048-bit keys is slow, and the node
        // verifies each signature against the key stored for the actor either way.
        let keys = tokio::task::spawn_blocking(generate_actor_keys)
            .await?
            .context("generate the stand-in's key pair")?;
        let mut actors = Vec::with_capacity(count);
        let mut rendered = HashMap::with_capacity(count);
        for i in 0..count {
            let name = format!("u{i}");
            let id = format!("{base}/users/{name}");
            let person = json!({
                "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
                "id": id,
                "type": "Person",
                "preferredUsername": name,
                "name": format!("{name} (stand-in)"),
                "inbox": format!("{id}/inbox"),
                "endpoints": {"sharedInbox": format!("{base}/inbox")},
                "publicKey": {"id": format!("{id}#main-key"), "owner": id, "publicKeyPem": keys.public_key_pem},
            });
            rendered.insert(name, serde_json::to_string(&person)?);
            actors.push(id);
        }
        let shared = Arc::new(Shared {
            actors: rendered,
            actor_fetches: AtomicU64::new(0),
            deliveries: AtomicU64::new(0),
            other_gets: AtomicU64::new(0),
        });
        let router = Router::new()
            .route("/users/{name}", get(actor))
            .route("/inbox", post(inbox))
            .route("/users/{name}/inbox", post(inbox))
            .fallback(other)
            .with_state(shared.clone());
        let server = tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(Self {
            base,
            keys,
            actors,
            shared,
            server,
        })
    }

    pub fn counts(&self) -> Counts {
        Counts {
            actor_fetches: self.shared.actor_fetches.load(Ordering::Relaxed),
            deliveries: self.shared.deliveries.load(Ordering::Relaxed),
            other_gets: self.shared.other_gets.load(Ordering::Relaxed),
        }
    }
}
