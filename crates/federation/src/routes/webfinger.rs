//! `GET /.well-known/webfinger?resource=…`: find a local person or community by
//! `acct:name@authority` or by actor URL.
//!
//! Users and communities have separate namespaces, so one name can be both. Then the answer
//! carries both `self` links, the Person's first (Mastodon takes the first), each typed with
//! `properties["https://www.w3.org/ns/activitystreams#type"]` so Lemmy-style clients can pick.

use super::error::{optional, RouteError};
use super::negotiate::json_as;
use crate::protocol::actors::{instance_actor_id, Application};
use crate::protocol::webfinger::{Webfinger, WebfingerActor, JRD_JSON};
use crate::protocol::Kind;
use crate::urls::PublicBase;
use crate::FedContext;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use canopy_db::published;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Params {
    resource: Option<String>,
}

/// What a resource asks for.
#[derive(Debug, PartialEq, Eq)]
enum Wanted {
    /// `acct:name@authority`: a person, a community, or both.
    Any(String),
    /// `{base}/u/{name}`.
    Person(String),
    /// `{base}/c/{name}`.
    Community(String),
    /// The site's own URL (`{base}/`): the instance actor (FEP-d556).
    Site,
}

pub async fn webfinger(
    State(ctx): State<FedContext>,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<Response, RouteError> {
    let Query(params) = params.map_err(|e| RouteError::bad_request(e.body_text()))?;
    let resource = params
        .resource
        .ok_or_else(|| RouteError::bad_request("the resource parameter is required"))?;
    let wanted = parse_resource(&resource, &ctx.base)?;
    let (name, want_person, want_community) = match wanted {
        Wanted::Any(n) => (n, true, true),
        Wanted::Person(n) => (n, true, false),
        Wanted::Community(n) => (n, false, true),
        Wanted::Site => return Ok(site(resource.trim().to_string(), &ctx.base)),
    };

    let mut found: Vec<(String, WebfingerActor)> = Vec::new();
    if want_person {
        if let Some(p) = optional(published::local_person(&ctx.db, &name).await)? {
            if !p.deleted {
                found.push((
                    p.name,
                    WebfingerActor {
                        ap_id: p.ap_id,
                        kind: Kind::Person,
                    },
                ));
            }
        }
    }
    if want_community {
        if let Some(c) = optional(published::local_community(&ctx.db, &name).await)? {
            if !c.deleted && !c.removed {
                found.push((
                    c.name,
                    WebfingerActor {
                        ap_id: c.ap_id,
                        kind: Kind::Group,
                    },
                ));
            }
        }
    }
    let Some((stored_name, _)) = found.first() else {
        // `acct:host@host` names the instance actor (FEP-d556), unless a person or community
        // of that name exists.
        let actor = Application::preferred_username_of(&ctx.base);
        if name.eq_ignore_ascii_case(&actor) {
            let subject = format!("acct:{actor}@{}", ctx.base.authority());
            return Ok(site(subject, &ctx.base));
        }
        return Err(RouteError::not_found("account"));
    };
    let subject = format!("acct:{stored_name}@{}", ctx.base.authority());
    let actors: Vec<WebfingerActor> = found.into_iter().map(|(_, a)| a).collect();
    Ok(json_as(JRD_JSON, &Webfinger::new(subject, &actors)))
}

/// The instance actor's document under `subject`.
fn site(subject: String, base: &PublicBase) -> Response {
    let actor = WebfingerActor {
        ap_id: instance_actor_id(base),
        kind: Kind::Application,
    };
    json_as(JRD_JSON, &Webfinger::new(subject, &[actor]))
}

/// Read a resource: `acct:name@authority` (the `acct:` may be left out) or an actor URL.
/// Malformed is 400; well-formed but not ours is 404.
fn parse_resource(resource: &str, base: &PublicBase) -> Result<Wanted, RouteError> {
    let resource = resource.trim();
    if resource.starts_with("https://") || resource.starts_with("http://") {
        return parse_actor_url(resource, base);
    }
    let acct = match resource.get(..5) {
        Some(prefix) if prefix.eq_ignore_ascii_case("acct:") => &resource[5..],
        _ => resource,
    };
    let acct = acct.strip_prefix('@').unwrap_or(acct);
    let Some((name, authority)) = acct.rsplit_once('@') else {
        return Err(RouteError::bad_request(
            "resource must be acct:name@host or an actor URL",
        ));
    };
    if name.is_empty() || authority.is_empty() || name.contains('@') {
        return Err(RouteError::bad_request(
            "resource must be acct:name@host or an actor URL",
        ));
    }
    if !authority.eq_ignore_ascii_case(base.authority()) {
        return Err(RouteError::not_found("account on this server"));
    }
    Ok(Wanted::Any(name.to_string()))
}

fn parse_actor_url(resource: &str, base: &PublicBase) -> Result<Wanted, RouteError> {
    let url = url::Url::parse(resource)
        .map_err(|e| RouteError::bad_request(format!("resource is not a valid URL: {e}")))?;
    let ours = url::Url::parse(base.as_str()).map_err(|_| RouteError::internal())?;
    if url.origin() != ours.origin() || url.query().is_some() || url.fragment().is_some() {
        return Err(RouteError::not_found("account on this server"));
    }
    let segments: Vec<&str> = url.path().trim_matches('/').split('/').collect();
    match segments.as_slice() {
        [""] => Ok(Wanted::Site),
        ["u", name] if !name.is_empty() => Ok(Wanted::Person((*name).to_string())),
        ["c", name] if !name.is_empty() => Ok(Wanted::Community((*name).to_string())),
        _ => Err(RouteError::not_found("account")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn base() -> PublicBase {
        PublicBase::parse("http://localhost:8001").unwrap()
    }

    #[test]
    fn reads_acct_and_urls() {
        let b = base();
        assert_eq!(
            parse_resource("acct:alice@localhost:8001", &b).unwrap(),
            Wanted::Any("alice".into())
        );
        assert_eq!(
            parse_resource("alice@LOCALHOST:8001", &b).unwrap(),
            Wanted::Any("alice".into())
        );
        assert_eq!(
            parse_resource("http://localhost:8001/u/alice", &b).unwrap(),
            Wanted::Person("alice".into())
        );
        assert_eq!(
            parse_resource("http://localhost:8001/c/news", &b).unwrap(),
            Wanted::Community("news".into())
        );
        assert_eq!(
            parse_resource("http://localhost:8001/", &b).unwrap(),
            Wanted::Site
        );
        assert_eq!(
            parse_resource("http://localhost:8001", &b).unwrap(),
            Wanted::Site
        );
    }

    #[test]
    fn other_servers_are_not_found_and_garbage_is_bad() {
        let b = base();
        let status = |r: &str| parse_resource(r, &b).unwrap_err().status;
        assert_eq!(status("acct:alice@localhost:8002"), StatusCode::NOT_FOUND);
        assert_eq!(status("acct:alice@localhost"), StatusCode::NOT_FOUND);
        assert_eq!(
            status("http://localhost:8002/u/alice"),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status("http://localhost:8001/post/1"),
            StatusCode::NOT_FOUND
        );
        assert_eq!(status("acct:alice"), StatusCode::BAD_REQUEST);
        assert_eq!(status("acct:@localhost:8001"), StatusCode::BAD_REQUEST);
        assert_eq!(status("nonsense"), StatusCode::BAD_REQUEST);
    }
}
