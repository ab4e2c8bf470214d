//! Abuse limits of the HTTP surface: who may register, how often an address may log in wrongly,
//! register or resolve, how often an account may write, how many activities a remote instance
//! may send (enforced by the inbox, `canopy_federation::limits`), and which address a request
//! is counted under when the node sits behind a reverse proxy.
//!
//! Every refusal is `429 Too Many Requests` with `Retry-After` (seconds) and the API's error
//! body with the code `rate_limited`.

use crate::auth::Auth;
use crate::error::ApiError;
use crate::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use canopy_core::rate_limit::{KeyedLimiter, Limit, Refused};
use canopy_core::PersonId;
use canopy_db::sessions::SessionUser;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

/// Whether `POST /api/v1/accounts` creates accounts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// Anyone may register.
    #[default]
    Open,
    /// The API refuses with 403; administrators create accounts with `canopy admin create-user`.
    Closed,
}

/// The header a trusted reverse proxy records the addresses it forwarded for in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProxyHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, Caddy, Traefik, HAProxy).
    #[default]
    #[serde(rename = "x-forwarded-for")]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    #[serde(rename = "forwarded")]
    Forwarded,
}

/// An address or a network (`10.0.0.0/8`, `fd00::/8`, or one address such as `127.0.0.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network(pub IpNet);

impl Network {
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.0.contains(ip)
    }
}

/// Why a trusted proxy entry does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is neither an IP address nor a network such as \"10.0.0.0/8\"")]
pub struct BadNetwork(pub String);

impl FromStr for Network {
    type Err = BadNetwork;

    fn from_str(text: &str) -> Result<Self, BadNetwork> {
        let text = text.trim();
        if let Ok(net) = text.parse::<IpNet>() {
            return Ok(Network(net.trunc()));
        }
        text.parse::<IpAddr>()
            .map(|ip| Network(IpNet::from(ip)))
            .map_err(|_| BadNetwork(text.to_string()))
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.prefix_len() == self.0.max_prefix_len() {
            self.0.addr().fmt(f)
        } else {
            self.0.fmt(f)
        }
    }
}

impl Serialize for Network {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The abuse settings of a node. The defaults are what `canopy serve` runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Whether the API creates accounts.
    pub registration: Registration,
    /// Reverse proxies whose forwarding header is believed. Empty: the peer of the TCP
    /// connection is the client, and forwarding headers are ignored.
    pub trusted_proxies: Vec<Network>,
    /// The header the trusted proxies write.
    pub proxy_header: ProxyHeader,
    /// Failed log-ins per client address, and apart from that per account name.
    pub login_failures: Limit,
    /// Registrations per client address.
    pub registrations: Limit,
    /// `GET /api/v1/resolve` per client address (each may make the node fetch from others).
    pub resolve: Limit,
    /// Writes per account: posts, comments, votes, edits, deletes, follows, new communities.
    pub writes: Limit,
    /// Activities per remote instance at the inbox.
    pub inbox: Limit,
}

impl Default for Limits {
    fn default() -> Self {
        const MINUTE: Duration = Duration::from_secs(60);
        Self {
            registration: Registration::Open,
            trusted_proxies: Vec::new(),
            proxy_header: ProxyHeader::XForwardedFor,
            login_failures: Limit::per(10, MINUTE),
            registrations: Limit::per(10, 60 * MINUTE),
            resolve: Limit::per(30, MINUTE),
            writes: Limit::per(60, MINUTE),
            // 200 a second on average, bursts of 2,000: far above what one real instance sends
            // (see docs/OPERATIONS.md), yet one instance cannot take the whole node.
            inbox: Limit::per(2000, Duration::from_secs(10)),
        }
    }
}

impl Limits {
    /// No rate limits at all and open registration (for tests and benchmarks that measure
    /// something else).
    pub fn unlimited() -> Self {
        Self {
            login_failures: Limit::Off,
            registrations: Limit::Off,
            resolve: Limit::Off,
            writes: Limit::Off,
            inbox: Limit::Off,
            ..Self::default()
        }
    }
}

/// The counters of a running node, built from [`Limits`].
#[derive(Debug)]
pub struct Limiters {
    pub registration: Registration,
    trusted_proxies: Vec<Network>,
    proxy_header: ProxyHeader,
    login_by_address: KeyedLimiter<IpAddr>,
    login_by_account: KeyedLimiter<String>,
    registrations: KeyedLimiter<IpAddr>,
    resolve: KeyedLimiter<IpAddr>,
    writes: KeyedLimiter<PersonId>,
}

impl Limiters {
    pub fn new(limits: &Limits) -> Self {
        Self {
            registration: limits.registration,
            trusted_proxies: limits.trusted_proxies.clone(),
            proxy_header: limits.proxy_header,
            login_by_address: KeyedLimiter::new(limits.login_failures),
            login_by_account: KeyedLimiter::new(limits.login_failures),
            registrations: KeyedLimiter::new(limits.registrations),
            resolve: KeyedLimiter::new(limits.resolve),
            writes: KeyedLimiter::new(limits.writes),
        }
    }

    /// Count a log-in attempt from `client` for `name` before its password is checked, so
    /// that parallel guesses are counted too. Refused (without checking anything) once the
    /// address or the account has used up its failures; [`LoginAttempt::succeeded`] gives the
    /// attempt back.
    pub fn login_attempt(
        &self,
        client: ClientAddr,
        name: &str,
    ) -> Result<LoginAttempt<'_>, ApiError> {
        let address = client.limit_key();
        // A name that cannot exist is counted only against the address, so that arbitrary
        // strings do not fill the account counters.
        let account = canopy_core::limits::is_valid_name(name).then(|| name.to_string());
        self.login_by_address
            .check(&address)
            .map_err(|r| too_many_logins(r, "login_address", "from this address"))?;
        if let Some(account) = &account {
            if let Err(r) = self.login_by_account.check(account) {
                self.login_by_address.refund(&address);
                return Err(too_many_logins(r, "login_account", "for this account"));
            }
        }
        Ok(LoginAttempt {
            limiters: self,
            address,
            account,
        })
    }

    /// Count a registration attempt from `client`.
    pub fn registration_attempt(&self, client: ClientAddr) -> Result<(), ApiError> {
        self.registrations.check(&client.limit_key()).map_err(|r| {
            rate_limited(
                r,
                "registration",
                "too many registrations from this address",
            )
        })
    }

    /// Count a `resolve` from `client`.
    pub fn resolve(&self, client: ClientAddr) -> Result<(), ApiError> {
        self.resolve.check(&client.limit_key()).map_err(|r| {
            rate_limited(
                r,
                "resolve",
                "too many lookups of remote objects from this address",
            )
        })
    }

    /// Count a write by `person`.
    pub fn write(&self, person: PersonId) -> Result<(), ApiError> {
        self.writes
            .check(&person)
            .map_err(|r| rate_limited(r, "writes", "too many changes from this account"))
    }

    /// The address `peer` stands for: itself, or, when it is a trusted proxy, the right-most
    /// address in its forwarding header that is not a trusted proxy.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops = match self.proxy_header {
            ProxyHeader::XForwardedFor => x_forwarded_for(headers),
            ProxyHeader::Forwarded => forwarded(headers),
        };
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            // An entry that is not an address cannot be counted under anything better than
            // the trusted hop that passed it on.
            let Some(ip) = hop else { return client };
            client = canonical(ip);
            if !self.trusts(client) {
                return client;
            }
        }
        client
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|n| n.contains(&ip))
    }
}

/// A counted log-in attempt.
#[must_use = "a successful log-in must give its attempt back"]
pub struct LoginAttempt<'a> {
    limiters: &'a Limiters,
    address: IpAddr,
    account: Option<String>,
}

impl LoginAttempt<'_> {
    /// The password was right: the attempt does not count as a failure.
    pub fn succeeded(self) {
        self.limiters.login_by_address.refund(&self.address);
        if let Some(account) = &self.account {
            self.limiters.login_by_account.refund(account);
        }
    }

    /// The password was wrong: the attempt stays counted.
    pub fn failed(self) {}
}

fn too_many_logins(refused: Refused, limit: &'static str, whom: &str) -> ApiError {
    rate_limited(refused, limit, &format!("too many failed log-ins {whom}"))
}

/// The 429 for a refusal by the limit named `limit` (counted in
/// `canopy_rate_limit_refusals_total`).
fn rate_limited(refused: Refused, limit: &'static str, what: &str) -> ApiError {
    metrics::counter!("canopy_rate_limit_refusals_total", "limit" => limit).increment(1);
    let secs = refused.retry_after_secs();
    ApiError::rate_limited(format!("{what}; try again in {secs} s"), secs)
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`, as a dual-stack listener reports IPv4 peers)
/// are their IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The addresses of an `X-Forwarded-For` header (all of its lines, in order); `None` for an
/// entry that is not an address.
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("?").split(','))
        .map(|entry| parse_hop(entry.trim()))
        .collect()
}

/// The `for=` addresses of a `Forwarded` header (RFC 7239), one per element, in order.
fn forwarded(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("forwarded")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("?").split(','))
        .map(|element| {
            element
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .find(|(key, _)| key.trim().eq_ignore_ascii_case("for"))
                .and_then(|(_, value)| parse_hop(value.trim().trim_matches('"')))
        })
        .collect()
}

/// `1.2.3.4`, `1.2.3.4:567`, `2001:db8::1` or `[2001:db8::1]:567`.
fn parse_hop(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = text.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    text.strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(inside, _)| inside.parse::<Ipv6Addr>().ok())
        .map(IpAddr::V6)
}

/// The client a request is counted under (see [`Limiters::client_address`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The key of the address's counters: an IPv4 address, or the /64 network of an IPv6
    /// address (one host usually holds a whole /64, so counting single IPv6 addresses would
    /// let it pick a fresh one per request).
    fn limit_key(self) -> IpAddr {
        match self.0 {
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
            v4 => v4,
        }
    }
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            tracing::error!(
                "the server runs without connection info; serve the router with \
                 into_make_service_with_connect_info::<SocketAddr>()"
            );
            return Err(ApiError::internal());
        };
        Ok(ClientAddr(
            state.limits.client_address(peer.ip(), &parts.headers),
        ))
    }
}

/// A logged-in user making a change; each one counts against the account's write limit.
#[derive(Debug, Clone)]
pub struct Writer(pub SessionUser);

impl FromRequestParts<AppState> for Writer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Auth(user) = Auth::from_request_parts(parts, state).await?;
        state.limits.write(user.person_id)?;
        Ok(Writer(user))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn limiters(proxies: &[&str], header: ProxyHeader) -> Limiters {
        Limiters::new(&Limits {
            trusted_proxies: proxies.iter().map(|p| p.parse().unwrap()).collect(),
            proxy_header: header,
            ..Limits::default()
        })
    }

    fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(name, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_headers_say() {
        let l = limiters(&[], ProxyHeader::XForwardedFor);
        let h = headers("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(l.client_address(ip("198.51.100.1"), &h), ip("198.51.100.1"));
    }

    #[test]
    fn an_untrusted_peer_cannot_name_a_client() {
        let l = limiters(&["10.0.0.0/8"], ProxyHeader::XForwardedFor);
        let h = headers("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(l.client_address(ip("198.51.100.1"), &h), ip("198.51.100.1"));
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let l = limiters(&["10.0.0.0/8", "192.0.2.7"], ProxyHeader::XForwardedFor);
        // The client wrote a fake first entry; the proxies appended what they saw.
        let h = headers(
            "x-forwarded-for",
            &["1.1.1.1, 203.0.113.9", "192.0.2.7, 10.1.2.3"],
        );
        assert_eq!(l.client_address(ip("10.0.0.1"), &h), ip("203.0.113.9"));
        // With no header, the proxy itself is the client.
        assert_eq!(
            l.client_address(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
        // Every hop trusted: the furthest one.
        let h = headers("x-forwarded-for", &["10.9.9.9, 10.1.2.3"]);
        assert_eq!(l.client_address(ip("10.0.0.1"), &h), ip("10.9.9.9"));
        // Garbage in the chain stops the walk at the last trusted hop.
        let h = headers("x-forwarded-for", &["203.0.113.9, unknown, 10.1.2.3"]);
        assert_eq!(l.client_address(ip("10.0.0.1"), &h), ip("10.1.2.3"));
        // Ports and IPv6 forms are understood.
        let h = headers("x-forwarded-for", &["[2001:db8::5]:443, 203.0.113.9:1234"]);
        assert_eq!(l.client_address(ip("10.0.0.1"), &h), ip("203.0.113.9"));
    }

    #[test]
    fn the_forwarded_header_is_read_when_configured_and_only_then() {
        let l = limiters(&["127.0.0.1"], ProxyHeader::Forwarded);
        let h = headers(
            "forwarded",
            &["for=198.51.100.2;proto=https, for=\"[2001:db8:cafe::17]:4711\";by=x"],
        );
        assert_eq!(
            l.client_address(ip("127.0.0.1"), &h),
            ip("2001:db8:cafe::17")
        );
        let xff = headers("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(l.client_address(ip("127.0.0.1"), &xff), ip("127.0.0.1"));
        // A mapped IPv4 peer is its IPv4 address.
        assert_eq!(
            l.client_address(ip("::ffff:127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_network() {
        assert_eq!(
            ClientAddr(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")).limit_key(),
            ip("2001:db8:1:2::")
        );
        assert_eq!(ClientAddr(ip("192.0.2.1")).limit_key(), ip("192.0.2.1"));
    }

    #[test]
    fn networks_parse_from_addresses_and_prefixes() {
        assert_eq!(
            "10.1.2.3/8".parse::<Network>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            "127.0.0.1".parse::<Network>().unwrap().to_string(),
            "127.0.0.1"
        );
        assert_eq!("::1".parse::<Network>().unwrap().to_string(), "::1");
        assert!("localhost".parse::<Network>().is_err());
        assert!("10.0.0.0/33".parse::<Network>().is_err());
    }

    #[test]
    fn a_successful_log_in_gives_its_attempt_back_a_failure_does_not() {
        let l = Limiters::new(&Limits {
            login_failures: Limit::per(2, Duration::from_secs(3600)),
            ..Limits::default()
        });
        let me = ClientAddr(ip("192.0.2.1"));
        for _ in 0..5 {
            l.login_attempt(me, "alice").unwrap().succeeded();
        }
        l.login_attempt(me, "alice").unwrap().failed();
        l.login_attempt(me, "alice").unwrap().failed();
        let err = l.login_attempt(me, "alice").err().unwrap();
        assert_eq!(err.status, axum::http::StatusCode::TOO_MANY_REQUESTS);
        // Another account from the same address: the address is spent.
        assert!(l.login_attempt(me, "bob").is_err());
        // The same account from another address: the account is spent.
        assert!(l
            .login_attempt(ClientAddr(ip("192.0.2.2")), "alice")
            .is_err());
        // Neither spent: fine, and a refused account check did not use up the address.
        let other = ClientAddr(ip("192.0.2.3"));
        l.login_attempt(other, "carol").unwrap().failed();
        assert!(l.login_attempt(other, "alice").is_err());
        l.login_attempt(other, "carol").unwrap().failed();
    }
}
