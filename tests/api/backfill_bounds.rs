//! Backfill cannot be turned into an attack: what a thread's collections list is only a list of
//! ids to fetch from their own hosts (an embedded object is taken only from its own host), pages
//! stay on the collection's host, a page seen twice ends the walk, and items, requests and time
//! are bounded however many items a collection claims or however slowly they answer.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use canopy_federation::backfill::Settings as BackfillSettings;
use canopy_testkit::standin::StandIn;
use canopy_testkit::{unlimited, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

async fn node(backfill: BackfillSettings) -> (TestApp, String) {
    let options = canopy::Options {
        // Only the resyncs the tests ask for run: each report then covers all that was done.
        backfill: Some(BackfillSettings {
            automatic: false,
            ..backfill
        }),
        ..unlimited()
    };
    let app = TestApp::spawn_configured(None, options).await;
    let token = app.admin("root").await;
    (app, token)
}

async fn resync(app: &TestApp, token: &str, url: &str) -> Value {
    let (s, r) = app
        .post("/api/v1/admin/resync", Some(token), json!({"url": url}))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    r
}

async fn know_group(app: &TestApp, group: &str) {
    let (s, r) = app.get(&format!("/api/v1/resolve?q={group}"), None).await;
    assert_eq!(s, StatusCode::OK, "{r}");
}

async fn stored(app: &TestApp, ap_id: &str) -> Option<String> {
    sqlx::query_as::<_, (String,)>("SELECT content FROM comment WHERE ap_id = $1")
        .bind(ap_id)
        .fetch_optional(&app.db)
        .await
        .unwrap()
        .map(|(c,)| c)
}

fn note(base: &str, path: &str, author: &str, parent: &str, text: &str) -> Value {
    json!({"id": format!("{base}{path}"), "type": "Note", "attributedTo": author,
           "inReplyTo": parent, "content": format!("<p>{text}</p>"),
           "to": ["https://www.w3.org/ns/activitystreams#Public"],
           "published": "2026-12-01T10:00:00Z"})
}

fn page(base: &str, path: &str, group: &str, author: &str, extra: Value) -> Value {
    let mut p = json!({"id": format!("{base}{path}"), "type": "Page", "attributedTo": author,
        "name": "A thread", "content": "<p>the post</p>", "audience": group,
        "to": [group, "https://www.w3.org/ns/activitystreams#Public"],
        "published": "2026-12-01T09:00:00Z"});
    p.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    p
}

#[tokio::test]
async fn collections_are_lists_of_ids_to_fetch_from_their_own_hosts() {
    let s = StandIn::start().await;
    let t = StandIn::start().await;
    let (app, token) = node(BackfillSettings::default()).await;
    let (sb, tb) = (s.base.clone(), t.base.clone());
    let group = s.group("g");
    let sam = s.person("sam");
    let tom = t.person("tom");
    know_group(&app, &group).await;

    let post = format!("{sb}/post/1");
    s.put(
        "/post/1",
        page(
            &sb,
            "/post/1",
            &group,
            &sam,
            json!({"context": format!("{sb}/ctx")}),
        ),
    );
    s.put(
        "/ctx",
        json!({"id": format!("{sb}/ctx"), "type": "OrderedCollection", "totalItems": 6,
               "first": format!("{sb}/ctx/p1")}),
    );
    // Page 1: an id to fetch; an embedded object from the page's own host (taken as it is);
    // an embedded object claiming another host's id (only an id: fetched there, where it does
    // not exist); an id whose document names another id (refused); an id on another host whose
    // own document is genuine.
    s.put("/note/1", note(&sb, "/note/1", &sam, &post, "one"));
    s.put(
        "/note/wrong",
        note(&tb, "/note/elsewhere", &tom, &post, "wrong id"),
    );
    t.put(
        "/note/genuine",
        note(&tb, "/note/genuine", &tom, &post, "genuine"),
    );
    s.put(
        "/ctx/p1",
        json!({"id": format!("{sb}/ctx/p1"), "type": "OrderedCollectionPage",
               "orderedItems": [
                   post,
                   format!("{sb}/note/1"),
                   note(&sb, "/note/2", &sam, &post, "two, embedded"),
                   note(&tb, "/note/forged", &tom, &post, "forged"),
                   format!("{sb}/note/wrong"),
                   format!("{tb}/note/genuine"),
               ],
               "next": format!("{sb}/ctx/p2")}),
    );
    // Page 2 leads back to page 1: the walk ends there.
    s.put("/note/3", note(&sb, "/note/3", &sam, &post, "three"));
    s.put(
        "/ctx/p2",
        json!({"id": format!("{sb}/ctx/p2"), "type": "OrderedCollectionPage",
               "orderedItems": [format!("{sb}/note/3")], "next": format!("{sb}/ctx/p1")}),
    );

    let r = resync(&app, &token, &post).await;
    let th = &r["threads"][0];
    assert_eq!(th["source"], "context", "{r}");
    assert_eq!(
        th["stopped"], "bad_collection",
        "the cycle ends the walk: {r}"
    );
    assert_eq!(th["comments_added"], 4, "{r}");
    assert_eq!(
        stored(&app, &format!("{sb}/note/1")).await.as_deref(),
        Some("one")
    );
    assert_eq!(
        stored(&app, &format!("{sb}/note/2")).await.as_deref(),
        Some("two, embedded")
    );
    assert_eq!(
        stored(&app, &format!("{sb}/note/3")).await.as_deref(),
        Some("three")
    );
    assert_eq!(
        stored(&app, &format!("{tb}/note/genuine")).await.as_deref(),
        Some("genuine")
    );
    // Nothing stored that was not fetched from its own id.
    assert_eq!(stored(&app, &format!("{tb}/note/forged")).await, None);
    assert_eq!(stored(&app, &format!("{tb}/note/elsewhere")).await, None);
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM comment WHERE content LIKE '%forged%'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 0);
    let asked: Vec<String> = t
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|(p, _)| p.clone())
        .collect();
    assert!(asked.contains(&"/note/forged".to_string()), "{asked:?}");
    // Each page was fetched once.
    let pages = s
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p.starts_with("/ctx/"))
        .count();
    assert_eq!(pages, 2);

    // A collection whose first page is on another host is not followed.
    let post2 = format!("{sb}/post/2");
    s.put(
        "/post/2",
        page(
            &sb,
            "/post/2",
            &group,
            &sam,
            json!({"context": format!("{sb}/ctx2")}),
        ),
    );
    s.put(
        "/ctx2",
        json!({"id": format!("{sb}/ctx2"), "type": "OrderedCollection",
               "first": format!("{tb}/pages/1")}),
    );
    t.put(
        "/pages/1",
        json!({"id": format!("{tb}/pages/1"), "type": "OrderedCollectionPage",
               "orderedItems": [format!("{tb}/note/genuine")]}),
    );
    let r = resync(&app, &token, &post2).await;
    assert_eq!(r["threads"][0]["stopped"], "bad_collection", "{r}");
    assert_eq!(r["added"], 0, "{r}");
    assert!(!t.seen.lock().unwrap().iter().any(|(p, _)| p == "/pages/1"));

    // A context on another host than the post is not taken at all; the replies are walked.
    let post3 = format!("{sb}/post/3");
    s.put(
        "/post/3",
        page(
            &sb,
            "/post/3",
            &group,
            &sam,
            json!({
            "context": format!("{tb}/ctx"),
            "replies": format!("{sb}/post/3/replies")}),
        ),
    );
    s.put(
        "/post/3/replies",
        json!({"id": format!("{sb}/post/3/replies"), "type": "Collection",
               "first": format!("{sb}/post/3/replies/p0")}),
    );
    s.put(
        "/post/3/replies/p0",
        json!({"id": format!("{sb}/post/3/replies/p0"), "type": "CollectionPage",
               "items": [format!("{sb}/note/a")]}),
    );
    let mut a = note(&sb, "/note/a", &sam, &post3, "a");
    a["replies"] = json!(format!("{sb}/note/a/replies"));
    s.put("/note/a", a);
    s.put(
        "/note/a/replies",
        json!({"id": format!("{sb}/note/a/replies"), "type": "OrderedCollection",
               "orderedItems": [format!("{sb}/note/b")]}),
    );
    s.put(
        "/note/b",
        note(&sb, "/note/b", &sam, &format!("{sb}/note/a"), "b under a"),
    );
    let r = resync(&app, &token, &post3).await;
    assert_eq!(r["threads"][0]["source"], "replies", "{r}");
    assert_eq!(r["threads"][0]["comments_added"], 2, "{r}");
    assert_eq!(
        stored(&app, &format!("{sb}/note/b")).await.as_deref(),
        Some("b under a")
    );
    assert!(!t.seen.lock().unwrap().iter().any(|(p, _)| p == "/ctx"));
}

/// A server whose thread collection never ends (it claims a million items and every page has a
/// next), or whose items answer slowly.
#[derive(Clone)]
struct Endless {
    base: String,
    key: String,
    slow: Option<Duration>,
}

async fn endless(State(e): State<Endless>, Path(path): Path<String>) -> impl IntoResponse {
    let b = &e.base;
    let actor = |kind: &str, name: &str, id: String| {
        json!({"id": id, "type": kind, "preferredUsername": name, "inbox": format!("{id}/inbox"),
               "publicKey": {"id": format!("{id}#main-key"), "owner": id, "publicKeyPem": e.key}})
    };
    let body = match path.split('/').collect::<Vec<_>>().as_slice() {
        ["u", "a"] => actor("Person", "a", format!("{b}/u/a")),
        ["c", "g"] => actor("Group", "g", format!("{b}/c/g")),
        ["post", "1"] => page(
            b,
            "/post/1",
            &format!("{b}/c/g"),
            &format!("{b}/u/a"),
            json!({"context": format!("{b}/ctx")}),
        ),
        ["ctx"] => json!({"id": format!("{b}/ctx"), "type": "OrderedCollection",
                          "totalItems": 1_000_000, "first": format!("{b}/ctx/0")}),
        ["ctx", n] => {
            let n: u64 = n.parse().unwrap_or(0);
            let items: Vec<String> = (0..50).map(|k| format!("{b}/note/{n}-{k}")).collect();
            json!({"id": format!("{b}/ctx/{n}"), "type": "OrderedCollectionPage",
                   "orderedItems": items, "next": format!("{b}/ctx/{}", n + 1)})
        }
        ["note", id] => {
            if let Some(d) = e.slow {
                tokio::time::sleep(d).await;
            }
            note(
                b,
                &format!("/note/{id}"),
                &format!("{b}/u/a"),
                &format!("{b}/post/1"),
                id,
            )
        }
        _ => return axum::http::StatusCode::NOT_FOUND.into_response(),
    };
    (
        [(header::CONTENT_TYPE, "application/activity+json")],
        body.to_string(),
    )
        .into_response()
}

async fn start_endless(slow: Option<Duration>) -> String {
    let keys = StandIn::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    let state = Endless {
        base: base.clone(),
        key: keys.public_key_pem().to_string(),
        slow,
    };
    let router = Router::new()
        .route("/{*path}", get(endless))
        .with_state(state);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    // The stand-in only lent its key; it may go.
    drop(keys);
    base
}

#[tokio::test]
async fn a_collection_of_a_million_items_is_read_within_the_bounds() {
    let base = start_endless(None).await;
    let (app, token) = node(BackfillSettings {
        max_items: 300,
        max_requests: 120,
        ..BackfillSettings::default()
    })
    .await;
    know_group(&app, &format!("{base}/c/g")).await;
    let r = resync(&app, &token, &format!("{base}/post/1")).await;
    let th = &r["threads"][0];
    assert!(th["requests"].as_u64().unwrap() <= 120, "{r}");
    assert_eq!(th["listed"], 300, "{r}");
    assert!(
        th["stopped"] == "items" || th["stopped"] == "requests",
        "{r}"
    );
    let added = th["comments_added"].as_u64().unwrap();
    assert!(added > 0 && added <= 120, "{r}");
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM comment")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n as u64, added);
    assert_eq!(th["remote_comments"], 999_999, "{r}");
}

#[tokio::test]
async fn items_that_answer_slowly_stop_the_run_at_its_time_bound() {
    let base = start_endless(Some(Duration::from_secs(30))).await;
    let (app, token) = node(BackfillSettings {
        max_items: 100,
        max_time: Duration::from_secs(2),
        ..BackfillSettings::default()
    })
    .await;
    know_group(&app, &format!("{base}/c/g")).await;
    let r = resync(&app, &token, &format!("{base}/post/1")).await;
    let th = &r["threads"][0];
    assert_eq!(th["stopped"], "time", "{r}");
    assert_eq!(th["comments_added"], 0, "{r}");
    // Bounded by the setting, not by the 30 s each item would take.
    assert!(th["elapsed_ms"].as_u64().unwrap() < 15_000, "{r}");
    // The thread was released: the node resyncs it again when asked.
    let again = resync(&app, &token, &format!("{base}/post/1")).await;
    assert_eq!(again["threads"][0]["stopped"], "time", "{again}");
}
