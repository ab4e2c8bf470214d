//! Resolving remote actors and objects: the database first, then a fetch through
//! activitypub_federation (which checks content type, that the fetched `id` is the URL asked
//! for, and counts fetches per incoming activity so that none can trigger unbounded fetching).

use crate::error::FedError;
use crate::json::{authority, id_of, kind_of, markdown_source, same_authority, str_field};
use crate::outbound::OutboundError;
use crate::FedContext;
use activitypub_federation::config::{Data, FederationConfig};
use canopy_core::content;
use canopy_db::remote::{self, ActorRow, RemoteCommunity, RemotePerson};
use serde_json::Value;
use url::Url;

/// Most remote fetches one incoming activity may cause (actor, parent chain, community).
pub const MAX_FETCHES_PER_ACTIVITY: u32 = 25;

/// Request-scoped federation data: the context plus a fresh fetch counter.
pub type FedData = Data<FedContext>;

/// Build the library configuration for this node. Its fetches go through the node's
/// [`Outbound`](crate::outbound::Outbound) client, so they pass the same address policy as
/// every other request, in release and debug builds alike. Plain-http public URLs
/// (development and the test suite) may fetch http URLs. The library's own address checks
/// (its "debug" mode off: system DNS, no explicit ports) stay on only under the plain
/// production policy, which they agree with; any exception the operator configured (private
/// addresses, allowed networks, the host table) is the outbound policy's alone to apply.
/// Every fetch is signed with the instance actor's key (created on first start).
pub async fn federation_config(ctx: FedContext) -> Result<FederationConfig<FedContext>, FedError> {
    let http_urls = ctx.base.as_str().starts_with("http://");
    let library_checks = ctx.http.is_strict();
    let keys = crate::routes::instance_actor::instance_actor_keys(&ctx.db, ctx.instance_id)
        .await
        .map_err(|e| FedError::Internal(format!("instance actor keys: {e}")))?;
    let instance_actor = crate::signed_fetch::InstanceActor::new(&ctx, keys)?;
    let client = ctx.http.client();
    let timeout = ctx.http.timeout();
    FederationConfig::builder()
        .domain(ctx.base.authority())
        .app_data(ctx)
        .client(client)
        .request_timeout(timeout)
        .debug(!library_checks)
        .allow_http_urls(http_urls)
        .http_fetch_limit(MAX_FETCHES_PER_ACTIVITY)
        .signed_fetch_actor(&instance_actor)
        .build()
        .await
        .map_err(|e| FedError::Internal(format!("federation config: {e}")))
}

pub fn is_local(url: &Url, data: &FedData) -> bool {
    authority(url) == data.base.authority()
}

/// Fetch a remote object as JSON.
pub async fn fetch_json(url: &Url, data: &FedData) -> Result<Value, FedError> {
    if is_local(url, data) {
        return Err(FedError::NotFound(format!("{url} is local and not stored")));
    }
    let context = || format!("could not fetch {url}");
    data.http
        .check_url(url)
        .map_err(|e| FedError::outbound(context(), e))?;
    activitypub_federation::fetch::fetch_object_http::<FedContext, Value>(url, data)
        .await
        .map(|r| r.object)
        .map_err(
            |e| match OutboundError::from_library(url, &e, data.http.timeout()) {
                Some(outbound) => FedError::outbound(context(), outbound),
                None => FedError::Unresolvable(format!("{}: {e}", context())),
            },
        )
}

/// A resolved actor.
#[derive(Debug, Clone)]
pub enum Actor {
    Person(ActorRow),
    Community(ActorRow),
}

impl Actor {
    pub fn row(&self) -> &ActorRow {
        match self {
            Actor::Person(r) | Actor::Community(r) => r,
        }
    }
}

const PERSON_TYPES: [&str; 4] = ["Person", "Service", "Application", "Organization"];

/// A stored remote actor older than this is fetched again when it is next used (its name, key,
/// inboxes may have changed); if that fetch fails the stored row is used as it is.
pub const ACTOR_REFRESH_AFTER: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// The actor `ap_id`, from this process's [`crate::actor_cache::ActorCache`], the database, or
/// fetched and stored. `refresh` forces a fetch (used
/// when a signature fails with a stored key that may have been rotated); a stored remote actor
/// older than [`ACTOR_REFRESH_AFTER`] is refreshed too, keeping the stored row if that fails.
pub async fn actor(ap_id: &Url, data: &FedData, refresh: bool) -> Result<Actor, FedError> {
    if !refresh {
        if let Some(a) = data.actors.get(ap_id.as_str()) {
            return Ok(a);
        }
    }
    if !refresh || is_local(ap_id, data) {
        let stored = match remote::person_by_ap_id(&data.db, ap_id.as_str()).await? {
            Some(p) => Some(Actor::Person(p)),
            None => remote::community_by_ap_id(&data.db, ap_id.as_str())
                .await?
                .map(Actor::Community),
        };
        match stored {
            Some(a) if a.row().local => return Ok(a),
            Some(a) if chrono::Utc::now() - a.row().last_refreshed_at < ACTOR_REFRESH_AFTER => {
                data.actors.put(&a);
                return Ok(a);
            }
            Some(stale) => {
                return Ok(match refetch(ap_id, data).await {
                    Ok(fresh) => fresh,
                    Err(e) => {
                        tracing::info!(actor = %ap_id, error = %e, "could not refresh a stale actor; using the stored one");
                        remote::postpone_refresh(&data.db, ap_id.as_str()).await?;
                        stale
                    }
                })
            }
            None if is_local(ap_id, data) => {
                return Err(FedError::NotFound(format!("no local actor {ap_id}")))
            }
            None => {}
        }
    }
    refetch(ap_id, data).await
}

async fn refetch(ap_id: &Url, data: &FedData) -> Result<Actor, FedError> {
    let json = fetch_json(ap_id, data).await?;
    store_actor(ap_id, &json, data).await
}

pub async fn person(ap_id: &Url, data: &FedData) -> Result<ActorRow, FedError> {
    match actor(ap_id, data, false).await? {
        Actor::Person(p) => Ok(p),
        Actor::Community(_) => Err(FedError::bad(format!("{ap_id} is a group, not a person"))),
    }
}

pub async fn community(ap_id: &Url, data: &FedData) -> Result<ActorRow, FedError> {
    match actor(ap_id, data, false).await? {
        Actor::Community(c) => Ok(c),
        Actor::Person(_) => Err(FedError::bad(format!("{ap_id} is a person, not a group"))),
    }
}

/// Store a fetched Person or Group after checking it describes itself at the URL it was fetched
/// from and carries a key owned by itself.
pub async fn store_actor(url: &Url, json: &Value, data: &FedData) -> Result<Actor, FedError> {
    let id = json
        .get("id")
        .and_then(id_of)
        .ok_or_else(|| FedError::bad("actor without id"))?;
    if !same_authority(&id, url) {
        return Err(FedError::forbidden(format!(
            "actor {id} was served by another host"
        )));
    }
    let kind = kind_of(json);
    let name = str_field(json, "preferredUsername")
        .ok_or_else(|| FedError::bad(format!("actor {id} has no preferredUsername")))?;
    let inbox = str_field(json, "inbox")
        .ok_or_else(|| FedError::bad(format!("actor {id} has no inbox")))?;
    let key = json
        .get("publicKey")
        .ok_or_else(|| FedError::bad(format!("actor {id} has no publicKey")))?;
    let pem = str_field(key, "publicKeyPem")
        .ok_or_else(|| FedError::bad("publicKey without publicKeyPem"))?;
    if let Some(owner) = key.get("owner").and_then(id_of) {
        if owner != id {
            return Err(FedError::forbidden(format!(
                "the key of {id} is owned by {owner}"
            )));
        }
    }
    let shared_inbox = json
        .get("endpoints")
        .and_then(|e| str_field(e, "sharedInbox"));
    let summary_html = str_field(json, "summary").map(content::sanitize_html);
    let source = markdown_source(json);
    let auth = authority(&id);
    if kind == "Group" {
        let title = str_field(json, "name").unwrap_or(name);
        let description_html = match source {
            Some(md) => Some(content::markdown_to_html(md)),
            None => summary_html.clone(),
        };
        remote::upsert_community(
            &data.db,
            &RemoteCommunity {
                authority: &auth,
                ap_id: id.as_str(),
                name,
                title,
                description: source.or(description_html.as_deref()),
                description_html: description_html.as_deref(),
                inbox_url: inbox,
                shared_inbox_url: shared_inbox,
                followers_url: str_field(json, "followers"),
                public_key_pem: pem,
            },
        )
        .await?;
        let row = remote::community_by_ap_id(&data.db, id.as_str())
            .await?
            .ok_or_else(|| FedError::Internal("stored community vanished".into()))?;
        let actor = Actor::Community(row);
        data.actors.put(&actor);
        Ok(actor)
    } else if PERSON_TYPES.contains(&kind) {
        let bio_html = match source {
            Some(md) => Some(content::markdown_to_html(md)),
            None => summary_html,
        };
        remote::upsert_person(
            &data.db,
            &RemotePerson {
                authority: &auth,
                ap_id: id.as_str(),
                name,
                display_name: str_field(json, "name"),
                bio: source.or(bio_html.as_deref()),
                bio_html: bio_html.as_deref(),
                inbox_url: inbox,
                shared_inbox_url: shared_inbox,
                public_key_pem: pem,
            },
        )
        .await?;
        let row = remote::person_by_ap_id(&data.db, id.as_str())
            .await?
            .ok_or_else(|| FedError::Internal("stored person vanished".into()))?;
        let actor = Actor::Person(row);
        data.actors.put(&actor);
        Ok(actor)
    } else {
        Err(FedError::bad(format!(
            "{id} is a {kind:?}, not an actor Canopy understands"
        )))
    }
}

/// Find the actor URL for `name@host[:port]` through WebFinger. When the host answers with
/// several actors (a user and a community can share a name), the one of type `want` (e.g.
/// "Group") is taken if present.
pub async fn webfinger(handle: &str, want: Option<&str>, data: &FedData) -> Result<Url, FedError> {
    let handle = handle.trim().trim_start_matches(['@', '!']);
    let (name, host) = handle
        .split_once('@')
        .ok_or_else(|| FedError::bad(format!("{handle:?} is not of the form name@host")))?;
    if name.is_empty() || host.is_empty() || host.contains(['/', '?', '#', '@']) {
        return Err(FedError::bad(format!(
            "{handle:?} is not of the form name@host"
        )));
    }
    let scheme = if data.base.as_str().starts_with("http://") {
        "http"
    } else {
        "https"
    };
    let mut url = Url::parse(&format!("{scheme}://{host}/.well-known/webfinger"))
        .map_err(|e| FedError::bad(format!("bad host in {handle:?}: {e}")))?;
    url.query_pairs_mut()
        .append_pair("resource", &format!("acct:{name}@{host}"));
    let jrd = data
        .http
        .get_json(url, "application/jrd+json, application/json")
        .await
        .map_err(|e| FedError::outbound(format!("webfinger for {handle}"), e))?;
    let links: Vec<&Value> = jrd
        .get("links")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter(|link| {
                    str_field(link, "rel") == Some("self")
                        && str_field(link, "type")
                            .is_some_and(|t| t.contains("activity+json") || t.contains("ld+json"))
                })
                .collect()
        })
        .unwrap_or_default();
    let typed = |link: &Value| {
        link.get("properties")
            .and_then(|p| p.get("https://www.w3.org/ns/activitystreams#type"))
            .and_then(Value::as_str)
            == want
    };
    let chosen = links.iter().find(|l| typed(l)).or(links.first());
    chosen
        .and_then(|l| str_field(l, "href"))
        .and_then(|h| Url::parse(h).ok())
        .ok_or_else(|| FedError::Unresolvable(format!("webfinger for {handle} names no actor")))
}

/// Learn which software `authority` runs from its NodeInfo, once; failures leave it unknown.
pub async fn detect_software(authority: &str, data: &FedData) {
    match canopy_db::remote::instance_software(&data.db, authority).await {
        Ok(Some(_)) | Err(_) => return,
        Ok(None) => {}
    }
    let scheme = if data.base.as_str().starts_with("http://") {
        "http"
    } else {
        "https"
    };
    let get = |url: String| async move {
        let url = Url::parse(&url).ok()?;
        match data.http.get_json(url, "application/json").await {
            Ok(json) => Some(json),
            Err(e) => {
                tracing::debug!(authority, error = %e, "no NodeInfo");
                None
            }
        }
    };
    let Some(index) = get(format!("{scheme}://{authority}/.well-known/nodeinfo")).await else {
        return;
    };
    let href = index
        .get("links")
        .and_then(Value::as_array)
        .and_then(|links| links.iter().rev().find_map(|l| str_field(l, "href")))
        .map(String::from);
    let Some(href) = href else { return };
    // NodeInfo must be on the instance itself.
    if Url::parse(&href)
        .map(|u| authority_of(&u) != authority)
        .unwrap_or(true)
    {
        return;
    }
    let Some(info) = get(href).await else { return };
    if let Some(name) = info.get("software").and_then(|s| str_field(s, "name")) {
        let version = info.get("software").and_then(|s| str_field(s, "version"));
        if let Err(e) =
            canopy_db::remote::set_instance_software(&data.db, authority, name, version).await
        {
            tracing::debug!(error = %e, authority, "could not record instance software");
        }
    }
}

fn authority_of(url: &Url) -> String {
    authority(url)
}
