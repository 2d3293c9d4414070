//! A profile service, written the way a team adopting the toolkit would
//! write it:
//!
//! * `GET /users/{id}`: the user (from a flaky store: retried, with a
//!   deadline, cached) and their orders, fetched side by side with a typed
//!   join, rendered as JSON. An unknown user is an *expected* error: a 404
//!   that is neither retried nor counted against the service's
//!   availability.
//! * `POST /users/{id}/summary`: the same profile, then an LLM call that
//!   summarises it, traced as a GenAI span with tokens and cost.
//!
//! The toolkit-specific lines are marked `// tta:`; the README's section
//! "Adopting it in your service" walks through them.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Serialize;
use tower::{Layer, ServiceExt, service_fn};
use tta_langfuse::{LlmLayer, LlmRequest, LlmResponse, Message, Usage};
use tta_obs_init::{InitError, ObservabilityConfig, ObservabilityConfigBuilder};
use tta_primitives_core::{ErrorClass, Request, WorkflowContext, WorkflowError, prelude::*};
use tta_primitives_obs::{InstrumentExt, layer::TelemetryLayer};

/// The service's name, in its telemetry.
pub const SERVICE: &str = "profile-service";

/// The observability settings: the code's defaults, then whatever the
/// deployment sets in `OTEL_*` / `TTA_*` variables.
///
/// # Errors
/// An invalid variable, named.
pub fn observability() -> Result<ObservabilityConfigBuilder, InitError> {
    ObservabilityConfig::builder(SERVICE) // tta: 1
        .service_version(env!("CARGO_PKG_VERSION")) // tta: 2
        .metric_catalogue(tta_langfuse::LLM_METRICS) // tta: 3
        .with_env() // tta: 4
}

/// A user, as the store returns it.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    /// The user's id.
    pub id: u64,
    /// The display name.
    pub name: String,
}

/// One order of a user.
#[derive(Debug, Clone, Serialize)]
pub struct Order {
    /// The order's id.
    pub id: u64,
    /// Its total, in cents.
    pub total_cents: u64,
}

/// What `GET /users/{id}` answers.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    /// The user.
    pub user: User,
    /// Their orders.
    pub orders: Vec<Order>,
}

/// The stand-in for a database whose user lookups fail once every
/// `fail_every` calls, the first included (a dropped connection:
/// transient, so retried).
#[derive(Debug)]
pub struct Store {
    calls: AtomicU64,
    fail_every: u64,
}

impl Store {
    /// A store whose user lookups 1, 1 + `fail_every`, ... fail (0: never).
    pub fn new(fail_every: u64) -> Arc<Self> {
        Arc::new(Self {
            calls: AtomicU64::new(0),
            fail_every,
        })
    }

    async fn user(&self, id: u64) -> Result<User, WorkflowError> {
        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        if self.fail_every > 0 && (n - 1) % self.fail_every == 0 {
            return Err(WorkflowError::transient(
                "db_unavailable",
                "connection reset",
            ));
        }
        match id {
            0 => Err(WorkflowError::expected(
                "not_found",
                format!("no user {id}"),
            )),
            _ => Ok(User {
                id,
                name: format!("user-{id}"),
            }),
        }
    }

    async fn orders(&self, user: u64) -> Result<Vec<Order>, WorkflowError> {
        Ok((1..=user % 4)
            .map(|i| Order {
                id: user * 100 + i,
                total_cents: 1250 * i,
            })
            .collect())
    }
}

/// The workflows the endpoints run, built once and shared.
#[derive(Clone)]
pub struct Workflows {
    profile: BoxPrimitive<u64, Profile>,
    summary: BoxPrimitive<u64, String>,
}

/// Builds the workflows over `store`.
///
/// # Errors
/// An invalid primitive setting.
pub fn workflows(store: Arc<Store>) -> Result<Workflows, ConfigError> {
    let users = store.clone();
    let fetch_user = lambda(move |id: u64| {
        let store = users.clone();
        async move { store.user(id).await }
    })
    .named("load_user")
    .retry(
        RetryPolicy::builder()
            .max_attempts(3)
            .initial_backoff(Duration::from_millis(20))
            .build()?,
    )
    .named("retry_user")
    .timeout(Duration::from_secs(2))?
    .named("user_deadline")
    .cache(
        |_, id: &u64| *id,
        CacheConfig::builder()
            .ttl(Duration::from_secs(30))
            .build()?,
    )
    .named("fetch_user");
    let fetch_orders = lambda(move |id: u64| {
        let store = store.clone();
        async move { store.orders(id).await }
    })
    .named("fetch_orders");
    let render = lambda(|(user, orders): (User, Vec<Order>)| async move {
        Ok::<_, WorkflowError>(Profile { user, orders })
    })
    .named("render");
    let profile = join((fetch_user, fetch_orders)) >> render;

    let prompt = lambda(|profile: Profile| async move {
        let facts = serde_json::to_string(&profile).map_err(WorkflowError::downstream)?;
        Ok::<_, WorkflowError>(
            LlmRequest::chat("simulated", "profile-writer")
                .message(Message::new(
                    "system",
                    "Summarise the customer in one line.",
                ))
                .message(Message::new("user", facts)),
        )
    })
    .named("prompt");
    let model = service_fn(simulated_model);
    let answer = lambda(|resp: LlmResponse| async move {
        resp.output
            .into_iter()
            .next()
            .map(|m| m.content)
            .ok_or_else(|| WorkflowError::permanent("empty_completion", "the model said nothing"))
    })
    .named("answer");
    let summary = profile.clone()
        >> prompt
        >> step(LlmLayer::new().layer(model)).named("summarise") // tta: 5
        >> answer;

    Ok(Workflows {
        profile: profile.named("profile").instrumented().into_boxed(), // tta: 6
        summary: summary.named("summary").instrumented().into_boxed(), // tta: 7
    })
}

/// A stand-in for a model provider's client: answers from the prompt, with
/// token counts as a provider reports them.
async fn simulated_model(req: Request<LlmRequest>) -> Result<LlmResponse, WorkflowError> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    let prompt_len = req
        .input
        .messages
        .iter()
        .map(|m| m.content.len())
        .sum::<usize>();
    Ok(LlmResponse {
        model: Some("profile-writer-2026-01".to_owned()),
        usage: Some(Usage {
            input_tokens: prompt_len as u64 / 4,
            output_tokens: 12,
            ..Usage::default()
        }),
        output: vec![Message::new(
            "assistant",
            "A loyal customer with recent orders.",
        )],
        ..LlmResponse::default()
    })
}

/// The API over `workflows`.
pub fn app(workflows: Workflows) -> Router {
    Router::new()
        .route("/users/{id}", get(profile))
        .route("/users/{id}/summary", post(summary))
        .with_state(workflows)
        .layer(TelemetryLayer::http_server(SERVICE, "http")) // tta: 8
}

async fn profile(State(w): State<Workflows>, Path(id): Path<u64>) -> Response {
    match w
        .profile
        .oneshot(Request::new(WorkflowContext::new("profile"), id))
        .await
    {
        Ok(profile) => json(&profile),
        Err(err) => error_response(&err),
    }
}

async fn summary(State(w): State<Workflows>, Path(id): Path<u64>) -> Response {
    match w
        .summary
        .oneshot(Request::new(WorkflowContext::new("summary"), id))
        .await
    {
        Ok(text) => text.into_response(),
        Err(err) => error_response(&err),
    }
}

fn json(value: &impl Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// An expected error is the client's (404 for a missing user); anything
/// else is ours: 503 for a timeout or an exhausted retry, 500 otherwise.
fn error_response(err: &WorkflowError) -> Response {
    let status = match (err.class(), err.kind()) {
        (ErrorClass::Expected, "not_found") => StatusCode::NOT_FOUND,
        (ErrorClass::Expected, _) => StatusCode::BAD_REQUEST,
        (_, "timeout" | "retries_exhausted") => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, format!("{}\n", err.kind())).into_response()
}
