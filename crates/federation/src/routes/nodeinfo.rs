//! NodeInfo discovery (`/.well-known/nodeinfo`) and the 2.1 document (`/nodeinfo/2.1`).

use super::error::RouteError;
use super::negotiate::json_as;
use crate::protocol::actors::instance_actor_id;
use crate::protocol::nodeinfo::{
    NodeInfo, NodeInfoLink, NodeInfoLinks, APPLICATION_REL, NODEINFO_JSON, SCHEMA_2_1,
};
use crate::FedContext;
use axum::extract::State;
use axum::response::Response;

pub async fn links(State(ctx): State<FedContext>) -> Response {
    json_as(
        "application/json",
        &NodeInfoLinks {
            links: vec![
                NodeInfoLink {
                    rel: SCHEMA_2_1.to_string(),
                    href: format!("{}/nodeinfo/2.1", ctx.base.as_str()),
                },
                // FEP-2677: where the instance actor is.
                NodeInfoLink {
                    rel: APPLICATION_REL.to_string(),
                    href: instance_actor_id(&ctx.base),
                },
            ],
        },
    )
}

pub async fn nodeinfo(State(ctx): State<FedContext>) -> Result<Response, RouteError> {
    let counts = canopy_db::published::local_counts(&ctx.db).await?;
    Ok(json_as(NODEINFO_JSON, &NodeInfo::new(&counts)))
}
