//! Logging in from a browser: a form posts name and password to `/login`, which opens a session
//! as the API's login does (same limits, same sessions table) and keeps its token in a cookie
//! (`HttpOnly`, `SameSite=Lax`, `Secure` on an https node). Pages read the cookie to know the
//! reader; an unknown or expired cookie just reads as anonymous. `/logout` (a `POST`) ends the
//! session. Nothing else changes state from a page, so a cross-site form can at most log a reader
//! out of nothing: a `Lax` cookie is not sent with another site's `POST`.

use crate::pages::Layout;
use crate::render::page;
use askama::Template;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::header::{self, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use canopy_api::auth::token_hash;
use canopy_api::limits::ClientAddr;
use canopy_api::AppState;
use canopy_db::sessions::SessionUser;
use serde::Deserialize;
use std::convert::Infallible;

/// The session cookie's name.
pub const COOKIE: &str = "canopy_session";

/// Longest a session token may be to be looked up (tokens the node makes are far shorter).
const MAX_TOKEN: usize = 256;

/// The reader of a page: the account of a valid session cookie, or anonymous.
#[derive(Debug, Clone)]
pub struct WebViewer(pub Option<SessionUser>);

impl WebViewer {
    pub fn person(&self) -> Option<canopy_core::PersonId> {
        self.0.as_ref().map(|u| u.person_id)
    }
    pub fn name(&self) -> Option<String> {
        self.0.as_ref().map(|u| u.name.clone())
    }
}

/// The session token in the request's cookies, if any.
fn token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN)
}

impl FromRequestParts<AppState> for WebViewer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let Some(token) = token(&parts.headers) else {
            return Ok(WebViewer(None));
        };
        match canopy_db::sessions::lookup(&state.db, &token_hash(&token)).await {
            Ok(user) => Ok(WebViewer(user)),
            Err(e) => {
                tracing::warn!(error = %e, "session lookup for a page failed; reading as anonymous");
                Ok(WebViewer(None))
            }
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    next: String,
    name: String,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Where to go after logging in: a path on this node only (not `//host`, not a URL).
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.to_string(),
        _ => "/".to_string(),
    }
}

/// `GET /login`: the form.
pub async fn login_page(
    State(state): State<AppState>,
    viewer: WebViewer,
    Query(q): Query<NextQuery>,
) -> Response {
    let layout = Layout::new(&state, &viewer, "Log in", "/login");
    page(
        StatusCode::OK,
        &LoginPage {
            layout,
            next: local_path(q.next.as_deref()),
            name: String::new(),
            error: None,
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    next: Option<String>,
}

/// `POST /login`: check the name and password, set the cookie, go back to where the reader was.
pub async fn login_submit(
    State(state): State<AppState>,
    viewer: WebViewer,
    client: ClientAddr,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = local_path(form.next.as_deref());
    let name = form.name.trim().to_string();
    match canopy_api::accounts::sign_in(&state, client, &name, form.password).await {
        Ok((token, expires_at, _)) => {
            let max_age = expires_at
                .signed_duration_since(chrono::Utc::now())
                .num_seconds()
                .max(0);
            let secure = if state.base.as_str().starts_with("https://") {
                "; Secure"
            } else {
                ""
            };
            let cookie = format!(
                "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
            );
            see_other(&next, Some(cookie))
        }
        Err(e) => {
            let status = e.status;
            let message = if status == StatusCode::TOO_MANY_REQUESTS {
                "Too many attempts; try again later.".to_string()
            } else if status == StatusCode::UNAUTHORIZED {
                "Wrong name or password.".to_string()
            } else {
                tracing::warn!(error = %e, "a page login failed");
                "Logging in failed; try again.".to_string()
            };
            let layout = Layout::new(&state, &viewer, "Log in", "/login");
            page(
                status,
                &LoginPage {
                    layout,
                    next,
                    name,
                    error: Some(message),
                },
            )
        }
    }
}

/// `POST /logout`: end the session and clear the cookie.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = token(&headers) {
        if let Err(e) = canopy_db::sessions::delete(&state.db, &token_hash(&token)).await {
            tracing::warn!(error = %e, "ending a page session failed");
        }
    }
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    see_other("/", Some(cookie))
}

fn see_other(to: &str, cookie: Option<String>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(to) {
        h.insert(LOCATION, v);
    }
    if let Some(Ok(v)) = cookie.map(|c| HeaderValue::from_str(&c)) {
        h.insert(SET_COOKIE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(local_path(Some("/post/3")), "/post/3");
        for bad in [
            "//evil.example/x",
            "https://evil.example/",
            "javascript:alert(1)",
            "/\\evil.example",
            "",
        ] {
            assert_eq!(local_path(Some(bad)), "/", "{bad}");
        }
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; canopy_session=tok; b=2"),
        );
        assert_eq!(token(&h).as_deref(), Some("tok"));
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("canopy_session="));
        assert_eq!(token(&h), None);
    }
}
