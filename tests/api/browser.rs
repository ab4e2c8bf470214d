//! The pages in a real browser: headless Chromium opens a thread page whose every kind of text
//! carries script (markdown, remote HTML, names, titles, a link URL, and raw script written past
//! the sanitiser straight into the database), the nested comments are found in the DOM it built,
//! and no script ran. A control page with the same script but without the pages' headers shows
//! that the check sees script that does run. Screenshots at phone and desktop widths are taken
//! (into `CANOPY_SCREENSHOTS_DIR` when set: `scripts/screenshots` refreshes docs/ with them).
//!
//! Where no Chromium is installed the test says so and passes; `.ci/run` installs it and sets
//! `CANOPY_REQUIRE_CHROMIUM=1`, which turns a missing browser into a failure.

use canopy_testkit::TestApp;
use scraper::{ElementRef, Html, Selector};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What the injected script does when it runs: the page's title and a body attribute change.
/// The marker is split in the payloads, so it appears whole only if script ran.
const RUN: &str = "document.title='PW'+'NED';document.body.setAttribute('data-pw'+'ned','1')";

fn chromium() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("CANOPY_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
    .find(|p| p.is_file())
}

/// Run the browser headless on `url` with `args` (bounded in time); returns its stdout.
async fn run(browser: &Path, profile: &Path, args: &[String], url: &str) -> String {
    let mut cmd = tokio::process::Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        "--virtual-time-budget=3000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(args)
    .arg(url)
    .kill_on_drop(true)
    .stdin(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    let out = tokio::time::timeout(Duration::from_secs(90), cmd.output())
        .await
        .expect("chromium did not finish within 90 s")
        .expect("chromium could not be started");
    assert!(
        out.status.success(),
        "chromium failed on {url}: {:?}",
        out.status
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ran(dom: &str) -> bool {
    dom.contains("PWNED") || dom.contains("data-pwned")
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

fn parent_comment(e: &ElementRef) -> Option<String> {
    e.ancestors()
        .filter_map(ElementRef::wrap)
        .find(|a| a.value().name() == "details")
        .and_then(|a| a.value().attr("id").map(str::to_string))
}

/// A page with `body` and no headers of ours, served once per request on a loopback port.
async fn control_server(body: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let body = body.clone();
            async move { axum::response::Html(body) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/")
}

/// What a seeded thread carries in each text: nothing for a clean thread, script for a hostile one.
struct Seed {
    script: String,
    img: String,
    link: String,
}

struct Thread {
    post: i64,
    first: i64,
    second: i64,
    third: i64,
    other: i64,
    remote: i64,
}

/// A thread like the ones this node exists for: an article shared to a community, a nested
/// discussion under it, one reply from another server (`peer`; `n` keeps its ids apart).
async fn seed_thread(
    app: &TestApp,
    alice: &str,
    bob: &str,
    peer: &canopy_testkit::standin::StandIn,
    community: i64,
    seed: &Seed,
    n: u32,
) -> Thread {
    let Seed { script, img, link } = seed;
    let (s, p) = app
        .post(
            "/api/v1/posts",
            Some(alice),
            json!({"community_id": community,
                   "title": format!("The long-now library {script}"),
                   "url": "https://example.com/essays/long-now-library",
                   "body": format!("An essay on libraries that plan for ten thousand years, \
                                    and what they copy to get there. {img} [notes]({link})")}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let post = p["id"].as_i64().unwrap();
    let first = app
        .comment(
            bob,
            post,
            None,
            &format!("The part about *copying* the catalogue every century is the key. {script}"),
        )
        .await;
    let second = app
        .comment(
            alice,
            post,
            Some(first),
            &format!("Agreed: a library is a **process**, not a building. {img}"),
        )
        .await;
    let third = app
        .comment(
            bob,
            post,
            Some(second),
            "And processes need people to keep them running.",
        )
        .await;
    let other = app
        .comment(
            alice,
            post,
            None,
            "Does anyone know whether the essay has a print edition?",
        )
        .await;
    let eve = peer.person("eve");
    let id = format!("{}/notes/{n}", peer.base);
    let note = json!({
        "id": id, "type": "Note", "attributedTo": eve,
        "inReplyTo": format!("{}/comment/{first}", app.public_url),
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "content": format!("<p>We tried this at our town library: the catalogue outlived the building.</p>{script}{img}<a href=\"{link}\">our notes</a>"),
        "published": "2026-11-01T10:00:00Z"});
    let create = json!({
        "id": format!("{}/activities/create/{n}", peer.base), "type": "Create",
        "actor": eve, "to": ["https://www.w3.org/ns/activitystreams#Public"], "object": note});
    let (status, text) = peer
        .deliver(&format!("{}/inbox", app.base_url), &create)
        .await;
    assert!(status.is_success(), "{status}: {text}");
    let (remote,): (i64,) = sqlx::query_as("SELECT id FROM comment WHERE ap_id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    Thread {
        post,
        first,
        second,
        third,
        other,
        remote,
    }
}

#[tokio::test]
async fn chromium_shows_the_nested_thread_and_runs_no_injected_script() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var("CANOPY_REQUIRE_CHROMIUM").is_err(),
            "CANOPY_REQUIRE_CHROMIUM is set but no Chromium was found (install the Debian \
             package chromium or set CANOPY_CHROMIUM)"
        );
        eprintln!(
            "SKIPPED chromium_shows_the_nested_thread_and_runs_no_injected_script: no Chromium \
             found (install the Debian package `chromium`, or set CANOPY_CHROMIUM)"
        );
        return;
    };
    let profile = std::env::temp_dir().join(format!("canopy-chromium-{}", std::process::id()));
    std::fs::create_dir_all(&profile).unwrap();

    // The control: the same script on a page without our headers runs, and the check sees it.
    let control = control_server(format!(
        "<!doctype html><html><head><title>control</title></head><body>\
         <script>{RUN}</script></body></html>"
    ))
    .await;
    let dom = run(&browser, &profile, &["--dump-dom".into()], &control).await;
    assert!(
        ran(&dom),
        "the control page's script should have run: {dom}"
    );

    let app = TestApp::spawn_without_worker().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let peer = canopy_testkit::standin::StandIn::start().await;
    let script = format!("<script>{RUN}</script>");
    let img = format!("<img src=x onerror=\"{RUN}\">");
    let (s, c) = app
        .post(
            "/api/v1/communities",
            Some(&alice),
            json!({"name": "reading", "title": format!("Reading {script}"),
                   "description": format!("About books {img}")}),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let hostile = Seed {
        script: script.clone(),
        img: img.clone(),
        link: format!("javascript:{RUN}"),
    };
    let t = seed_thread(
        &app,
        &alice,
        &bob,
        &peer,
        c["id"].as_i64().unwrap(),
        &hostile,
        1,
    )
    .await;

    // What the sanitiser would never let through, written past it: the page's policy is what
    // stops this one.
    sqlx::query("UPDATE comment SET content_html = content_html || $2 WHERE id = $1")
        .bind(t.third)
        .bind(format!("{script}{img}"))
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("UPDATE person SET display_name = $1 WHERE name = 'bob'")
        .bind(format!("Bob {script}"))
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("UPDATE post SET url = $2 WHERE id = $1")
        .bind(t.post)
        .bind(format!("javascript:{RUN}"))
        .execute(&app.db)
        .await
        .unwrap();

    let thread_path = format!("/post/{}", t.post);
    for path in [
        thread_path.clone(),
        format!("/comment/{}", t.second),
        "/c/reading".into(),
        "/u/bob".into(),
    ] {
        let url = format!("{}{path}", app.base_url);
        let dom = run(&browser, &profile, &["--dump-dom".into()], &url).await;
        assert!(!ran(&dom), "script ran on {path}: {dom}");
        assert!(dom.contains("<main>"), "{path} rendered: {dom}");
        if path == thread_path {
            let doc = Html::parse_document(&dom);
            let nesting: Vec<(String, Option<String>)> = doc
                .select(&sel("details.comment"))
                .map(|d| {
                    (
                        d.value().attr("id").unwrap().to_string(),
                        parent_comment(&d),
                    )
                })
                .collect();
            for (child, parent) in [
                (t.first, None),
                (t.second, Some(t.first)),
                (t.third, Some(t.second)),
                (t.remote, Some(t.first)),
                (t.other, None),
            ] {
                let want = (format!("c{child}"), parent.map(|p| format!("c{p}")));
                assert!(nesting.contains(&want), "{want:?} in {nesting:?}");
            }
            let author = format!("eve@{}", peer.authority());
            assert!(
                dom.contains(&author),
                "the remote author is named with her instance"
            );
        }
    }

    // Screenshots of a thread page (a clean one) at phone and desktop widths.
    let clean = Seed {
        script: String::new(),
        img: String::new(),
        link: "https://example.com/essays/long-now-library#copies".into(),
    };
    let t = seed_thread(
        &app,
        &alice,
        &bob,
        &peer,
        c["id"].as_i64().unwrap(),
        &clean,
        2,
    )
    .await;
    let post = t.post;
    let out_dir = std::env::var_os("CANOPY_SCREENSHOTS_DIR").map(PathBuf::from);
    for (name, size) in [
        ("thread-phone.png", "390,844"),
        ("thread-desktop.png", "1280,900"),
    ] {
        let file = profile.join(name);
        run(
            &browser,
            &profile,
            &[
                format!("--screenshot={}", file.display()),
                format!("--window-size={size}"),
            ],
            &format!("{}/post/{post}", app.base_url),
        )
        .await;
        let png = std::fs::read(&file).unwrap();
        assert!(png.len() > 10_000, "{name}: {} bytes", png.len());
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name} is a PNG");
        if let Some(dir) = &out_dir {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::copy(&file, dir.join(name)).unwrap();
        }
    }
    let _ = std::fs::remove_dir_all(&profile);
}
