//! A stand-in for another ActivityPub server: serves actors (with real keys) and any JSON object
//! registered with it, on a free loopback port under `http://localhost:PORT`, and signs
//! activities as its actors. Tests use it to play a remote server through the real inbox.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use canopy_federation::keys::{generate_actor_keys, ActorKeys};
use canopy_federation::signatures::{sign_post, PrivateKey};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

type Objects = Arc<Mutex<HashMap<String, Value>>>;

/// `Signature` headers of the GET requests the stand-in served, by path.
pub type SeenSignatures = Arc<Mutex<Vec<(String, Option<String>)>>>;

#[derive(Clone)]
struct Shared {
    objects: Objects,
    seen: SeenSignatures,
}

/// A fake remote server.
pub struct StandIn {
    /// `http://localhost:PORT`
    pub base: String,
    objects: Objects,
    /// What the stand-in saw of each fetch.
    pub seen: SeenSignatures,
    keys: ActorKeys,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve_object(
    State(shared): State<Shared>,
    Path(path): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    let signature = headers
        .get("signature")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    shared
        .seen
        .lock()
        .unwrap()
        .push((format!("/{path}"), signature));
    let found = shared
        .objects
        .lock()
        .unwrap()
        .get(&format!("/{path}"))
        .cloned();
    match found {
        Some(v) => (
            [(
                header::CONTENT_TYPE,
                "application/activity+json; charset=utf-8",
            )],
            serde_json::to_string(&v).unwrap(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

impl StandIn {
    pub async fn start() -> Self {
        let objects: Objects = Arc::default();
        let seen: SeenSignatures = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let router = Router::new()
            .route(
                "/{*path}",
                get(serve_object).post(|| async { StatusCode::ACCEPTED }),
            )
            .with_state(Shared {
                objects: objects.clone(),
                seen: seen.clone(),
            });
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        // One key pair shared by the stand-in's actors keeps tests fast.
        let keys = tokio::task::spawn_blocking(generate_actor_keys)
            .await
            .unwrap()
            .unwrap();
        Self {
            base: format!("http://localhost:{port}"),
            objects,
            seen,
            keys,
            server,
        }
    }

    /// `host:port` of the stand-in.
    pub fn authority(&self) -> String {
        self.base.trim_start_matches("http://").to_string()
    }

    /// Serve `value` at `path` (which starts with `/`).
    pub fn put(&self, path: &str, value: Value) {
        self.objects.lock().unwrap().insert(path.to_string(), value);
    }

    /// What is served at `path`, if anything.
    pub fn get(&self, path: &str) -> Option<Value> {
        self.objects.lock().unwrap().get(path).cloned()
    }

    /// Stop serving `path` (it answers 404 from now on).
    pub fn remove(&self, path: &str) {
        self.objects.lock().unwrap().remove(path);
    }

    /// Serve a Person `name` at `/users/{name}`; returns its id.
    pub fn person(&self, name: &str) -> String {
        let id = format!("{}/users/{name}", self.base);
        self.put(
            &format!("/users/{name}"),
            json!({
                "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
                "id": id,
                "type": "Person",
                "preferredUsername": name,
                "name": format!("{name} (stand-in)"),
                "inbox": format!("{id}/inbox"),
                "endpoints": {"sharedInbox": format!("{}/inbox", self.base)},
                "publicKey": {"id": format!("{id}#main-key"), "owner": id, "publicKeyPem": self.keys.public_key_pem},
            }),
        );
        id
    }

    /// Serve a Group `name` at `/c/{name}`; returns its id.
    pub fn group(&self, name: &str) -> String {
        let id = format!("{}/c/{name}", self.base);
        self.put(
            &format!("/c/{name}"),
            json!({
                "id": id,
                "type": "Group",
                "preferredUsername": name,
                "name": format!("{name} (stand-in)"),
                "inbox": format!("{id}/inbox"),
                "followers": format!("{id}/followers"),
                "endpoints": {"sharedInbox": format!("{}/inbox", self.base)},
                "publicKey": {"id": format!("{id}#main-key"), "owner": id, "publicKeyPem": self.keys.public_key_pem},
            }),
        );
        id
    }

    /// Sign `body` as `key_id` for a POST to `url`, exactly as a real server would.
    pub fn sign(&self, key_id: &str, url: &str, body: &[u8]) -> reqwest::header::HeaderMap {
        let key = PrivateKey::from_pem(&self.keys.private_key_pem).unwrap();
        let url = url::Url::parse(url).unwrap();
        sign_post(&key, key_id, &url, body, SystemTime::now()).unwrap()
    }

    /// Sign as [`StandIn::sign`] does, but at a chosen time (for stale or future dates).
    pub fn sign_at(
        &self,
        key_id: &str,
        url: &str,
        body: &[u8],
        at: SystemTime,
    ) -> reqwest::header::HeaderMap {
        let key = PrivateKey::from_pem(&self.keys.private_key_pem).unwrap();
        let url = url::Url::parse(url).unwrap();
        sign_post(&key, key_id, &url, body, at).unwrap()
    }

    /// Sign `activity` as its actor and POST it to `inbox_url` (a `http://127.0.0.1:PORT/...`
    /// or `http://localhost:PORT/...` URL). Returns status and body text.
    pub async fn deliver(
        &self,
        inbox_url: &str,
        activity: &Value,
    ) -> (reqwest::StatusCode, String) {
        let actor = activity["actor"].as_str().unwrap();
        let body = serde_json::to_vec(activity).unwrap();
        let headers = self.sign(&format!("{actor}#main-key"), inbox_url, &body);
        send(inbox_url, headers, body).await
    }
}

/// POST `body` with `headers` and the ActivityPub content type.
pub async fn send(
    url: &str,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
) -> (reqwest::StatusCode, String) {
    let resp = reqwest::Client::new()
        .post(url)
        .headers(headers)
        .header("content-type", "application/activity+json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.text().await.unwrap_or_default())
}

/// Helpers for playing servers whose URL layout is not the stand-in's own (`/users/…`, `/c/…`),
/// as the interop fixtures need.
impl StandIn {
    /// The public key, in PEM, that every actor of the stand-in signs with.
    pub fn public_key_pem(&self) -> &str {
        &self.keys.public_key_pem
    }

    /// Serve a minimal actor of type `kind` ("Person", "Group", …) named `name` at `path`
    /// (which starts with `/`), keyed with the stand-in's key; returns its id.
    pub fn actor_at(&self, path: &str, kind: &str, name: &str) -> String {
        let id = format!("{}{path}", self.base);
        self.put(
            path,
            json!({
                "id": id,
                "type": kind,
                "preferredUsername": name,
                "name": format!("{name} (stand-in)"),
                "inbox": format!("{id}/inbox"),
                "followers": format!("{id}/followers"),
                "endpoints": {"sharedInbox": format!("{}/inbox", self.base)},
                "publicKey": {"id": format!("{id}#main-key"), "owner": id, "publicKeyPem": self.keys.public_key_pem},
            }),
        );
        id
    }

    /// Sign `body` as the actor `signer` and POST it to `inbox_url`, whatever its `actor` says
    /// (for payloads that have none, or name someone else). Returns status and body text.
    pub async fn deliver_as(
        &self,
        signer: &str,
        inbox_url: &str,
        body: &Value,
    ) -> (reqwest::StatusCode, String) {
        let bytes = serde_json::to_vec(body).unwrap();
        let headers = self.sign(&format!("{signer}#main-key"), inbox_url, &bytes);
        send(inbox_url, headers, bytes).await
    }
}
