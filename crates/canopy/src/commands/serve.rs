//! `canopy serve`.

use crate::config::Settings;
use crate::database::Database;
use anyhow::Context;
use canopy::node::{Node, Tasks};
use tokio::net::TcpListener;

/// Migrate, then serve HTTP until SIGINT or SIGTERM; stops the embedded cluster on the way out.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let mut db = Database::open(&settings.config).await?;
    if let Some(cluster) = db.cluster.as_mut() {
        // The server owns the embedded cluster for its lifetime, even one left running earlier.
        cluster.stop_on_drop(true);
    }
    let result = serve(&settings, &db).await;
    db.close().await?;
    result
}

async fn serve(settings: &Settings, db: &Database) -> anyhow::Result<()> {
    let node = Node::build(
        db.pool.clone(),
        settings.public_base.clone(),
        settings.config.options(),
    )
    .await?;

    let bind = settings.config.bind;
    let listener = TcpListener::bind(bind)
        .await
        .with_context(|| format!("listening on {bind}"))?;
    let local = listener.local_addr().context("reading the bound address")?;
    announce(&format!(
        "Canopy listening on http://{local}\nPublic URL: {}\nData: {}\nDatabase: {}",
        settings.public_base.as_str(),
        std::fs::canonicalize(&settings.config.data_dir)
            .unwrap_or_else(|_| settings.config.data_dir.clone())
            .display(),
        db.location
    ));
    tracing::info!(%local, public_url = settings.public_base.as_str(), "serving");
    let _metrics = start_metrics(settings, &db.pool, std::future::pending()).await?;

    // One unsharded delivery worker in-process (unless configured off), so a single machine
    // needs nothing more.
    let (stop_worker, stopped) = tokio::sync::watch::channel(false);
    let worker = settings.config.worker_in_serve.then(|| {
        Tasks::spawn(
            node.federation().context(),
            settings.config.worker(),
            Some(settings.config.cleanup()),
            stopped,
        )
    });
    if worker.is_none() {
        tracing::info!("worker_in_serve is off: run `canopy worker` to deliver");
    }
    let served = node
        .serve(listener, shutdown_signal())
        .await
        .context("serving HTTP");
    // In-flight sends finish; claimed but unsent deliveries are released.
    let _ = stop_worker.send(true);
    if let Some(worker) = worker {
        if let Err(e) = worker.join().await {
            tracing::error!(error = %format!("{:#}", anyhow::Error::from(e)), "delivery worker");
        }
    }
    served?;
    tracing::info!("shut down");
    Ok(())
}

/// Start-up lines for the operator (and for tests, which read the port from them).
#[allow(clippy::print_stdout)]
fn announce(text: &str) {
    println!("{text}");
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received, shutting down"),
        () = term => tracing::info!("SIGTERM received, shutting down"),
    }
}

/// With `metrics_bind` set: install the recorder, serve `/metrics` there until `shutdown`
/// resolves, and sample the database-side figures. Prints where it listens.
pub(crate) async fn start_metrics(
    settings: &Settings,
    db: &canopy_db::PgPool,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Option<Metrics>> {
    let Some(bind) = settings.config.metrics_bind else {
        return Ok(None);
    };
    let handle = canopy::telemetry::install()?;
    let listener = TcpListener::bind(bind)
        .await
        .with_context(|| format!("listening for metrics on {bind}"))?;
    let local = listener
        .local_addr()
        .context("reading the metrics address")?;
    announce(&format!("Metrics on http://{local}/metrics"));
    let server = tokio::spawn({
        let handle = handle.clone();
        async move {
            if let Err(e) = canopy::telemetry::serve(listener, handle, shutdown).await {
                tracing::error!(error = %e, "metrics listener");
            }
        }
    });
    let sampler = canopy::telemetry::sample(db.clone(), handle, canopy::telemetry::SAMPLE_EVERY);
    Ok(Some(Metrics { server, sampler }))
}

/// The metrics listener and sampler of a process.
pub(crate) struct Metrics {
    server: tokio::task::JoinHandle<()>,
    sampler: tokio::task::JoinHandle<()>,
}

impl Drop for Metrics {
    fn drop(&mut self) {
        self.server.abort();
        self.sampler.abort();
    }
}
