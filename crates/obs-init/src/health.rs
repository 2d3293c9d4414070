//! `/healthz`: whether the service's telemetry is delivered now.
//!
//! The page answers 200 with `"status": "ok"` while every trace pipeline
//! delivers, and 503 with `"status": "failing"` and the reason while one is
//! failing now: its last export failed, an export has waited on the
//! collector for 10 s or more, or its exporter could not start. It turns
//! back to 200 with the first successful export.

use std::{sync::Arc, time::Instant};

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};

use crate::pipeline::{PipelineStats, Status};

/// What `/healthz` reports on.
pub(crate) struct Health {
    pub(crate) pipelines: Vec<Arc<PipelineStats>>,
    pub(crate) service: String,
    pub(crate) version: String,
    pub(crate) environment: Option<String>,
    pub(crate) started: Instant,
}

pub(crate) async fn healthz(State(health): State<Arc<Health>>) -> impl IntoResponse {
    let failing: Vec<String> = health
        .pipelines
        .iter()
        .filter_map(|p| match p.status() {
            Status::Ok => None,
            Status::Failing(reason) => Some(format!("{}: {reason}", p.exporter())),
        })
        .collect();
    let healthy = failing.is_empty();
    // The main exporter is the first pipeline; destinations follow.
    let mut pipelines = health.pipelines.iter().map(|p| p.to_json());
    let traces = pipelines
        .next()
        .unwrap_or_else(|| serde_json::json!({ "exporter": "none", "status": "ok" }));
    let body = serde_json::json!({
        "status": if healthy { "ok" } else { "failing" },
        "reason": (!healthy).then(|| failing.join("; ")),
        "service": health.service,
        "version": health.version,
        "environment": health.environment,
        "uptime_seconds": health.started.elapsed().as_secs_f64(),
        "metrics": { "exporter": "prometheus", "status": "up" },
        "traces": traces,
        "destinations": pipelines.collect::<Vec<_>>(),
    });
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}
