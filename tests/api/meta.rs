use canopy_testkit::TestApp;
use reqwest::StatusCode;

#[tokio::test]
async fn health_reports_ok_and_the_openapi_document_is_served() {
    let app = TestApp::spawn().await;
    let (s, h) = app.get("/api/v1/health", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["status"], "ok");
    let (s, doc) = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/posts/{id}/comments",
        "/api/v1/comments",
        "/api/v1/sessions",
        "/api/v1/communities",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} documented");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn health_is_503_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    app.db.close().await;
    let (s, h) = app.get("/api/v1/health", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{h}");
    assert_eq!(h["error"], "unavailable");
}
