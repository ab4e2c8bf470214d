//! Start-up configuration: built-in defaults, then an optional TOML file, then `CANOPY_*`
//! environment variables, each layer overriding the one before.

use anyhow::{anyhow, Context};
use canopy_api::limits::{Limits, Network, ProxyHeader, Registration};
use canopy_core::rate_limit::Limit;
use canopy_federation::governance::FederationMode;
use canopy_federation::urls::PublicBase;
use canopy_worker::cleanup::CleanupConfig;
use canopy_worker::WorkerConfig;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Prefix of the environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "CANOPY_";

/// Every setting the `canopy` binary reads. Unknown keys are an error, so a typo never
/// silently falls back to a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The URL people and other servers reach this node at; ActivityPub ids are built from it.
    pub public_url: String,
    /// Address and port the HTTP server listens on.
    pub bind: SocketAddr,
    /// PostgreSQL connection URL; when absent, a private cluster in `data_dir` is used.
    pub database_url: Option<String>,
    /// Size of the database connection pool.
    pub database_max_connections: u32,
    /// Where the node keeps its files (the embedded cluster among them).
    pub data_dir: PathBuf,
    /// Directory holding `initdb`, `pg_ctl` and `postgres` for the embedded cluster.
    pub postgres_bin_dir: Option<PathBuf>,
    /// Log filter in `tracing_subscriber::EnvFilter` syntax, e.g. `info,canopy_api=debug`.
    pub log_level: String,
    /// Shape of log lines.
    pub log_format: LogFormat,
    /// Whether `serve` runs a delivery worker (and its cleanup) in-process.
    pub worker_in_serve: bool,
    /// Most deliveries a worker claims and has in flight at once.
    pub worker_batch: usize,
    /// How long a claim lasts before another worker may take the delivery.
    pub worker_lease: HumanDuration,
    /// Most deliveries in flight to one instance, per worker.
    pub worker_per_instance_concurrency: usize,
    /// Wait before the first retry; it doubles with each attempt.
    pub worker_retry_base: HumanDuration,
    /// Longest wait between two attempts.
    pub worker_retry_max: HumanDuration,
    /// Failing without a break for this long makes an instance unreachable.
    pub worker_unreachable_after: HumanDuration,
    /// How often an unreachable instance is probed with one delivery.
    pub worker_probe_every: HumanDuration,
    /// A delivery still failing this long after it was queued fails for good.
    pub worker_give_up_after: HumanDuration,
    /// How long an idle worker waits before looking for due deliveries again.
    pub worker_poll_interval: HumanDuration,
    /// Time between two cleanups of finished deliveries.
    pub worker_cleanup_every: HumanDuration,
    /// How long delivered rows are kept.
    pub worker_keep_done: HumanDuration,
    /// How long permanently failed deliveries are kept.
    pub worker_keep_failed: HumanDuration,
    /// Whether outgoing requests may reach loopback, private, link-local and other non-public
    /// addresses. Unset: yes when `public_url` is `http://` (development), no for `https://`.
    pub allow_private_addresses: Option<bool>,
    /// Networks (CIDR) outgoing requests may reach even when private addresses are refused,
    /// e.g. a trusted peer on the local network.
    pub allowed_networks: Vec<IpNet>,
    /// Addresses for host names, consulted before DNS (like `/etc/hosts`); the address policy
    /// still applies to them.
    pub hosts: BTreeMap<String, IpAddr>,
    /// `open`: federate with every instance not blocked; `allowlist`: only with the instances
    /// an administrator listed (`canopy admin instance allow`).
    pub federation_mode: FederationMode,
    /// Address and port of the Prometheus metrics listener (`GET /metrics`), apart from the
    /// public one; unset: no metrics are served.
    pub metrics_bind: Option<SocketAddr>,

    // --- Abuse limits: registration, rate limits, reverse proxies ---
    /// `open`: anyone may register through the API; `closed`: accounts are made only with
    /// `canopy admin create-user`.
    pub registration: Registration,
    /// Reverse proxies (addresses or networks) whose forwarding header names the client.
    /// Empty: the peer of the connection is the client and forwarding headers are ignored.
    pub trusted_proxies: Vec<Network>,
    /// The header the trusted proxies write: `x-forwarded-for` or `forwarded`.
    pub trusted_proxy_header: ProxyHeader,
    /// Failed log-ins per client address, and per account name (`count/period` or `off`).
    pub rate_limit_login_failures: Limit,
    /// Registrations per client address.
    pub rate_limit_registrations: Limit,
    /// `GET /api/v1/resolve` per client address.
    pub rate_limit_resolve: Limit,
    /// Posts, comments, votes, edits, deletes, follows and new communities per account.
    pub rate_limit_writes: Limit,
    /// Activities per remote instance at the inbox.
    pub rate_limit_inbox: Limit,
    /// How long incoming activity ids are remembered to refuse replays (at least a day).
    pub worker_keep_received: HumanDuration,

    // --- Thread backfill (docs/FEDERATION.md) ---
    /// Most posts and comments one backfill lists from a thread's collections.
    pub backfill_max_items: usize,
    /// Most requests one backfill makes (collection pages and items).
    pub backfill_max_requests: u32,
    /// Longest one backfill may take; it stops there and keeps what it stored.
    pub backfill_max_time: HumanDuration,
    /// Most known items a resync reads again for edits and deletions (newest first).
    pub backfill_max_refresh: usize,
    /// Most backfill requests in flight to one host.
    pub backfill_per_host: usize,
    /// A read of a remote thread synced longer ago than this resyncs it in the background.
    pub backfill_stale_after: HumanDuration,
    /// How often the background pass resyncs recently active remote threads ("0s": never).
    pub backfill_background_every: HumanDuration,
    /// The background pass visits remote posts published within this window...
    pub backfill_active_within: HumanDuration,
    /// ...whose thread was last synced longer ago than this.
    pub backfill_resync_every: HumanDuration,
}

/// A duration written with units, such as `"90s"`, `"10m"`, `"3d"` or `"1h 30m"`
/// (humantime's syntax). A bare number is refused: its unit would be a guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        humantime::format_duration(self.0).fmt(f)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration with a unit, such as \"90s\", \"10m\" or \"3d\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                humantime::parse_duration(v)
                    .map(HumanDuration)
                    .map_err(|e| {
                        E::custom(format!(
                            "{v:?} is not a duration ({e}); write a number with a unit, \
                         such as \"90s\", \"10m\" or \"3d\""
                        ))
                    })
            }
        }
        deserializer.deserialize_str(Text)
    }
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl Default for Config {
    fn default() -> Self {
        let worker = WorkerConfig::default();
        let cleanup = CleanupConfig::default();
        let limits = Limits::default();
        let b = canopy_federation::backfill::Settings::default();
        Self {
            public_url: "http://localhost:8536".into(),
            bind: SocketAddr::from(([127, 0, 0, 1], 8536)),
            database_url: None,
            database_max_connections: 10,
            data_dir: PathBuf::from("data"),
            postgres_bin_dir: None,
            log_level: "info".into(),
            log_format: LogFormat::Text,
            worker_in_serve: true,
            worker_batch: worker.batch,
            worker_lease: HumanDuration(worker.lease),
            worker_per_instance_concurrency: worker.per_instance_concurrency,
            worker_retry_base: HumanDuration(worker.retry_base),
            worker_retry_max: HumanDuration(worker.retry_max),
            worker_unreachable_after: HumanDuration(worker.unreachable_after),
            worker_probe_every: HumanDuration(worker.probe_every),
            worker_give_up_after: HumanDuration(worker.give_up_after),
            worker_poll_interval: HumanDuration(worker.poll_interval),
            worker_cleanup_every: HumanDuration(cleanup.every),
            worker_keep_done: HumanDuration(cleanup.keep_done),
            worker_keep_failed: HumanDuration(cleanup.keep_failed),
            allow_private_addresses: None,
            allowed_networks: Vec::new(),
            hosts: BTreeMap::new(),
            federation_mode: FederationMode::Open,
            metrics_bind: None,
            registration: limits.registration,
            trusted_proxies: limits.trusted_proxies,
            trusted_proxy_header: limits.proxy_header,
            rate_limit_login_failures: limits.login_failures,
            rate_limit_registrations: limits.registrations,
            rate_limit_resolve: limits.resolve,
            rate_limit_writes: limits.writes,
            rate_limit_inbox: limits.inbox,
            worker_keep_received: HumanDuration(cleanup.keep_received),
            backfill_max_items: b.max_items,
            backfill_max_requests: b.max_requests,
            backfill_max_time: HumanDuration(b.max_time),
            backfill_max_refresh: b.max_refresh,
            backfill_per_host: b.per_host,
            backfill_stale_after: HumanDuration(b.stale_after),
            backfill_background_every: HumanDuration(b.background_every),
            backfill_active_within: HumanDuration(b.active_within),
            backfill_resync_every: HumanDuration(b.resync_every),
        }
    }
}

impl Config {
    /// The delivery worker's settings (unsharded).
    pub fn worker(&self) -> WorkerConfig {
        WorkerConfig {
            batch: self.worker_batch,
            lease: self.worker_lease.0,
            per_instance_concurrency: self.worker_per_instance_concurrency,
            retry_base: self.worker_retry_base.0,
            retry_max: self.worker_retry_max.0,
            unreachable_after: self.worker_unreachable_after.0,
            probe_every: self.worker_probe_every.0,
            give_up_after: self.worker_give_up_after.0,
            poll_interval: self.worker_poll_interval.0,
            shard: None,
        }
    }

    /// What the HTTP surface and its federation side read.
    pub fn options(&self) -> canopy::Options {
        canopy::Options {
            outbound: canopy_federation::outbound::Settings {
                allow_private_addresses: self.allow_private_addresses,
                allowed_networks: self.allowed_networks.clone(),
                hosts: self.hosts.clone(),
                ..Default::default()
            },
            limits: self.limits(),
            federation_mode: Some(self.federation_mode),
            backfill: Some(self.backfill()),
        }
    }

    /// The thread backfills' settings.
    pub fn backfill(&self) -> canopy_federation::backfill::Settings {
        canopy_federation::backfill::Settings {
            max_items: self.backfill_max_items,
            max_requests: self.backfill_max_requests,
            max_time: self.backfill_max_time.0,
            max_refresh: self.backfill_max_refresh,
            per_host: self.backfill_per_host,
            stale_after: self.backfill_stale_after.0,
            background_every: self.backfill_background_every.0,
            active_within: self.backfill_active_within.0,
            resync_every: self.backfill_resync_every.0,
            ..Default::default()
        }
    }

    /// Registration and the rate limits.
    pub fn limits(&self) -> Limits {
        Limits {
            registration: self.registration,
            trusted_proxies: self.trusted_proxies.clone(),
            proxy_header: self.trusted_proxy_header,
            login_failures: self.rate_limit_login_failures,
            registrations: self.rate_limit_registrations,
            resolve: self.rate_limit_resolve,
            writes: self.rate_limit_writes,
            inbox: self.rate_limit_inbox,
        }
    }

    /// The cleanup's settings.
    pub fn cleanup(&self) -> CleanupConfig {
        CleanupConfig {
            every: self.worker_cleanup_every.0,
            keep_done: self.worker_keep_done.0,
            keep_failed: self.worker_keep_failed.0,
            give_up_after: self.worker_give_up_after.0,
            keep_received: self.worker_keep_received.0,
            ..CleanupConfig::default()
        }
    }
}

/// Shortest lease accepted: a send may take 10 s, and waiting for an instance's turn counts too.
const MIN_LEASE: Duration = Duration::from_secs(30);

/// A loaded configuration together with the values derived from it.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The raw settings.
    pub config: Config,
    /// `public_url`, checked.
    pub public_base: PublicBase,
}

/// Load the configuration from defaults, `file` (if given) and the process environment.
pub fn load(file: Option<&Path>) -> anyhow::Result<Settings> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(file) = file {
        // Toml::file silently skips a missing file; a file the operator named must exist.
        if !file.is_file() {
            return Err(anyhow!(
                "configuration file {} does not exist or is not a file",
                file.display()
            ));
        }
        figment = figment.merge(Toml::file_exact(file));
    }
    figment = figment.merge(Env::prefixed(ENV_PREFIX));
    settings_from(&figment)
}

fn settings_from(figment: &Figment) -> anyhow::Result<Settings> {
    let config: Config = figment.extract().map_err(|e| anyhow!(describe(e)))?;

    let public_base = PublicBase::parse(&config.public_url).map_err(|e| {
        anyhow!(
            "invalid public_url {:?}{}: {e}",
            config.public_url,
            source_of(figment, "public_url")
        )
    })?;
    if config.database_max_connections == 0 {
        return Err(anyhow!(
            "invalid database_max_connections{}: must be at least 1",
            source_of(figment, "database_max_connections")
        ));
    }
    tracing_subscriber::EnvFilter::try_new(&config.log_level).with_context(|| {
        format!(
            "invalid log_level {:?}{}",
            config.log_level,
            source_of(figment, "log_level")
        )
    })?;
    check_worker(figment, &config)?;
    check_hosts(figment, &config)?;
    if let Some(url) = &config.database_url {
        url::Url::parse(url).map_err(|e| {
            // Do not echo the URL: it may carry a password.
            anyhow!(
                "invalid database_url{}: {e}",
                source_of(figment, "database_url")
            )
        })?;
    }
    Ok(Settings {
        config,
        public_base,
    })
}

/// The worker settings that parse but make no sense.
fn check_worker(figment: &Figment, config: &Config) -> anyhow::Result<()> {
    let invalid = |key: &str, why: &str| anyhow!("invalid {key}{}: {why}", source_of(figment, key));
    for (key, value) in [
        ("worker_batch", config.worker_batch),
        (
            "worker_per_instance_concurrency",
            config.worker_per_instance_concurrency,
        ),
    ] {
        if value == 0 {
            return Err(invalid(key, "must be at least 1"));
        }
    }
    for (key, value) in [
        ("worker_retry_base", config.worker_retry_base),
        ("worker_retry_max", config.worker_retry_max),
        ("worker_unreachable_after", config.worker_unreachable_after),
        ("worker_probe_every", config.worker_probe_every),
        ("worker_poll_interval", config.worker_poll_interval),
        ("worker_cleanup_every", config.worker_cleanup_every),
        ("worker_give_up_after", config.worker_give_up_after),
        ("backfill_max_time", config.backfill_max_time),
        ("backfill_stale_after", config.backfill_stale_after),
        ("backfill_active_within", config.backfill_active_within),
        ("backfill_resync_every", config.backfill_resync_every),
    ] {
        if value.0.is_zero() {
            return Err(invalid(key, "must be longer than zero"));
        }
    }
    for (key, value) in [
        ("backfill_max_items", config.backfill_max_items),
        ("backfill_max_refresh", config.backfill_max_refresh.max(1)),
        ("backfill_per_host", config.backfill_per_host),
        (
            "backfill_max_requests",
            config.backfill_max_requests as usize,
        ),
    ] {
        if value == 0 {
            return Err(invalid(key, "must be at least 1"));
        }
    }
    if config.worker_lease.0 < MIN_LEASE {
        return Err(invalid(
            "worker_lease",
            &format!(
                "{} is too short: a send may take 10s, so at least {}",
                config.worker_lease,
                HumanDuration(MIN_LEASE)
            ),
        ));
    }
    if let Err(e) = config.cleanup().check() {
        return Err(invalid("worker_keep_received", &e.to_string()));
    }
    if config.worker_retry_max.0 < config.worker_retry_base.0 {
        return Err(invalid(
            "worker_retry_max",
            &format!(
                "{} is shorter than worker_retry_base ({}{})",
                config.worker_retry_max,
                config.worker_retry_base,
                origin_of(figment, "worker_retry_base")
                    .map(|o| format!(", {o}"))
                    .unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

/// Every key of the host table must be a host name: no address, port, scheme or path.
fn check_hosts(figment: &Figment, config: &Config) -> anyhow::Result<()> {
    for name in config.hosts.keys() {
        let is_name = matches!(url::Host::parse(name), Ok(url::Host::Domain(d)) if d == name.to_ascii_lowercase())
            && !name.contains([':', '/', '@']);
        if !is_name {
            return Err(anyhow!(
                "invalid hosts{}: {name:?} is not a host name (write the name alone, \
                 e.g. \"alpha.test\" = \"127.0.0.1\")",
                source_of(figment, "hosts")
            ));
        }
    }
    Ok(())
}

/// Where the value of `key` came from, e.g. ` (environment variable CANOPY_BIND)`, or nothing
/// when it is the built-in default.
fn source_of(figment: &Figment, key: &str) -> String {
    origin_of(figment, key)
        .map(|o| format!(" ({o})"))
        .unwrap_or_default()
}

/// Where the value of `key` came from, unless it is the built-in default.
fn origin_of(figment: &Figment, key: &str) -> Option<String> {
    figment
        .find_metadata(key)
        .map(|md| origin(md, &[key]))
        .filter(|o| !o.is_empty())
}

/// `environment variable CANOPY_X`, `key "x" in <file>`, or empty for the built-in defaults.
fn origin(md: &figment::Metadata, path: &[impl AsRef<str>]) -> String {
    let key = path.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(".");
    if md.name == std::any::type_name::<Config>() {
        String::new()
    } else if md.name.contains("environment variable") {
        format!(
            "environment variable {ENV_PREFIX}{}",
            key.to_ascii_uppercase()
        )
    } else if let Some(source) = &md.source {
        format!("key {key:?} in {source}")
    } else {
        format!("key {key:?} in {}", md.name)
    }
}

/// All of figment's errors on one line, each naming the setting and where it came from.
fn describe(error: figment::Error) -> String {
    let parts: Vec<String> = error
        .into_iter()
        .map(|e| {
            let what = match &e.kind {
                figment::error::Kind::UnknownField(field, _) => {
                    format!("unknown setting `{field}`")
                }
                kind => match e.path.last() {
                    Some(key) => format!("invalid {key}: {kind}"),
                    None => kind.to_string(),
                },
            };
            let mut path = e.path.clone();
            if let figment::error::Kind::UnknownField(field, _) = &e.kind {
                if path.last() != Some(field) {
                    path.push(field.clone());
                }
            }
            match e.metadata.as_ref().map(|md| origin(md, &path)) {
                Some(o) if !o.is_empty() => format!("{what} ({o})"),
                _ => what,
            }
        })
        .collect();
    format!("invalid configuration: {}", parts.join("; "))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn from_toml(text: &str) -> anyhow::Result<Settings> {
        settings_from(
            &Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(text)),
        )
    }

    /// Every key of `Config`; the destructuring fails to compile when a field is added.
    fn all_keys() -> [&'static str; 44] {
        let Config {
            public_url: _,
            bind: _,
            database_url: _,
            database_max_connections: _,
            data_dir: _,
            postgres_bin_dir: _,
            log_level: _,
            log_format: _,
            worker_in_serve: _,
            worker_batch: _,
            worker_lease: _,
            worker_per_instance_concurrency: _,
            worker_retry_base: _,
            worker_retry_max: _,
            worker_unreachable_after: _,
            worker_probe_every: _,
            worker_give_up_after: _,
            worker_poll_interval: _,
            worker_cleanup_every: _,
            worker_keep_done: _,
            worker_keep_failed: _,
            allow_private_addresses: _,
            allowed_networks: _,
            hosts: _,
            federation_mode: _,
            metrics_bind: _,
            registration: _,
            trusted_proxies: _,
            trusted_proxy_header: _,
            rate_limit_login_failures: _,
            rate_limit_registrations: _,
            rate_limit_resolve: _,
            rate_limit_writes: _,
            rate_limit_inbox: _,
            worker_keep_received: _,
            backfill_max_items: _,
            backfill_max_requests: _,
            backfill_max_time: _,
            backfill_max_refresh: _,
            backfill_per_host: _,
            backfill_stale_after: _,
            backfill_background_every: _,
            backfill_active_within: _,
            backfill_resync_every: _,
        } = Config::default();
        [
            "public_url",
            "bind",
            "database_url",
            "database_max_connections",
            "data_dir",
            "postgres_bin_dir",
            "log_level",
            "log_format",
            "worker_in_serve",
            "worker_batch",
            "worker_lease",
            "worker_per_instance_concurrency",
            "worker_retry_base",
            "worker_retry_max",
            "worker_unreachable_after",
            "worker_probe_every",
            "worker_give_up_after",
            "worker_poll_interval",
            "worker_cleanup_every",
            "worker_keep_done",
            "worker_keep_failed",
            "allow_private_addresses",
            "allowed_networks",
            "hosts",
            "federation_mode",
            "metrics_bind",
            "registration",
            "trusted_proxies",
            "trusted_proxy_header",
            "rate_limit_login_failures",
            "rate_limit_registrations",
            "rate_limit_resolve",
            "rate_limit_writes",
            "rate_limit_inbox",
            "worker_keep_received",
            "backfill_max_items",
            "backfill_max_requests",
            "backfill_max_time",
            "backfill_max_refresh",
            "backfill_per_host",
            "backfill_stale_after",
            "backfill_background_every",
            "backfill_active_within",
            "backfill_resync_every",
        ]
    }

    /// Settings that default to "not set"; the shipped file shows an example value for them.
    const UNSET_BY_DEFAULT: [&str; 4] = [
        "database_url",
        "postgres_bin_dir",
        "allow_private_addresses",
        "metrics_bind",
    ];

    #[test]
    fn shipped_config_file_documents_every_setting_with_its_default() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/canopy.toml");
        let text = std::fs::read_to_string(&path).unwrap();

        // As shipped (everything commented out) it parses and changes nothing.
        assert_eq!(from_toml(&text).unwrap().config, Config::default());

        // Uncommented, the settings that have a default reproduce it exactly. Extracting
        // without the defaults layer underneath means a missing line fails here.
        let lines: Vec<(&str, &str)> = text
            .lines()
            .filter_map(|line| line.strip_prefix("# ")?.split_once(" = "))
            .filter(|(key, _)| all_keys().contains(key))
            .collect();
        for key in all_keys() {
            assert!(
                lines.iter().any(|(k, _)| *k == key),
                "config/canopy.toml lacks {key}"
            );
        }
        let with_defaults: String = lines
            .iter()
            .filter(|(key, _)| !UNSET_BY_DEFAULT.contains(key))
            .map(|(key, value)| format!("{key} = {value}\n"))
            .collect();
        let from_file: Config = Figment::from(Toml::string(&with_defaults))
            .extract()
            .unwrap();
        assert_eq!(from_file, Config::default());
    }

    #[test]
    fn unknown_key_is_named() {
        let err = from_toml("bnid = \"127.0.0.1:1\"").unwrap_err().to_string();
        assert!(err.contains("bnid"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        for (text, key) in [
            ("bind = \"localhost\"", "bind"),
            ("public_url = \"ftp://x.example\"", "public_url"),
            ("log_format = \"xml\"", "log_format"),
            ("database_max_connections = 0", "database_max_connections"),
            ("log_level = \"=[\"", "log_level"),
            ("worker_batch = 0", "worker_batch"),
            ("worker_batch = -1", "worker_batch"),
            (
                "worker_per_instance_concurrency = 0",
                "worker_per_instance_concurrency",
            ),
            ("worker_lease = \"soon\"", "worker_lease"),
            ("worker_lease = 120", "worker_lease"),
            ("worker_lease = \"5s\"", "worker_lease"),
            ("worker_retry_base = \"0s\"", "worker_retry_base"),
            (
                "worker_retry_base = \"2h\"\nworker_retry_max = \"1h\"",
                "worker_retry_max",
            ),
            ("worker_poll_interval = \"0ms\"", "worker_poll_interval"),
            ("worker_cleanup_every = \"0s\"", "worker_cleanup_every"),
            ("worker_keep_done = \"1 fortnight\"", "worker_keep_done"),
            ("worker_give_up_after = \"0s\"", "worker_give_up_after"),
            ("worker_keep_received = \"12h\"", "worker_keep_received"),
            ("worker_in_serve = \"maybe\"", "worker_in_serve"),
            ("registration = \"invite\"", "registration"),
            ("trusted_proxies = [\"proxy.local\"]", "trusted_proxies"),
            ("trusted_proxies = \"10.0.0.1\"", "trusted_proxies"),
            (
                "trusted_proxy_header = \"x-real-ip\"",
                "trusted_proxy_header",
            ),
            (
                "rate_limit_login_failures = \"10\"",
                "rate_limit_login_failures",
            ),
            ("rate_limit_writes = \"0/1m\"", "rate_limit_writes"),
            ("rate_limit_inbox = 100", "rate_limit_inbox"),
            ("rate_limit_resolve = \"30/soon\"", "rate_limit_resolve"),
            (
                "allow_private_addresses = \"maybe\"",
                "allow_private_addresses",
            ),
            ("allowed_networks = [\"10.0.0.1\"]", "allowed_networks"),
            ("allowed_networks = \"10.0.0.0/8\"", "allowed_networks"),
        ] {
            let err = from_toml(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn outbound_settings_reach_the_node_from_the_file_and_the_environment() {
        let s = from_toml(
            "allow_private_addresses = false\nallowed_networks = [\"10.1.2.0/24\", \"fd00::/8\"]\n\
             [hosts]\n\"alpha.test\" = \"127.0.0.1\"\n\"Beta.Test\" = \"::1\"",
        )
        .unwrap();
        let outbound = s.config.options().outbound;
        assert_eq!(outbound.allow_private_addresses, Some(false));
        assert_eq!(
            outbound.allowed_networks,
            ["10.1.2.0/24".parse().unwrap(), "fd00::/8".parse().unwrap()]
        );
        assert_eq!(
            outbound.hosts.get("alpha.test"),
            Some(&"127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            outbound.hosts.get("Beta.Test"),
            Some(&"::1".parse().unwrap())
        );
        let defaults = Config::default().options().outbound;
        assert_eq!(defaults, canopy_federation::outbound::Settings::default());

        // The environment's syntax, under a prefix of this test's own.
        std::env::set_var("CANOPYOUTBOUNDTEST_HOSTS", r#"{"alpha.test"="127.0.0.2"}"#);
        std::env::set_var("CANOPYOUTBOUNDTEST_ALLOWED_NETWORKS", "[\"127.0.0.1/32\"]");
        std::env::set_var("CANOPYOUTBOUNDTEST_ALLOW_PRIVATE_ADDRESSES", "true");
        let figment = Figment::from(Serialized::defaults(Config::default()))
            .merge(Env::prefixed("CANOPYOUTBOUNDTEST_"));
        let outbound = settings_from(&figment).unwrap().config.options().outbound;
        assert_eq!(outbound.allow_private_addresses, Some(true));
        assert_eq!(outbound.allowed_networks, ["127.0.0.1/32".parse().unwrap()]);
        assert_eq!(
            outbound.hosts.get("alpha.test"),
            Some(&"127.0.0.2".parse().unwrap())
        );
    }

    #[test]
    fn host_table_keys_must_be_host_names() {
        for key in [
            "127.0.0.1",
            "[::1]",
            "alpha.test:8001",
            "http://alpha.test",
            "alpha.test/x",
            "a b",
        ] {
            let err = from_toml(&format!("hosts = {{ {key:?} = \"127.0.0.1\" }}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("invalid hosts"), "{key}: {err}");
        }
        assert!(from_toml("hosts = { \"alpha.test\" = \"localhost\" }").is_err());
    }

    #[test]
    fn file_values_override_defaults() {
        let s = from_toml(
            "bind = \"0.0.0.0:80\"\ndatabase_url = \"postgres://db/canopy\"\nlog_format = \"json\"",
        )
        .unwrap();
        assert_eq!(s.config.bind, SocketAddr::from(([0, 0, 0, 0], 80)));
        assert_eq!(
            s.config.database_url.as_deref(),
            Some("postgres://db/canopy")
        );
        assert_eq!(s.config.log_format, LogFormat::Json);
    }

    #[test]
    fn worker_settings_from_the_file_reach_the_worker_and_the_cleanup() {
        let s = from_toml(
            "worker_in_serve = false\nworker_batch = 7\nworker_lease = \"90s\"\n\
             worker_per_instance_concurrency = 3\nworker_retry_base = \"250ms\"\n\
             worker_retry_max = \"1h 30m\"\nworker_unreachable_after = \"2d\"\n\
             worker_probe_every = \"20m\"\nworker_poll_interval = \"50ms\"\n\
             worker_cleanup_every = \"5m\"\nworker_keep_done = \"6h\"\n\
             worker_keep_failed = \"30d\"\nworker_give_up_after = \"2d\"\n\
             worker_keep_received = \"3d\"",
        )
        .unwrap();
        assert!(!s.config.worker_in_serve);
        let w = s.config.worker();
        assert_eq!(w.batch, 7);
        assert_eq!(w.lease, Duration::from_secs(90));
        assert_eq!(w.per_instance_concurrency, 3);
        assert_eq!(w.retry_base, Duration::from_millis(250));
        assert_eq!(w.retry_max, Duration::from_secs(5400));
        assert_eq!(w.unreachable_after, Duration::from_secs(2 * 86400));
        assert_eq!(w.probe_every, Duration::from_secs(1200));
        assert_eq!(w.poll_interval, Duration::from_millis(50));
        assert_eq!(w.shard, None);
        let c = s.config.cleanup();
        assert_eq!(c.every, Duration::from_secs(300));
        assert_eq!(c.keep_done, Duration::from_secs(6 * 3600));
        assert_eq!(c.keep_failed, Duration::from_secs(30 * 86400));
        assert_eq!(w.give_up_after, Duration::from_secs(2 * 86400));
        assert_eq!(c.give_up_after, Duration::from_secs(2 * 86400));
        assert_eq!(c.keep_received, Duration::from_secs(3 * 86400));
    }

    #[test]
    fn worker_defaults_are_the_worker_crates_defaults() {
        let config = Config::default();
        let (w, defaults) = (config.worker(), WorkerConfig::default());
        assert_eq!(
            (w.batch, w.lease, w.per_instance_concurrency, w.retry_base),
            (
                defaults.batch,
                defaults.lease,
                defaults.per_instance_concurrency,
                defaults.retry_base
            )
        );
        assert_eq!(
            (
                w.retry_max,
                w.unreachable_after,
                w.probe_every,
                w.poll_interval
            ),
            (
                defaults.retry_max,
                defaults.unreachable_after,
                defaults.probe_every,
                defaults.poll_interval
            )
        );
        let (c, defaults) = (config.cleanup(), CleanupConfig::default());
        assert_eq!(
            (c.every, c.keep_done, c.keep_failed, c.batch),
            (
                defaults.every,
                defaults.keep_done,
                defaults.keep_failed,
                defaults.batch
            )
        );
        assert_eq!(
            (w.give_up_after, c.give_up_after, c.keep_received),
            (
                WorkerConfig::default().give_up_after,
                defaults.give_up_after,
                defaults.keep_received
            )
        );
        assert!(config.worker_in_serve);
    }

    #[test]
    fn limit_settings_from_the_file_reach_the_node() {
        let s = from_toml(
            "registration = \"closed\"\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n\
             trusted_proxy_header = \"forwarded\"\nrate_limit_login_failures = \"5/10m\"\n\
             rate_limit_registrations = \"off\"\nrate_limit_resolve = \"1/1s\"\n\
             rate_limit_writes = \"100/1h\"\nrate_limit_inbox = \"50/1s\"",
        )
        .unwrap();
        let limits = s.config.options().limits;
        assert_eq!(limits.registration, Registration::Closed);
        assert_eq!(
            limits.trusted_proxies,
            vec![
                "10.0.0.0/8".parse::<Network>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        assert_eq!(limits.proxy_header, ProxyHeader::Forwarded);
        assert_eq!(
            limits.login_failures,
            Limit::per(5, Duration::from_secs(600))
        );
        assert_eq!(limits.registrations, Limit::Off);
        assert_eq!(limits.resolve, Limit::per(1, Duration::from_secs(1)));
        assert_eq!(limits.writes, Limit::per(100, Duration::from_secs(3600)));
        assert_eq!(limits.inbox, Limit::per(50, Duration::from_secs(1)));
    }

    #[test]
    fn limit_defaults_are_the_api_crates_defaults() {
        assert_eq!(Config::default().options().limits, Limits::default());
    }

    #[test]
    fn keep_received_shorter_than_the_replay_window_is_refused_at_start_up() {
        let err = from_toml("worker_keep_received = \"23h\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("worker_keep_received") && err.contains("at least 24 hours"),
            "{err}"
        );
        let s = from_toml("worker_keep_received = \"1d\"").unwrap();
        assert_eq!(s.config.cleanup().keep_received, Duration::from_secs(86400));
    }

    #[test]
    fn durations_print_as_they_are_written() {
        assert_eq!(
            HumanDuration(Duration::from_secs(3 * 86400)).to_string(),
            "3days"
        );
        assert_eq!(
            HumanDuration(Duration::from_millis(100)).to_string(),
            "100ms"
        );
    }
}
