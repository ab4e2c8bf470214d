//! Rate limits and the registration setting, through the real HTTP surface: each refusal is a
//! 429 with `Retry-After` and the API's error body, and changes nothing.

use canopy::Options;
use canopy_api::limits::{Limits, Network, Registration};
use canopy_core::rate_limit::Limit;
use canopy_testkit::standin::StandIn;
use canopy_testkit::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const PASSWORD: &str = "correct horse battery";
const HOUR: Duration = Duration::from_secs(3600);

async fn spawn(limits: Limits) -> TestApp {
    TestApp::spawn_configured(None, Options::default().with_limits(limits)).await
}

/// The node's default limits with some changed.
fn limits(change: impl FnOnce(&mut Limits)) -> Limits {
    let mut l = Limits::default();
    change(&mut l);
    l
}

/// Status, `Retry-After` (if any) and JSON body of a response.
struct Answer {
    status: StatusCode,
    retry_after: Option<u64>,
    body: Value,
}

impl Answer {
    async fn of(resp: reqwest::Response) -> Self {
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            retry_after,
            body,
        }
    }

    /// A 429 with a `Retry-After` of at least a second and at most `most`, in the API's error
    /// shape.
    fn assert_rate_limited(&self, most: Duration, what: &str) {
        assert_eq!(
            self.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{what}: {}",
            self.body
        );
        let secs = self
            .retry_after
            .unwrap_or_else(|| panic!("{what}: no Retry-After"));
        assert!(
            secs >= 1 && secs <= most.as_secs(),
            "{what}: Retry-After {secs}"
        );
        assert_eq!(self.body["error"], "rate_limited", "{what}: {}", self.body);
        assert!(
            self.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {}",
            self.body
        );
        assert_eq!(
            self.body.as_object().map(|o| o.len()),
            Some(2),
            "{what}: {}",
            self.body
        );
    }
}

/// `POST /api/v1/sessions`, optionally with an `X-Forwarded-For` header.
async fn login(app: &TestApp, name: &str, password: &str, forwarded_for: Option<&str>) -> Answer {
    let mut req = app
        .client
        .post(format!("{}/api/v1/sessions", app.base_url))
        .json(&json!({"name": name, "password": password}));
    if let Some(f) = forwarded_for {
        req = req.header("x-forwarded-for", f);
    }
    Answer::of(req.send().await.unwrap()).await
}

async fn register(app: &TestApp, name: &str) -> Answer {
    let resp = app
        .client
        .post(format!("{}/api/v1/accounts", app.base_url))
        .json(&json!({"name": name, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    Answer::of(resp).await
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

#[tokio::test]
async fn ten_failed_logins_then_429_even_with_the_right_password() {
    // The defaults: 10 failed log-ins a minute per address and per account.
    let app = TestApp::spawn_configured(None, Options::default()).await;
    app.user("alice").await;
    let sessions = count(&app, "SELECT count(*) FROM session").await;
    for i in 0..10 {
        let a = login(&app, "alice", "wrong password", None).await;
        assert_eq!(
            a.status,
            StatusCode::UNAUTHORIZED,
            "failure {i}: {}",
            a.body
        );
        assert_eq!(a.retry_after, None);
    }
    let a = login(&app, "alice", PASSWORD, None).await;
    a.assert_rate_limited(Duration::from_secs(60), "11th attempt, right password");
    assert_eq!(
        count(&app, "SELECT count(*) FROM session").await,
        sessions,
        "a refused log-in made a session"
    );
}

#[tokio::test]
async fn a_successful_login_does_not_count_as_a_failure() {
    let app = spawn(limits(|l| l.login_failures = Limit::per(3, HOUR))).await;
    app.user("alice").await;
    for _ in 0..2 {
        assert_eq!(login(&app, "alice", "nope nope", None).await.status, 401);
    }
    for _ in 0..5 {
        let a = login(&app, "alice", PASSWORD, None).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    }
    // The third failure is still only a failure; after it, even the right password is refused.
    assert_eq!(login(&app, "alice", "nope nope", None).await.status, 401);
    login(&app, "alice", PASSWORD, None)
        .await
        .assert_rate_limited(HOUR, "after the third failure");
}

#[tokio::test]
async fn guesses_sent_in_parallel_are_counted_before_the_password_is_checked() {
    let app = std::sync::Arc::new(spawn(limits(|l| l.login_failures = Limit::per(10, HOUR))).await);
    app.user("alice").await;
    let mut tasks = Vec::new();
    for i in 0..30 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            login(&app, "alice", &format!("guess number {i}"), None)
                .await
                .status
        }));
    }
    let mut checked = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((checked, refused), (10, 20));
}

#[tokio::test]
async fn failed_logins_are_limited_per_address_across_accounts() {
    let app = spawn(limits(|l| l.login_failures = Limit::per(3, HOUR))).await;
    app.user("zed").await;
    // One failure each on three accounts (existing or not) from one address.
    for name in ["alice", "bob", "carol"] {
        assert_eq!(login(&app, name, "wrong password", None).await.status, 401);
    }
    // A fourth account, with its right password, from the same address.
    let a = login(&app, "zed", PASSWORD, None).await;
    a.assert_rate_limited(HOUR, "fourth account from a spent address");
    assert!(
        a.body["message"].as_str().unwrap().contains("address"),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn failed_logins_are_limited_per_account_across_addresses_behind_a_trusted_proxy() {
    let app = spawn(limits(|l| {
        l.login_failures = Limit::per(3, HOUR);
        l.trusted_proxies = vec!["127.0.0.1".parse::<Network>().unwrap()];
    }))
    .await;
    app.user("alice").await;
    app.user("bob").await;
    // One failure for alice from each of three client addresses behind the proxy.
    for i in 1..=3 {
        let from = format!("198.51.100.77, 203.0.113.{i}");
        assert_eq!(
            login(&app, "alice", "wrong password", Some(&from))
                .await
                .status,
            401
        );
    }
    // From a fourth address, with the right password: the account is spent.
    let a = login(&app, "alice", PASSWORD, Some("203.0.113.4")).await;
    a.assert_rate_limited(HOUR, "spent account from a fresh address");
    assert!(
        a.body["message"].as_str().unwrap().contains("account"),
        "{}",
        a.body
    );
    // The proxy's clients are counted apart: each of them used one attempt of three, and the
    // refused attempt above used none, so bob logs in from 203.0.113.4 and from .1.
    for from in ["203.0.113.4", "203.0.113.1"] {
        let a = login(&app, "bob", PASSWORD, Some(from)).await;
        assert_eq!(a.status, StatusCode::OK, "bob from {from}: {}", a.body);
    }
    // The first entry was the client's own invention: it named no one.
    for _ in 0..3 {
        assert_eq!(
            login(&app, "nobody", "x", Some("198.51.100.77, 203.0.113.9"))
                .await
                .status,
            401
        );
    }
    let a = login(&app, "bob", PASSWORD, Some("198.51.100.77, 203.0.113.9")).await;
    a.assert_rate_limited(HOUR, "203.0.113.9 spent");
    let a = login(&app, "bob", PASSWORD, Some("198.51.100.77, 203.0.113.10")).await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "198.51.100.77 was never counted: {}",
        a.body
    );
}

#[tokio::test]
async fn an_untrusted_forwarded_for_header_cannot_dodge_the_limit() {
    // The proxy the operator trusts is elsewhere: this test's requests come from an untrusted
    // peer, so whatever they write in X-Forwarded-For or Forwarded is ignored.
    let app = spawn(limits(|l| {
        l.login_failures = Limit::per(3, HOUR);
        l.trusted_proxies = vec!["192.0.2.1".parse::<Network>().unwrap()];
    }))
    .await;
    app.user("alice").await;
    for i in 0..3 {
        // A fresh address and a fresh account name each time.
        let a = login(
            &app,
            &format!("victim{i}"),
            "guess",
            Some(&format!("192.0.2.1, 203.0.113.{i}")),
        )
        .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    }
    let resp = app
        .client
        .post(format!("{}/api/v1/sessions", app.base_url))
        .header("x-forwarded-for", "203.0.113.200")
        .header("forwarded", "for=203.0.113.201")
        .json(&json!({"name": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    Answer::of(resp)
        .await
        .assert_rate_limited(HOUR, "rotated headers from one peer");
}

#[tokio::test]
async fn registrations_are_limited_per_address() {
    let app = spawn(limits(|l| l.registrations = Limit::per(2, HOUR))).await;
    for name in ["first", "second"] {
        let a = register(&app, name).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    }
    register(&app, "third")
        .await
        .assert_rate_limited(HOUR, "third registration");
    assert_eq!(count(&app, "SELECT count(*) FROM person").await, 2);
}

#[tokio::test]
async fn resolve_is_limited_per_address_and_a_refusal_fetches_nothing() {
    let app = spawn(limits(|l| l.resolve = Limit::per(2, HOUR))).await;
    let standin = StandIn::start().await;
    let people: Vec<String> = ["p1", "p2", "p3"]
        .iter()
        .map(|n| standin.person(n))
        .collect();
    let resolve = |url: String| {
        let req = app
            .client
            .get(format!("{}/api/v1/resolve", app.base_url))
            .query(&[("q", url)]);
        async move { Answer::of(req.send().await.unwrap()).await }
    };
    for p in &people[..2] {
        let a = resolve(p.clone()).await;
        assert_eq!(a.status, StatusCode::OK, "{p}: {}", a.body);
    }
    let fetches = standin.seen.lock().unwrap().len();
    resolve(people[2].clone())
        .await
        .assert_rate_limited(HOUR, "third resolve");
    assert_eq!(
        standin.seen.lock().unwrap().len(),
        fetches,
        "a refused resolve fetched something"
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM person WHERE NOT local").await,
        2
    );
}

#[tokio::test]
async fn writes_are_limited_per_account() {
    let app = spawn(limits(|l| l.writes = Limit::per(3, HOUR))).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    // Three writes: a community, a post, a vote.
    let post = app.community_with_post(&alice, "limited").await;
    let (s, b) = app
        .post(
            &format!("/api/v1/posts/{post}/vote"),
            Some(&alice),
            json!({"score": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // The fourth, a comment, is refused and not stored.
    let resp = app
        .client
        .post(format!("{}/api/v1/comments", app.base_url))
        .bearer_auth(&alice)
        .json(&json!({"post_id": post, "content": "one too many"}))
        .send()
        .await
        .unwrap();
    Answer::of(resp)
        .await
        .assert_rate_limited(HOUR, "fourth write");
    assert_eq!(count(&app, "SELECT count(*) FROM comment").await, 0);
    // So is an edit, and so is a delete.
    let (s, b) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/posts/{post}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{b}");
    assert_eq!(
        count(&app, "SELECT count(*) FROM post WHERE deleted").await,
        0
    );
    // Reads still work, and another account writes as usual.
    let (s, _) = app
        .get(&format!("/api/v1/posts/{post}"), Some(&alice))
        .await;
    assert_eq!(s, StatusCode::OK);
    app.comment(&bob, post, None, "bob's turn").await;
}

/// A Create(Note) by `actor` (on the stand-in `base`) replying to `post`.
fn reply(base: &str, actor: &str, n: usize, post: &str) -> Value {
    json!({"@context": "https://www.w3.org/ns/activitystreams",
           "id": format!("{base}/activities/{n}"), "type": "Create", "actor": actor,
           "to": ["https://www.w3.org/ns/activitystreams#Public"],
           "object": {"id": format!("{base}/notes/{n}"), "type": "Note", "attributedTo": actor,
                      "inReplyTo": post, "content": format!("reply {n}"),
                      "published": "2026-11-01T10:00:00Z",
                      "to": ["https://www.w3.org/ns/activitystreams#Public"]}})
}

/// Sign `activity` as its actor on `standin` and POST it to the node's shared inbox.
async fn deliver(app: &TestApp, standin: &StandIn, activity: &Value) -> Answer {
    let inbox = format!("{}/inbox", app.base_url);
    let body = serde_json::to_vec(activity).unwrap();
    let actor = activity["actor"].as_str().unwrap();
    let headers = standin.sign(&format!("{actor}#main-key"), &inbox, &body);
    let resp = app
        .client
        .post(&inbox)
        .headers(headers)
        .header("content-type", "application/activity+json")
        .body(body)
        .send()
        .await
        .unwrap();
    Answer::of(resp).await
}

#[tokio::test]
async fn the_inbox_is_limited_per_remote_instance_after_the_signature_is_verified() {
    let app = spawn(limits(|l| l.inbox = Limit::per(2, HOUR))).await;
    let alice = app.user("alice").await;
    let post = app.community_with_post(&alice, "busy").await;
    let (_, p) = app.get(&format!("/api/v1/posts/{post}"), None).await;
    let post_ap = p["ap_id"].as_str().unwrap().to_string();
    let loud = StandIn::start().await;
    let quiet = StandIn::start().await;
    let (l1, l2) = (loud.person("l1"), loud.person("l2"));
    let q1 = quiet.person("q1");

    // Forged traffic in the quiet instance's name fails its signature check and spends none
    // of the quiet instance's allowance: the body is not the one that was signed.
    for n in 0..3 {
        let signed = serde_json::to_vec(&reply(&quiet.base, &q1, 100 + n, &post_ap)).unwrap();
        let inbox = format!("{}/inbox", app.base_url);
        let headers = quiet.sign(&format!("{q1}#main-key"), &inbox, &signed);
        let forged = serde_json::to_vec(&reply(&quiet.base, &q1, 200 + n, &post_ap)).unwrap();
        let resp = app
            .client
            .post(&inbox)
            .headers(headers)
            .header("content-type", "application/activity+json")
            .body(forged)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }

    // Two activities from the loud instance (two actors, one instance) are accepted.
    for (n, actor) in [(1, &l1), (2, &l2)] {
        let a = deliver(&app, &loud, &reply(&loud.base, actor, n, &post_ap)).await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    }
    // The third is refused: nothing stored, and not remembered as received, so the sender's
    // retry after Retry-After is processed.
    let third = reply(&loud.base, &l1, 3, &post_ap);
    deliver(&app, &loud, &third)
        .await
        .assert_rate_limited(HOUR, "third activity of one instance");
    assert_eq!(
        count(&app, "SELECT count(*) FROM comment WHERE NOT local").await,
        2
    );
    let remembered: i64 =
        sqlx::query_scalar("SELECT count(*) FROM received_activity WHERE ap_id = $1")
            .bind(third["id"].as_str().unwrap())
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(remembered, 0);

    // Another instance has its own allowance, untouched by the forgeries.
    for n in 1..=2 {
        let a = deliver(&app, &quiet, &reply(&quiet.base, &q1, n, &post_ap)).await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    }
}

#[tokio::test]
async fn registration_closed_refuses_new_accounts_with_403() {
    let app = spawn(limits(|l| l.registration = Registration::Closed)).await;
    let a = register(&app, "newcomer").await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert_eq!(a.body["error"], "registration_closed");
    assert!(a.body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(count(&app, "SELECT count(*) FROM person").await, 0);
}
