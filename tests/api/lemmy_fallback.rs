//! The Lemmy fallback of thread backfill: a Lemmy thread home's comment ids are read through its
//! public comment list (`/api/v3` before 1.0, `/api/v4` from 1.0), every page once, within the
//! bounds; garbage is an error; a home that is not a Lemmy is not asked.

use canopy_federation::error::FedError;
use canopy_federation::lemmy_api::{comment_ids, ListBounds};
use canopy_testkit::standin::{LemmyAnswer, StandIn};
use canopy_testkit::TestApp;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use url::Url;

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

/// 120 comments of post 7 (three pages of at most 50), with one from another host, and among
/// them a duplicate, a `javascript:` id and a relative one, which are not returned.
fn thread(lemmy: &StandIn) -> (Vec<String>, Vec<String>) {
    let mut listed: Vec<String> = (0..117)
        .map(|i| format!("{}/comment/{i}", lemmy.base))
        .collect();
    listed.insert(30, "https://elsewhere.example/comment/9".to_string());
    listed.insert(60, format!("{}/comment/5", lemmy.base));
    listed.insert(90, "javascript:alert(1)".to_string());
    listed.insert(100, "/comment/relative".to_string());
    assert_eq!(listed.len(), 121);
    let mut expected = listed.clone();
    expected.retain(|u| u.starts_with("http"));
    let mut seen = std::collections::HashSet::new();
    expected.retain(|u| seen.insert(u.clone()));
    (listed, expected)
}

/// How many times each page (the query after `post_id`) was asked for.
fn pages_asked(lemmy: &StandIn) -> HashMap<String, usize> {
    let mut asked = HashMap::new();
    for r in lemmy.lemmy_requests() {
        *asked.entry(r).or_default() += 1;
    }
    asked
}

#[tokio::test]
async fn a_lemmy_0_19_thread_lists_its_comment_ids_through_api_v3_every_page_once() {
    let app = TestApp::spawn().await;
    let lemmy = StandIn::lemmy("0.19.9").await;
    let (listed, expected) = thread(&lemmy);
    lemmy.set_comments(7, listed);
    let post = url(&lemmy.post_ap_id(7));

    let ids = comment_ids(&post, &app.request_data(), &ListBounds::default())
        .await
        .unwrap()
        .expect("the home is a Lemmy");
    let ids: Vec<String> = ids.into_iter().map(String::from).collect();
    assert_eq!(ids, expected, "every comment once, oldest first");
    assert!(ids.contains(&"https://elsewhere.example/comment/9".to_string()));

    let asked = pages_asked(&lemmy);
    let base = "/api/v3/comment/list?post_id=7&limit=50&sort=Old&type_=All";
    let wanted: HashMap<String, usize> = (1..=3).map(|p| (format!("{base}&page={p}"), 1)).collect();
    assert_eq!(
        asked, wanted,
        "pages 1 to 3, each once, nothing under /api/v4"
    );
}

#[tokio::test]
async fn a_lemmy_1_0_thread_lists_its_comment_ids_through_api_v4_following_its_cursors() {
    let app = TestApp::spawn().await;
    let lemmy = StandIn::lemmy("1.0.0").await;
    let (listed, expected) = thread(&lemmy);
    lemmy.set_comments(7, listed);
    // Another post's comments are not listed.
    lemmy.set_comments(8, vec![format!("{}/comment/900", lemmy.base)]);
    let post = url(&lemmy.post_ap_id(7));

    let ids = comment_ids(&post, &app.request_data(), &ListBounds::default())
        .await
        .unwrap()
        .expect("the home is a Lemmy");
    let ids: Vec<String> = ids.into_iter().map(String::from).collect();
    assert_eq!(ids, expected);

    let asked = pages_asked(&lemmy);
    let base = "/api/v4/comment/list?post_id=7&limit=50&sort=old&type_=all";
    let wanted: HashMap<String, usize> = [
        base.to_string(),
        format!("{base}&page_cursor=after-50"),
        format!("{base}&page_cursor=after-100"),
    ]
    .into_iter()
    .map(|p| (p, 1))
    .collect();
    assert_eq!(asked, wanted, "the first page and each next_page once");
}

#[tokio::test]
async fn a_thread_of_exactly_one_page_and_an_empty_thread_end_cleanly() {
    let app = TestApp::spawn().await;
    for version in ["0.19.3", "1.0.1"] {
        let lemmy = StandIn::lemmy(version).await;
        let full: Vec<String> = (0..50)
            .map(|i| format!("{}/comment/{i}", lemmy.base))
            .collect();
        lemmy.set_comments(1, full.clone());
        let ids = comment_ids(
            &url(&lemmy.post_ap_id(1)),
            &app.request_data(),
            &ListBounds::default(),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(ids.len(), 50, "{version}");
        // v3 asks for page 2 (a full page may not be the last) and gets none; v4 is told.
        let expected_requests = if version.starts_with("0.") { 2 } else { 1 };
        assert_eq!(lemmy.lemmy_requests().len(), expected_requests, "{version}");

        let empty = comment_ids(
            &url(&lemmy.post_ap_id(2)),
            &app.request_data(),
            &ListBounds::default(),
        )
        .await
        .unwrap()
        .unwrap();
        assert!(empty.is_empty(), "{version}");
    }
}

/// A Lemmy that pages forever (a new full page every time) is read only within the bounds: the
/// page bound, the id bound, and the time bound each end the listing with what it has.
#[tokio::test]
async fn an_endless_comment_list_stops_at_each_bound() {
    let app = TestApp::spawn().await;
    for version in ["0.19.9", "1.0.0"] {
        let lemmy = StandIn::lemmy(version).await;
        lemmy.answer(LemmyAnswer::Endless);
        let post = url(&lemmy.post_ap_id(3));

        let pages = ListBounds {
            max_pages: 4,
            ..ListBounds::default()
        };
        let ids = comment_ids(&post, &app.request_data(), &pages)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ids.len(), 200, "{version}: four pages of 50");
        assert_eq!(lemmy.lemmy_requests().len(), 4, "{version}");

        let few = ListBounds {
            max_ids: 120,
            ..ListBounds::default()
        };
        let ids = comment_ids(&post, &app.request_data(), &few)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ids.len(), 120, "{version}");
        assert_eq!(
            lemmy.lemmy_requests().len(),
            4 + 3,
            "{version}: three more pages"
        );

        let no_time = ListBounds {
            max_time: Duration::ZERO,
            ..ListBounds::default()
        };
        let ids = comment_ids(&post, &app.request_data(), &no_time)
            .await
            .unwrap()
            .unwrap();
        assert!(ids.is_empty(), "{version}: no time, no ids");
    }
}

#[tokio::test]
async fn garbage_and_oversized_comment_lists_are_errors_and_bad_items_are_dropped() {
    let app = TestApp::spawn().await;
    let huge = format!(
        r#"{{"comments": [], "items": [], "padding": "{}"}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    for version in ["0.19.9", "1.0.0"] {
        let lemmy = StandIn::lemmy(version).await;
        let post = url(&lemmy.post_ap_id(4));
        let bounds = ListBounds::default();
        for garbage in [
            "not json at all".to_string(),
            r#"{"comments": 5, "items": "x"}"#.to_string(),
            "[1, 2, 3]".to_string(),
            "null".to_string(),
            huge.clone(),
        ] {
            lemmy.answer(LemmyAnswer::Raw(garbage.clone()));
            let got = comment_ids(&post, &app.request_data(), &bounds).await;
            assert!(
                matches!(
                    got,
                    Err(FedError::Unresolvable(_) | FedError::Outbound { .. })
                ),
                "{version}: {} gave {got:?}",
                &garbage[..garbage.len().min(40)]
            );
        }
        // Items without a usable ap_id are left out; the page itself is fine.
        let page = json!({
            "comments": [{"comment": {}}, {"comment": {"ap_id": 7}}, {"nothing": true},
                         {"comment": {"ap_id": format!("{}/comment/1", lemmy.base)}}],
            "items": [{"comment": {}}, {"comment": {"ap_id": format!("{}/comment/1", lemmy.base)}}],
        });
        lemmy.answer(LemmyAnswer::Raw(page.to_string()));
        let ids = comment_ids(&post, &app.request_data(), &bounds)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            ids,
            [url(&format!("{}/comment/1", lemmy.base))],
            "{version}"
        );
    }
}

#[tokio::test]
async fn a_home_that_is_not_a_lemmy_or_a_post_it_does_not_host_gives_none() {
    let app = TestApp::spawn().await;
    let data = app.request_data();
    let bounds = ListBounds::default();

    // A Mastodon (by its NodeInfo), and a server without NodeInfo: not asked anything else.
    let mastodon = StandIn::start().await;
    mastodon.put(
        "/.well-known/nodeinfo",
        json!({"links": [{"rel": "http://nodeinfo.diaspora.software/ns/schema/2.0",
                          "href": format!("{}/nodeinfo/2.0", mastodon.base)}]}),
    );
    mastodon.put(
        "/nodeinfo/2.0",
        json!({"version": "2.0", "software": {"name": "mastodon", "version": "4.3.0"}}),
    );
    let silent = StandIn::start().await;
    for s in [&mastodon, &silent] {
        let post = url(&format!("{}/post/1", s.base));
        assert!(comment_ids(&post, &data, &bounds).await.unwrap().is_none());
        let seen: Vec<String> = s
            .seen
            .lock()
            .unwrap()
            .iter()
            .map(|(p, _)| p.clone())
            .collect();
        assert!(
            seen.iter().all(|p| !p.starts_with("/api/")),
            "no client API asked: {seen:?}"
        );
    }

    // A Lemmy, but not a post of its own (a remote post's copy has another id), or our own.
    let lemmy = StandIn::lemmy("0.19.9").await;
    for not_its_post in [
        format!("{}/comment/5", lemmy.base),
        format!("{}/post/abc", lemmy.base),
        format!("{}/post/5/extra", lemmy.base),
        format!("{}/post/1", app.public_url),
    ] {
        assert!(
            comment_ids(&url(&not_its_post), &data, &bounds)
                .await
                .unwrap()
                .is_none(),
            "{not_its_post}"
        );
    }
    assert!(lemmy.lemmy_requests().is_empty());
}

/// The fallback end to end: a Lemmy home serves its thread's comments as ActivityPub objects but
/// no collection; the ids its API lists are each fetched from their own id (one of them on
/// another server) and land in the right places of the node's copy of the thread.
#[tokio::test]
async fn the_listed_ids_of_a_lemmy_thread_fetch_as_activitypub_objects_into_their_places() {
    let app = TestApp::spawn().await;
    let lemmy = StandIn::lemmy("0.19.9").await;
    let other = StandIn::start().await;
    let group = lemmy.group("lemmings");
    let lou = lemmy.person("lou");
    let oz = other.person("oz");
    let post = lemmy.post_ap_id(7);
    lemmy.put(
        "/post/7",
        json!({"id": post, "type": "Page", "attributedTo": lou, "name": "A thread",
               "content": "<p>start</p>", "audience": group,
               "to": [group, "https://www.w3.org/ns/activitystreams#Public"],
               "published": "2026-11-30T10:00:00Z"}),
    );
    let note = |id: &str, author: &str, parent: &str, text: &str, at: &str| {
        json!({"id": id, "type": "Note", "attributedTo": author, "inReplyTo": parent,
               "content": format!("<p>{text}</p>"), "audience": group,
               "to": ["https://www.w3.org/ns/activitystreams#Public"], "published": at})
    };
    let c1 = format!("{}/comment/1", lemmy.base);
    let c2 = format!("{}/comment/2", lemmy.base);
    let c3 = format!("{}/note/3", other.base);
    lemmy.put(
        "/comment/1",
        note(&c1, &lou, &post, "one", "2026-11-30T10:01:00Z"),
    );
    lemmy.put(
        "/comment/2",
        note(&c2, &lou, &c1, "two", "2026-11-30T10:02:00Z"),
    );
    other.put(
        "/note/3",
        note(&c3, &oz, &post, "three", "2026-11-30T10:03:00Z"),
    );
    lemmy.set_comments(7, vec![c1.clone(), c2.clone(), c3.clone()]);

    let data = app.request_data();
    // The node knows the community (a thread's community is known before its backfill).
    canopy_federation::fetch::community(&url(&group), &data)
        .await
        .unwrap();
    let ids = comment_ids(&url(&post), &data, &ListBounds::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ids.len(), 3);
    for id in &ids {
        canopy_federation::objects::resolve(id, &data.reset_request_count(), &mut Vec::new())
            .await
            .unwrap();
    }
    let mut stored: Vec<(String, Option<String>, String)> = sqlx::query_as(
        "SELECT c.ap_id, parent.ap_id, c.content FROM comment c
         LEFT JOIN comment parent ON parent.id = c.parent_id
         JOIN post p ON p.id = c.post_id WHERE p.ap_id = $1",
    )
    .bind(&post)
    .fetch_all(&app.db)
    .await
    .unwrap();
    stored.sort();
    let mut expected = vec![
        (c1.clone(), None, "one".to_string()),
        (c2.clone(), Some(c1.clone()), "two".to_string()),
        (c3.clone(), None, "three".to_string()),
    ];
    expected.sort();
    assert_eq!(stored, expected);
}

#[tokio::test]
async fn a_resync_of_a_lemmy_thread_reads_its_comments_through_the_api_fallback() {
    let app = TestApp::spawn().await;
    let token = app.admin("root").await;
    let lemmy = StandIn::lemmy("0.19.9").await;
    let group = lemmy.group("lemmings");
    let lou = lemmy.person("lou");
    let post = lemmy.post_ap_id(7);
    // A Lemmy Page names neither `context` nor `replies`.
    lemmy.put(
        "/post/7",
        json!({"id": post, "type": "Page", "attributedTo": lou, "name": "A thread",
               "content": "<p>start</p>", "audience": group,
               "to": [group, "https://www.w3.org/ns/activitystreams#Public"],
               "published": "2026-11-30T10:00:00Z"}),
    );
    let c1 = format!("{}/comment/1", lemmy.base);
    let c2 = format!("{}/comment/2", lemmy.base);
    for (path, id, parent, text) in [
        ("/comment/1", &c1, &post, "one"),
        ("/comment/2", &c2, &c1, "two"),
    ] {
        lemmy.put(
            path,
            json!({"id": id, "type": "Note", "attributedTo": lou, "inReplyTo": parent,
                   "content": format!("<p>{text}</p>"), "audience": group,
                   "to": ["https://www.w3.org/ns/activitystreams#Public"],
                   "published": "2026-11-30T10:01:00Z"}),
        );
    }
    lemmy.set_comments(7, vec![c1.clone(), c2.clone()]);
    let (s, _) = app.get(&format!("/api/v1/resolve?q={group}"), None).await;
    assert_eq!(s, reqwest::StatusCode::OK);

    let (s, r) = app
        .post("/api/v1/admin/resync", Some(&token), json!({"url": post}))
        .await;
    assert_eq!(s, reqwest::StatusCode::OK, "{r}");
    assert_eq!(r["threads"][0]["source"], "lemmy_api", "{r}");
    assert_eq!(r["threads"][0]["comments_added"], 2, "{r}");
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM comment WHERE ap_id = ANY($1)")
        .bind(vec![c1, c2])
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 2);
}
