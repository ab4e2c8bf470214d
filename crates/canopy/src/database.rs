//! Opening the database: the configured `database_url`, or the embedded cluster.

use crate::config::Config;
use crate::embedded_pg::{Cluster, Placement, RunningCluster};
use anyhow::{anyhow, Context};
use canopy_db::PgPool;
use sqlx::Connection;

/// Name of the database Canopy uses inside the embedded cluster.
const EMBEDDED_DATABASE: &str = "canopy";

/// An open pool and, with the embedded default, the cluster behind it.
pub struct Database {
    /// The connection pool.
    pub pool: PgPool,
    /// The embedded cluster, when `database_url` is not set.
    pub cluster: Option<RunningCluster>,
    /// Where the data lives, for people (never contains a password).
    pub location: String,
}

impl Database {
    /// Connect to the configured database, starting the embedded cluster first when there is
    /// no `database_url`.
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        if let Some(url) = &config.database_url {
            let pool = canopy_db::connect(url, config.database_max_connections)
                .await
                .with_context(|| format!("connecting to {}", redact(url)))?;
            return Ok(Self {
                pool,
                cluster: None,
                location: redact(url),
            });
        }

        let data_dir = config.data_dir.clone();
        let bin_dir = config.postgres_bin_dir.clone();
        let cluster = tokio::task::spawn_blocking(move || {
            Cluster::prepare(&data_dir, bin_dir.as_deref())?.start()
        })
        .await
        .context("starting the embedded PostgreSQL")??;

        create_database(&cluster.url("postgres"), EMBEDDED_DATABASE).await?;
        let pool = canopy_db::connect(
            &cluster.url(EMBEDDED_DATABASE),
            config.database_max_connections,
        )
        .await
        .context("connecting to the embedded PostgreSQL")?;
        let placement = match cluster.placement() {
            Placement::DataDir => "",
            Placement::Relocated => {
                "outside data_dir, which the postgres user cannot reach; it stays there across restarts; "
            }
        };
        let location = format!(
            "embedded PostgreSQL cluster {} ({placement}socket in {}, log {})",
            cluster.cluster_dir().display(),
            cluster.socket_dir().display(),
            cluster.log_file().display()
        );
        Ok(Self {
            pool,
            cluster: Some(cluster),
            location,
        })
    }

    /// Close the pool, then stop the embedded cluster if its handle says so.
    pub async fn close(self) -> anyhow::Result<()> {
        self.pool.close().await;
        if let Some(cluster) = self.cluster {
            tokio::task::spawn_blocking(move || drop(cluster))
                .await
                .context("stopping the embedded PostgreSQL")?;
        }
        Ok(())
    }
}

/// Create `name` in the cluster reached by `admin_url` unless it exists.
async fn create_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .context("connecting to the embedded PostgreSQL")?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(&mut conn)
        .await
        .context("looking for the canopy database")?;
    if exists.is_none() {
        tracing::info!(database = name, "creating database");
        let created = sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await;
        match created {
            Ok(_) => {}
            // 42P04: someone else created it in the meantime.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(anyhow!(e).context(format!("creating database {name}"))),
        }
    }
    conn.close().await.ok();
    Ok(())
}

/// `url` without its password, for messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "the configured database_url".into(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_the_password() {
        assert_eq!(
            redact("postgres://u:secret@db/canopy"),
            "postgres://u:***@db/canopy"
        );
        assert_eq!(redact("postgres://u@db/canopy"), "postgres://u@db/canopy");
    }
}
