//! The JSON HTTP API behind the UI (documented in the crate README).

use std::sync::Arc;

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    ingest::IngestCounters,
    llm::{LlmCall, totals},
    store::{Store, TraceQuery},
};

/// What the API handlers share.
#[derive(Clone)]
pub(crate) struct Api {
    pub(crate) store: Arc<Store>,
    pub(crate) counters: Arc<IngestCounters>,
}

/// `GET /api/traces`: a page of traces, newest first (filters in the query).
pub(crate) async fn traces(State(api): State<Api>, Query(query): Query<TraceQuery>) -> Response {
    Json(api.store.traces(&query)).into_response()
}

/// `GET /api/traces/{trace_id}`: every span of one trace.
pub(crate) async fn trace(State(api): State<Api>, Path(trace_id): Path<String>) -> Response {
    let trace_id = trace_id.to_ascii_lowercase();
    match api.store.trace(&trace_id) {
        Some(spans) => Json(json!({ "trace_id": trace_id, "spans": spans })).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no trace {trace_id} in the store") })),
        )
            .into_response(),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct LlmQuery {
    limit: Option<usize>,
}

/// `GET /api/llm`: LLM calls (newest first), totals per model, session and user.
pub(crate) async fn llm(State(api): State<Api>, Query(query): Query<LlmQuery>) -> Response {
    let calls: Vec<LlmCall> = api
        .store
        .llm_spans(query.limit.unwrap_or(500).clamp(1, 5000))
        .iter()
        .map(LlmCall::from_span)
        .collect();
    Json(json!({
        "models": totals(&calls, |c| c.model.clone()),
        "sessions": totals(&calls, |c| c.session.clone()),
        "users": totals(&calls, |c| c.user.clone()),
        "calls": calls,
    }))
    .into_response()
}

/// `GET /api/overview?window_s=&workflow=`: rate, error ratio by type and
/// latency percentiles per workflow and primitive over the window.
pub(crate) async fn overview(
    State(api): State<Api>,
    Query(query): Query<crate::overview::OverviewQuery>,
) -> Response {
    let window =
        std::time::Duration::from_secs(query.window_s.unwrap_or(900).clamp(10, 7 * 24 * 3600));
    Json(api.store.overview(window, query.workflow.as_deref())).into_response()
}

/// `GET /api/facets`: the services and workflows in the store.
pub(crate) async fn facets(State(api): State<Api>) -> Response {
    let (services, workflows) = api.store.facets();
    Json(json!({ "services": services, "workflows": workflows })).into_response()
}

/// `GET /api/stats`: the store's size, bounds, evictions and recovery, and
/// what the receivers took in and refused.
pub(crate) async fn stats(State(api): State<Api>) -> Response {
    Json(json!({ "store": api.store.stats(), "ingest": &*api.counters })).into_response()
}
