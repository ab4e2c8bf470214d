//! Throwaway databases on a throwaway cluster: the suite's (`TEST_DATABASE_URL`, set by
//! `scripts/test`) or a benchmark's (`BENCH_DATABASE_URL`, set by `scripts/bench`).

use anyhow::{Context, Result};
use rand::Rng;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};
use std::str::FromStr;

/// A database created for one test or one benchmark run, migrated, with a pool on it.
/// [`Database::drop_now`] removes it; tests leave theirs to the cluster's removal.
pub struct Database {
    admin: PgConnectOptions,
    pub name: String,
    pub url: String,
    pub pool: PgPool,
}

impl Database {
    /// Create database `name` on the server of `admin_url` (dropping a leftover of that name),
    /// apply the migrations and open a pool of `connections`.
    pub async fn create(admin_url: &str, name: &str, connections: u32) -> Result<Self> {
        let admin = PgConnectOptions::from_str(admin_url)
            .with_context(|| format!("{admin_url:?} is not a PostgreSQL URL"))?;
        let mut conn = admin
            .connect()
            .await
            .context("connect to the throwaway PostgreSQL")?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
            .execute(&mut conn)
            .await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        let pool = PgPoolOptions::new()
            .max_connections(connections)
            .connect_with(admin.clone().database(name))
            .await?;
        canopy_db::migrate(&pool).await?;
        Ok(Self {
            admin,
            name: name.to_string(),
            url: database_url(admin_url, name)?,
            pool,
        })
    }

    /// Close the pool and drop the database (ending connections a node still holds outside the
    /// pool, such as its notification listener).
    pub async fn drop_now(self) -> Result<()> {
        self.pool.close().await;
        let mut conn = self.admin.connect().await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await?;
        Ok(())
    }
}

/// `admin_url` with its database replaced by `name`.
fn database_url(admin_url: &str, name: &str) -> Result<String> {
    let mut url = url::Url::parse(admin_url).context("the admin URL is not a URL")?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

/// A fresh random database name.
pub fn random_name() -> String {
    format!("canopy_test_{:016x}", rand::thread_rng().gen::<u64>())
}

/// The admin URL of the test cluster; panics with what to do when the suite was not started
/// by `scripts/test`.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "TEST_DATABASE_URL is not set: run the suite with scripts/test, which starts a \
             throwaway PostgreSQL"
        )
    })
}

/// Create an empty database with a random name on the test cluster, migrated, and return a
/// pool (20 connections).
pub async fn fresh_database() -> PgPool {
    match Database::create(&admin_url(), &random_name(), 20).await {
        Ok(db) => db.pool,
        Err(e) => panic!("create a test database: {e:#}"),
    }
}

/// Create an empty database (not migrated) on the test cluster and return its URL, for a
/// `canopy` process to use as its `database_url`.
pub async fn empty_database_url() -> String {
    let admin_url = admin_url();
    let name = random_name();
    let result = async {
        let admin = PgConnectOptions::from_str(&admin_url)?;
        let mut conn = admin.connect().await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        database_url(&admin_url, &name)
    }
    .await;
    match result {
        Ok(url) => url,
        Err(e) => panic!("create an empty test database: {e:#}"),
    }
}
