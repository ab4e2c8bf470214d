use canopy_testkit::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn counts(app: &TestApp) -> (i64, i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM person), (SELECT count(*) FROM post),
                (SELECT count(*) FROM comment), (SELECT count(*) FROM comment_vote)",
    )
    .fetch_one(&app.db)
    .await
    .unwrap()
}

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .request(method, format!("{}{path}", app.base_url))
        .body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let value: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: not JSON: {text}"));
    (status, value)
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str, what: &str) {
    assert_eq!(status, expected, "{what}: {body}");
    assert_eq!(body["error"], code, "{what}: {body}");
    assert!(
        !body["message"].as_str().unwrap_or_default().is_empty(),
        "{what}: message for a person"
    );
}

#[tokio::test]
async fn malformed_requests_get_a_4xx_in_the_one_error_shape_and_store_nothing() {
    let app = TestApp::spawn().await;
    let token = app.user("alice").await;
    let post = app.community_with_post(&token, "errs").await;
    let comment = app.comment(&token, post, None, "fine").await;
    let before = counts(&app).await;
    let json_ct = Some("application/json");

    let (s, b) = raw(
        &app,
        Method::POST,
        "/api/v1/comments",
        Some(&token),
        json_ct,
        b"{\"post_id\": 1, ".to_vec(),
    )
    .await;
    assert_error(
        s,
        &b,
        StatusCode::BAD_REQUEST,
        "invalid_json",
        "truncated JSON",
    );
    let (s, b) = raw(
        &app,
        Method::POST,
        "/api/v1/comments",
        Some(&token),
        json_ct,
        b"not json at all".to_vec(),
    )
    .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_json", "not JSON");
    let (s, b) = raw(
        &app,
        Method::POST,
        "/api/v1/comments",
        Some(&token),
        None,
        br#"{"post_id":1,"content":"x"}"#.to_vec(),
    )
    .await;
    assert_error(
        s,
        &b,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "no content type",
    );
    let (s, b) = app
        .post(
            "/api/v1/comments",
            Some(&token),
            json!({"content": "no post id"}),
        )
        .await;
    assert_error(
        s,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
        "missing field",
    );
    let (s, b) = app
        .post(
            "/api/v1/comments",
            Some(&token),
            json!({"post_id": "one", "content": "x"}),
        )
        .await;
    assert_error(
        s,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
        "wrong type",
    );
    let (s, b) = app
        .post(
            "/api/v1/comments",
            Some(&token),
            json!({"post_id": post, "content": "x", "extra": 1}),
        )
        .await;
    assert_error(
        s,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
        "unknown field",
    );
    let (s, b) = app
        .post(
            "/api/v1/comments",
            Some(&token),
            json!({"post_id": post, "content": "x".repeat(10_001)}),
        )
        .await;
    assert_error(
        s,
        &b,
        StatusCode::BAD_REQUEST,
        "invalid_input",
        "over-long comment",
    );
    let (s, b) = app
        .post(
            "/api/v1/comments",
            Some(&token),
            json!({"post_id": post, "content": "   "}),
        )
        .await;
    assert_error(
        s,
        &b,
        StatusCode::BAD_REQUEST,
        "invalid_input",
        "blank comment",
    );
    let (s, b) = app
        .post(
            "/api/v1/posts",
            Some(&token),
            json!({"community_id": 1, "title": "t".repeat(201)}),
        )
        .await;
    assert_error(
        s,
        &b,
        StatusCode::BAD_REQUEST,
        "invalid_input",
        "over-long title",
    );
    let (s, b) = app
        .post(
            "/api/v1/posts",
            Some(&token),
            json!({"community_id": 1, "title": "ok", "url": "javascript:alert(1)"}),
        )
        .await;
    assert_error(
        s,
        &b,
        StatusCode::BAD_REQUEST,
        "invalid_input",
        "javascript: link",
    );
    let big = format!(
        r#"{{"post_id":{post},"content":"{}"}}"#,
        "a".repeat(300 * 1024)
    );
    let (s, b) = raw(
        &app,
        Method::POST,
        "/api/v1/comments",
        Some(&token),
        json_ct,
        big.into_bytes(),
    )
    .await;
    assert_error(
        s,
        &b,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        "oversized body",
    );

    // Unknown ids.
    let (s, b) = app
        .post(
            "/api/v1/comments",
            Some(&token),
            json!({"post_id": 999_999, "content": "x"}),
        )
        .await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found", "unknown post");
    let (s, b) = app
        .post(
            "/api/v1/comments",
            Some(&token),
            json!({"post_id": post, "parent_id": 999_999, "content": "x"}),
        )
        .await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found", "unknown parent");
    let (s, b) = app.get("/api/v1/comments/999999", None).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found", "unknown comment");
    let (s, b) = app.get("/api/v1/posts/999999/comments", None).await;
    assert_error(
        s,
        &b,
        StatusCode::NOT_FOUND,
        "not_found",
        "tree of unknown post",
    );
    let (s, b) = app.get("/api/v1/communities/nope", None).await;
    assert_error(
        s,
        &b,
        StatusCode::NOT_FOUND,
        "not_found",
        "unknown community",
    );
    let (s, b) = app.get("/api/v1/posts/abc", None).await;
    assert_error(
        s,
        &b,
        StatusCode::BAD_REQUEST,
        "invalid_path",
        "non-numeric id",
    );
    let (s, b) = app
        .get(&format!("/api/v1/posts/{post}/comments?limit=lots"), None)
        .await;
    assert_error(
        s,
        &b,
        StatusCode::BAD_REQUEST,
        "invalid_query",
        "non-numeric limit",
    );
    let (s, b) = app
        .get(
            &format!("/api/v1/posts/{post}/comments?sort=sideways"),
            None,
        )
        .await;
    assert_error(
        s,
        &b,
        StatusCode::BAD_REQUEST,
        "invalid_query",
        "unknown sort",
    );
    let (s, b) = app
        .get(&format!("/api/v1/posts/{post}/comments?limit=0"), None)
        .await;
    assert_error(
        s,
        &b,
        StatusCode::BAD_REQUEST,
        "invalid_input",
        "limit out of range",
    );
    let (s, b) = app.get("/api/v1/nothing-here", None).await;
    assert_error(
        s,
        &b,
        StatusCode::NOT_FOUND,
        "not_found",
        "unknown endpoint",
    );
    let (s, b) = app
        .call(Method::PUT, "/api/v1/comments", Some(&token), None)
        .await;
    assert_error(
        s,
        &b,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "wrong method",
    );

    // Votes outside -1..=1.
    let (s, b) = app
        .post(
            &format!("/api/v1/comments/{comment}/vote"),
            Some(&token),
            json!({"score": 5}),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_input", "vote of 5");

    // Tokens.
    let (s, b) = app
        .post(
            "/api/v1/comments",
            None,
            json!({"post_id": post, "content": "x"}),
        )
        .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized", "no token");
    let (s, b) = app
        .post(
            "/api/v1/comments",
            Some("made-up-token"),
            json!({"post_id": post, "content": "x"}),
        )
        .await;
    assert_error(
        s,
        &b,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "unknown token",
    );
    let (s, b) = raw(&app, Method::GET, "/api/v1/me", None, None, vec![]).await;
    assert_error(
        s,
        &b,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "me without token",
    );
    let resp = app
        .client
        .get(format!("{}/api/v1/me", app.base_url))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "wrong auth scheme");
    let (s, b) = app.get(&format!("/api/v1/posts/{post}"), Some("bad")).await;
    assert_error(
        s,
        &b,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "a bad token on a public read is still refused",
    );

    // Registration input.
    let (s, b) = app
        .post(
            "/api/v1/accounts",
            None,
            json!({"name": "Bad Name", "password": "long enough pw"}),
        )
        .await;
    assert_error(
        s,
        &b,
        StatusCode::BAD_REQUEST,
        "invalid_input",
        "bad user name",
    );
    let (s, b) = app
        .post(
            "/api/v1/accounts",
            None,
            json!({"name": "shortpw", "password": "short"}),
        )
        .await;
    assert_error(
        s,
        &b,
        StatusCode::BAD_REQUEST,
        "invalid_input",
        "short password",
    );
    let (s, b) = app
        .post(
            "/api/v1/communities",
            Some(&token),
            json!({"name": "../etc", "title": "x"}),
        )
        .await;
    assert_error(
        s,
        &b,
        StatusCode::BAD_REQUEST,
        "invalid_input",
        "bad community name",
    );

    assert_eq!(
        counts(&app).await,
        before,
        "no rejected request stored anything"
    );
}
