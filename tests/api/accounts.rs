use canopy_testkit::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn register_login_me_and_logout() {
    let app = TestApp::spawn().await;
    let (s, user) = app
        .post(
            "/api/v1/accounts",
            None,
            json!({"name": "alice", "password": "long enough pw", "display_name": "Alice"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{user}");
    assert_eq!(user["name"], "alice");
    assert_eq!(user["local"], true);
    assert!(user["ap_id"].as_str().unwrap().ends_with("/u/alice"));

    let (s, body) = app
        .post(
            "/api/v1/sessions",
            None,
            json!({"name": "alice", "password": "wrong password"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "unauthorized");

    let (s, body) = app
        .post(
            "/api/v1/sessions",
            None,
            json!({"name": "alice", "password": "long enough pw"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let token = body["token"].as_str().unwrap().to_string();

    let (s, me) = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["display_name"], "Alice");

    let (s, _) = app
        .call(
            Method::DELETE,
            "/api/v1/sessions/current",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, body) = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "a logged-out token stays dead: {body}"
    );
}

#[tokio::test]
async fn only_a_hash_of_the_token_is_stored_and_keys_are_generated() {
    let app = TestApp::spawn().await;
    let token = app.user("bob").await;
    let hashes: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT token_hash FROM session")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(hashes.len(), 1);
    assert_ne!(hashes[0].0, token.as_bytes());
    assert_eq!(hashes[0].0.len(), 32);
    let (public, private): (String, Option<String>) =
        sqlx::query_as("SELECT public_key_pem, private_key_pem FROM person WHERE name = 'bob'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
    assert!(private.unwrap().starts_with("-----BEGIN PRIVATE KEY-----"));
    let (hash,): (String,) = sqlx::query_as("SELECT password_hash FROM local_user")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
}

#[tokio::test]
async fn a_taken_name_is_a_conflict() {
    let app = TestApp::spawn().await;
    app.user("carol").await;
    let (s, body) = app
        .post(
            "/api/v1/accounts",
            None,
            json!({"name": "carol", "password": "another password"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(body["error"], "conflict");
    let (s, _) = app.get("/api/v1/users/carol", None).await;
    assert_eq!(s, StatusCode::OK);
}
