//! Start-up configuration: built-in defaults, then an optional TOML file, then `CANOPY_*`
//! environment variables, each layer overriding the one before.

use anyhow::{anyhow, Context};
use canopy_federation::urls::PublicBase;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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
        Self {
            public_url: "http://localhost:8536".into(),
            bind: SocketAddr::from(([127, 0, 0, 1], 8536)),
            database_url: None,
            database_max_connections: 10,
            data_dir: PathBuf::from("data"),
            postgres_bin_dir: None,
            log_level: "info".into(),
            log_format: LogFormat::Text,
        }
    }
}

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

/// Where the value of `key` came from, e.g. ` (environment variable CANOPY_BIND)`, or nothing
/// when it is the built-in default.
fn source_of(figment: &Figment, key: &str) -> String {
    figment
        .find_metadata(key)
        .map(|md| origin(md, &[key]))
        .filter(|o| !o.is_empty())
        .map(|o| format!(" ({o})"))
        .unwrap_or_default()
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
    fn all_keys() -> [&'static str; 8] {
        let Config {
            public_url: _,
            bind: _,
            database_url: _,
            database_max_connections: _,
            data_dir: _,
            postgres_bin_dir: _,
            log_level: _,
            log_format: _,
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
        ]
    }

    /// Settings that default to "not set"; the shipped file shows an example value for them.
    const UNSET_BY_DEFAULT: [&str; 2] = ["database_url", "postgres_bin_dir"];

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
        ] {
            let err = from_toml(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
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
}
