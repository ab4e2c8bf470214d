//! A stand-in for another ActivityPub server: serves actors (with real keys) and any JSON object
//! registered with it, on a free loopback port under `http://localhost:PORT`, and signs
//! activities as its actors. Tests use it to play a remote server through the real inbox.
//! Started with [`StandIn::lemmy`], it also plays a Lemmy: NodeInfo and the public comment list
//! of Lemmy's client API.

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
    /// The Lemmy client API, when the stand-in plays a Lemmy ([`StandIn::lemmy`]).
    lemmy: Option<LemmyShared>,
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
        Self::start_as(None).await
    }

    /// A stand-in Lemmy reporting `version` (e.g. "0.19.9" or "1.0.0") in its NodeInfo, with the
    /// public comment list of its client API under `/api/v3` (versions before 1.0: page
    /// numbers) or `/api/v4` (1.0 on: cursors), never both; see [`StandIn::set_comments`]. It
    /// serves actors and objects like any stand-in.
    pub async fn lemmy(version: &str) -> Self {
        Self::start_as(Some(version)).await
    }

    async fn start_as(lemmy_version: Option<&str>) -> Self {
        let objects: Objects = Arc::default();
        let seen: SeenSignatures = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let base = format!("http://localhost:{port}");
        let mut router = Router::new()
            .route(
                "/{*path}",
                get(serve_object).post(|| async { StatusCode::ACCEPTED }),
            )
            .with_state(Shared {
                objects: objects.clone(),
                seen: seen.clone(),
            });
        let lemmy = lemmy_version.map(|version| LemmyShared {
            base: base.clone(),
            state: Arc::new(Mutex::new(LemmyState {
                version: version.to_string(),
                comments: HashMap::new(),
                answer: LemmyAnswer::Honest,
            })),
            requests: Arc::default(),
        });
        if let Some(lemmy) = &lemmy {
            router = router.merge(lemmy_routes(lemmy.clone()));
        }
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        // One key pair shared by the stand-in's actors keeps tests fast.
        let keys = tokio::task::spawn_blocking(generate_actor_keys)
            .await
            .unwrap()
            .unwrap();
        Self {
            base,
            objects,
            seen,
            keys,
            lemmy,
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

/// How the comment list of a stand-in Lemmy ([`StandIn::lemmy`]) answers.
#[derive(Debug, Clone)]
pub enum LemmyAnswer {
    /// The comments given with [`StandIn::set_comments`], paged as Lemmy pages them.
    Honest,
    /// A full page of comments never seen before on every page, and always a next page.
    Endless,
    /// This body, with status 200 and a JSON content type, whatever is asked.
    Raw(String),
}

struct LemmyState {
    version: String,
    comments: HashMap<u64, Vec<String>>,
    answer: LemmyAnswer,
}

#[derive(Clone)]
struct LemmyShared {
    base: String,
    state: Arc<Mutex<LemmyState>>,
    requests: Arc<Mutex<Vec<String>>>,
}

/// Lemmy's most comments per page; it refuses a larger `limit`.
pub const LEMMY_PAGE_LIMIT: usize = 50;

fn lemmy_json(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn lemmy_view(post_id: u64, index: usize, ap_id: &str) -> Value {
    json!({
        "comment": {"id": index + 1, "ap_id": ap_id, "content": format!("comment {index}"),
                    "post_id": post_id, "path": format!("0.{}", index + 1), "local": true},
        "creator": {"id": 1, "name": "someone"},
        "post": {"id": post_id},
        "counts": {"score": 1, "child_count": 0},
    })
}

async fn lemmy_comment_list(
    State(shared): State<LemmyShared>,
    uri: axum::http::Uri,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    shared.requests.lock().unwrap().push(uri.to_string());
    let v4 = uri.path().starts_with("/api/v4/");
    let (version, answer, comments) = {
        let state = shared.state.lock().unwrap();
        let post = q.get("post_id").and_then(|p| p.parse::<u64>().ok());
        (
            state.version.clone(),
            state.answer.clone(),
            post.map(|p| (p, state.comments.get(&p).cloned().unwrap_or_default())),
        )
    };
    // Lemmy serves v4 from 1.0 on; this stand-in serves exactly one of the two.
    let serves_v4 = !version.starts_with("0.");
    if v4 != serves_v4 {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Some((post_id, comments)) = comments else {
        return (StatusCode::BAD_REQUEST, r#"{"error":"not_found"}"#).into_response();
    };
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(10);
    if limit > LEMMY_PAGE_LIMIT {
        return (
            StatusCode::BAD_REQUEST,
            r#"{"error":"couldnt_parse_pagination_token"}"#,
        )
            .into_response();
    }
    // Where the page starts: a page number (v3, from 1) or an opaque cursor (v4).
    let offset = if v4 {
        match q.get("page_cursor") {
            None => 0,
            Some(c) => match c.strip_prefix("after-").and_then(|n| n.parse().ok()) {
                Some(n) => n,
                None => return (StatusCode::BAD_REQUEST, "bad cursor").into_response(),
            },
        }
    } else {
        let page = q
            .get("page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(1);
        page.saturating_sub(1) * limit
    };
    let (views, more): (Vec<Value>, bool) = match answer {
        LemmyAnswer::Raw(body) => return lemmy_json(body),
        LemmyAnswer::Honest => (
            comments
                .iter()
                .enumerate()
                .skip(offset)
                .take(limit)
                .map(|(i, ap_id)| lemmy_view(post_id, i, ap_id))
                .collect(),
            offset + limit < comments.len(),
        ),
        LemmyAnswer::Endless => (
            (offset..offset + limit)
                .map(|i| lemmy_view(post_id, i, &format!("{}/comment/{i}", shared.base)))
                .collect(),
            true,
        ),
    };
    let body = if v4 {
        let mut page = json!({"items": views, "prev_page": format!("before-{offset}")});
        if more {
            page["next_page"] = json!(format!("after-{}", offset + limit));
        }
        page
    } else {
        json!({"comments": views})
    };
    lemmy_json(body.to_string())
}

/// NodeInfo naming `lemmy` and the stand-in's version, and the comment list of both APIs.
fn lemmy_routes(shared: LemmyShared) -> Router {
    let nodeinfo_base = shared.base.clone();
    let nodeinfo_state = shared.state.clone();
    Router::new()
        .route(
            "/.well-known/nodeinfo",
            get(move || async move {
                lemmy_json(
                    json!({"links": [{
                        "rel": "http://nodeinfo.diaspora.software/ns/schema/2.1",
                        "href": format!("{nodeinfo_base}/nodeinfo/2.1"),
                    }]})
                    .to_string(),
                )
            }),
        )
        .route(
            "/nodeinfo/2.1",
            get(move || async move {
                let version = nodeinfo_state.lock().unwrap().version.clone();
                lemmy_json(
                    json!({"version": "2.1", "software": {"name": "lemmy", "version": version},
                           "protocols": ["activitypub"], "openRegistrations": true})
                    .to_string(),
                )
            }),
        )
        .route("/api/v3/comment/list", get(lemmy_comment_list))
        .route("/api/v4/comment/list", get(lemmy_comment_list))
        .with_state(shared)
}

/// The Lemmy side of a stand-in started with [`StandIn::lemmy`] (these panic on any other).
impl StandIn {
    fn lemmy_part(&self) -> &LemmyShared {
        self.lemmy
            .as_ref()
            .expect("a stand-in started with StandIn::lemmy")
    }

    /// The ActivityPub id of the Lemmy's post `id` (`…/post/{id}`).
    pub fn post_ap_id(&self, id: u64) -> String {
        format!("{}/post/{id}", self.base)
    }

    /// List `ap_ids` as the comments of post `post_id` in the client API, oldest first.
    pub fn set_comments(&self, post_id: u64, ap_ids: Vec<String>) {
        self.lemmy_part()
            .state
            .lock()
            .unwrap()
            .comments
            .insert(post_id, ap_ids);
    }

    /// Answer the comment list this way from now on.
    pub fn answer(&self, answer: LemmyAnswer) {
        self.lemmy_part().state.lock().unwrap().answer = answer;
    }

    /// Path and query of every comment-list request so far, in order.
    pub fn lemmy_requests(&self) -> Vec<String> {
        self.lemmy_part().requests.lock().unwrap().clone()
    }
}
