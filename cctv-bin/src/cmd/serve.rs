//! `cctv serve`: the HTTP server, the pipeline and cache maintenance, until SIGINT/SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use cctv_admin::AdminCore;
use cctv_http::access_log::AccessLog;
use cctv_http::{AppState, HttpSettings};

use crate::settings::Settings;
use crate::{app, cluster};

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    // The listener first: a taken port is one clear error, with nothing opened or started.
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let opened = app::open_store(&settings, true).await?;
    let core = app::build_core(&settings, &opened).await?;
    let file_access = app::file_access(&settings)?;
    // On PostgreSQL other nodes may share the database: this node has an id, checks them,
    // and writes its logs under that id.
    let node_id = match &opened.postgres {
        Some(_) => Some(cluster::node_id(&settings.data_dir)?),
        None => None,
    };
    let membership = match (&opened.postgres, core.blobs(), &node_id) {
        (Some(pg), Some(blobs), Some(node_id)) => Some(
            cluster::join(
                pg,
                cluster::NodeSetup {
                    node_id: node_id.clone(),
                    listen: listener.local_addr()?.to_string(),
                    secrets: core.secrets(),
                    signer: &file_access.signer,
                    blobs,
                    logs_dir: settings.logs_dir(),
                },
            )
            .await?,
        ),
        _ => None,
    };
    let pipeline = app::start_pipeline(
        &settings,
        core.clone(),
        opened.single_node,
        node_id.as_deref(),
    )
    .await?;
    let maintenance = tokio::spawn(core.clone().run_cache_maintenance(Duration::from_secs(1)));
    let mut state = AppState::new(
        core.clone(),
        pipeline.ingest(),
        app::manage_settings(&settings),
        HttpSettings {
            max_json_bytes: settings.http.max_json_bytes,
            max_multipart_bytes: settings.http.max_multipart_bytes,
            allowed_origins: settings.http.allowed_origins.clone(),
            metrics_token: settings.metrics.token(),
            analytics_lookback_days: settings.analytics.lookback_days,
        },
    )
    .with_file_access(file_access)
    .with_streams(settings.streams.http()?);
    if let Some(pg) = &opened.postgres {
        state = state.with_shared_login_attempts(Arc::new(pg.clone()));
    }
    let mut log_writer = None;
    if settings.log.api_access_log {
        let (log, writer) = AccessLog::start_for_node(
            settings.logs_dir(),
            node_id.as_deref(),
            core.timezone().clone(),
        );
        state = state.with_access_log(log);
        log_writer = Some(writer);
    }
    let state = Arc::new(state);
    let addr = listener.local_addr()?;
    tracing::info!(%addr, backend = if opened.single_node { "sqlite" } else { "postgres" }, "cctv listening");
    println!("cctv listening on http://{addr}");
    cctv_http::serve(listener, state, shutdown_signal()).await?;
    tracing::info!("HTTP server stopped; finishing in-flight work");
    if let Some(writer) = log_writer {
        // The server dropped the last sender: the writer appends what is left and ends.
        let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    }
    pipeline.shutdown().await;
    maintenance.abort();
    if let Some(membership) = membership {
        membership.leave().await;
    }
    if let Err(e) = core.flush_credential_usage().await {
        tracing::warn!(error = %e, "flushing credential use at shutdown failed");
    }
    tracing::info!("cctv stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested");
}
