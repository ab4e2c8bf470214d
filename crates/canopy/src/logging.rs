//! Log output: `tracing` events to stderr as text or JSON, filtered by `log_level`.

use crate::config::{Config, LogFormat};
use anyhow::anyhow;
use tracing_subscriber::EnvFilter;

/// Install the global subscriber described by `config`.
pub fn init(config: &Config) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&config.log_level)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match config.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|e| anyhow!("installing the logger: {e}"))
}
