//! Pages for people over real HTTP: the thread page with its nested tree, permalinks, paging
//! every comment through the pages' own links, placeholders, remote authors, escaping, the
//! headers every page carries, the login form, and the same URLs still answering peers.

use canopy_testkit::TestApp;
use reqwest::header::{
    ACCEPT, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE,
};
use reqwest::{Method, StatusCode};
use scraper::{ElementRef, Html, Selector};
use serde_json::json;
use std::collections::HashMap;

const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

struct Page {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Page {
    fn doc(&self) -> Html {
        Html::parse_document(&self.body)
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A page as a browser asks for it (`path` may carry a query), with the cookie when given.
async fn browse(app: &TestApp, path: &str, cookie: Option<&str>) -> Page {
    let mut req = no_redirects()
        .get(format!("{}{path}", app.base_url))
        .header(ACCEPT, BROWSER);
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    let resp = req.send().await.unwrap();
    Page {
        status: resp.status(),
        headers: resp.headers().clone(),
        body: resp.text().await.unwrap(),
    }
}

fn form_body(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

/// The comment ids of the `<details class="comment">` elements, in document order, with the id
/// of the comment element each sits in (0 at the top).
fn comment_tree(doc: &Html) -> Vec<(i64, i64)> {
    let details = sel("details.comment");
    doc.select(&details)
        .map(|d| {
            let id = comment_id(&d);
            let parent = d
                .ancestors()
                .filter_map(ElementRef::wrap)
                .find(|a| a.value().name() == "details")
                .map_or(0, |a| comment_id(&a));
            (id, parent)
        })
        .collect()
}

fn comment_id(e: &ElementRef) -> i64 {
    e.value()
        .attr("id")
        .and_then(|i| i.strip_prefix('c'))
        .and_then(|i| i.parse().ok())
        .unwrap_or_else(|| panic!("a comment element without its id: {}", e.html()))
}

fn hrefs(doc: &Html, selector: &str) -> Vec<String> {
    doc.select(&sel(selector))
        .filter_map(|a| a.value().attr("href").map(str::to_string))
        .collect()
}

#[tokio::test]
async fn a_thread_page_nests_every_reply_under_its_parent_with_its_author_and_text() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let post = app.community_with_post(&alice, "herons").await;
    let a = app.comment(&alice, post, None, "first *thoughts*").await;
    let b = app.comment(&bob, post, Some(a), "a reply").await;
    let c = app.comment(&alice, post, Some(b), "deeper").await;
    let d = app.comment(&bob, post, None, "second top").await;

    let page = browse(&app, &format!("/post/{post}"), None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.headers[CONTENT_TYPE], "text/html; charset=utf-8");
    let csp = page.headers[CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(
        !csp.contains("script-src"),
        "no script source is allowed: {csp}"
    );
    assert!(page.headers["vary"].to_str().unwrap().contains("Accept"));

    let doc = page.doc();
    let mut tree = comment_tree(&doc);
    tree.sort();
    let mut expected = vec![(a, 0), (b, a), (c, b), (d, 0)];
    expected.sort();
    assert_eq!(tree, expected, "each comment inside its parent's element");
    // Each comment shows its author (linked), its text and a permalink.
    let first = doc.select(&sel(&format!("#c{a}"))).next().unwrap();
    assert!(
        first.html().contains("<em>thoughts</em>"),
        "{}",
        first.html()
    );
    let authors = hrefs(&doc, "summary a.author");
    assert!(authors.contains(&"/u/alice".to_string()), "{authors:?}");
    assert!(authors.contains(&"/u/bob".to_string()), "{authors:?}");
    assert!(hrefs(&doc, "summary a.age").contains(&format!("/comment/{c}")));
    // The post: title, author, community; metadata for peers and link previews.
    assert_eq!(
        doc.select(&sel("article.post h1"))
            .next()
            .unwrap()
            .text()
            .collect::<String>(),
        "a post"
    );
    assert!(hrefs(&doc, "article.post .meta a").contains(&"/c/herons".to_string()));
    let alternate = doc
        .select(&sel(
            r#"link[rel="alternate"][type="application/activity+json"]"#,
        ))
        .next()
        .unwrap();
    assert_eq!(
        alternate.value().attr("href").unwrap(),
        format!("{}/post/{post}", app.public_url)
    );
    let og = |p: &str| {
        doc.select(&sel(&format!(r#"meta[property="{p}"]"#)))
            .next()
            .and_then(|m| m.value().attr("content").map(str::to_string))
    };
    assert_eq!(og("og:title").as_deref(), Some("a post"));
    assert_eq!(og("og:type").as_deref(), Some("article"));
    assert_eq!(
        og("og:url"),
        Some(format!("{}/post/{post}", app.public_url))
    );
    assert_eq!(og("og:description").as_deref(), Some("hello"));
    // No script anywhere in the page.
    assert_eq!(doc.select(&sel("script")).count(), 0);

    // The sort switch links to each order; a page in another order has the same comments.
    let sorts = hrefs(&doc, "nav.sorts a");
    assert_eq!(sorts.len(), 4, "{sorts:?}: the current one is not a link");
    for s in ["top", "new", "old", "controversial"] {
        assert!(
            sorts.contains(&format!("/post/{post}?sort={s}")),
            "{sorts:?}"
        );
        let other = browse(&app, &format!("/post/{post}?sort={s}"), None).await;
        assert_eq!(other.status, StatusCode::OK);
        let mut t = comment_tree(&other.doc());
        t.sort();
        assert_eq!(t, expected, "sorted by {s}");
    }
    let old = browse(&app, &format!("/post/{post}?sort=old"), None).await;
    let order: Vec<i64> = comment_tree(&old.doc())
        .into_iter()
        .filter(|(_, p)| *p == 0)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(order, [a, d], "oldest first");

    // The same URL still answers a peer with the Page.
    let (s, json) = app
        .client
        .get(format!("{}/post/{post}", app.base_url))
        .header(ACCEPT, "application/activity+json")
        .send()
        .await
        .map(|r| (r.status(), r))
        .unwrap();
    assert_eq!(s, StatusCode::OK);
    let json: serde_json::Value = json.json().await.unwrap();
    assert_eq!(json["type"], "Page");
}

#[tokio::test]
async fn the_pages_links_reach_every_comment_of_a_big_thread_exactly_once() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let post = app.community_with_post(&alice, "big").await;
    // 60 top-level comments (two pages of 50), the first with 14 replies (more than the 10 a
    // page shows per comment), one of those with a reply of its own.
    let mut all = vec![];
    let mut tops = vec![];
    for i in 0..60 {
        let id = app.comment(&alice, post, None, &format!("top {i}")).await;
        tops.push(id);
        all.push(id);
    }
    let mut replies = vec![];
    for i in 0..14 {
        let id = app
            .comment(&alice, post, Some(tops[0]), &format!("reply {i}"))
            .await;
        replies.push(id);
        all.push(id);
    }
    all.push(
        app.comment(&alice, post, Some(replies[12]), "under 12")
            .await,
    );

    // Follow "next page" and "more replies" links as a reader would, old first.
    let mut seen: HashMap<i64, usize> = HashMap::new();
    let mut queue = vec![format!("/post/{post}?sort=old")];
    let mut pages = 0;
    while let Some(path) = queue.pop() {
        pages += 1;
        assert!(pages < 100, "the links do not end");
        let page = browse(&app, &path, None).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        let doc = page.doc();
        let focus = path
            .strip_prefix("/comment/")
            .and_then(|p| p.split('?').next())
            .and_then(|p| p.parse::<i64>().ok());
        for (id, _) in comment_tree(&doc) {
            // A permalink shows the comment it continues (and its ancestors) again.
            if Some(id) == focus || (focus.is_some() && id == tops[0]) {
                continue;
            }
            *seen.entry(id).or_default() += 1;
        }
        queue.extend(hrefs(&doc, "a.more"));
        queue.extend(hrefs(&doc, r#".pager a[rel="next"]"#));
    }
    let mut ids: Vec<i64> = seen.keys().copied().collect();
    ids.sort();
    let mut expected = all.clone();
    expected.sort();
    assert_eq!(ids, expected, "every comment reached");
    assert!(seen.values().all(|n| *n == 1), "each once: {seen:?}");
    assert!(
        pages >= 3,
        "two pages and a more-replies page at least: {pages}"
    );

    // A cursor that is not one of ours, or one for another post, is a 400 page.
    let bad = browse(&app, &format!("/post/{post}?cursor=nonsense"), None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("<h1>Bad link</h1>"), "{}", bad.body);
    let bad = browse(&app, &format!("/post/{post}?sort=sideways"), None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_permalink_shows_the_ancestors_the_comment_and_its_replies() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let post = app.community_with_post(&alice, "chains").await;
    let a = app.comment(&alice, post, None, "root").await;
    let b = app.comment(&alice, post, Some(a), "middle").await;
    let c = app.comment(&alice, post, Some(b), "the one").await;
    let d = app.comment(&alice, post, Some(c), "below").await;
    let sibling = app.comment(&alice, post, Some(a), "elsewhere").await;

    let page = browse(&app, &format!("/comment/{c}"), None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let doc = page.doc();
    assert_eq!(
        comment_tree(&doc),
        [(a, 0), (b, a), (c, b), (d, c)],
        "the chain down to the comment, then its replies; not the sibling {sibling}"
    );
    assert!(doc
        .select(&sel(&format!("details.focus#c{c}")))
        .next()
        .is_some());
    assert!(hrefs(&doc, "p.note a").contains(&format!("/comment/{b}")));
    let alternate = doc.select(&sel(r#"link[rel="alternate"]"#)).next().unwrap();
    assert_eq!(
        alternate.value().attr("href").unwrap(),
        format!("{}/comment/{c}", app.public_url)
    );
    let missing = browse(&app, "/comment/999999", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn deleted_and_removed_comments_keep_their_place_with_a_placeholder() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let post = app.community_with_post(&alice, "tidy").await;
    let a = app.comment(&bob, post, None, "secret words").await;
    let b = app.comment(&alice, post, Some(a), "still here").await;
    let (s, body) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/comments/{a}"),
            Some(&bob),
            None,
        )
        .await;
    assert!(s.is_success(), "{s}: {body}");

    let page = browse(&app, &format!("/post/{post}"), None).await;
    let doc = page.doc();
    assert_eq!(comment_tree(&doc), [(a, 0), (b, a)]);
    let gone = doc.select(&sel(&format!("#c{a}"))).next().unwrap().html();
    assert!(!gone.contains("secret words"), "{gone}");
    assert!(gone.contains("deleted by its author"), "{gone}");
    assert!(page.body.contains("still here"));

    // A deleted post is a 410 page.
    let (s, body) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/posts/{post}"),
            Some(&alice),
            None,
        )
        .await;
    assert!(s.is_success(), "{s}: {body}");
    let page = browse(&app, &format!("/post/{post}"), None).await;
    assert_eq!(page.status, StatusCode::GONE);
}

#[tokio::test]
async fn hostile_text_is_escaped_and_unsafe_links_are_not_links() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let (s, c) = app
        .post(
            "/api/v1/communities",
            Some(&alice),
            json!({"name": "xss", "title": "<img src=x onerror=alert(1)> title",
                   "description": "<script>alert('d')</script> desc"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let (s, p) = app
        .post(
            "/api/v1/posts",
            Some(&alice),
            json!({"community_id": c["id"], "title": "<script>alert(1)</script> & more",
                   "body": "<script>alert(2)</script> [x](javascript:alert(3)) <img src=x onerror=alert(4)>"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let post = p["id"].as_i64().unwrap();
    app.comment(
        &alice,
        post,
        None,
        "<iframe src=javascript:alert(5)></iframe> <a href=\"javascript:alert(6)\">j</a>",
    )
    .await;
    // A stored link that says anything (as a remote post's may) and a hostile display name.
    sqlx::query("UPDATE post SET url = 'javascript:alert(7)' WHERE id = $1")
        .bind(post)
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE person SET display_name = '<b onmouseover=alert(8)>x</b>' WHERE name = 'alice'",
    )
    .execute(&app.db)
    .await
    .unwrap();

    for path in [
        format!("/post/{post}"),
        "/c/xss".to_string(),
        "/u/alice".to_string(),
    ] {
        let page = browse(&app, &path, None).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        let doc = page.doc();
        assert_eq!(doc.select(&sel("script")).count(), 0, "{path}");
        assert_eq!(doc.select(&sel("iframe")).count(), 0, "{path}");
        for e in doc.select(&sel("*")) {
            for (name, value) in e.value().attrs() {
                assert!(
                    !name.starts_with("on"),
                    "{path}: an event handler {name}={value}"
                );
                assert!(
                    !value
                        .trim_start()
                        .to_ascii_lowercase()
                        .starts_with("javascript:"),
                    "{path}: {name}={value}"
                );
            }
        }
    }
    // The text is shown as text.
    let text = |page: &Page, selector: &str| {
        page.doc()
            .select(&sel(selector))
            .next()
            .map(|e| e.text().collect::<String>())
    };
    let page = browse(&app, &format!("/post/{post}"), None).await;
    assert_eq!(
        text(&page, "article.post h1").as_deref(),
        Some("<script>alert(1)</script> & more")
    );
    let user = browse(&app, "/u/alice", None).await;
    assert_eq!(
        text(&user, "header.actor h1").as_deref(),
        Some("<b onmouseover=alert(8)>x</b>")
    );
}

#[tokio::test]
async fn remote_authors_show_with_their_instance() {
    let app = TestApp::spawn_without_worker().await;
    let alice = app.user("alice").await;
    let post = app.community_with_post(&alice, "mixed").await;
    let s = canopy_testkit::standin::StandIn::start().await;
    let eve = s.person("eve");
    let note = json!({
        "id": format!("{}/notes/1", s.base), "type": "Note", "attributedTo": eve,
        "inReplyTo": format!("{}/post/{post}", app.public_url),
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "content": "<p>from afar</p>", "published": "2026-11-01T10:00:00Z"});
    let create = json!({
        "id": format!("{}/activities/create/1", s.base), "type": "Create",
        "actor": eve, "to": ["https://www.w3.org/ns/activitystreams#Public"], "object": note});
    let (status, text) = s.deliver(&format!("{}/inbox", app.base_url), &create).await;
    assert!(status.is_success(), "{status}: {text}");

    let page = browse(&app, &format!("/post/{post}"), None).await;
    let doc = page.doc();
    let handle = format!("eve@{}", s.authority());
    let author = doc.select(&sel("summary a.author")).next().unwrap();
    assert_eq!(author.text().collect::<String>(), handle);
    assert_eq!(author.value().attr("href").unwrap(), format!("/u/{handle}"));
    assert!(page.body.contains("from afar"));
    // Her page is there too, under the friendly path.
    let hers = browse(&app, &format!("/u/{handle}"), None).await;
    assert_eq!(hers.status, StatusCode::OK, "{}", hers.body);
    assert!(hers.body.contains(&format!("@{handle}")));
}

#[tokio::test]
async fn logging_in_from_the_form_sets_a_safe_cookie_that_pages_read() {
    let app = TestApp::spawn().await;
    let _ = app.user("alice").await;
    let client = no_redirects();

    let form = browse(&app, "/login?next=/c/nowhere", None).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.body.contains(r#"name="next" value="/c/nowhere""#),
        "{}",
        form.body
    );

    let wrong = client
        .post(format!("{}/login", app.base_url))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("name", "alice"),
            ("password", "wrong"),
            ("next", "/"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get(SET_COOKIE).is_none());
    assert!(wrong
        .text()
        .await
        .unwrap()
        .contains("Wrong name or password."));

    let ok = client
        .post(format!("{}/login", app.base_url))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("name", "alice"),
            ("password", "correct horse battery"),
            ("next", "//evil.example/"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(ok.headers()[LOCATION], "/", "only local paths are followed");
    let cookie = ok.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(cookie.starts_with("canopy_session="), "{cookie}");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let pair = cookie.split(';').next().unwrap().to_string();

    let page = browse(&app, "/login", Some(&pair)).await;
    assert!(
        page.body.contains(r#"<a href="/u/alice">alice</a>"#),
        "{}",
        page.body
    );
    let anonymous = browse(&app, "/login", Some("canopy_session=forged")).await;
    assert_eq!(anonymous.status, StatusCode::OK);
    assert!(anonymous.body.contains("Log in</a>"));

    let out = client
        .post(format!("{}/logout", app.base_url))
        .header(COOKIE, &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(out.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let after = browse(&app, "/login", Some(&pair)).await;
    assert!(after.body.contains("Log in</a>"), "the session ended");
}

#[tokio::test]
async fn community_and_user_pages_list_what_they_hold() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let post = app.community_with_post(&alice, "birds").await;
    let page = browse(&app, "/c/birds", None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let doc = page.doc();
    assert!(hrefs(&doc, "ol.posts a.title").contains(&format!("/post/{post}")));
    assert_eq!(
        doc.select(&sel(r#"link[rel="alternate"]"#))
            .next()
            .unwrap()
            .value()
            .attr("href")
            .unwrap(),
        format!("{}/c/birds", app.public_url)
    );
    let user = browse(&app, "/u/alice", None).await;
    assert_eq!(user.status, StatusCode::OK);
    assert!(user.body.contains("@alice"));
    for missing in ["/c/nobody", "/u/nobody", "/post/999999"] {
        let page = browse(&app, missing, None).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{missing}");
        assert!(page.body.starts_with("<!doctype html>"));
    }
    // The stylesheet is served with the pages.
    let css = browse(&app, "/static/canopy.css", None).await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.headers[CONTENT_TYPE], "text/css; charset=utf-8");
}

#[tokio::test]
async fn the_front_page_lists_posts_by_scope_and_sort_and_pages_through_them() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let (s, c) = app
        .post(
            "/api/v1/communities",
            Some(&alice),
            json!({"name": "one", "title": "One"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let mut posts = vec![];
    for i in 0..30 {
        let (s, p) = app
            .post(
                "/api/v1/posts",
                Some(&alice),
                json!({"community_id": c["id"], "title": format!("post number {i}")}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        posts.push(p["id"].as_i64().unwrap());
    }
    // Newest first, 25 a page, every post once through the "next page" links.
    let mut seen = vec![];
    let mut next = Some("/?scope=all&sort=new".to_string());
    let mut pages = 0;
    while let Some(path) = next.take() {
        pages += 1;
        assert!(pages < 10);
        let page = browse(&app, &path, None).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        let doc = page.doc();
        for href in hrefs(&doc, "ol.posts a.title") {
            seen.push(href.trim_start_matches("/post/").parse::<i64>().unwrap());
        }
        next = hrefs(&doc, r#".pager a[rel="next"]"#).into_iter().next();
    }
    let mut newest_first = posts.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
    assert_eq!(pages, 2);
    // The switches: scopes, every sort, and windows with top.
    let page = browse(&app, "/?sort=top&window=week", None).await;
    let doc = page.doc();
    let links = hrefs(&doc, "nav.sorts a");
    for want in [
        "/?scope=local&sort=top&window=week",
        "/?scope=all&sort=most_comments",
        "/?scope=all&sort=top&window=day",
    ] {
        assert!(links.contains(&want.to_string()), "{want} in {links:?}");
    }
    assert_eq!(doc.select(&sel("ol.posts li")).count(), 25);
    // Subscribed needs a reader; unknown names are a 400 page.
    let page = browse(&app, "/?scope=subscribed", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("to see the communities you follow"));
    for bad in ["/?scope=everything", "/?sort=sideways", "/?cursor=nonsense"] {
        assert_eq!(
            browse(&app, bad, None).await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn search_results_link_to_what_they_found() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let post = app.community_with_post(&alice, "herons").await;
    let (s, body) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/posts/{post}"),
            Some(&alice),
            Some(&json!({"title": "Grey herons nesting early"})),
        )
        .await;
    assert!(s.is_success(), "{s}: {body}");
    let comment = app.comment(&alice, post, None, "The herons are back").await;

    let empty = browse(&app, "/search", None).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty
        .doc()
        .select(&sel("main form.search"))
        .next()
        .is_some());

    let page = browse(&app, "/search?q=herons", None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let doc = page.doc();
    let links = hrefs(&doc, "ol.results a");
    assert!(links.contains(&format!("/post/{post}")), "{links:?}");
    assert!(links.contains(&format!("/comment/{comment}")), "{links:?}");
    assert!(links.contains(&"/c/herons".to_string()), "{links:?}");
    let only_comments = browse(&app, "/search?q=herons&type=comments", None).await;
    let links = hrefs(&only_comments.doc(), "ol.results a.title");
    assert!(links.is_empty(), "comments only: {links:?}");
    let nothing = browse(&app, "/search?q=albatross", None).await;
    assert!(nothing.body.contains("Nothing found."));
    let long = "x".repeat(300);
    assert_eq!(
        browse(&app, &format!("/search?q={long}"), None)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    // The text searched for is shown back as text.
    let hostile = browse(&app, "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", None).await;
    assert_eq!(hostile.status, StatusCode::OK);
    assert_eq!(hostile.doc().select(&sel("script")).count(), 0);
}

#[tokio::test]
async fn a_user_page_lists_their_posts_and_their_comments() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let post = app.community_with_post(&alice, "notes").await;
    let comment = app.comment(&alice, post, None, "a remark of mine").await;
    let page = browse(&app, "/u/alice", None).await;
    assert!(hrefs(&page.doc(), "ol.posts a.title").contains(&format!("/post/{post}")));
    let page = browse(&app, "/u/alice?show=comments", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("a remark of mine"));
    assert!(hrefs(&page.doc(), "ol.posts a").contains(&format!("/comment/{comment}")));
}

#[tokio::test]
async fn the_communities_page_lists_every_community_once_in_each_order() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let mut names = vec![];
    for i in 0..34 {
        let name = format!("group{i:02}");
        let (s, c) = app
            .post(
                "/api/v1/communities",
                Some(&alice),
                json!({"name": name, "title": format!("Group <{i}>"), "description": "All *about* it & more"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        names.push(name);
    }
    // A follower makes one community first by subscribers (the default order).
    let bob = app.user("bob").await;
    let (s, f) = app
        .post(
            "/api/v1/communities/follow",
            Some(&bob),
            json!({"community": "group17"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{f}");
    let first = browse(&app, "/communities", None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let doc = first.doc();
    assert_eq!(
        hrefs(&doc, "ol.communities a.title")
            .first()
            .map(String::as_str),
        Some("/c/group17")
    );
    // The title is text, the description's excerpt plain text.
    assert!(first.body.contains("Group &#60;17&#62;"), "{}", first.body);
    assert!(doc
        .select(&sel("p.about"))
        .any(|p| p.text().collect::<String>() == "All about it & more"));
    // Every community exactly once through the "next page" links, in every order.
    for sort in ["subscribers", "active", "new", "name"] {
        let mut seen = vec![];
        let mut next = Some(format!("/communities?sort={sort}"));
        let mut pages = 0;
        while let Some(path) = next.take() {
            pages += 1;
            assert!(pages < 10, "{sort}: too many pages");
            let page = browse(&app, &path, None).await;
            assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
            let doc = page.doc();
            seen.extend(
                hrefs(&doc, "ol.communities a.title")
                    .into_iter()
                    .map(|h| h.trim_start_matches("/c/").to_string()),
            );
            next = hrefs(&doc, r#".pager a[rel="next"]"#).into_iter().next();
        }
        assert_eq!(pages, 2, "{sort}");
        if sort == "name" {
            assert_eq!(seen, names, "by name");
        }
        seen.sort();
        assert_eq!(seen, names, "{sort}: every community once");
    }
    // Every page links to the list; a bad order or cursor is a 400 page.
    assert!(hrefs(&doc, "header.site a").contains(&"/communities".to_string()));
    for bad in ["/communities?sort=size", "/communities?cursor=nonsense"] {
        let page = browse(&app, bad, None).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(page.body.starts_with("<!doctype html>"));
    }
    // A cursor of one order is refused by another.
    let page = browse(&app, "/communities?sort=name", None).await;
    let next = hrefs(&page.doc(), r#".pager a[rel="next"]"#).remove(0);
    let other = next.replace("sort=name", "sort=new");
    assert_eq!(
        browse(&app, &other, None).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn pasting_an_address_into_the_search_page_opens_its_page_here() {
    let alpha = TestApp::spawn().await;
    let beta = TestApp::spawn().await;
    let alice = alpha.user("alice").await;
    let post = alpha.community_with_post(&alice, "meadow").await;
    let (_, p) = alpha.get(&format!("/api/v1/posts/{post}"), None).await;
    let post_ap = p["ap_id"].as_str().unwrap().to_string();
    let alpha_host = alpha.public_url.trim_start_matches("http://").to_string();
    let q = |s: &str| -> String { url::form_urlencoded::byte_serialize(s.as_bytes()).collect() };

    // On its own node: a post's URL, a community's and a user's handle.
    for (pasted, want) in [
        (post_ap.clone(), format!("/post/{post}")),
        (format!("!meadow@{alpha_host}"), "/c/meadow".to_string()),
        (format!("@alice@{alpha_host}"), "/u/alice".to_string()),
    ] {
        let page = browse(&alpha, &format!("/search?q={}", q(&pasted)), None).await;
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "{pasted}: {}",
            page.body
        );
        assert_eq!(page.headers[LOCATION], want.as_str(), "{pasted}");
    }

    // On another node: the community and the post are fetched, stored and shown there.
    let page = browse(
        &beta,
        &format!("/search?q={}", q(&format!("!meadow@{alpha_host}"))),
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let community_page = page.headers[LOCATION].to_str().unwrap().to_string();
    assert_eq!(community_page, format!("/c/meadow@{alpha_host}"));
    assert_eq!(
        browse(&beta, &community_page, None).await.status,
        StatusCode::OK
    );
    let page = browse(&beta, &format!("/search?q={}", q(&post_ap)), None).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let thread = page.headers[LOCATION].to_str().unwrap().to_string();
    let beta_id: i64 = thread.strip_prefix("/post/").unwrap().parse().unwrap();
    let (title,): (String,) = sqlx::query_as("SELECT title FROM post WHERE id = $1 AND ap_id = $2")
        .bind(beta_id)
        .bind(&post_ap)
        .fetch_one(&beta.db)
        .await
        .unwrap();
    let shown = browse(&beta, &thread, None).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.body.contains(&title));

    // An address that names nothing is an error page, not a search for its words.
    let page = browse(
        &beta,
        &format!(
            "/search?q={}",
            q(&format!("{}/post/999999", alpha.public_url))
        ),
        None,
    )
    .await;
    assert!(page.status.is_client_error(), "{}", page.status);
    assert!(page.body.starts_with("<!doctype html>"));
    // A deleted post is not shown, even by its address.
    let (s, _) = alpha
        .call(
            Method::DELETE,
            &format!("/api/v1/posts/{post}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let page = browse(&alpha, &format!("/search?q={}", q(&post_ap)), None).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
}
