//! A stand-in for remote ActivityPub servers, for the `inbox` benchmark: serves `count` Person
//! actors at `/users/u{i}` (all with one shared key pair) and a shared inbox that accepts
//! anything, spread over `instances` free loopback ports, each one instance named
//! `http://localhost:PORT`. It counts what it is asked, so the benchmark can show that the node
//! fetched each actor once and sent nothing back.
//!
//! Several instances, because the node limits how many activities one remote instance may send
//! (`rate_limit_inbox`, by default 200 a second on average): the benchmark measures the node's
//! capacity with its default limits on, as the traffic of many peers.
//!
//! The suite's stand-in (`canopy_testkit::standin`) serves documents for single tests; this one
//! is a load generator's: many actors over many instances, one shared key, counters only.

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

#[derive(Default)]
struct Counters {
    actor_fetches: AtomicU64,
    deliveries: AtomicU64,
    other_gets: AtomicU64,
}

/// One instance the stand-in plays.
struct Instance {
    /// Actor JSON by name, rendered once.
    actors: HashMap<String, String>,
    counters: Arc<Counters>,
}

/// The running stand-in.
pub struct StandIn {
    /// `http://localhost:PORT` of each instance.
    pub bases: Vec<String>,
    pub keys: ActorKeys,
    /// Actor ids, `{base}/users/u{i}`, dealt to the instances in turn.
    pub actors: Vec<String>,
    counters: Arc<Counters>,
    servers: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        for server in &self.servers {
            server.abort();
        }
    }
}

async fn actor(State(instance): State<Arc<Instance>>, Path(name): Path<String>) -> Response {
    let shared = &instance.counters;
    match instance.actors.get(&name) {
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

async fn inbox(State(instance): State<Arc<Instance>>) -> StatusCode {
    instance.counters.deliveries.fetch_add(1, Ordering::Relaxed);
    StatusCode::ACCEPTED
}

async fn other(State(instance): State<Arc<Instance>>) -> StatusCode {
    instance.counters.other_gets.fetch_add(1, Ordering::Relaxed);
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
    /// `count` actors dealt to `instances` instances (at least one).
    pub async fn start(count: usize, instances: usize) -> Result<Self> {
        let instances = instances.max(1);
        let mut listeners = Vec::with_capacity(instances);
        let mut bases = Vec::with_capacity(instances);
        for _ in 0..instances {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .context("bind the stand-in")?;
            bases.push(format!(
                "http://localhost:{}",
                listener.local_addr()?.port()
            ));
            listeners.push(listener);
        }
        // One key pair shared by every actor: generating 2048-bit keys is slow, and the node
        // verifies each signature against the key stored for the actor either way.
        let keys = tokio::task::spawn_blocking(generate_actor_keys)
            .await?
            .context("generate the stand-in's key pair")?;
        let mut actors = Vec::with_capacity(count);
        let mut rendered: Vec<HashMap<String, String>> = vec![HashMap::new(); instances];
        for i in 0..count {
            let base = &bases[i % instances];
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
            rendered[i % instances].insert(name, serde_json::to_string(&person)?);
            actors.push(id);
        }
        let counters = Arc::new(Counters::default());
        let mut servers = Vec::with_capacity(instances);
        for (listener, actors) in listeners.into_iter().zip(rendered) {
            let router = Router::new()
                .route("/users/{name}", get(actor))
                .route("/inbox", post(inbox))
                .route("/users/{name}/inbox", post(inbox))
                .fallback(other)
                .with_state(Arc::new(Instance {
                    actors,
                    counters: counters.clone(),
                }));
            servers.push(tokio::spawn(
                async move { axum::serve(listener, router).await },
            ));
        }
        Ok(Self {
            bases,
            keys,
            actors,
            counters,
            servers,
        })
    }

    pub fn counts(&self) -> Counts {
        Counts {
            actor_fetches: self.counters.actor_fetches.load(Ordering::Relaxed),
            deliveries: self.counters.deliveries.load(Ordering::Relaxed),
            other_gets: self.counters.other_gets.load(Ordering::Relaxed),
        }
    }
}
