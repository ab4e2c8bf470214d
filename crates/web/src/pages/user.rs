//! A person's page (`/u/{name}`, `/u/name@host` for a remote one).

use super::{db_error, Layout};
use crate::format;
use crate::render::page;
use crate::session::WebViewer;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use canopy_api::AppState;
use canopy_db::DbError;
use chrono::Utc;

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    layout: Layout,
    shown: String,
    handle: String,
    bio: Option<String>,
    joined: String,
    joined_age: String,
    remote: bool,
    admin: bool,
}

/// `/u/{name}`.
pub async fn user(
    State(state): State<AppState>,
    viewer: WebViewer,
    Path(name): Path<String>,
) -> Response {
    match user_page(&state, &viewer, &name).await {
        Ok(r) => r,
        Err(e) => db_error(&state, &viewer, e),
    }
}

async fn user_page(state: &AppState, viewer: &WebViewer, name: &str) -> Result<Response, DbError> {
    let person = canopy_db::people::by_handle(&state.db, name).await?;
    if person.deleted {
        return Err(DbError::NotFound("user"));
    }
    let handle = format::handle(&person.name, person.local, &person.authority);
    let shown = person
        .display_name
        .clone()
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| person.name.clone());
    let path = format!("/u/{}", format::segment(&handle));
    let mut layout = Layout::new(state, viewer, &shown, &path);
    layout.alternate = person.ap_id.clone();
    layout.og_type = "profile";
    layout.description = person
        .bio_html
        .as_deref()
        .map(|h| format::excerpt(h, 200))
        .unwrap_or_else(|| format!("@{handle}"));
    Ok(page(
        StatusCode::OK,
        &UserPage {
            layout,
            shown,
            bio: person.bio_html.clone().filter(|b| !b.is_empty()),
            joined: person.created_at.to_rfc3339(),
            joined_age: format::age(person.created_at, Utc::now()),
            remote: !person.local,
            admin: person.is_admin,
            handle,
        },
    ))
}
