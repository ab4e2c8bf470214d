//! Pages for people: server-rendered HTML, readable without JavaScript, at the ActivityPub URLs
//! of the node's objects (`/post/{id}`, `/comment/{id}`, `/c/{name}`, `/u/{name}`: a browser
//! asking for one gets its page, a peer its ActivityStreams document) and at friendly paths
//! (`/` the front page, `/communities`, `/search`, `/login`, and `/c/name@host`, `/u/name@host`
//! for remote actors).
//!
//! Templates are askama templates (`templates/`), checked when the crate compiles and escaping
//! everything they print unless it is marked safe; the only HTML marked safe is content the node
//! sanitised when it stored it (`content_html`, `body_html`, `bio_html`, `description_html`).
//! Every page is sent with a Content-Security-Policy that allows no script at all, and the pages
//! have none.
//!
//! [`for_browsers`] is the middleware the node puts in front of its routers: it hands a browser's
//! request for a page path to [`router`], and everything else to the next service.

mod format;
mod pages;
mod render;
mod session;
mod tree;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use canopy_api::AppState;
use tower::ServiceExt;

pub use session::COOKIE;

/// The pages' router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::front::front))
        .route("/search", get(pages::search::search))
        .route("/communities", get(pages::communities::communities))
        .route("/post/{id}", get(pages::thread::thread))
        .route("/comment/{id}", get(pages::thread::permalink))
        .route("/c/{name}", get(pages::community::community))
        .route("/u/{name}", get(pages::user::user))
        .route(
            "/login",
            get(session::login_page).post(session::login_submit),
        )
        .route("/logout", post(session::logout))
        .route("/static/canopy.css", get(render::stylesheet))
        .fallback(pages::not_found)
        .with_state(state)
}

/// Whether a request is for a page: a browser's `GET`/`HEAD` of a page path (one that does not
/// ask for ActivityStreams JSON), or the login form's `POST`s.
pub fn serves(method: &Method, path: &str, wants_activity_json: bool) -> bool {
    if *method == Method::POST {
        return matches!(path, "/login" | "/logout");
    }
    if !(*method == Method::GET || *method == Method::HEAD) || wants_activity_json {
        return false;
    }
    if matches!(
        path,
        "/" | "/search" | "/communities" | "/login" | "/static/canopy.css"
    ) {
        return true;
    }
    // `/{kind}/{one segment}`, nothing below it (collections stay with the federation side).
    let mut parts = path.trim_start_matches('/').split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("post" | "comment" | "c" | "u"), Some(seg), None) => !seg.is_empty(),
        _ => false,
    }
}

/// Middleware: a browser's request for a page goes to the pages' router `web`, anything else to
/// `next` (the API and the federation side).
pub async fn for_browsers(State(web): State<Router>, req: Request<Body>, next: Next) -> Response {
    let json = canopy_federation::routes::negotiate::wants_activity_json(req.headers());
    if serves(req.method(), req.uri().path(), json) {
        match web.oneshot(req).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    } else {
        next.run(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_the_browser_gets_of_page_paths_only() {
        let get = Method::GET;
        for path in [
            "/",
            "/search",
            "/communities",
            "/login",
            "/post/1",
            "/comment/2",
            "/c/rust",
            "/c/rust@lemmy.example",
            "/u/alice",
            "/static/canopy.css",
        ] {
            assert!(serves(&get, path, false), "{path}");
            assert!(!serves(&get, path, true), "{path} asked for as JSON");
        }
        for path in [
            "/post/1/context",
            "/comment/2/replies",
            "/c/rust/outbox",
            "/u/alice/followers",
            "/inbox",
            "/actor",
            "/api/v1/posts",
            "/.well-known/webfinger",
            "/post/",
        ] {
            assert!(!serves(&get, path, false), "{path}");
        }
        assert!(serves(&Method::POST, "/login", false));
        assert!(serves(&Method::POST, "/logout", false));
        assert!(!serves(&Method::POST, "/inbox", false));
        assert!(!serves(&Method::POST, "/post/1", false));
    }
}
