//! The outbound policy, attacked through the real API and inbox: a node in production policy
//! (with one narrow exception, 127.0.0.1/32, for the tests' own peers) is asked to reach a
//! trap listener on 127.0.0.2 by address, by handle, by a name in its host table, by redirect
//! and as a follower's inbox; the trap counts connections and must see none. Peers that send
//! endless or oversized bodies, or never answer, are cut off. A development node federates on
//! loopback under a test host name, whatever the build.

use canopy_federation::outbound::Settings;
use canopy_testkit::standin::StandIn;
use canopy_testkit::{fast_worker_config, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A listener on a loopback address the policy refuses; it counts the connections it accepts.
struct Trap {
    port: u16,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Trap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Trap {
    async fn start(ip: &str) -> Self {
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            while let Ok((_socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
            }
        });
        Self {
            port,
            accepted,
            task,
        }
    }

    fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// What a [`Peer`] does with each request.
#[derive(Clone)]
enum Behaviour {
    /// Answer 307 with this `Location`.
    Redirect(String),
    /// Send a chunked JSON-typed body that never ends.
    Endless,
    /// Send a complete JSON-typed body of this many bytes.
    Oversized(usize),
    /// Read the request, then say nothing and keep the connection open.
    Silent,
}

/// A hand-written HTTP server on 127.0.0.1 (allowed to the test nodes), for answers no real
/// server would give.
struct Peer {
    port: u16,
    requests: Arc<AtomicUsize>,
    /// Bytes of body written by endless answers, and how many are still being written.
    written: Arc<AtomicUsize>,
    streaming: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Peer {
    async fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let written = Arc::new(AtomicUsize::new(0));
        let streaming = Arc::new(AtomicUsize::new(0));
        let (r, w, s) = (requests.clone(), written.clone(), streaming.clone());
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (behaviour, r, w, s) = (behaviour.clone(), r.clone(), w.clone(), s.clone());
                tokio::spawn(async move { answer(socket, behaviour, &r, &w, &s).await });
            }
        });
        Self {
            port,
            requests,
            written,
            streaming,
            task,
        }
    }

    fn authority(&self) -> String {
        format!("localhost:{}", self.port)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn answer(
    mut socket: TcpStream,
    behaviour: Behaviour,
    requests: &AtomicUsize,
    written: &AtomicUsize,
    streaming: &AtomicUsize,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    requests.fetch_add(1, Ordering::SeqCst);
    const JSON: &str = "application/activity+json";
    match behaviour {
        Behaviour::Redirect(location) => {
            let reply = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = socket.write_all(reply.as_bytes()).await;
        }
        Behaviour::Endless => {
            let headers = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {JSON}\r\nTransfer-Encoding: chunked\r\n\r\n"
            );
            if socket.write_all(headers.as_bytes()).await.is_err() {
                return;
            }
            let chunk = format!("4000\r\n{}\r\n", " ".repeat(0x4000));
            streaming.fetch_add(1, Ordering::SeqCst);
            if socket.write_all(b"1\r\n[\r\n").await.is_ok() {
                while socket.write_all(chunk.as_bytes()).await.is_ok() {
                    written.fetch_add(0x4000, Ordering::SeqCst);
                }
            }
            streaming.fetch_sub(1, Ordering::SeqCst);
        }
        Behaviour::Oversized(size) => {
            let body = format!("[{}]", " ".repeat(size));
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {JSON}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(reply.as_bytes()).await;
        }
        Behaviour::Silent => {
            // Hold the connection until the client gives up.
            let _ = socket.read(&mut buf).await;
        }
    }
}

/// Settings of a node in production policy whose only exception is the tests' own peers on
/// 127.0.0.1 (the traps listen on 127.0.0.2).
fn production(hosts: &[(&str, &str)]) -> Settings {
    Settings {
        allow_private_addresses: Some(false),
        allowed_networks: vec!["127.0.0.1/32".parse().unwrap()],
        hosts: hosts
            .iter()
            .map(|(name, ip)| (name.to_string(), ip.parse::<IpAddr>().unwrap()))
            .collect::<BTreeMap<_, _>>(),
        ..Settings::default()
    }
}

async fn node(outbound: Settings) -> TestApp {
    TestApp::spawn_configured(
        Some(fast_worker_config()),
        canopy::Options {
            outbound,
            ..canopy_testkit::unlimited()
        },
    )
    .await
}

/// `GET /api/v1/resolve?q=…`.
async fn resolve(app: &TestApp, q: &str) -> (StatusCode, Value) {
    let url =
        reqwest::Url::parse_with_params(&format!("{}/api/v1/resolve", app.base_url), &[("q", q)])
            .unwrap();
    let response = app.client.get(url).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Assert a refusal: 422 whose message names `cause`.
fn assert_refused(q: &str, (status, body): &(StatusCode, Value), cause: &str) {
    assert_eq!(*status, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(cause), "{q}: {message:?} lacks {cause:?}");
    assert!(
        message.contains("refused (set allow_private_addresses for development)"),
        "{q}: {message}"
    );
}

#[tokio::test]
async fn resolve_by_handle_or_url_at_a_refused_address_never_connects() {
    let app = node(production(&[])).await;
    let trap = Trap::start("127.0.0.2").await;
    let port = trap.port;
    for (q, cause) in [
        (
            format!("x@127.0.0.2:{port}"),
            "127.0.0.2 is a loopback address",
        ),
        (
            format!("x@[::ffff:127.0.0.2]:{port}"),
            "is a loopback address",
        ),
        (
            format!("http://127.0.0.2:{port}/u/x"),
            "127.0.0.2 is a loopback address",
        ),
        (
            format!("http://[::ffff:7f00:2]:{port}/u/x"),
            "is a loopback address",
        ),
        // The same address written as one number.
        (
            format!("http://2130706434:{port}/u/x"),
            "127.0.0.2 is a loopback address",
        ),
        (
            "x@169.254.169.254".to_string(),
            "169.254.169.254 is a link-local address",
        ),
        (
            "http://169.254.169.254/latest/meta-data/".to_string(),
            "169.254.169.254 is a link-local address",
        ),
        ("x@10.0.0.1".to_string(), "10.0.0.1 is a private address"),
        ("x@100.64.0.1".to_string(), "100.64.0.1 is a shared"),
        ("x@[fc00::1]".to_string(), "is a unique local (ULA) address"),
        ("x@[::1]".to_string(), "[::1] is a loopback address"),
        ("x@0.0.0.0".to_string(), "0.0.0.0 is an unspecified address"),
    ] {
        let answer = resolve(&app, &q).await;
        assert_refused(&q, &answer, cause);
    }
    assert_eq!(trap.connections(), 0);
}

#[tokio::test]
async fn localhost_by_name_is_refused_in_production() {
    // No exception at all: the plain production policy.
    let app = node(Settings {
        allow_private_addresses: Some(false),
        ..Settings::default()
    })
    .await;
    let trap = Trap::start("127.0.0.1").await;
    let q = format!("x@localhost:{}", trap.port);
    let answer = resolve(&app, &q).await;
    assert_refused(&q, &answer, "localhost resolves to ");
    assert!(answer.1["message"]
        .as_str()
        .unwrap()
        .contains("a loopback address"));
    assert_eq!(trap.connections(), 0);
}

#[tokio::test]
async fn a_name_the_host_table_points_at_a_trap_is_refused_when_connecting() {
    let app = node(production(&[("trap.test", "127.0.0.2")])).await;
    let trap = Trap::start("127.0.0.2").await;
    let port = trap.port;
    for q in [
        format!("x@trap.test:{port}"),
        format!("x@TRAP.test.:{port}"),
        format!("http://trap.test:{port}/u/x"),
    ] {
        let answer = resolve(&app, &q).await;
        assert_refused(
            &q,
            &answer,
            "trap.test resolves to 127.0.0.2, a loopback address",
        );
    }
    assert_eq!(trap.connections(), 0);
}

#[tokio::test]
async fn a_redirect_from_an_allowed_peer_to_a_trap_address_is_refused() {
    let app = node(production(&[])).await;
    let trap = Trap::start("127.0.0.2").await;

    // The allowed peer is reachable: a real actor on it resolves.
    let peer = StandIn::start().await;
    let alice = peer.person("alice");
    let (status, body) = resolve(&app, &alice).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["kind"], "user");

    let redirecting = Peer::start(Behaviour::Redirect(format!(
        "http://127.0.0.2:{}/u/x",
        trap.port
    )))
    .await;
    let from = redirecting.authority();
    // A WebFinger lookup: the outbound client follows redirects itself, checking each target.
    let q = format!("x@{from}");
    let answer = resolve(&app, &q).await;
    assert_refused(&q, &answer, "127.0.0.2 is a loopback address");
    // An object fetch: activitypub_federation follows one redirect, and refuses an address as
    // host before our client is asked (the next test redirects to a name).
    let q = format!("http://{from}/u/x");
    let (status, body) = resolve(&app, &q).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {body}");
    assert_eq!(
        redirecting.requests(),
        2,
        "the peer was asked and redirected"
    );
    assert_eq!(trap.connections(), 0);
}

#[tokio::test]
async fn a_redirect_to_a_name_of_a_trap_names_the_refused_address() {
    let app = node(production(&[("trap.test", "127.0.0.2")])).await;
    let trap = Trap::start("127.0.0.2").await;
    let redirecting = Peer::start(Behaviour::Redirect(format!(
        "http://trap.test:{}/u/x",
        trap.port
    )))
    .await;
    let from = redirecting.authority();
    for q in [format!("http://{from}/u/x"), format!("x@{from}")] {
        let answer = resolve(&app, &q).await;
        assert_refused(
            &q,
            &answer,
            "trap.test resolves to 127.0.0.2, a loopback address",
        );
    }
    assert_eq!(redirecting.requests(), 2);
    assert_eq!(trap.connections(), 0);
}

/// Deliveries to `inbox` and their states and errors, once none is pending any more.
async fn settled_deliveries(app: &TestApp, inbox: &str, at_least: usize) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows: Vec<(String, Option<String>, i32)> = sqlx::query_as(
            "SELECT state, last_error, attempts FROM delivery WHERE inbox_url = $1 ORDER BY id",
        )
        .bind(inbox)
        .fetch_all(&app.db)
        .await
        .unwrap();
        if rows.len() >= at_least && rows.iter().all(|(state, _, _)| state != "pending") {
            for (_, _, attempts) in &rows {
                assert_eq!(*attempts, 1, "a refused delivery is not retried: {rows:?}");
            }
            return rows
                .into_iter()
                .map(|(state, error, _)| (state, error.unwrap_or_default()))
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "deliveries to {inbox} did not settle: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_follower_declaring_an_inbox_at_a_refused_address_gets_nothing_and_the_delivery_fails_naming_why(
) {
    let app = node(production(&[])).await;
    let trap = Trap::start("127.0.0.2").await;
    let alice = app.user("alice").await;
    let (status, c) = app
        .post(
            "/api/v1/communities",
            Some(&alice),
            json!({"name": "town", "title": "Town"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let community = format!("{}/c/town", app.public_url);

    // Two remote followers on an allowed peer, declaring inboxes elsewhere: the trap, and a
    // private address (no listener can count there; the delivery must fail without trying).
    // First defence: an actor whose inbox is off its own host is not stored, so its Follow is
    // refused.
    let peer = StandIn::start().await;
    let inboxes = [
        format!("http://127.0.0.2:{}/inbox", trap.port),
        "http://10.255.255.1:9/inbox".to_string(),
    ];
    for (n, inbox) in inboxes.iter().enumerate() {
        let path = format!("/users/mole{n}");
        let id = format!("{}{path}", peer.base);
        peer.put(
            &path,
            json!({
                "id": id, "type": "Person", "preferredUsername": format!("mole{n}"),
                "inbox": inbox,
                "publicKey": {"id": format!("{id}#main-key"), "owner": id,
                              "publicKeyPem": peer.public_key_pem()},
            }),
        );
        let follow = json!({"id": format!("{}/follows/{n}", peer.base), "type": "Follow",
                            "actor": id, "object": community});
        let (status, text) = peer
            .deliver(&format!("{}/c/town/inbox", app.base_url), &follow)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
        assert!(text.contains("on another host than the actor"), "{text}");
    }
    // Second defence: followers at those addresses that are stored anyway (an actor on such a
    // host itself, or rows from before the first rule) get deliveries that never connect.
    app.remote_followers("town", &inboxes).await;

    let (status, _) = app
        .post(
            "/api/v1/posts",
            Some(&alice),
            json!({"community_id": c["id"], "title": "Market day"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    for (inbox, cause) in [
        (&inboxes[0], "127.0.0.2 is a loopback address"),
        (&inboxes[1], "10.255.255.1 is a private address"),
    ] {
        // The Announce of the post.
        let rows = settled_deliveries(&app, inbox, 1).await;
        for (state, error) in rows {
            assert_eq!(state, "failed", "{inbox}: {error}");
            assert!(error.contains(cause), "{inbox}: {error}");
        }
    }
    assert_eq!(trap.connections(), 0);
}

#[tokio::test]
async fn endless_and_oversized_bodies_are_cut_at_the_limit() {
    let app = node(production(&[])).await;

    let endless = Peer::start(Behaviour::Endless).await;
    let from = endless.authority();
    for q in [format!("http://{from}/u/x"), format!("x@{from}")] {
        let (status, body) = resolve(&app, &q).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("sent more than 1048576 bytes"),
            "{q}: {body}"
        );
    }
    // The node hung up: the peer's writes failed and it stopped, having sent little more than
    // the limit (socket buffers hold some).
    let deadline = Instant::now() + Duration::from_secs(10);
    while endless.streaming.load(Ordering::SeqCst) > 0 {
        assert!(Instant::now() < deadline, "the endless body is still read");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let written = endless.written.load(Ordering::SeqCst);
    assert!(written < 2 * 8 * 1024 * 1024, "{written} bytes were sent");

    let oversized = Peer::start(Behaviour::Oversized(2 * 1024 * 1024)).await;
    let from = oversized.authority();
    for q in [format!("http://{from}/u/x"), format!("x@{from}")] {
        let (status, body) = resolve(&app, &q).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("sent more than 1048576 bytes"),
            "{q}: {body}"
        );
    }
    // The node still serves.
    let (status, _) = app.get("/api/v1/health", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_peer_that_never_answers_is_given_up_after_the_timeout() {
    let app = node(Settings {
        timeout: Duration::from_millis(500),
        ..production(&[])
    })
    .await;
    let silent = Peer::start(Behaviour::Silent).await;
    let from = silent.authority();
    for q in [format!("http://{from}/u/x"), format!("x@{from}")] {
        let (status, body) = resolve(&app, &q).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("did not answer within 500ms"),
            "{q}: {body}"
        );
    }
    assert_eq!(silent.requests(), 2);
}

#[tokio::test]
async fn a_development_node_federates_with_a_loopback_peer_under_a_test_host_name() {
    // Development mode (http public URL, private addresses allowed by default) with a host
    // table: only the node's own client knows `peer.test`, so this passes only if every fetch
    // (WebFinger and activitypub_federation's) goes through it. It does not depend on the
    // build: activitypub_federation's own client refuses loopback in release builds.
    let peer = StandIn::start().await;
    let port = peer
        .base
        .rsplit(':')
        .next()
        .unwrap()
        .parse::<u16>()
        .unwrap();
    let app = node(Settings {
        hosts: [("peer.test".to_string(), "127.0.0.1".parse().unwrap())].into(),
        ..Settings::default()
    })
    .await;
    let authority = format!("peer.test:{port}");
    let id = format!("http://{authority}/users/bob");
    peer.put(
        "/users/bob",
        json!({
            "id": id, "type": "Person", "preferredUsername": "bob",
            "inbox": format!("{id}/inbox"),
            "publicKey": {"id": format!("{id}#main-key"), "owner": id,
                          "publicKeyPem": peer.public_key_pem()},
        }),
    );
    peer.put(
        "/.well-known/webfinger",
        json!({"subject": format!("acct:bob@{authority}"),
               "links": [{"rel": "self", "type": "application/activity+json", "href": id}]}),
    );
    let (status, body) = resolve(&app, &format!("bob@{authority}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["kind"], "user");
    assert_eq!(body["user"]["handle"], format!("bob@{authority}"));
}
