//! The instance actor (`/actor`, an `Application`): the key the node signs its own fetches
//! with. Its key pair is made the first time anything needs it and stored in `instance_actor`.

use super::error::RouteError;
use super::negotiate::{activity_json, html, wants_activity_json};
use crate::keys::{generate_actor_keys, KeyError};
use crate::protocol::actors::{instance_actor_id, Application};
use crate::protocol::collections::OrderedCollection;
use crate::FedContext;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use canopy_core::InstanceId;
use canopy_db::published::InstanceActorKeys;
use canopy_db::{DbError, PgPool};

#[derive(Debug, thiserror::Error)]
pub enum InstanceActorError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("the key generation task failed")]
    Task,
}

impl From<InstanceActorError> for RouteError {
    fn from(err: InstanceActorError) -> Self {
        match err {
            InstanceActorError::Db(e) => e.into(),
            other => {
                tracing::error!(error = %other, "instance actor keys unavailable");
                RouteError::internal()
            }
        }
    }
}

/// The instance actor's key pair, generated and stored on first use. Safe to race: every caller
/// gets the pair that was stored first.
pub async fn instance_actor_keys(
    db: &PgPool,
    instance: InstanceId,
) -> Result<InstanceActorKeys, InstanceActorError> {
    if let Some(keys) = canopy_db::published::instance_actor(db, instance).await? {
        return Ok(keys);
    }
    let fresh = tokio::task::spawn_blocking(generate_actor_keys)
        .await
        .map_err(|_| InstanceActorError::Task)??;
    tracing::info!(instance = %instance, "created the instance actor's key pair");
    Ok(canopy_db::published::insert_instance_actor(
        db,
        instance,
        &fresh.public_key_pem,
        &fresh.private_key_pem,
    )
    .await?)
}

pub async fn actor(
    State(ctx): State<FedContext>,
    headers: HeaderMap,
) -> Result<Response, RouteError> {
    let keys = instance_actor_keys(&ctx.db, ctx.instance_id).await?;
    let app = Application::new(&keys, &ctx.base);
    if !wants_activity_json(&headers) {
        return Ok(html(
            StatusCode::OK,
            super::html::instance_actor(&app.preferred_username, &app.id),
        ));
    }
    Ok(activity_json(StatusCode::OK, app))
}

/// The site's root URL. Asked for ActivityStreams (`application/activity+json` or
/// `application/ld+json`; plain `application/json` is not enough), it answers the instance
/// actor, where Lemmy looks for a site actor; anything else gets the 404 every unknown path gets.
pub async fn root(
    State(ctx): State<FedContext>,
    headers: HeaderMap,
) -> Result<Response, RouteError> {
    let names_activity_streams = headers.get_all(axum::http::header::ACCEPT).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            let v = v.to_ascii_lowercase();
            v.contains("application/activity+json") || v.contains("application/ld+json")
        })
    });
    if !(names_activity_streams && wants_activity_json(&headers)) {
        return Err(RouteError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such endpoint",
        ));
    }
    let keys = instance_actor_keys(&ctx.db, ctx.instance_id).await?;
    Ok(activity_json(
        StatusCode::OK,
        Application::new(&keys, &ctx.base),
    ))
}

/// Empty for now: the instance actor publishes no activities.
pub async fn outbox(State(ctx): State<FedContext>) -> Response {
    let id = format!("{}/outbox", instance_actor_id(&ctx.base));
    activity_json(StatusCode::OK, OrderedCollection::with_items(id, vec![]))
}
