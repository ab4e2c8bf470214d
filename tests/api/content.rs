use canopy_testkit::TestApp;
use reqwest::StatusCode;
use serde_json::json;

const ATTACKS: &str = "<script>alert('s')</script>\n\n\
<img src=x onerror=\"alert('e')\">\n\n\
[click](javascript:alert('j')) <a href=\"javascript:alert('a')\" onclick=\"alert('c')\">x</a>\n\n\
<iframe src=\"https://evil.example\"></iframe><svg onload=alert(1)></svg>\n\n\
[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==) **still bold**";

fn assert_inert(html: &str) {
    let lower = html.to_lowercase();
    for bad in [
        "<script",
        "onerror",
        "onclick",
        "onload",
        "javascript:",
        "<iframe",
        "<svg",
        "data:text",
    ] {
        assert!(!lower.contains(bad), "{bad} survived in {html}");
    }
    assert!(
        html.contains("<strong>still bold</strong>"),
        "ordinary markdown still renders: {html}"
    );
}

#[tokio::test]
async fn script_tags_javascript_links_and_event_attributes_come_out_inert() {
    let app = TestApp::spawn().await;
    let token = app.user("mallory").await;
    let (_, c) = app
        .post(
            "/api/v1/communities",
            Some(&token),
            json!({"name": "xss", "title": "x", "description": ATTACKS}),
        )
        .await;
    assert_inert(c["description_html"].as_str().unwrap());
    let (s, p) = app
        .post(
            "/api/v1/posts",
            Some(&token),
            json!({"community_id": c["id"], "title": "<b>t</b>", "body": ATTACKS}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    assert_inert(p["body_html"].as_str().unwrap());
    assert_eq!(p["body"], ATTACKS, "the markdown source is kept as written");
    let id = app
        .comment(&token, p["id"].as_i64().unwrap(), None, ATTACKS)
        .await;
    let (_, tree) = app
        .get(&format!("/api/v1/posts/{}/comments", p["id"]), None)
        .await;
    assert_eq!(tree["comments"][0]["id"].as_i64(), Some(id));
    assert_inert(tree["comments"][0]["content_html"].as_str().unwrap());
    assert_eq!(tree["comments"][0]["content"], ATTACKS);
}
