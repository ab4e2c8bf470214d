//! `GET /search`: ranking, filters, paging, hidden content, URL and handle resolution, bad input.

use canopy_testkit::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;

async fn community(app: &TestApp, token: &str, name: &str, description: &str) -> i64 {
    let (s, c) = app
        .post(
            "/api/v1/communities",
            Some(token),
            json!({"name": name, "title": name, "description": description}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    c["id"].as_i64().unwrap()
}

async fn post(app: &TestApp, token: &str, community: i64, title: &str, body: &str) -> i64 {
    let (s, p) = app
        .post(
            "/api/v1/posts",
            Some(token),
            json!({"community_id": community, "title": title, "body": body}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    p["id"].as_i64().unwrap()
}

/// (kind, id) of each result.
fn results(page: &Value) -> Vec<(String, i64)> {
    page["results"]
        .as_array()
        .unwrap_or_else(|| panic!("{page}"))
        .iter()
        .map(|r| {
            let kind = r["kind"].as_str().unwrap().to_owned();
            let id = r[kind.as_str()]["id"].as_i64().unwrap();
            (kind, id)
        })
        .collect()
}

async fn search(app: &TestApp, query: &str, token: Option<&str>) -> Vec<(String, i64)> {
    let (s, page) = app.get(&format!("/api/v1/search?{query}"), token).await;
    assert_eq!(s, StatusCode::OK, "{query}: {page}");
    assert_eq!(page["resolved"], false);
    results(&page)
}

#[tokio::test]
async fn a_title_match_ranks_above_a_body_mention_and_a_comment() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let c = community(&app, &alice, "garden", "plants and such").await;
    let body_once = post(
        &app,
        &alice,
        c,
        "Spring notes",
        "I planted one tomato today.",
    )
    .await;
    let unrelated = post(&app, &alice, c, "Weather", "Rain all week").await;
    let title = post(&app, &alice, c, "Tomato varieties", "Which grow best?").await;
    let comment = app.comment(&alice, unrelated, None, "my tomato died").await;
    let found = search(&app, "q=tomato&type=posts", None).await;
    assert_eq!(
        found,
        [("post".to_owned(), title), ("post".to_owned(), body_once)]
    );
    let all = search(&app, "q=tomato", None).await;
    assert_eq!(all[0], ("post".to_owned(), title), "{all:?}");
    assert!(all.contains(&("comment".to_owned(), comment)), "{all:?}");
    // Words of the query all count: both words in the title beats one.
    let two = post(&app, &alice, c, "Cherry tomato harvest", "").await;
    let found = search(&app, "q=cherry+tomato&type=posts", None).await;
    assert_eq!(found, [("post".to_owned(), two)], "both words must match");
    // Communities and users by name.
    let found = search(&app, "q=garden&type=communities", None).await;
    assert_eq!(found, [("community".to_owned(), c)]);
    let found = search(&app, "q=alice&type=users", None).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "user");
}

#[tokio::test]
async fn search_filters_by_type_community_and_author() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let one = community(&app, &alice, "one", "").await;
    let two = community(&app, &alice, "two", "").await;
    let a1 = post(&app, &alice, one, "otter facts", "").await;
    let b1 = post(&app, &bob, one, "otter photos", "").await;
    let a2 = post(&app, &alice, two, "otter news", "").await;
    let cb = app.comment(&bob, a2, None, "otter!").await;
    let mut found = search(&app, "q=otter&community=one", None).await;
    found.sort();
    assert_eq!(found, [("post".to_owned(), a1), ("post".to_owned(), b1)]);
    let mut found = search(&app, "q=otter&author=bob", None).await;
    found.sort();
    assert_eq!(found, [("comment".to_owned(), cb), ("post".to_owned(), b1)]);
    let found = search(&app, "q=otter&author=bob&type=comments", None).await;
    assert_eq!(found, [("comment".to_owned(), cb)]);
    let found = search(&app, "q=otter&community=two&author=alice", None).await;
    assert_eq!(found, [("post".to_owned(), a2)]);
    let (s, body) = app
        .get("/api/v1/search?q=otter&community=nowhere", None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn search_pages_every_result_exactly_once_through_rank_ties() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let post_id = app.community_with_post(&alice, "c").await;
    let mut expected = vec![];
    // Identical texts: every comment ties on rank.
    for _ in 0..11 {
        expected.push((
            "comment".to_owned(),
            app.comment(&alice, post_id, None, "walrus").await,
        ));
    }
    let mut seen: HashMap<(String, i64), usize> = HashMap::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let url = match &cursor {
            Some(c) => format!("/api/v1/search?q=walrus&limit=4&cursor={c}"),
            None => "/api/v1/search?q=walrus&limit=4".to_owned(),
        };
        let (s, page) = app.get(&url, None).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        for r in results(&page) {
            *seen.entry(r).or_default() += 1;
        }
        pages += 1;
        cursor = page["next_cursor"].as_str().map(String::from);
        if cursor.is_none() {
            break;
        }
        assert!(pages < 20);
    }
    assert_eq!(seen.len(), expected.len());
    assert!(seen.values().all(|&n| n == 1), "{seen:?}");
    // The cursor is bound to the query.
    let (_, page) = app.get("/api/v1/search?q=walrus&limit=4", None).await;
    let c = page["next_cursor"].as_str().unwrap();
    let (s, body) = app
        .get(&format!("/api/v1/search?q=seal&limit=4&cursor={c}"), None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn hidden_content_never_matches() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let c = community(&app, &alice, "zoo", "").await;
    let deleted = post(&app, &alice, c, "narwhal deleted", "").await;
    let removed = post(&app, &bob, c, "narwhal removed", "").await;
    let kept = post(&app, &alice, c, "narwhal kept", "").await;
    let by_bob = post(&app, &bob, c, "narwhal by bob", "").await;
    let gone_comment = app.comment(&bob, kept, None, "narwhal comment").await;
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/posts/{deleted}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, r) = app
        .post(
            &format!("/api/v1/posts/{removed}/remove"),
            Some(&alice),
            json!({"reason": "spam"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (s, r) = app
        .post(
            &format!("/api/v1/comments/{gone_comment}/remove"),
            Some(&alice),
            json!({"reason": "spam"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let mut everyone = search(&app, "q=narwhal", None).await;
    everyone.sort();
    assert_eq!(
        everyone,
        [("post".to_owned(), kept), ("post".to_owned(), by_bob)]
    );
    // Carol blocks bob: his post and his user entry leave her results.
    let (s, b) = app
        .call(
            Method::PUT,
            "/api/v1/me/blocks/people/bob",
            Some(&carol),
            None,
        )
        .await;
    assert!(s.is_success(), "{s} {b}");
    let found = search(&app, "q=narwhal", Some(&carol)).await;
    assert_eq!(found, [("post".to_owned(), kept)]);
    assert_eq!(search(&app, "q=bob&type=users", Some(&carol)).await, []);
    assert_eq!(search(&app, "q=bob&type=users", None).await.len(), 1);
    // A refused instance's people and content: stored, never found.
    sqlx::query("INSERT INTO instance (authority, blocked) VALUES ('refused.example', true)")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO person (instance_id, name, ap_id, inbox_url, public_key_pem, local)
         SELECT id, 'narwhal_fan', 'https://refused.example/u/n', 'https://refused.example/inbox',
                'not used', false FROM instance WHERE authority = 'refused.example'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "WITH n AS (SELECT nextval('comment_id_seq') AS id)
         INSERT INTO comment (id, post_id, creator_id, path, content, content_html, ap_id, local)
         SELECT n.id, $1, p.id, ARRAY[n.id], 'narwhal from afar', '', 'https://refused.example/c/1',
                false
           FROM person p, n WHERE p.name = 'narwhal_fan'",
    )
    .bind(kept)
    .execute(&app.db)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let mut again = search(&app, "q=narwhal", None).await;
    again.sort();
    assert_eq!(again, everyone, "nothing of the refused instance");
    assert_eq!(search(&app, "q=narwhal_fan&type=users", None).await, []);
}

#[tokio::test]
async fn a_pasted_url_or_handle_resolves_to_its_object() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let post_id = app.community_with_post(&alice, "pasted").await;
    let (_, p) = app.get(&format!("/api/v1/posts/{post_id}"), None).await;
    let url = p["ap_id"].as_str().unwrap();
    let (s, page) = app
        .get(&format!("/api/v1/search?q={}", urlencode(url)), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(page["resolved"], true);
    assert_eq!(results(&page), [("post".to_owned(), post_id)]);
    // The same answer as /resolve gives.
    let (_, resolved) = app
        .get(&format!("/api/v1/resolve?q={}", urlencode(url)), None)
        .await;
    assert_eq!(page["results"][0], resolved);
    // A community handle on this node.
    let host = url::Url::parse(url).unwrap();
    let authority = canopy_core::authority(&host);
    let (s, page) = app
        .get(
            &format!(
                "/api/v1/search?q={}",
                urlencode(&format!("!pasted@{authority}"))
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(page["results"][0]["kind"], "community", "{page}");
    assert_eq!(page["results"][0]["community"]["name"], "pasted");
    // A deleted post resolves to nothing.
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/posts/{post_id}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, page) = app
        .get(&format!("/api/v1/search?q={}", urlencode(url)), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(page["results"], json!([]), "{page}");
}

#[tokio::test]
async fn a_thread_of_a_community_this_node_does_not_know_resolves_by_its_url() {
    let alpha = TestApp::spawn().await;
    let beta = TestApp::spawn().await;
    let alice = alpha.user("alice").await;
    let post_id = alpha.community_with_post(&alice, "estuary").await;
    let comment_id = alpha
        .comment(&alice, post_id, None, "the tide is out")
        .await;
    let (_, c) = alpha
        .get(&format!("/api/v1/comments/{comment_id}"), None)
        .await;
    let comment_url = c["comment"]["ap_id"].as_str().unwrap().to_string();
    let (_, p) = alpha.get(&format!("/api/v1/posts/{post_id}"), None).await;
    let post_url = p["ap_id"].as_str().unwrap().to_string();
    let community_url = format!("{}/c/estuary", alpha.public_url);
    let known = |url: String| {
        let db = beta.db.clone();
        async move {
            let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM community WHERE ap_id = $1")
                .bind(url)
                .fetch_one(&db)
                .await
                .unwrap();
            n
        }
    };
    assert_eq!(known(community_url.clone()).await, 0);

    // Beta has never heard of the community: pasting the comment's URL fetches the community
    // (named by the comment's `audience`), the thread's post, then the comment.
    let (s, page) = beta
        .get(
            &format!("/api/v1/search?q={}", urlencode(&comment_url)),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(page["resolved"], true);
    assert_eq!(page["results"][0]["kind"], "comment", "{page}");
    assert_eq!(page["results"][0]["comment"]["content"], "the tide is out");
    assert_eq!(known(community_url.clone()).await, 1);
    let (s, page) = beta
        .get(&format!("/api/v1/resolve?q={}", urlencode(&post_url)), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(page["kind"], "post");
    assert_eq!(page["post"]["ap_id"], post_url.as_str());
    assert_eq!(
        page["post"]["community"]["handle"],
        format!("estuary@{}", alpha.public_url.trim_start_matches("http://")),
        "{page}"
    );
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn bad_search_input_is_a_400_in_the_error_shape() {
    let app = TestApp::spawn().await;
    let long = "word ".repeat(60);
    for query in [
        "q=".to_owned(),
        "q=%20%20".to_owned(),
        format!("q={}", urlencode(&long)),
        "q=x&type=everything".to_owned(),
        "q=x&limit=0".to_owned(),
        "q=x&limit=51".to_owned(),
        "q=x&cursor=%25%25".to_owned(),
        "q=x&cursor=e30".to_owned(),
        "q=x&sort=hot".to_owned(),
    ] {
        let (s, body) = app.get(&format!("/api/v1/search?{query}"), None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(body["error"].is_string(), "{query}: {body}");
        assert!(body["message"].is_string(), "{query}: {body}");
    }
    let alice = app.user("alice").await;
    app.community_with_post(&alice, "c").await;
    let (s, body) = app
        .get("/api/v1/search?q=x&type=users&author=alice", None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    // Without q at all.
    let (s, body) = app.get("/api/v1/search", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
}
