//! The delivery worker's POSTs checked by an independent verifier: activitypub_federation's
//! own inbox path (`receive_activity`: the body against `Digest`, the actor fetched over HTTP,
//! the draft-cavage signature checked by http-signature-normalization and the `rsa` crate), so
//! none of our signature code takes part on the receiving side.

use activitypub_federation::axum::inbox::{receive_activity, ActivityData};
use activitypub_federation::config::{Data, FederationConfig};
use activitypub_federation::protocol::public_key::PublicKey;
use activitypub_federation::protocol::verification::verify_domains_match;
use activitypub_federation::traits::{Activity, Actor, Object};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use canopy_db::outbox::{self, NewActivity, Signer};
use canopy_testkit::{fast_worker_config, TestApp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use url::Url;

/// Why the verifier refused a request.
#[derive(Debug)]
struct Refused(String);

impl From<activitypub_federation::error::Error> for Refused {
    fn from(e: activitypub_federation::error::Error) -> Self {
        Self(e.to_string())
    }
}

/// The receiver's app data: activities that passed every check, as `(id, actor)`.
#[derive(Clone, Default)]
struct Accepted(Arc<Mutex<Vec<(String, String)>>>);

/// The parts of an actor document the verifier needs.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct ActorDocument {
    id: Url,
    inbox: Url,
    public_key: PublicKey,
}

/// A sending actor, always fetched over HTTP (nothing is stored).
#[derive(Debug, Clone)]
struct Sender(ActorDocument);

#[async_trait::async_trait]
impl Object for Sender {
    type DataType = Accepted;
    type Kind = ActorDocument;
    type Error = Refused;

    fn id(&self) -> &Url {
        &self.0.id
    }

    async fn read_from_id(_id: Url, _data: &Data<Accepted>) -> Result<Option<Self>, Refused> {
        Ok(None)
    }

    async fn into_json(self, _data: &Data<Accepted>) -> Result<ActorDocument, Refused> {
        Ok(self.0)
    }

    async fn verify(
        json: &ActorDocument,
        expected_domain: &Url,
        _data: &Data<Accepted>,
    ) -> Result<(), Refused> {
        verify_domains_match(&json.id, expected_domain)?;
        Ok(())
    }

    async fn from_json(json: ActorDocument, _data: &Data<Accepted>) -> Result<Self, Refused> {
        Ok(Self(json))
    }
}

impl Actor for Sender {
    fn public_key_pem(&self) -> &str {
        &self.0.public_key.public_key_pem
    }

    fn private_key_pem(&self) -> Option<String> {
        None
    }

    fn inbox(&self) -> Url {
        self.0.inbox.clone()
    }
}

/// Any activity; the library checks it, the test only records it.
#[derive(Debug, Deserialize)]
struct AnyActivity {
    id: Url,
    actor: Url,
}

#[async_trait::async_trait]
impl Activity for AnyActivity {
    type DataType = Accepted;
    type Error = Refused;

    fn id(&self) -> &Url {
        &self.id
    }

    fn actor(&self) -> &Url {
        &self.actor
    }

    async fn verify(&self, _data: &Data<Accepted>) -> Result<(), Refused> {
        Ok(())
    }

    async fn receive(self, data: &Data<Accepted>) -> Result<(), Refused> {
        data.0
            .lock()
            .unwrap()
            .push((self.id.to_string(), self.actor.to_string()));
        Ok(())
    }
}

/// What the verifying inbox saw.
#[derive(Clone)]
struct Inbox {
    config: FederationConfig<Accepted>,
    /// Every request as it arrived.
    requests: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    refused: Arc<Mutex<Vec<String>>>,
}

async fn inbox(State(s): State<Inbox>, request: Request) -> StatusCode {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    s.requests
        .lock()
        .unwrap()
        .push((parts.headers.clone(), body.clone()));
    let request = Request::from_parts(parts, axum::body::Body::from(body));
    let Ok(activity) = ActivityData::from_request(request, &()).await else {
        return StatusCode::BAD_REQUEST;
    };
    let data = s.config.to_request_data();
    match receive_activity::<AnyActivity, Sender, Accepted>(activity, &data).await {
        Ok(()) => StatusCode::ACCEPTED,
        Err(Refused(why)) => {
            s.refused.lock().unwrap().push(why);
            StatusCode::UNAUTHORIZED
        }
    }
}

/// A loopback instance whose `/u/{name}/inbox` accepts only what activitypub_federation
/// verifies. Returns its authority, the state and the accepted activities.
async fn verifying_inbox() -> (String, Inbox, Accepted) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authority = format!("localhost:{}", listener.local_addr().unwrap().port());
    let accepted = Accepted::default();
    let config = FederationConfig::builder()
        .domain(authority.clone())
        .app_data(accepted.clone())
        .debug(true)
        .build()
        .await
        .unwrap();
    let state = Inbox {
        config,
        requests: Arc::default(),
        refused: Arc::default(),
    };
    let router = Router::new()
        .route("/u/{name}/inbox", post(inbox))
        .with_state(state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (authority, state, accepted)
}

/// `keyId`, `algorithm` and the signed header names of a `Signature` header.
fn signature_params(headers: &HeaderMap) -> (String, String, Vec<String>) {
    let value = headers["signature"].to_str().unwrap();
    let param = |name: &str| {
        let start = value.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        let len = value[start..].find('"').unwrap();
        value[start..start + len].to_string()
    };
    let signed = param("headers")
        .split(' ')
        .map(str::to_ascii_lowercase)
        .collect();
    (param("keyId"), param("algorithm"), signed)
}

#[tokio::test]
async fn outgoing_posts_pass_activitypub_federations_own_digest_and_signature_checks() {
    let app = TestApp::spawn_with_worker(Some(fast_worker_config())).await;
    let token = app.user("alice").await;
    let (s, c) = app
        .post(
            "/api/v1/communities",
            Some(&token),
            json!({"name": "town", "title": "Town"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let (authority, inbox, accepted) = verifying_inbox().await;
    let inbox_url = format!("http://{authority}/u/watcher/inbox");
    app.remote_followers("town", std::slice::from_ref(&inbox_url))
        .await;

    // Signed by the community: the Announce of a new post, through the API.
    let (s, p) = app
        .post(
            "/api/v1/posts",
            Some(&token),
            json!({"community_id": c["id"], "title": "Market day", "body": "Stalls from *eight*."}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    // Signed by a person: an activity of alice's straight into the outbox.
    let alice = canopy_db::people::local_by_name(&app.db, "alice")
        .await
        .unwrap();
    let note = format!(
        "{}/activities/{:032x}",
        app.public_url,
        rand::random::<u128>()
    );
    let payload = json!({"id": note, "type": "Create", "actor": alice.ap_id,
                         "object": {"type": "Note", "content": "ünïcode & <b>markup</b>"}});
    let mut conn = app.db.acquire().await.unwrap();
    outbox::enqueue(
        &mut conn,
        &NewActivity {
            ap_id: &note,
            kind: "Create",
            object_ap_id: None,
            actor_ap_id: &alice.ap_id,
            signer: Signer::Person(alice.id),
            payload: &payload,
        },
        &[(inbox_url.clone(), authority.clone())],
    )
    .await
    .unwrap();
    drop(conn);

    let deadline = Instant::now() + Duration::from_secs(20);
    while accepted.0.lock().unwrap().len() + inbox.refused.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "two deliveries did not arrive");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        inbox.refused.lock().unwrap().is_empty(),
        "refused: {:?}",
        inbox.refused.lock().unwrap()
    );
    let mut actors: Vec<String> = accepted
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(_, a)| a.clone())
        .collect();
    actors.sort();
    assert_eq!(
        actors,
        [
            format!("{}/c/town", app.public_url),
            format!("{}/u/alice", app.public_url)
        ]
    );
    assert!(accepted.0.lock().unwrap().iter().any(|(id, _)| id == &note));

    // The headers Mastodon requires are signed, with the actor's main key, and the digest is
    // the body's.
    let requests = inbox.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    for (headers, body) in &requests {
        let activity: Value = serde_json::from_slice(body).unwrap();
        let (key_id, algorithm, signed) = signature_params(headers);
        assert_eq!(
            key_id,
            format!("{}#main-key", activity["actor"].as_str().unwrap())
        );
        assert!(
            algorithm == "rsa-sha256" || algorithm == "hs2019",
            "{algorithm}"
        );
        for required in ["(request-target)", "host", "date", "digest"] {
            assert!(
                signed.iter().any(|h| h == required),
                "{required} is not signed: {signed:?}"
            );
        }
        assert_eq!(headers["host"], authority.as_str());
        assert_eq!(
            headers["digest"].to_str().unwrap(),
            format!("SHA-256={}", BASE64.encode(Sha256::digest(body)))
        );
    }

    // The verifier is no rubber stamp: the same request replayed passes, a changed body fails
    // on its digest, and a changed body with a matching digest fails on the signature.
    let (headers, body) = requests
        .iter()
        .find(|(_, b)| String::from_utf8_lossy(b).contains("Market day"))
        .unwrap()
        .clone();
    let replay = |headers: HeaderMap, body: Vec<u8>| {
        let url = inbox_url.clone();
        async move {
            let mut headers = headers;
            headers.remove("content-length");
            reqwest::Client::new()
                .post(url)
                .headers(headers)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(
        replay(headers.clone(), body.to_vec()).await,
        StatusCode::ACCEPTED
    );
    let mut changed = body.to_vec();
    let at = changed.windows(6).position(|w| w == b"Market").unwrap();
    changed[at] = b'N';
    assert_eq!(
        replay(headers.clone(), changed.clone()).await,
        StatusCode::UNAUTHORIZED
    );
    let mut redigested = headers.clone();
    redigested.insert(
        "digest",
        format!("SHA-256={}", BASE64.encode(Sha256::digest(&changed)))
            .parse()
            .unwrap(),
    );
    assert_eq!(replay(redigested, changed).await, StatusCode::UNAUTHORIZED);
    let refused = inbox.refused.lock().unwrap().clone();
    assert_eq!(refused.len(), 2, "{refused:?}");
}
