//! Resolving remote actors and objects: the database first, then a fetch through
//! activitypub_federation (which checks content type, that the fetched `id` is the URL asked
//! for, and counts fetches per incoming activity so that none can trigger unbounded fetching).

use crate::error::FedError;
use crate::json::{id_of, kind_of, markdown_source, str_field};
use crate::outbound::OutboundError;
use crate::signatures::SignatureError;
use crate::FedContext;
use activitypub_federation::config::{Data, FederationConfig};
use canopy_core::{authority, content, limits, same_authority};
use canopy_db::actors::{self, CommunityActor, PersonActor, RemoteCommunity, RemotePerson};
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

/// Fetch a remote object as JSON. A host whose fetches keep failing is not asked again for a
/// while (see [`crate::guard`]).
pub async fn fetch_json(url: &Url, data: &FedData) -> Result<Value, FedError> {
    match fetch_object(url, data).await? {
        Fetched::Object(v) => Ok(v),
        Fetched::Gone => Err(FedError::Unresolvable(format!(
            "could not fetch {url}: it was deleted (410 Gone)"
        ))),
    }
}

/// What a fetch of a remote object found.
#[derive(Debug)]
pub enum Fetched {
    /// The document served at the URL, whose `id` is the URL (or names the same host).
    Object(Value),
    /// The server answered 410 Gone: the object was deleted.
    Gone,
}

/// [`fetch_json`], telling a deleted object (410 Gone) apart from a failure.
pub async fn fetch_object(url: &Url, data: &FedData) -> Result<Fetched, FedError> {
    if is_local(url, data) {
        return Err(FedError::NotFound(format!("{url} is local and not stored")));
    }
    let context = || format!("could not fetch {url}");
    data.http
        .check_url(url)
        .map_err(|e| FedError::outbound(context(), e))?;
    let host = authority(url);
    data.guard
        .before_fetch(&host)
        .map_err(|e| FedError::Unresolvable(format!("{}: {e}", context())))?;
    let fetched = activitypub_federation::fetch::fetch_object_http::<FedContext, Value>(url, data)
        .await
        .map(|r| r.object);
    data.guard.after_fetch(
        &host,
        !matches!(&fetched, Err(e) if host_failed(url, e, data)),
    );
    match fetched {
        Ok(v) => Ok(Fetched::Object(v)),
        Err(activitypub_federation::error::Error::ObjectDeleted(_)) => Ok(Fetched::Gone),
        Err(e) => Err(
            match OutboundError::from_library(url, &e, data.http.timeout()) {
                Some(outbound) => FedError::outbound(context(), outbound),
                None => FedError::Unresolvable(format!("{}: {e}", context())),
            },
        ),
    }
}

/// Whether a fetch error means the host failed (no answer, a timeout, a server error page),
/// rather than an answer about the object (gone, not an ActivityStreams document, another id) or
/// a refusal of our own outbound policy (nothing was sent).
fn host_failed(url: &Url, e: &activitypub_federation::error::Error, data: &FedData) -> bool {
    use activitypub_federation::error::Error as E;
    match OutboundError::from_library(url, e, data.http.timeout()) {
        Some(outbound) => outbound.refusal().is_none(),
        None => matches!(e, E::ParseFetchedObject(..)),
    }
}

/// A resolved actor.
#[derive(Debug, Clone)]
pub enum Actor {
    Person(PersonActor),
    Community(CommunityActor),
}

/// `$body` with `$row` bound to the actor's row, whichever kind it is.
macro_rules! with_row {
    ($actor:expr, $row:ident => $body:expr) => {
        match $actor {
            Actor::Person($row) => $body,
            Actor::Community($row) => $body,
        }
    };
}

impl Actor {
    pub fn ap_id(&self) -> &str {
        with_row!(self, r => &r.ap_id)
    }

    pub fn local(&self) -> bool {
        with_row!(self, r => r.local)
    }

    pub fn public_key_pem(&self) -> &str {
        with_row!(self, r => &r.public_key_pem)
    }

    pub fn last_refreshed_at(&self) -> chrono::DateTime<chrono::Utc> {
        with_row!(self, r => r.last_refreshed_at)
    }
}

/// A stored remote actor older than this is fetched again when it is next used (its name, key,
/// inboxes may have changed); if that fetch fails the stored row is used as it is.
pub const ACTOR_REFRESH_AFTER: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// The actor `ap_id`, from this process's [`crate::actor_cache::ActorCache`], the database, or
/// fetched and stored. `refresh` forces a fetch; a stored remote actor older than
/// [`ACTOR_REFRESH_AFTER`] is refreshed too, keeping the stored row if that fails.
pub async fn actor(ap_id: &Url, data: &FedData, refresh: bool) -> Result<Actor, FedError> {
    if !refresh || is_local(ap_id, data) {
        match stored_actor(ap_id, data).await? {
            Some(a) if a.local() || !is_stale(&a) => return Ok(a),
            Some(stale) => return refresh_stale(ap_id, stale, data).await,
            None if is_local(ap_id, data) => {
                return Err(FedError::NotFound(format!("no local actor {ap_id}")))
            }
            None => {}
        }
    }
    refetch(ap_id, data).await
}

/// The actor as this node has it (cache, then database), without any fetch.
async fn stored_actor(ap_id: &Url, data: &FedData) -> Result<Option<Actor>, FedError> {
    if let Some(a) = data.actors.get(ap_id.as_str()) {
        return Ok(Some(a));
    }
    let stored = match actors::person_by_ap_id(&data.db, ap_id.as_str()).await? {
        Some(p) => Some(Actor::Person(p)),
        None => actors::community_by_ap_id(&data.db, ap_id.as_str())
            .await?
            .map(Actor::Community),
    };
    if let Some(a) = &stored {
        if !is_stale(a) {
            data.actors.put(a);
        }
    }
    Ok(stored)
}

fn is_stale(a: &Actor) -> bool {
    !a.local() && chrono::Utc::now() - a.last_refreshed_at() >= ACTOR_REFRESH_AFTER
}

async fn refresh_stale(ap_id: &Url, stale: Actor, data: &FedData) -> Result<Actor, FedError> {
    match refetch(ap_id, data).await {
        Ok(fresh) => Ok(fresh),
        Err(e) => {
            tracing::info!(actor = %ap_id, error = %e, "could not refresh a stale actor; using the stored one");
            actors::postpone_refresh(&data.db, ap_id.as_str()).await?;
            Ok(stale)
        }
    }
}

async fn refetch(ap_id: &Url, data: &FedData) -> Result<Actor, FedError> {
    let json = fetch_json(ap_id, data).await?;
    store_actor(ap_id, &json, data).await
}

pub async fn person(ap_id: &Url, data: &FedData) -> Result<PersonActor, FedError> {
    match actor(ap_id, data, false).await? {
        Actor::Person(p) => Ok(p),
        Actor::Community(_) => Err(FedError::bad(format!("{ap_id} is a group, not a person"))),
    }
}

pub async fn community(ap_id: &Url, data: &FedData) -> Result<CommunityActor, FedError> {
    match actor(ap_id, data, false).await? {
        Actor::Community(c) => Ok(c),
        Actor::Person(_) => Err(FedError::bad(format!("{ap_id} is a person, not a group"))),
    }
}

/// The actor `ap_id` whose key makes `verify` pass, for checking a signed request. Nothing is
/// written before the signature verifies: an unknown actor is fetched, checked, and stored only
/// then; a stored actor whose key fails is fetched again (a rotated key). An actor whose fetched
/// key failed is not fetched again for [`crate::guard::KEY_REFETCH_EVERY`], so false signatures
/// cannot make the node fetch per request. The fetch counts against the request's fetch budget.
pub async fn verified_actor(
    ap_id: &Url,
    data: &FedData,
    verify: impl Fn(&str) -> Result<(), SignatureError>,
) -> Result<Actor, FedError> {
    if let Some(stored) = stored_actor(ap_id, data).await? {
        match verify(stored.public_key_pem()) {
            Ok(()) if is_stale(&stored) => return refresh_stale(ap_id, stored, data).await,
            Ok(()) => return Ok(stored),
            // Perhaps a rotated key: fetch the actor again, below.
            Err(SignatureError::BadSignature) => {}
            Err(e) => return Err(FedError::BadSignature(e)),
        }
    }
    if let Some(failed) = data.guard.recently_failed_key(ap_id.as_str()) {
        // Checked against the copy fetched a moment ago; fetched again only if that verifies.
        verify(&failed)?;
    }
    let json = fetch_json(ap_id, data).await?;
    let parsed = parse_actor(ap_id, &json)?;
    if let Err(e) = verify(parsed.public_key_pem) {
        data.guard.key_failed(ap_id.as_str(), parsed.public_key_pem);
        return Err(FedError::BadSignature(e));
    }
    save_actor(&parsed, data).await
}

/// Limits on the fields of a remote actor, checked before anything of it is stored.
pub mod actor_limits {
    /// Longest `preferredUsername`, in characters.
    pub const MAX_USERNAME_CHARS: usize = 100;
    /// Display names and community titles are cut to this many characters.
    pub const MAX_DISPLAY_NAME_CHARS: usize = 200;
    /// Bios and community descriptions are cut to this many bytes (on a character boundary).
    pub const MAX_BIO_BYTES: usize = 20_000;
    /// Longest public key PEM.
    pub const MAX_KEY_PEM_BYTES: usize = 16 * 1024;
}

/// A remote actor document, checked and ready to store.
#[derive(Debug)]
pub struct ParsedActor<'a> {
    pub(crate) id: Url,
    pub(crate) is_group: bool,
    pub(crate) name: &'a str,
    pub(crate) display_name: Option<String>,
    pub(crate) bio: Option<String>,
    pub(crate) bio_html: Option<String>,
    pub(crate) inbox: &'a str,
    pub(crate) shared_inbox: Option<&'a str>,
    pub(crate) followers: Option<&'a str>,
    /// A Group's moderators collection (Lemmy names it in `attributedTo`), on its own authority.
    pub(crate) moderators: Option<Url>,
    /// A Group's featured posts collection (Lemmy's `featured`), on its own authority.
    pub(crate) featured: Option<Url>,
    /// A Group that takes posts from its moderators only (Lemmy's `postingRestrictedToMods`).
    pub(crate) posting_restricted_to_mods: bool,
    pub(crate) public_key_pem: &'a str,
    /// A Person's `icon` and `image` URLs (pictures may live on any host): see [`picture`].
    pub(crate) avatar: Option<&'a str>,
    pub(crate) banner: Option<&'a str>,
}

/// The URL of a picture field (`icon`, `image`): an Image object's `url` (or a bare URL, or the
/// first of a list), kept only when it is an absolute http(s) URL of at most
/// [`limits::MAX_URL_BYTES`]; anything else is dropped.
pub(crate) fn picture<'a>(json: &'a Value, field: &str) -> Option<&'a str> {
    let mut v = json.get(field)?;
    if let Value::Array(items) = v {
        v = items.first()?;
    }
    let url = match v {
        Value::String(s) => s.as_str(),
        Value::Object(_) => match v.get("url")? {
            Value::String(s) => s.as_str(),
            Value::Object(link) => link.get("href")?.as_str()?,
            _ => return None,
        },
        _ => return None,
    };
    if url.len() > limits::MAX_URL_BYTES {
        return None;
    }
    let parsed = Url::parse(url).ok()?;
    (matches!(parsed.scheme(), "http" | "https") && parsed.host_str().is_some()).then_some(url)
}

/// A URL field of an actor: http(s), not longer than URLs stored anywhere, on the actor's own
/// authority (an actor cannot have its activities delivered to, or its followers listed by,
/// another server).
fn own_url<'a>(json: &'a Value, field: &str, id: &Url) -> Result<Option<&'a str>, FedError> {
    let Some(raw) = str_field(json, field) else {
        return Ok(None);
    };
    if raw.len() > limits::MAX_URL_BYTES {
        return Err(FedError::bad(format!(
            "actor {id}: {field} is longer than {} bytes",
            limits::MAX_URL_BYTES
        )));
    }
    let url =
        Url::parse(raw).map_err(|_| FedError::bad(format!("actor {id}: {field} is not a URL")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FedError::bad(format!(
            "actor {id}: {field} is not an http(s) URL"
        )));
    }
    if !same_authority(&url, id) {
        return Err(FedError::forbidden(format!(
            "actor {id}: {field} {raw} is on another host than the actor"
        )));
    }
    Ok(Some(raw))
}

fn cut_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn cut_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// What an actor says about itself, within [`actor_limits`]: its display name (a Group's title),
/// and its bio (a Group's description) as markdown (its `source`, or else the sanitised HTML) and
/// as sanitised HTML.
pub(crate) struct ActorText {
    pub(crate) display_name: Option<String>,
    pub(crate) bio: Option<String>,
    pub(crate) bio_html: Option<String>,
}

pub(crate) fn actor_text(json: &Value) -> ActorText {
    use actor_limits::*;
    let display_name = str_field(json, "name").map(|n| cut_chars(n, MAX_DISPLAY_NAME_CHARS));
    let summary_html =
        str_field(json, "summary").map(|h| content::sanitize_html(cut_bytes(h, MAX_BIO_BYTES)));
    let source = markdown_source(json).map(|md| cut_bytes(md, MAX_BIO_BYTES).to_owned());
    let bio_html = match &source {
        Some(md) => Some(content::markdown_to_html(md)),
        None => summary_html,
    };
    let bio = source.or_else(|| bio_html.clone());
    ActorText {
        display_name,
        bio,
        bio_html,
    }
}

/// Check a Person or Group document fetched from `url` (or carried by its own Update): it
/// describes itself at that URL's authority, its key is its own, and every field is within
/// [`actor_limits`]. Nothing is written.
pub fn parse_actor<'a>(url: &Url, json: &'a Value) -> Result<ParsedActor<'a>, FedError> {
    use actor_limits::*;
    let id = json
        .get("id")
        .and_then(id_of)
        .ok_or_else(|| FedError::bad("actor without id"))?;
    if !same_authority(&id, url) {
        return Err(FedError::forbidden(format!(
            "actor {id} was served by another host"
        )));
    }
    if id.as_str().len() > limits::MAX_URL_BYTES || !matches!(id.scheme(), "http" | "https") {
        return Err(FedError::bad(format!(
            "actor id {id} is not a usable http(s) URL"
        )));
    }
    let kind = kind_of(json);
    let is_group = kind == "Group";
    if !is_group && !crate::receive::rules::PERSON_TYPES.contains(&kind) {
        return Err(FedError::bad(format!(
            "{id} is a {kind:?}, not an actor Canopy understands"
        )));
    }
    let name = str_field(json, "preferredUsername")
        .ok_or_else(|| FedError::bad(format!("actor {id} has no preferredUsername")))?;
    if name.chars().count() > MAX_USERNAME_CHARS || name.chars().any(char::is_control) {
        return Err(FedError::bad(format!(
            "actor {id}: preferredUsername is longer than {MAX_USERNAME_CHARS} characters or has control characters"
        )));
    }
    let inbox = own_url(json, "inbox", &id)?
        .ok_or_else(|| FedError::bad(format!("actor {id} has no inbox")))?;
    let shared_inbox = match json.get("endpoints") {
        Some(e) => own_url(e, "sharedInbox", &id)?,
        None => None,
    };
    let followers = own_url(json, "followers", &id)?;
    let moderators = if is_group {
        json.get("attributedTo")
            .or_else(|| json.get("moderators"))
            .and_then(id_of)
            .filter(|u| same_authority(u, &id) && u.as_str().len() <= limits::MAX_URL_BYTES)
    } else {
        None
    };
    let featured = json
        .get("featured")
        .filter(|_| is_group)
        .and_then(id_of)
        .filter(|u| same_authority(u, &id) && u.as_str().len() <= limits::MAX_URL_BYTES);
    let key = json
        .get("publicKey")
        .ok_or_else(|| FedError::bad(format!("actor {id} has no publicKey")))?;
    let key = match key {
        // Some servers list several keys; the first is the main one.
        Value::Array(keys) => keys
            .first()
            .ok_or_else(|| FedError::bad(format!("actor {id} has no publicKey")))?,
        other => other,
    };
    let pem = str_field(key, "publicKeyPem")
        .ok_or_else(|| FedError::bad("publicKey without publicKeyPem"))?;
    if pem.len() > MAX_KEY_PEM_BYTES {
        return Err(FedError::bad(format!(
            "actor {id}: publicKeyPem is longer than {MAX_KEY_PEM_BYTES} bytes"
        )));
    }
    if let Some(owner) = key.get("owner").and_then(id_of) {
        if owner != id {
            return Err(FedError::forbidden(format!(
                "the key of {id} is owned by {owner}"
            )));
        }
    }
    let ActorText {
        display_name,
        bio,
        bio_html,
    } = actor_text(json);
    Ok(ParsedActor {
        id,
        is_group,
        name,
        display_name,
        bio,
        bio_html,
        inbox,
        shared_inbox,
        followers,
        moderators,
        featured,
        posting_restricted_to_mods: is_group
            && json.get("postingRestrictedToMods") == Some(&Value::Bool(true)),
        public_key_pem: pem,
        avatar: picture(json, "icon").filter(|_| !is_group),
        banner: picture(json, "image").filter(|_| !is_group),
    })
}

/// Store a fetched Person or Group after [`parse_actor`]'s checks.
pub async fn store_actor(url: &Url, json: &Value, data: &FedData) -> Result<Actor, FedError> {
    let parsed = parse_actor(url, json)?;
    save_actor(&parsed, data).await
}

async fn save_actor(a: &ParsedActor<'_>, data: &FedData) -> Result<Actor, FedError> {
    let auth = authority(&a.id);
    let actor = if a.is_group {
        actors::upsert_community(
            &data.db,
            &RemoteCommunity {
                authority: &auth,
                ap_id: a.id.as_str(),
                name: a.name,
                title: a.display_name.as_deref().unwrap_or(a.name),
                description: a.bio.as_deref(),
                description_html: a.bio_html.as_deref(),
                inbox_url: a.inbox,
                shared_inbox_url: a.shared_inbox,
                followers_url: a.followers,
                public_key_pem: a.public_key_pem,
                posting_restricted_to_mods: a.posting_restricted_to_mods,
            },
        )
        .await?;
        let community = actors::community_by_ap_id(&data.db, a.id.as_str())
            .await?
            .ok_or_else(|| FedError::Internal("stored community vanished".into()))?;
        if let Some(url) = &a.moderators {
            if let Err(e) = read_moderators(url, &community, data).await {
                tracing::info!(community = %a.id, error = %e, "could not read the moderators of a remote community");
            }
        }
        if let Some(url) = &a.featured {
            if let Err(e) = read_featured(url, &community, data).await {
                tracing::info!(community = %a.id, error = %e, "could not read the featured posts of a remote community");
            }
        }
        Actor::Community(community)
    } else {
        actors::upsert_person(
            &data.db,
            &RemotePerson {
                authority: &auth,
                ap_id: a.id.as_str(),
                name: a.name,
                display_name: a.display_name.as_deref(),
                bio: a.bio.as_deref(),
                bio_html: a.bio_html.as_deref(),
                inbox_url: a.inbox,
                shared_inbox_url: a.shared_inbox,
                public_key_pem: a.public_key_pem,
                avatar_url: a.avatar,
                banner_url: a.banner,
            },
        )
        .await?;
        Actor::Person(
            actors::person_by_ap_id(&data.db, a.id.as_str())
                .await?
                .ok_or_else(|| FedError::Internal("stored person vanished".into()))?,
        )
    };
    data.actors.put(&actor);
    Ok(actor)
}

/// Read a remote community's moderators collection (one page: the items of the collection or of
/// its embedded first page, at most [`canopy_db::moderation::MAX_REMOTE_MODERATORS`]) and store
/// them as its moderators. The fetch counts against the activity's fetch budget like any other.
async fn read_moderators(
    url: &Url,
    community: &CommunityActor,
    data: &FedData,
) -> Result<(), FedError> {
    if community.local {
        return Ok(());
    }
    let ids = collection_ids(url, canopy_db::moderation::MAX_REMOTE_MODERATORS, data).await?;
    canopy_db::moderation::replace_remote_moderators(&data.db, community.id, &ids).await?;
    Ok(())
}

/// Read a remote community's featured collection (one page, as for moderators) and feature
/// exactly the posts it lists among those stored here. Posts not stored are not fetched.
async fn read_featured(
    url: &Url,
    community: &CommunityActor,
    data: &FedData,
) -> Result<(), FedError> {
    if community.local {
        return Ok(());
    }
    let max = canopy_db::moderation::MAX_FEATURED as usize;
    let ids = collection_ids(url, max, data).await?;
    canopy_db::moderation::replace_remote_featured(&data.db, community.id, &ids).await?;
    Ok(())
}

/// The ids (URLs, or embedded objects' ids) of the first `max` items of the collection at `url`:
/// its own items, or those of its embedded first page.
async fn collection_ids(url: &Url, max: usize, data: &FedData) -> Result<Vec<String>, FedError> {
    let json = fetch_json(url, data).await?;
    let page = match json.get("orderedItems").or_else(|| json.get("items")) {
        Some(items) => Some(items),
        None => json
            .get("first")
            .filter(|f| f.is_object())
            .and_then(|f| f.get("orderedItems").or_else(|| f.get("items"))),
    };
    let items = page
        .and_then(Value::as_array)
        .ok_or_else(|| FedError::bad(format!("{url} is not a collection with items")))?;
    Ok(items
        .iter()
        .filter_map(id_of)
        .filter(|u| u.as_str().len() <= limits::MAX_URL_BYTES)
        .take(max)
        .map(String::from)
        .collect())
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
    match canopy_db::instances::software(&data.db, authority).await {
        Ok(Some(_)) | Err(_) => return,
        Ok(None) => {}
    }
    if let Some(found) = read_nodeinfo(authority, data).await {
        record_software(authority, &found, data).await;
    }
}

/// What an instance's NodeInfo says it runs: the software's name (lower case) and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Software {
    pub name: String,
    pub version: Option<String>,
}

/// The software `authority` runs: as recorded, or read from its NodeInfo now (and recorded, if
/// the instance is known). `None` when neither says.
pub async fn software(authority: &str, data: &FedData) -> Result<Option<Software>, FedError> {
    if let Some((name, version)) =
        canopy_db::instances::software_version(&data.db, authority).await?
    {
        return Ok(Some(Software { name, version }));
    }
    let found = read_nodeinfo(authority, data).await;
    if let Some(found) = &found {
        record_software(authority, found, data).await;
    }
    Ok(found)
}

async fn record_software(authority: &str, found: &Software, data: &FedData) {
    let version = found.version.as_deref();
    if let Err(e) =
        canopy_db::instances::set_software(&data.db, authority, &found.name, version).await
    {
        tracing::debug!(error = %e, authority, "could not record instance software");
    }
}

/// Read `authority`'s NodeInfo (the index, then the newest schema it links to on the same
/// authority). Failures are logged at debug level and give `None`.
async fn read_nodeinfo(authority: &str, data: &FedData) -> Option<Software> {
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
    let index = get(format!("{scheme}://{authority}/.well-known/nodeinfo")).await?;
    let href = index
        .get("links")
        .and_then(Value::as_array)
        .and_then(|links| {
            // The newest schema is listed last; other links (the instance actor's, FEP-2677)
            // are not NodeInfo documents.
            links
                .iter()
                .rev()
                .filter(|l| {
                    str_field(l, "rel").is_some_and(|r| {
                        r.starts_with("http://nodeinfo.diaspora.software/ns/schema/")
                    })
                })
                .find_map(|l| str_field(l, "href"))
        })
        .map(String::from)?;
    // NodeInfo must be on the instance itself.
    if Url::parse(&href)
        .map(|u| canopy_core::authority(&u) != authority)
        .unwrap_or(true)
    {
        return None;
    }
    let info = get(href).await?;
    let software = info.get("software")?;
    let name = str_field(software, "name")?;
    if name.len() > 100 {
        return None;
    }
    Some(Software {
        name: name.to_lowercase(),
        version: str_field(software, "version")
            .filter(|v| v.len() <= 100)
            .map(String::from),
    })
}

/// The instance actor's key as aws-lc-rs holds it, parsed once, for the fetches this node signs
/// itself (backfill: thousands of fetches in a row, where activitypub_federation's signer, the
/// pure-Rust `rsa` crate, is the bottleneck).
pub struct FetchSigner {
    key: crate::signatures::PrivateKey,
    key_id: String,
}

impl FetchSigner {
    async fn load(data: &FedData) -> Result<Self, FedError> {
        let keys = crate::routes::instance_actor::instance_actor_keys(&data.db, data.instance_id)
            .await
            .map_err(|e| FedError::Internal(format!("instance actor keys: {e}")))?;
        let key = crate::signatures::PrivateKey::from_pem(&keys.private_key_pem)
            .map_err(|e| FedError::Internal(format!("instance actor key: {e}")))?;
        let actor = crate::protocol::actors::instance_actor_id(&data.base);
        Ok(Self {
            key,
            key_id: format!("{actor}#main-key"),
        })
    }
}

/// The media types an ActivityPub document may come with (compared without parameters other
/// than the ActivityStreams profile).
fn activity_json(content_type: Option<&http::HeaderValue>) -> bool {
    let Some(ct) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let ct = ct.to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or("").trim();
    essence == "application/activity+json"
        || (essence == "application/ld+json"
            && ct.contains("https://www.w3.org/ns/activitystreams"))
}

/// [`fetch_object`] signed by this node itself (aws-lc-rs) rather than by activitypub_federation,
/// with the same checks: the outbound policy and the failing-host guard, the ActivityStreams
/// content type, a body of at most [`crate::outbound::DOCUMENT_LIMIT`], one redirect, `410` as
/// [`Fetched::Gone`], and the document's `id` equal to the URL it was finally fetched from (an id
/// on the same host is fetched in turn, once; another host's is refused). It does not count
/// against a [`FedData`]'s fetch budget: its caller bounds its own requests (backfill).
pub async fn fetch_object_signed(url: &Url, data: &FedData) -> Result<Fetched, FedError> {
    let signer = data
        .fetch_signer
        .get_or_try_init(|| FetchSigner::load(data))
        .await?;
    let host = authority(url);
    data.guard
        .before_fetch(&host)
        .map_err(|e| FedError::Unresolvable(format!("could not fetch {url}: {e}")))?;
    let fetched = signed_get(url, data, signer, true).await;
    let host_answered = match &fetched {
        Ok(_) => true,
        Err(FedError::Outbound { source, .. }) => match source.as_ref() {
            OutboundError::Status { status, .. } => !status.is_server_error(),
            other => other.refusal().is_some(),
        },
        Err(_) => true,
    };
    data.guard.after_fetch(&host, host_answered);
    fetched
}

async fn signed_get(
    url: &Url,
    data: &FedData,
    signer: &FetchSigner,
    may_follow_id: bool,
) -> Result<Fetched, FedError> {
    use crate::outbound::{read_limited, DOCUMENT_LIMIT};
    let context = |u: &Url| format!("could not fetch {u}");
    let mut at = url.clone();
    let mut redirected = false;
    let response = loop {
        if is_local(&at, data) {
            return Err(FedError::NotFound(format!("{at} is local and not stored")));
        }
        data.http
            .check_url(&at)
            .map_err(|e| FedError::outbound(context(&at), e))?;
        let headers = crate::signatures::sign_get(
            &signer.key,
            &signer.key_id,
            &at,
            std::time::SystemTime::now(),
        )?;
        let response = data
            .http
            .client()
            .get(at.clone())
            .headers(headers)
            .header(
                http::header::ACCEPT,
                "application/activity+json, application/ld+json; \
                 profile=\"https://www.w3.org/ns/activitystreams\"",
            )
            .send()
            .await
            .map_err(|e| {
                FedError::outbound(
                    context(&at),
                    OutboundError::from_request(&at, &e, data.http.timeout()),
                )
            })?;
        let status = response.status();
        if status.is_redirection() && !redirected {
            let next = response
                .headers()
                .get(http::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| at.join(l).ok())
                .ok_or_else(|| {
                    FedError::Unresolvable(format!("{}: a bad redirect", context(&at)))
                })?;
            redirected = true;
            at = next;
            continue;
        }
        break response;
    };
    let status = response.status();
    if status == http::StatusCode::GONE {
        return Ok(Fetched::Gone);
    }
    if !status.is_success() {
        return Err(FedError::outbound(
            context(&at),
            OutboundError::Status {
                url: at.clone(),
                status,
            },
        ));
    }
    if !activity_json(response.headers().get(http::header::CONTENT_TYPE)) {
        return Err(FedError::Unresolvable(format!(
            "{}: not an ActivityStreams document",
            context(&at)
        )));
    }
    let body = read_limited(response, &at, DOCUMENT_LIMIT, data.http.timeout())
        .await
        .map_err(|e| FedError::outbound(context(&at), e))?;
    let json: Value = serde_json::from_slice(&body)
        .map_err(|e| FedError::Unresolvable(format!("{}: {e}", context(&at))))?;
    match json.get("id").and_then(id_of) {
        Some(id) if id == at => Ok(Fetched::Object(json)),
        Some(id) if may_follow_id && authority(&id) == authority(&at) => {
            Box::pin(signed_get(&id, data, signer, false)).await
        }
        _ => Err(FedError::Unresolvable(format!(
            "{}: the document names another id than its URL",
            context(&at)
        ))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod picture_tests {
    use super::picture;
    use serde_json::json;

    #[test]
    fn pictures_are_http_urls_of_bounded_length_in_any_of_their_shapes() {
        let ok = "https://media.example/a.png";
        for v in [
            json!({"icon": {"type": "Image", "url": ok}}),
            json!({"icon": ok}),
            json!({"icon": [{"type": "Image", "url": ok}, {"type": "Image", "url": "https://x.example/b"}]}),
            json!({"icon": {"type": "Image", "url": {"type": "Link", "href": ok}}}),
        ] {
            assert_eq!(picture(&v, "icon"), Some(ok), "{v}");
        }
        let long = format!("https://media.example/{}", "a".repeat(2_000));
        for bad in [
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "/relative.png",
            "ftp://media.example/a.png",
            long.as_str(),
        ] {
            assert_eq!(
                picture(&json!({"image": {"type": "Image", "url": bad}}), "image"),
                None,
                "{bad}"
            );
        }
        assert_eq!(picture(&json!({"icon": 5}), "icon"), None);
        assert_eq!(picture(&json!({}), "icon"), None);
    }
}
