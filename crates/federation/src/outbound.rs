//! The one way out of the node. Every request Canopy makes to another server (object and actor
//! fetches, WebFinger, NodeInfo, signed GETs, deliveries) goes through [`Outbound`], which
//! enforces one policy:
//!
//! - **Addresses.** In production, loopback, private, link-local (cloud metadata services live
//!   at 169.254.169.254), shared (CGNAT), multicast, broadcast, unspecified, documentation and
//!   reserved addresses are refused, in IPv4, IPv6 and IPv6 forms that embed an IPv4 address.
//!   Names are checked on the addresses they resolve to, at connect time, by the client's own
//!   resolver ([`PolicyResolver`]), so a name cannot resolve to a public address when checked
//!   and a private one when used. URLs whose host is an IP literal never reach a resolver; they
//!   are checked before every request by a middleware of the client ([`AddressCheck`]).
//!   A development node (`allow_private_addresses`) reaches any address; `allowed_networks`
//!   opens chosen networks in production; the host table answers for chosen names first.
//! - **Redirects.** The client follows none. [`Outbound::get_json`] follows a few itself,
//!   each new target checked like the first; activitypub_federation follows one on fetches,
//!   through this same client; deliveries follow none.
//! - **Bodies** are read while counting: at most [`DOCUMENT_LIMIT`] for documents (the library
//!   caps its fetches at the same size), [`ERROR_BODY_LIMIT`] for a failed delivery's answer.
//! - **Time**: a connect timeout and a total timeout, body included.
//! - **Instances** the administrators blocked (or, in allow-list mode, did not list) are never
//!   contacted: the URL's authority is checked against the node's [`Governance`] before the
//!   request is sent, by the same middleware, so library fetches are covered too.
//!
//! Every refusal is an [`OutboundError`] whose message names its cause.

use crate::governance::{Governance, Refused as Governed};
use crate::urls::PublicBase;
use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE, LOCATION};
use reqwest::{Response, StatusCode};
use reqwest_middleware::{ClientWithMiddleware, Middleware, Next};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use url::{Host, Url};

/// Most bytes read of a document (an actor, an object, WebFinger, NodeInfo).
pub const DOCUMENT_LIMIT: usize = 1024 * 1024;

/// Most bytes read of the answer to a delivery that failed (only its start is logged).
pub const ERROR_BODY_LIMIT: usize = 4 * 1024;

/// Most redirects [`Outbound::get_json`] follows.
pub const MAX_REDIRECTS: usize = 3;

/// How long a request may take from connecting to the last byte of its body.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long connecting may take.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The kinds of address that are not on the public internet, each refused in production.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16.
    Private,
    /// 169.254.0.0/16 (cloud metadata services), fe80::/10.
    LinkLocal,
    /// 100.64.0.0/10, the carrier-grade NAT range cloud providers use inside their networks.
    Shared,
    /// fc00::/7.
    UniqueLocal,
    /// 224.0.0.0/4, ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 0.0.0.0/8 (connecting to it reaches the host itself on Linux), ::.
    Unspecified,
    /// 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32, 3fff::/20.
    Documentation,
    /// 240.0.0.0/4, 192.0.0.0/24, 198.18.0.0/15, IPv4-compatible IPv6, 64:ff9b:1::/48,
    /// 100::/64, fec0::/10: ranges with no public host.
    Reserved,
}

impl AddressClass {
    /// "a loopback address".
    pub fn singular(self) -> &'static str {
        match self {
            AddressClass::Loopback => "a loopback address",
            AddressClass::Private => "a private address",
            AddressClass::LinkLocal => "a link-local address",
            AddressClass::Shared => "a shared (carrier-grade NAT) address",
            AddressClass::UniqueLocal => "a unique local (ULA) address",
            AddressClass::Multicast => "a multicast address",
            AddressClass::Broadcast => "the broadcast address",
            AddressClass::Unspecified => "an unspecified address",
            AddressClass::Documentation => "a documentation address",
            AddressClass::Reserved => "a reserved address",
        }
    }

    /// "loopback addresses".
    pub fn plural(self) -> &'static str {
        match self {
            AddressClass::Loopback => "loopback addresses",
            AddressClass::Private => "private addresses",
            AddressClass::LinkLocal => "link-local addresses",
            AddressClass::Shared => "shared (carrier-grade NAT) addresses",
            AddressClass::UniqueLocal => "unique local (ULA) addresses",
            AddressClass::Multicast => "multicast addresses",
            AddressClass::Broadcast => "broadcast addresses",
            AddressClass::Unspecified => "unspecified addresses",
            AddressClass::Documentation => "documentation addresses",
            AddressClass::Reserved => "reserved addresses",
        }
    }
}

/// What kind of non-public address `ip` is, or `None` for a public one. IPv6 addresses that
/// carry an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by the IPv4 address.
pub fn classify(ip: IpAddr) -> Option<AddressClass> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    use AddressClass::*;
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => Unspecified,
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => Private,
        (100, 64..=127, _) => Shared,
        (127, _, _) => Loopback,
        (169, 254, _) => LinkLocal,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Documentation,
        (192, 0, 0) | (198, 18..=19, _) => Reserved,
        (224..=239, _, _) => Multicast,
        _ if ip == Ipv4Addr::BROADCAST => Broadcast,
        (240..=255, _, _) => Reserved,
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    use AddressClass::*;
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if ip.is_unspecified() {
        return Some(Unspecified);
    }
    if ip.is_loopback() {
        return Some(Loopback);
    }
    match s {
        // IPv4-mapped: a dual-stack socket connects to the IPv4 address itself.
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => classify_v4(embedded(hi, lo)),
        // IPv4-compatible (deprecated): never routed, refused whatever it embeds.
        [0, 0, 0, 0, 0, 0, hi, lo] => Some(classify_v4(embedded(hi, lo)).unwrap_or(Reserved)),
        // NAT64: reaches the embedded IPv4 address.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => classify_v4(embedded(hi, lo)),
        [0x64, 0xff9b, 1, ..] => Some(Reserved),
        // 6to4: reaches the embedded IPv4 address.
        [0x2002, hi, lo, ..] => classify_v4(embedded(hi, lo)),
        [0x100, 0, 0, 0, ..] => Some(Reserved),
        [0x2001, 0xdb8, ..] | [0x3fff, 0..=0x0fff, ..] => Some(Documentation),
        [first, ..] if first & 0xfe00 == 0xfc00 => Some(UniqueLocal),
        [first, ..] if first & 0xffc0 == 0xfe80 => Some(LinkLocal),
        [first, ..] if first & 0xffc0 == 0xfec0 => Some(Reserved),
        [first, ..] if first & 0xff00 == 0xff00 => Some(Multicast),
        _ => None,
    }
}

/// A request that was not made because of where it would have gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The host of the URL: a name, or the address itself.
    pub host: String,
    /// The address that was refused.
    pub address: IpAddr,
    pub class: AddressClass,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let is_literal = self
            .host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok();
        if is_literal {
            write!(f, "{} is {}", self.host, self.class.singular())?;
        } else {
            write!(
                f,
                "{} resolves to {}, {}",
                self.host,
                self.address,
                self.class.singular()
            )?;
        }
        write!(
            f,
            "; outgoing requests to {} are refused (set allow_private_addresses for development)",
            self.class.plural()
        )
    }
}

impl std::error::Error for Refusal {}

/// Why an outgoing request failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// The address policy refused the target; nothing was sent.
    #[error("{0}")]
    Refused(#[source] Refusal),
    /// The instance policy refused the target's instance (blocked, or not on the allow-list);
    /// nothing was sent.
    #[error("{url} was not requested: {refused}")]
    Governed {
        url: Url,
        #[source]
        refused: Box<Governed>,
    },
    /// Not an http(s) URL; nothing was sent.
    #[error("{0} is not an http or https URL; outgoing requests use only those")]
    Scheme(Url),
    #[error("{url} sent more than {limit} bytes")]
    TooLarge { url: Url, limit: usize },
    #[error("{url} did not answer within {}", humanize(*.after))]
    Timeout { url: Url, after: Duration },
    #[error("{url} redirected more than {limit} times")]
    TooManyRedirects { url: Url, limit: usize },
    #[error("{url} redirected to {location:?}, which is not a URL")]
    BadRedirect { url: Url, location: String },
    #[error("{url} answered {status}")]
    Status { url: Url, status: StatusCode },
    #[error("{url} did not answer with JSON: {detail}")]
    NotJson { url: Url, detail: String },
    /// Connecting, sending or reading failed; `detail` holds every cause.
    #[error("could not reach {url}: {detail}")]
    Transport { url: Url, detail: String },
}

fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

impl OutboundError {
    /// Whether the policy refused the request before anything was sent: trying again
    /// cannot succeed while the settings stay as they are.
    pub fn is_refused(&self) -> bool {
        matches!(
            self,
            OutboundError::Refused(_) | OutboundError::Scheme(_) | OutboundError::Governed { .. }
        )
    }

    /// The instance policy's refusal, when it stopped the request.
    pub fn governed(&self) -> Option<&Governed> {
        match self {
            OutboundError::Governed { refused, .. } => Some(refused.as_ref()),
            _ => None,
        }
    }

    /// The refusal, when the address policy stopped the request.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            OutboundError::Refused(r) => Some(r),
            _ => None,
        }
    }

    /// Build from what reqwest_middleware returns for a request to `url`, naming every cause
    /// (reqwest's own message names only the URL).
    pub fn from_request(url: &Url, error: &reqwest_middleware::Error, timeout: Duration) -> Self {
        match error {
            reqwest_middleware::Error::Reqwest(e) => Self::from_reqwest(url, e, timeout),
            reqwest_middleware::Error::Middleware(e) => match e.downcast_ref::<OutboundError>() {
                Some(OutboundError::Refused(r)) => OutboundError::Refused(r.clone()),
                Some(OutboundError::Governed { url, refused }) => OutboundError::Governed {
                    url: url.clone(),
                    refused: refused.clone(),
                },
                _ => OutboundError::Transport {
                    url: url.clone(),
                    detail: chain(e.as_ref()),
                },
            },
        }
    }

    /// Build from a reqwest error of a request to `url`.
    pub fn from_reqwest(url: &Url, error: &reqwest::Error, timeout: Duration) -> Self {
        if let Some(refusal) = refusal_in(error) {
            return OutboundError::Refused(refusal.clone());
        }
        if error.is_timeout() {
            return OutboundError::Timeout {
                url: url.clone(),
                after: timeout,
            };
        }
        OutboundError::Transport {
            url: url.clone(),
            detail: chain(error),
        }
    }

    /// Build from an error of activitypub_federation's fetch of `url` through this client;
    /// `None` when the error is not about the request itself (content type, id, parsing).
    pub fn from_library(
        url: &Url,
        error: &activitypub_federation::error::Error,
        timeout: Duration,
    ) -> Option<Self> {
        use activitypub_federation::error::Error as E;
        match error {
            E::ReqwestMiddleware(e) => Some(Self::from_request(url, e, timeout)),
            E::Reqwest(e) => Some(Self::from_reqwest(url, e, timeout)),
            E::ResponseBodyLimit => Some(OutboundError::TooLarge {
                url: url.clone(),
                limit: DOCUMENT_LIMIT,
            }),
            _ => None,
        }
    }
}

/// The first [`Refusal`] among `error` and its causes.
fn refusal_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refusal> {
    std::iter::successors(Some(error), |e| e.source()).find_map(|e| e.downcast_ref::<Refusal>())
}

/// `error` and its causes on one line, without repeating a cause its parent already says.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in std::iter::successors(Some(error), |e| e.source()) {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// The outgoing-request settings of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Whether requests may go to any address, private ones included. `None`: only when the
    /// public URL is `http://` (development).
    pub allow_private_addresses: Option<bool>,
    /// Networks requests may reach even when private addresses are refused.
    pub allowed_networks: Vec<IpNet>,
    /// Addresses for host names, consulted before DNS (like `/etc/hosts`); the policy still
    /// applies to them. Names are matched without case.
    pub hosts: BTreeMap<String, IpAddr>,
    /// How long a request may take, body included.
    pub timeout: Duration,
    /// How long connecting may take.
    pub connect_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            allow_private_addresses: None,
            allowed_networks: Vec::new(),
            hosts: BTreeMap::new(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// Which addresses requests may reach.
#[derive(Debug, Clone)]
pub struct AddressPolicy {
    allow_private: bool,
    allowed_networks: Vec<IpNet>,
}

impl AddressPolicy {
    pub fn new(allow_private: bool, allowed_networks: Vec<IpNet>) -> Self {
        Self {
            allow_private,
            allowed_networks,
        }
    }

    /// Whether a request to `host`, which is or resolved to `address`, may be made.
    pub fn check(&self, host: &str, address: IpAddr) -> Result<(), Refusal> {
        if self.allow_private {
            return Ok(());
        }
        let canonical = address.to_canonical();
        if self
            .allowed_networks
            .iter()
            .any(|n| n.contains(&address) || n.contains(&canonical))
        {
            return Ok(());
        }
        match classify(address) {
            None => Ok(()),
            Some(class) => Err(Refusal {
                host: host.to_owned(),
                address,
                class,
            }),
        }
    }

    /// Whether `url` may be requested as far as can be told without resolving it: an http(s)
    /// URL whose host, if an IP literal, is allowed. Names are checked when they are resolved.
    pub fn check_url(&self, url: &Url) -> Result<(), OutboundError> {
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(OutboundError::Scheme(url.clone()));
        }
        let address = match url.host() {
            Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
            Some(Host::Domain(_)) => return Ok(()),
            None => {
                return Err(OutboundError::Transport {
                    url: url.clone(),
                    detail: "the URL has no host".into(),
                })
            }
        };
        let host = url.host_str().unwrap_or_default();
        self.check(host, address).map_err(OutboundError::Refused)
    }
}

/// The client's resolver: the host table, then DNS; only addresses the policy allows are
/// returned, and a name left with none is refused with the first address's reason.
#[derive(Clone)]
pub struct PolicyResolver {
    policy: Arc<AddressPolicy>,
    hosts: Arc<HashMap<String, IpAddr>>,
}

impl PolicyResolver {
    /// The addresses `name` may be reached at.
    pub async fn resolve_name(&self, name: &str) -> Result<Vec<SocketAddr>, ResolveError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let found: Vec<SocketAddr> = match self.hosts.get(&name) {
            Some(ip) => vec![SocketAddr::new(*ip, 0)],
            None => tokio::net::lookup_host((name.as_str(), 0))
                .await
                .map_err(|e| ResolveError::Lookup {
                    name: name.clone(),
                    detail: e.to_string(),
                })?
                .collect(),
        };
        let mut refused = None;
        let allowed: Vec<SocketAddr> = found
            .iter()
            .filter(|a| match self.policy.check(&name, a.ip()) {
                Ok(()) => true,
                Err(r) => {
                    refused.get_or_insert(r);
                    false
                }
            })
            .copied()
            .collect();
        match (allowed.is_empty(), refused) {
            (false, _) => Ok(allowed),
            (true, Some(r)) => Err(ResolveError::Refused(r)),
            (true, None) => Err(ResolveError::Lookup {
                name,
                detail: "no addresses".into(),
            }),
        }
    }
}

/// Why the resolver gave no address.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Refused(Refusal),
    #[error("could not resolve {name}: {detail}")]
    Lookup { name: String, detail: String },
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let resolver = self.clone();
        let name = name.as_str().to_owned();
        Box::pin(async move {
            match resolver.resolve_name(&name).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as Addrs),
                // Boxed as itself so that callers find it among the causes of reqwest's error.
                Err(ResolveError::Refused(r)) => Err(Box::new(r) as _),
                Err(e) => Err(Box::new(e) as _),
            }
        })
    }
}

/// The client middleware that checks every request's URL (scheme, IP-literal host) before it
/// is sent: reqwest does not call the resolver for an IP literal.
pub struct AddressCheck {
    policy: Arc<AddressPolicy>,
    governance: Option<Arc<Governance>>,
}

#[async_trait::async_trait]
impl Middleware for AddressCheck {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        check(&self.policy, self.governance.as_deref(), req.url())
            .map_err(reqwest_middleware::Error::middleware)?;
        next.run(req, extensions).await
    }
}

/// The address policy's and the instance policy's verdict on `url`.
fn check(
    policy: &AddressPolicy,
    governance: Option<&Governance>,
    url: &Url,
) -> Result<(), OutboundError> {
    policy.check_url(url)?;
    if let Some(governance) = governance {
        governance
            .check(&canopy_core::authority(url))
            .map_err(|refused| OutboundError::Governed {
                url: url.clone(),
                refused: Box::new(refused),
            })?;
    }
    Ok(())
}

/// The node's HTTP client with its outgoing policy. Cheap to clone.
#[derive(Clone)]
pub struct Outbound {
    client: ClientWithMiddleware,
    policy: Arc<AddressPolicy>,
    governance: Option<Arc<Governance>>,
    resolver: PolicyResolver,
    timeout: Duration,
    strict: bool,
}

impl fmt::Debug for Outbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbound")
            .field("policy", &self.policy)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The client could not be built (TLS set-up).
#[derive(Debug, thiserror::Error)]
#[error("could not build the HTTP client: {0}")]
pub struct BuildError(String);

impl Outbound {
    /// The client for a node whose public URL is `base`; with `governance`, instances it
    /// refuses are never contacted.
    pub fn new(
        settings: &Settings,
        base: &PublicBase,
        governance: Option<Arc<Governance>>,
    ) -> Result<Self, BuildError> {
        let development = base.as_str().starts_with("http://");
        let allow_private = settings.allow_private_addresses.unwrap_or(development);
        let policy = Arc::new(AddressPolicy::new(
            allow_private,
            settings.allowed_networks.clone(),
        ));
        let hosts = settings
            .hosts
            .iter()
            .map(|(name, ip)| {
                (
                    name.trim_end_matches('.').to_ascii_lowercase(),
                    ip.to_owned(),
                )
            })
            .collect();
        let resolver = PolicyResolver {
            policy: policy.clone(),
            hosts: Arc::new(hosts),
        };
        let client = reqwest::Client::builder()
            .user_agent(concat!("Canopy/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would connect on our behalf to addresses the resolver never sees.
            .no_proxy()
            .dns_resolver(Arc::new(resolver.clone()))
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .build()
            .map_err(|e| BuildError(chain(&e)))?;
        let client = reqwest_middleware::ClientBuilder::new(client)
            .with(AddressCheck {
                policy: policy.clone(),
                governance: governance.clone(),
            })
            .build();
        Ok(Self {
            client,
            policy,
            governance,
            resolver,
            timeout: settings.timeout,
            strict: !allow_private
                && settings.allowed_networks.is_empty()
                && settings.hosts.is_empty(),
        })
    }

    /// The client itself, for activitypub_federation (its fetches pass the same checks).
    pub fn client(&self) -> ClientWithMiddleware {
        self.client.clone()
    }

    /// The address policy.
    pub fn policy(&self) -> &AddressPolicy {
        &self.policy
    }

    /// The resolver the client connects through.
    pub fn resolver(&self) -> &PolicyResolver {
        &self.resolver
    }

    /// The total timeout of a request.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// True for the plain production policy: no private addresses, no allowed networks and no
    /// host table. activitypub_federation's own address checks (system DNS, no explicit ports)
    /// agree with it and stay on as a second layer; with any exception they would contradict it.
    pub fn is_strict(&self) -> bool {
        self.strict
    }

    /// Whether `url` may be requested, as far as can be told before resolving it: its scheme,
    /// an IP-literal host, and its instance under the instance policy.
    pub fn check_url(&self, url: &Url) -> Result<(), OutboundError> {
        check(&self.policy, self.governance.as_deref(), url)
    }

    /// GET `url` and read it as JSON (at most [`DOCUMENT_LIMIT`] bytes), following at most
    /// [`MAX_REDIRECTS`] redirects, each checked like the first URL. A non-2xx answer is
    /// [`OutboundError::Status`].
    pub async fn get_json(&self, url: Url, accept: &str) -> Result<Value, OutboundError> {
        let accept = HeaderValue::from_str(accept).map_err(|e| OutboundError::Transport {
            url: url.clone(),
            detail: format!("bad Accept header: {e}"),
        })?;
        let mut url = url;
        let mut redirects = 0;
        loop {
            self.check_url(&url)?;
            let response = self
                .client
                .get(url.clone())
                .header(ACCEPT, accept.clone())
                .send()
                .await
                .map_err(|e| OutboundError::from_request(&url, &e, self.timeout))?;
            let status = response.status();
            if status.is_redirection() {
                let Some(location) = response.headers().get(LOCATION) else {
                    return Err(OutboundError::Status { url, status });
                };
                let location = String::from_utf8_lossy(location.as_bytes()).into_owned();
                let next = url
                    .join(&location)
                    .map_err(|_| OutboundError::BadRedirect {
                        url: url.clone(),
                        location,
                    })?;
                redirects += 1;
                if redirects > MAX_REDIRECTS {
                    return Err(OutboundError::TooManyRedirects {
                        url,
                        limit: MAX_REDIRECTS,
                    });
                }
                url = next;
                continue;
            }
            if !status.is_success() {
                return Err(OutboundError::Status { url, status });
            }
            let body = read_limited(response, &url, DOCUMENT_LIMIT, self.timeout).await?;
            return serde_json::from_slice(&body).map_err(|e| OutboundError::NotJson {
                url,
                detail: e.to_string(),
            });
        }
    }

    /// POST a signed activity to an inbox. Redirects are not followed (a redirected POST would
    /// carry a body signed for another URL); the answer is returned as it came, its body unread.
    pub async fn deliver(
        &self,
        url: Url,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<Response, OutboundError> {
        self.check_url(&url)?;
        self.client
            .post(url.clone())
            .headers(headers)
            .header(CONTENT_TYPE, "application/activity+json")
            .body(body)
            .send()
            .await
            .map_err(|e| OutboundError::from_request(&url, &e, self.timeout))
    }
}

/// Read `response`'s body, failing as soon as it passes `limit` bytes.
pub async fn read_limited(
    mut response: Response,
    url: &Url,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, OutboundError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| OutboundError::from_reqwest(url, &e, timeout))?
    {
        if body.len() + chunk.len() > limit {
            return Err(OutboundError::TooLarge {
                url: url.clone(),
                limit,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The start of a failed answer's body, as text: at most [`ERROR_BODY_LIMIT`] bytes are read,
/// and a body that cannot be read is empty.
pub async fn error_text(mut response: Response) -> String {
    let mut body = Vec::new();
    while body.len() < ERROR_BODY_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(ERROR_BODY_LIMIT);
    String::from_utf8_lossy(&body).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use AddressClass::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_address_class_is_recognised_by_ip() {
        let table: &[(&str, Option<AddressClass>)] = &[
            // IPv4
            ("127.0.0.1", Some(Loopback)),
            ("127.0.0.2", Some(Loopback)),
            ("127.255.255.254", Some(Loopback)),
            ("10.0.0.1", Some(Private)),
            ("10.255.255.255", Some(Private)),
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("192.168.1.1", Some(Private)),
            ("169.254.169.254", Some(LinkLocal)),
            ("169.254.0.1", Some(LinkLocal)),
            ("100.64.0.1", Some(Shared)),
            ("100.127.255.254", Some(Shared)),
            ("224.0.0.1", Some(Multicast)),
            ("239.255.255.250", Some(Multicast)),
            ("255.255.255.255", Some(Broadcast)),
            ("0.0.0.0", Some(Unspecified)),
            ("0.1.2.3", Some(Unspecified)),
            ("192.0.2.1", Some(Documentation)),
            ("198.51.100.7", Some(Documentation)),
            ("203.0.113.9", Some(Documentation)),
            ("240.0.0.1", Some(Reserved)),
            ("192.0.0.8", Some(Reserved)),
            ("198.18.0.1", Some(Reserved)),
            ("198.19.255.255", Some(Reserved)),
            // IPv4, public (neighbours of the ranges above)
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("100.63.255.255", None),
            ("100.128.0.1", None),
            ("172.15.255.255", None),
            ("172.32.0.1", None),
            ("169.253.255.255", None),
            ("192.169.0.1", None),
            ("198.20.0.1", None),
            ("223.255.255.255", None),
            // IPv6
            ("::1", Some(Loopback)),
            ("::", Some(Unspecified)),
            ("fc00::1", Some(UniqueLocal)),
            ("fd12:3456:789a::1", Some(UniqueLocal)),
            ("fe80::1", Some(LinkLocal)),
            ("febf::1", Some(LinkLocal)),
            ("fec0::1", Some(Reserved)),
            ("ff02::1", Some(Multicast)),
            ("ff0e::1", Some(Multicast)),
            ("2001:db8::1", Some(Documentation)),
            ("3fff:10::1", Some(Documentation)),
            ("100::1", Some(Reserved)),
            ("64:ff9b:1::1", Some(Reserved)),
            // IPv6 forms of IPv4 addresses
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("::ffff:10.1.2.3", Some(Private)),
            ("::ffff:169.254.169.254", Some(LinkLocal)),
            ("::ffff:100.64.0.1", Some(Shared)),
            ("::ffff:0.0.0.0", Some(Unspecified)),
            ("::ffff:8.8.8.8", None),
            ("::127.0.0.1", Some(Loopback)),
            ("::169.254.169.254", Some(LinkLocal)),
            ("::8.8.8.8", Some(Reserved)),
            ("64:ff9b::127.0.0.1", Some(Loopback)),
            ("64:ff9b::192.168.0.1", Some(Private)),
            ("64:ff9b::8.8.8.8", None),
            ("2002:7f00:1::", Some(Loopback)),
            ("2002:a9fe:a9fe::1", Some(LinkLocal)),
            ("2002:808:808::1", None),
            // IPv6, public
            ("2606:4700::1111", None),
            ("2a00:1450:4001::200e", None),
        ];
        for (addr, class) in table {
            assert_eq!(classify(ip(addr)), *class, "{addr}");
        }
    }

    #[test]
    fn production_policy_refuses_every_non_public_address_and_names_the_cause() {
        let policy = AddressPolicy::new(false, vec![]);
        for addr in [
            "127.0.0.1",
            "::1",
            "10.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "fc00::1",
            "0.0.0.0",
            "::ffff:127.0.0.1",
        ] {
            let refusal = policy.check(addr, ip(addr)).unwrap_err();
            assert_eq!(refusal.address, ip(addr));
            assert!(refusal.to_string().contains("refused"), "{addr}: {refusal}");
        }
        assert!(policy.check("8.8.8.8", ip("8.8.8.8")).is_ok());
        let named = policy.check("peer.test", ip("127.0.0.1")).unwrap_err();
        assert_eq!(
            named.to_string(),
            "peer.test resolves to 127.0.0.1, a loopback address; outgoing requests to \
             loopback addresses are refused (set allow_private_addresses for development)"
        );
        let literal = policy
            .check("169.254.169.254", ip("169.254.169.254"))
            .unwrap_err();
        assert!(
            literal
                .to_string()
                .starts_with("169.254.169.254 is a link-local address;"),
            "{literal}"
        );
    }

    #[test]
    fn development_policy_allows_everything() {
        let policy = AddressPolicy::new(true, vec![]);
        for addr in ["127.0.0.1", "::1", "10.0.0.1", "169.254.169.254", "fc00::1"] {
            assert!(policy.check(addr, ip(addr)).is_ok(), "{addr}");
        }
    }

    #[test]
    fn allowed_networks_open_only_themselves() {
        let policy = AddressPolicy::new(
            false,
            vec![
                "127.0.0.1/32".parse().unwrap(),
                "10.1.0.0/16".parse().unwrap(),
            ],
        );
        assert!(policy.check("a", ip("127.0.0.1")).is_ok());
        assert!(policy.check("a", ip("::ffff:127.0.0.1")).is_ok());
        assert!(policy.check("a", ip("10.1.200.3")).is_ok());
        assert_eq!(
            policy.check("a", ip("127.0.0.2")).unwrap_err().class,
            Loopback
        );
        assert_eq!(
            policy.check("a", ip("10.2.0.1")).unwrap_err().class,
            Private
        );
        assert_eq!(policy.check("a", ip("::1")).unwrap_err().class, Loopback);
    }

    #[test]
    fn urls_with_ip_literals_are_checked_before_any_request() {
        let policy = AddressPolicy::new(false, vec![]);
        for url in [
            "http://127.0.0.1:8080/u/x",
            "http://[::1]/x",
            "http://[::ffff:7f00:1]/x",
            "https://169.254.169.254/latest/meta-data/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0/",
            "http://[fc00::1]:443/",
        ] {
            let url = Url::parse(url).unwrap();
            let err = policy.check_url(&url).unwrap_err();
            assert!(err.refusal().is_some() && err.is_refused(), "{url}: {err}");
        }
        let err = policy
            .check_url(&Url::parse("file:///etc/passwd").unwrap())
            .unwrap_err();
        assert!(
            matches!(err, OutboundError::Scheme(_)) && err.is_refused(),
            "{err}"
        );
        // Names pass here; the resolver checks them.
        assert!(policy
            .check_url(&Url::parse("https://peer.example/u/x").unwrap())
            .is_ok());
    }

    fn outbound(settings: Settings, base: &str) -> Outbound {
        Outbound::new(&settings, &PublicBase::parse(base).unwrap(), None).unwrap()
    }

    #[tokio::test]
    async fn the_host_table_answers_first_and_is_still_checked() {
        let mut hosts = BTreeMap::new();
        hosts.insert("Trap.Test".to_string(), ip("127.0.0.2"));
        hosts.insert("metadata.test".to_string(), ip("169.254.169.254"));
        hosts.insert("peer.test".to_string(), ip("127.0.0.1"));
        let production = outbound(
            Settings {
                allowed_networks: vec!["127.0.0.1/32".parse().unwrap()],
                hosts: hosts.clone(),
                ..Settings::default()
            },
            "https://node.example",
        );
        let resolver = production.resolver();
        assert_eq!(
            resolver.resolve_name("peer.test").await.unwrap(),
            vec![SocketAddr::new(ip("127.0.0.1"), 0)]
        );
        for (name, class) in [
            ("trap.test", Loopback),
            ("TRAP.TEST.", Loopback),
            ("metadata.test", LinkLocal),
        ] {
            match resolver.resolve_name(name).await {
                Err(ResolveError::Refused(r)) => assert_eq!(r.class, class, "{name}"),
                other => panic!("{name}: {other:?}"),
            }
        }
        let development = outbound(
            Settings {
                hosts,
                ..Settings::default()
            },
            "http://localhost:8536",
        );
        assert_eq!(
            development
                .resolver()
                .resolve_name("trap.test")
                .await
                .unwrap(),
            vec![SocketAddr::new(ip("127.0.0.2"), 0)]
        );
    }

    #[tokio::test]
    async fn localhost_is_refused_by_name_in_production() {
        let production = outbound(Settings::default(), "https://node.example");
        match production.resolver().resolve_name("localhost").await {
            Err(ResolveError::Refused(r)) => assert_eq!(r.class, Loopback),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn private_addresses_are_allowed_by_default_only_with_an_http_public_url() {
        let dev = outbound(Settings::default(), "http://localhost:8536");
        assert!(dev.policy().check("x", ip("127.0.0.1")).is_ok());
        assert!(!dev.is_strict());
        let prod = outbound(Settings::default(), "https://node.example");
        assert!(prod.policy().check("x", ip("127.0.0.1")).is_err());
        assert!(prod.is_strict());
        // An explicit value wins either way.
        let dev_strict = outbound(
            Settings {
                allow_private_addresses: Some(false),
                ..Settings::default()
            },
            "http://localhost:8536",
        );
        assert!(dev_strict.policy().check("x", ip("127.0.0.1")).is_err());
        let prod_open = outbound(
            Settings {
                allow_private_addresses: Some(true),
                ..Settings::default()
            },
            "https://node.example",
        );
        assert!(prod_open.policy().check("x", ip("10.0.0.1")).is_ok());
    }
}
