//! Thread collections over HTTP: a local post's `context` (FEP-7888) and the `replies` of posts
//! and comments, walked page by page as a peer walks them.

use canopy_testkit::TestApp;
use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::HashMap;

/// Items per page the node serves (`routes::threads::PAGE_SIZE`).
const PAGE_SIZE: usize = 50;

/// A path on the node for one of its own URLs (the node names itself by `public_url`).
fn path_of(app: &TestApp, url: &str) -> String {
    url.strip_prefix(&app.public_url)
        .unwrap_or_else(|| panic!("{url} is not on {}", app.public_url))
        .to_string()
}

async fn ap_get(app: &TestApp, url: &str) -> (StatusCode, Value) {
    let resp = app
        .client
        .get(format!("{}{}", app.base_url, path_of(app, url)))
        .header(ACCEPT, "application/activity+json")
        .send()
        .await
        .unwrap();
    let status = resp.status();
    if status.is_success() {
        assert_eq!(
            resp.headers()[CONTENT_TYPE].to_str().unwrap(),
            "application/activity+json; charset=utf-8",
            "{url}"
        );
    }
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Every item of a paged collection, following `first` and each `next`; checks that each page
/// is an `OrderedCollectionPage` of the collection, within the page size. Returns the ids of the
/// items, `totalItems` and the number of pages.
async fn walk(app: &TestApp, collection: &str) -> (Vec<String>, i64, usize) {
    let (items, total, pages) = walk_items(app, collection).await;
    (
        items.iter().map(|i| item_id(i).to_string()).collect(),
        total,
        pages,
    )
}

/// An item's id: the item itself (a URL) or the `id` of an embedded object.
fn item_id(item: &Value) -> &str {
    item.as_str()
        .or_else(|| item["id"].as_str())
        .unwrap_or_else(|| panic!("an item without an id: {item}"))
}

/// Every item of a paged collection as served (ids and embedded objects), as [`walk`].
async fn walk_items(app: &TestApp, collection: &str) -> (Vec<Value>, i64, usize) {
    let (status, c) = ap_get(app, collection).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["type"], "OrderedCollection");
    assert_eq!(c["id"], collection);
    let total = c["totalItems"].as_i64().unwrap();
    let mut items = vec![];
    let mut pages = 0;
    let mut next = c["first"].as_str().map(str::to_string);
    while let Some(url) = next.take() {
        pages += 1;
        assert!(pages < 1000, "the pages of {collection} do not end");
        let (status, page) = ap_get(app, &url).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["type"], "OrderedCollectionPage");
        assert_eq!(page["partOf"], collection);
        assert_eq!(page["id"], url.as_str());
        let got = page["orderedItems"].as_array().unwrap();
        assert!(got.len() <= PAGE_SIZE, "{} items on one page", got.len());
        items.extend(got.iter().cloned());
        next = page["next"].as_str().map(str::to_string);
    }
    (items, total, pages)
}

fn post_ap(app: &TestApp, post: i64) -> String {
    format!("{}/post/{post}", app.public_url)
}

fn comment_ap(app: &TestApp, comment: i64) -> String {
    format!("{}/comment/{comment}", app.public_url)
}

struct Thread {
    post: i64,
    /// Every comment in the order it was made.
    comments: Vec<i64>,
    /// Direct replies of each comment, in the order they were made.
    children: HashMap<i64, Vec<i64>>,
    top: Vec<i64>,
}

/// A thread of 66 comments: three top-level ones, 60 replies to the first (more than one page),
/// two replies to the first of those and one to the second top-level comment.
async fn nested_thread(app: &TestApp, token: &str) -> Thread {
    let post = app.community_with_post(token, "threads").await;
    let mut t = Thread {
        post,
        comments: vec![],
        children: HashMap::new(),
        top: vec![],
    };
    let add = |t: &mut Thread, parent: Option<i64>, id: i64| {
        t.comments.push(id);
        match parent {
            Some(p) => t.children.entry(p).or_default().push(id),
            None => t.top.push(id),
        }
    };
    for i in 0..3 {
        let id = app.comment(token, post, None, &format!("top {i}")).await;
        add(&mut t, None, id);
    }
    let (t1, t2) = (t.top[0], t.top[1]);
    for i in 0..60 {
        let id = app
            .comment(token, post, Some(t1), &format!("reply {i}"))
            .await;
        add(&mut t, Some(t1), id);
    }
    let r1 = t.children[&t1][0];
    for i in 0..2 {
        let id = app
            .comment(token, post, Some(r1), &format!("deep {i}"))
            .await;
        add(&mut t, Some(r1), id);
    }
    let id = app.comment(token, post, Some(t2), "under two").await;
    add(&mut t, Some(t2), id);
    t
}

#[tokio::test]
async fn context_lists_the_post_then_every_comment_once_oldest_first_across_pages() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let t = nested_thread(&app, &alice).await;
    let post = post_ap(&app, t.post);

    let (status, page) = ap_get(&app, &post).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let context = format!("{post}/context");
    assert_eq!(page["context"], context.as_str());

    let (items, total, pages) = walk(&app, &context).await;
    let mut expected = vec![post.clone()];
    expected.extend(t.comments.iter().map(|c| comment_ap(&app, *c)));
    assert_eq!(
        items, expected,
        "the post first, then every comment oldest first"
    );
    assert_eq!(total, 67);
    assert_eq!(usize::try_from(total).unwrap(), items.len());
    assert_eq!(pages, 2, "67 items are two pages of at most {PAGE_SIZE}");

    // The post is listed by id; each comment made here is embedded as the very Note its id
    // serves, so a peer reading the thread needs no request per comment.
    let (served, _, _) = walk_items(&app, &context).await;
    assert_eq!(served[0], Value::String(post.clone()));
    for item in &served[1..] {
        assert_eq!(item["type"], "Note", "{item}");
        let (status, mut note) = ap_get(&app, item_id(item)).await;
        assert_eq!(status, StatusCode::OK, "{note}");
        note.as_object_mut().unwrap().remove("@context");
        assert_eq!(*item, note, "the embedded Note is the one its id serves");
    }

    // Comments published at the same instant (as a backfill can store them) are ordered by id,
    // and a page boundary inside the tie still lists each exactly once.
    sqlx::query("UPDATE comment SET published = '2026-11-01T10:00:00Z' WHERE post_id = $1")
        .bind(t.post)
        .execute(&app.db)
        .await
        .unwrap();
    let (tied, total, _) = walk(&app, &context).await;
    assert_eq!(tied, expected);
    assert_eq!(total, 67);

    // Every comment names the same thread.
    for c in [
        t.top[0],
        t.children[&t.top[0]][0],
        *t.comments.last().unwrap(),
    ] {
        let (status, note) = ap_get(&app, &comment_ap(&app, c)).await;
        assert_eq!(status, StatusCode::OK, "{note}");
        assert_eq!(note["context"], context.as_str());
    }
}

#[tokio::test]
async fn replies_of_the_post_and_of_each_comment_are_exactly_the_direct_replies() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let t = nested_thread(&app, &alice).await;
    let post = post_ap(&app, t.post);

    let (_, page) = ap_get(&app, &post).await;
    assert_eq!(page["replies"], format!("{post}/replies").as_str());
    let (items, total, _) = walk(&app, &format!("{post}/replies")).await;
    let top: Vec<String> = t.top.iter().map(|c| comment_ap(&app, *c)).collect();
    assert_eq!(items, top);
    assert_eq!(total, 3);

    for c in &t.comments {
        let ap = comment_ap(&app, *c);
        let (status, note) = ap_get(&app, &ap).await;
        assert_eq!(status, StatusCode::OK, "{note}");
        let replies = format!("{ap}/replies");
        assert_eq!(note["replies"], replies.as_str());
        let (items, total, pages) = walk(&app, &replies).await;
        let expected: Vec<String> = t
            .children
            .get(c)
            .map(|k| k.iter().map(|r| comment_ap(&app, *r)).collect())
            .unwrap_or_default();
        assert_eq!(items, expected, "replies of {ap}");
        assert_eq!(usize::try_from(total).unwrap(), expected.len());
        if expected.len() == 60 {
            assert_eq!(pages, 2, "60 replies are two pages");
        }
    }
}

#[tokio::test]
async fn thread_collections_negotiate_and_refuse_what_they_cannot_serve() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let post = app.community_with_post(&alice, "negotiated").await;
    let comment = app.comment(&alice, post, None, "first").await;
    let reply = app.comment(&alice, post, Some(comment), "second").await;
    let post_url = post_ap(&app, post);
    let comment_url = comment_ap(&app, comment);

    // A browser is sent to the object's page; nothing is followed here.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (collection, object) in [
        (format!("{post_url}/context"), &post_url),
        (format!("{post_url}/replies"), &post_url),
        (format!("{comment_url}/replies"), &comment_url),
    ] {
        let resp = client
            .get(format!("{}{}", app.base_url, path_of(&app, &collection)))
            .header(ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{collection}");
        assert_eq!(resp.headers()[LOCATION].to_str().unwrap(), object.as_str());
        // ld+json with the ActivityStreams profile gets the collection.
        let resp = client
            .get(format!("{}{}", app.base_url, path_of(&app, &collection)))
            .header(
                ACCEPT,
                r#"application/ld+json; profile="https://www.w3.org/ns/activitystreams""#,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{collection}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["type"], "OrderedCollection");
    }

    // A cursor that is not one of ours is a 400, not a page from the start.
    let (status, _) = ap_get(&app, &format!("{post_url}/context?page=not-a-cursor")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Collections of objects that do not exist are 404.
    let (status, _) = ap_get(&app, &format!("{}/post/999999/context", app.public_url)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = ap_get(&app, &format!("{}/comment/999999/replies", app.public_url)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A deleted comment stays listed (its id answers a Tombstone) and its replies stay reachable.
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/comments/{comment}"),
            Some(&alice),
            None,
        )
        .await;
    assert!(status.is_success(), "{status}: {body}");
    let (status, _) = ap_get(&app, &comment_url).await;
    assert_eq!(status, StatusCode::GONE);
    let (items, total, _) = walk(&app, &format!("{post_url}/context")).await;
    assert_eq!(
        items,
        [
            post_url.clone(),
            comment_url.clone(),
            comment_ap(&app, reply)
        ]
    );
    assert_eq!(total, 3);
    let (items, _, _) = walk(&app, &format!("{comment_url}/replies")).await;
    assert_eq!(items, [comment_ap(&app, reply)]);
    // Embedded, the deleted comment is the Tombstone its id answers; its reply is still a Note.
    let (served, _, _) = walk_items(&app, &format!("{post_url}/context")).await;
    assert_eq!(served[1]["type"], "Tombstone", "{}", served[1]);
    assert_eq!(served[1]["formerType"], "Note");
    assert_eq!(served[1]["id"], comment_url.as_str());
    assert_eq!(served[2]["type"], "Note");
    assert_eq!(served[2]["content"], "<p>second</p>\n", "{}", served[2]);

    // A deleted post's collections are gone with it.
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/posts/{post}"),
            Some(&alice),
            None,
        )
        .await;
    assert!(status.is_success(), "{status}: {body}");
    for collection in ["context", "replies"] {
        let (status, body) = ap_get(&app, &format!("{post_url}/{collection}")).await;
        assert_eq!(status, StatusCode::GONE, "{collection}");
        assert_eq!(body["type"], "Tombstone");
    }
}

#[tokio::test]
async fn comments_of_a_blocked_instance_leave_the_thread_collections() {
    let app = TestApp::spawn_without_worker().await;
    let alice = app.user("alice").await;
    let boss = app.user("boss").await;
    sqlx::query(
        "UPDATE local_user SET is_admin = true
         WHERE person_id = (SELECT id FROM person WHERE local AND name = 'boss')",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let post = app.community_with_post(&alice, "herons").await;
    let comment = app.comment(&alice, post, None, "local words").await;
    let post_url = post_ap(&app, post);
    let comment_url = comment_ap(&app, comment);

    // Eve, on another instance, replies to the post and to alice's comment.
    let s = canopy_testkit::standin::StandIn::start().await;
    let eve = s.person("eve");
    let inbox = format!("{}/inbox", app.base_url);
    let mut eves = vec![];
    for (n, parent) in [(1, &post_url), (2, &comment_url)] {
        let note = serde_json::json!({
            "id": format!("{}/notes/{n}", s.base), "type": "Note", "attributedTo": eve,
            "inReplyTo": parent, "to": ["https://www.w3.org/ns/activitystreams#Public"],
            "content": format!("eve {n}"), "published": "2026-11-01T10:00:00Z"});
        let create = serde_json::json!({
            "id": format!("{}/activities/create/{n}", s.base), "type": "Create",
            "actor": eve, "to": ["https://www.w3.org/ns/activitystreams#Public"],
            "object": note});
        let (status, text) = s.deliver(&inbox, &create).await;
        assert!(status.is_success(), "{status}: {text}");
        eves.push(format!("{}/notes/{n}", s.base));
    }
    let (items, total, _) = walk(&app, &format!("{post_url}/context")).await;
    assert_eq!(
        items,
        [
            post_url.clone(),
            eves[0].clone(),
            eves[1].clone(),
            comment_url.clone()
        ],
        "by publication time: eve's replies were published first"
    );
    assert_eq!(total, 4);
    // Eve's comments are listed by id (a peer takes embedded objects only from their own
    // host); alice's is embedded.
    let (served, _, _) = walk_items(&app, &format!("{post_url}/context")).await;
    assert!(served[1].is_string() && served[2].is_string(), "{served:?}");
    assert_eq!(served[3]["type"], "Note", "{}", served[3]);
    assert_eq!(
        served[3]["attributedTo"],
        format!("{}/u/alice", app.public_url)
    );
    let (items, _, _) = walk(&app, &format!("{comment_url}/replies")).await;
    assert_eq!(items, [eves[1].clone()]);

    let (status, change) = app
        .call(
            Method::PUT,
            &format!("/api/v1/admin/instances/{}/block", s.authority()),
            Some(&boss),
            Some(&serde_json::json!({"reason": "spam"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{change}");

    let (items, total, _) = walk(&app, &format!("{post_url}/context")).await;
    assert_eq!(items, [post_url.clone(), comment_url.clone()]);
    assert_eq!(total, 2);
    let (items, total, _) = walk(&app, &format!("{post_url}/replies")).await;
    assert_eq!((items, total), (vec![comment_url.clone()], 1));
    let (items, total, _) = walk(&app, &format!("{comment_url}/replies")).await;
    assert_eq!((items, total), (vec![], 0));
}
