//! The Prometheus endpoint, its upkeep, and the guard that stops them.

use std::{
    net::{SocketAddr, TcpListener},
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{Router, extract::State, http::header, response::IntoResponse, routing::get};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use opentelemetry_sdk::{logs::SdkLoggerProvider, trace::SdkTracerProvider};

use crate::{ShutdownReport, health::Health, pipeline::PipelineStats};
use tokio::{sync::watch, task::JoinHandle};
use tta_primitives_obs::{
    catalogue::{BUILD_INFO, Catalogue},
    series::GaugeSeries,
};

use crate::{InitError, ObservabilityConfig};

/// Stops the metrics endpoint and its upkeep: explicitly with
/// [`shutdown`](Self::shutdown), which waits at most a deadline, or on drop,
/// which signals the tasks and returns at once.
#[derive(Debug)]
pub struct ObservabilityGuard {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    metrics_addr: Option<SocketAddr>,
    handle: PrometheusHandle,
    provider: Option<SdkTracerProvider>,
    logger_provider: Option<SdkLoggerProvider>,
    pipelines: Vec<Arc<PipelineStats>>,
}

impl ObservabilityGuard {
    /// Where `/metrics` and `/healthz` are served (the bound address, so a
    /// configured port 0 shows the port chosen).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The current exposition text, as `/metrics` serves it.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Flushes and stops the trace pipeline, the endpoint and the upkeep,
    /// returning within `deadline` (plus a few milliseconds) on any runtime
    /// flavour, whatever the collector does. Spans that could not be
    /// delivered in time are counted as dropped (reason
    /// `shutdown_deadline`); the report says how many spans were exported
    /// and dropped, and why.
    ///
    /// The SDK's shutdown blocks, so it runs on a thread of its own that is
    /// not waited for past the deadline: a collector that never answers
    /// keeps neither this call nor the process alive.
    pub async fn shutdown(mut self, deadline: Duration) -> ShutdownReport {
        let started = Instant::now();
        let _ = self.stop.send(true);
        let tasks = std::mem::take(&mut self.tasks);
        let providers = (self.provider.take(), self.logger_provider.take());
        let (done, finished) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("tta-shutdown".into())
            .spawn(move || {
                let (provider, logger_provider) = providers;
                if let Some(provider) = provider {
                    let _ = provider.shutdown_with_timeout(deadline);
                }
                if let Some(logger_provider) = logger_provider {
                    let _ = logger_provider.shutdown_with_timeout(deadline);
                }
                let _ = done.send(());
            });
        let all = async {
            for task in tasks {
                let _ = task.await;
            }
            if spawned.is_ok() {
                let _ = finished.await;
            }
        };
        let completed = tokio::time::timeout(deadline, all).await.is_ok();
        ShutdownReport::settle(&self.pipelines, completed, started.elapsed())
    }

    /// How the trace pipelines are doing now (the figures of `/healthz`).
    pub fn telemetry_status(&self) -> ShutdownReport {
        ShutdownReport::snapshot(&self.pipelines)
    }
}

/// How long dropping the guard waits for the trace pipeline's final flush.
const DROP_FLUSH_DEADLINE: Duration = Duration::from_secs(2);

impl Drop for ObservabilityGuard {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        let provider = self.provider.take();
        let logger_provider = self.logger_provider.take();
        if provider.is_some() || logger_provider.is_some() {
            // The SDK's shutdown blocks and may wait on a slow exporter: run
            // it on its own thread and wait a bounded time.
            let (done, finished) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                if let Some(provider) = provider {
                    let _ = provider.shutdown_with_timeout(DROP_FLUSH_DEADLINE);
                }
                if let Some(logger_provider) = logger_provider {
                    let _ = logger_provider.shutdown_with_timeout(DROP_FLUSH_DEADLINE);
                }
                let _ = done.send(());
            });
            let completed = finished.recv_timeout(DROP_FLUSH_DEADLINE).is_ok();
            ShutdownReport::settle(&self.pipelines, completed, DROP_FLUSH_DEADLINE);
        }
    }
}

/// Installs the metrics pipeline and starts the endpoint. Must run inside a
/// Tokio runtime (multi-thread or current-thread).
///
/// # Errors
/// [`InitError::Bind`] when the address is taken, [`InitError::NoRuntime`]
/// outside a runtime, [`InitError::RecorderInstalled`] when called twice.
/// Nothing global changes when binding fails.
pub fn initialize_observability(
    config: ObservabilityConfig,
) -> Result<ObservabilityGuard, InitError> {
    let ObservabilityConfig {
        service_name,
        service_version,
        environment,
        metrics_addr,
        upkeep_interval,
        traces,
        sampler,
        queue,
        resource,
        tracing_bridge,
        pushgateway,
        destinations,
        catalogues,
        metrics_setting,
        warnings,
        secrets,
    } = config;
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| InitError::NoRuntime)?;
    // Bind before touching anything global, so a taken port changes nothing.
    let listener = match metrics_addr {
        Some(addr) => Some(bind(metrics_setting, addr)?),
        None => None,
    };
    for warning in &warnings {
        eprintln!("tta-obs-init: warning: {warning}");
    }
    let metrics_addr = listener.as_ref().and_then(|l| l.local_addr().ok());
    // The extra definitions join the catalogue before the recorder reads
    // its buckets.
    for def in catalogues.iter().flat_map(|defs| defs.iter()) {
        Catalogue::global()
            .register(def)
            .map_err(|e| InitError::invalid("metric_catalogue", e.to_string(), "give each metric one definition: rename the application's metric or drop the duplicate definition"))?;
    }

    // Histograms registered in the catalogue after this point (a crate that
    // registers its metrics lazily) still render as histograms, with the
    // latency layout, rather than as summaries.
    let mut builder = PrometheusBuilder::new()
        .set_buckets(tta_primitives_obs::catalogue::LATENCY_BUCKETS)
        .expect("the latency buckets are not empty");
    for (name, buckets) in Catalogue::global().histogram_buckets() {
        builder = builder
            .set_buckets_for_metric(Matcher::Full(name.to_owned()), buckets)
            .expect("catalogue buckets are validated, non-empty");
    }
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|_| InitError::RecorderInstalled)?;
    Catalogue::global().describe_all();
    // Through the catalogue's definition and the cardinality guard, like
    // every metric (registering a built-in definition cannot conflict).
    if let Ok(build_info) = GaugeSeries::new(&BUILD_INFO) {
        build_info.set(&[&service_version, &service_name], 1.0);
    }

    let resource = crate::traces::resource(
        &service_name,
        &service_version,
        environment.as_deref(),
        &resource,
    );
    let (provider, pipelines) = crate::traces::install(
        &traces,
        sampler,
        resource.clone(),
        queue,
        &destinations,
        &secrets,
    )?;
    let logger_provider = match tracing_bridge {
        Some(level) => {
            crate::bridge::install(&provider, traces.otlp(), &destinations, resource, level)?
        }
        None => None,
    };

    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    if let Some(settings) = pushgateway {
        tasks.push(runtime.spawn(crate::pushgateway::run(
            settings,
            handle.clone(),
            stopped.clone(),
        )));
    }
    tasks.push(runtime.spawn(upkeep(handle.clone(), upkeep_interval, stopped.clone())));
    if let Some(listener) = listener {
        let health = Arc::new(Health {
            pipelines: pipelines.clone(),
            service: service_name,
            version: service_version,
            environment,
            started: Instant::now(),
        });
        let app = Router::new()
            .route("/metrics", get(metrics_page))
            .with_state(handle.clone())
            .merge(
                Router::new()
                    .route("/healthz", get(crate::health::healthz))
                    .with_state(health),
            );
        let listener =
            tokio::net::TcpListener::from_std(listener).map_err(|source| InitError::Bind {
                setting: metrics_setting,
                addr: metrics_addr.unwrap_or(([127, 0, 0, 1], 0).into()),
                source,
            })?;
        let mut stopped = stopped;
        tasks.push(runtime.spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            // A failing endpoint must not take the application down.
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await;
        }));
    }
    Ok(ObservabilityGuard {
        stop,
        tasks,
        metrics_addr,
        handle,
        provider: Some(provider),
        logger_provider,
        pipelines,
    })
}

fn bind(setting: &'static str, addr: SocketAddr) -> Result<TcpListener, InitError> {
    let bind_error = |source| InitError::Bind {
        setting,
        addr,
        source,
    };
    let listener = TcpListener::bind(addr).map_err(bind_error)?;
    listener.set_nonblocking(true).map_err(bind_error)?;
    Ok(listener)
}

/// Drains histogram buffers periodically, as the exporter requires.
async fn upkeep(handle: PrometheusHandle, every: Duration, mut stopped: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = ticks.tick() => handle.run_upkeep(),
            _ = stopped.wait_for(|stop| *stop) => return,
        }
    }
}

async fn metrics_page(State(handle): State<PrometheusHandle>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
}
