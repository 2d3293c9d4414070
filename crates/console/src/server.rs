//! Running the console: the UI and API on a port of its own, the OTLP
//! receivers on theirs (HTTP 4318, gRPC 4317 by default), all on
//! 127.0.0.1 unless configured otherwise, and an access token required as
//! soon as anything listens beyond loopback.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{Request, State},
    http::{StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use opentelemetry_proto::tonic::collector::{
    logs::v1::logs_service_server::LogsServiceServer,
    trace::v1::trace_service_server::TraceServiceServer,
};
use tokio::{sync::watch, task::JoinHandle};

use crate::{
    api::{self, Api},
    exporter::ConsoleExporter,
    ingest::{self, Grpc, IngestCounters, Sink},
    store::{Store, StoreConfig},
    ui,
};

/// The default address of the UI and API.
pub const DEFAULT_UI_ADDR: &str = "127.0.0.1:4320";
/// The default OTLP/HTTP address.
pub const DEFAULT_OTLP_HTTP_ADDR: &str = "127.0.0.1:4318";
/// The default OTLP/gRPC address.
pub const DEFAULT_OTLP_GRPC_ADDR: &str = "127.0.0.1:4317";
/// The default limit of one OTLP request body (after decompression).
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How the console runs.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// Where the UI and API listen.
    pub ui_addr: SocketAddr,
    /// Where OTLP/HTTP is received (`None`: not at all, e.g. embedded).
    pub otlp_http_addr: Option<SocketAddr>,
    /// Where OTLP/gRPC is received (`None`: not at all).
    pub otlp_grpc_addr: Option<SocketAddr>,
    /// The store's file and bounds.
    pub store: StoreConfig,
    /// The access token; required when any address is beyond loopback.
    pub token: Option<String>,
    /// The largest OTLP request body accepted, after decompression.
    pub max_body_bytes: usize,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            ui_addr: DEFAULT_UI_ADDR.parse().expect("a valid address"),
            otlp_http_addr: Some(DEFAULT_OTLP_HTTP_ADDR.parse().expect("a valid address")),
            otlp_grpc_addr: Some(DEFAULT_OTLP_GRPC_ADDR.parse().expect("a valid address")),
            store: StoreConfig::default(),
            token: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// Why the console could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// An address cannot be bound.
    #[error(
        "cannot listen on {addr} for the console's {what} (set by `{setting}`): {source}; choose a free address"
    )]
    Bind {
        /// What listens there.
        what: &'static str,
        /// The setting that gave it.
        setting: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Listening beyond loopback without an access token.
    #[error(
        "`{setting}` = {addr} listens beyond loopback: set an access token (--token or TTA_CONSOLE_TOKEN) so that only you can read and send traces"
    )]
    TokenRequired {
        /// The setting.
        setting: &'static str,
        /// The address.
        addr: SocketAddr,
    },
    /// The store could not be opened.
    #[error("the console's store: {0}")]
    Store(String),
}

/// A running console. Dropping it stops the listeners.
pub struct Console {
    store: Arc<Store>,
    counters: Arc<IngestCounters>,
    max_body_bytes: usize,
    ui_addr: SocketAddr,
    otlp_http_addr: Option<SocketAddr>,
    otlp_grpc_addr: Option<SocketAddr>,
    token: Option<String>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("ui_addr", &self.ui_addr)
            .field("otlp_http_addr", &self.otlp_http_addr)
            .field("otlp_grpc_addr", &self.otlp_grpc_addr)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

async fn bind(
    what: &'static str,
    setting: &'static str,
    addr: SocketAddr,
) -> Result<tokio::net::TcpListener, ConsoleError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ConsoleError::Bind {
            what,
            setting,
            addr,
            source,
        })
}

/// Whether an `Authorization` value and a query string carry `token`
/// (`Bearer <token>`, or `token=<token>` in the query).
fn carries_token(authorization: Option<&str>, query: Option<&str>, token: &str) -> bool {
    authorization
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| same_secret(given, token))
        || query.is_some_and(|q| {
            q.split('&')
                .filter_map(|pair| pair.strip_prefix("token="))
                .any(|given| same_secret(given, token))
        })
}

/// Compares a presented secret with the expected one in time that does not
/// depend on where they differ (a dozen lines; not worth a dependency).
fn same_secret(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// Refuses requests without the token (header `Authorization: Bearer
/// <token>` or query `token=<token>`).
async fn authorize(
    State((token, counters)): State<(Arc<str>, Arc<IngestCounters>)>,
    request: Request,
    next: Next,
) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if carries_token(authorization, request.uri().query(), &token) {
        return next.run(request).await;
    }
    counters
        .rejected_unauthorized
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    (
        StatusCode::UNAUTHORIZED,
        "an access token is required: add ?token=... to the URL or send Authorization: Bearer ...\n",
    )
        .into_response()
}

impl Console {
    /// Opens the store and starts the listeners.
    ///
    /// # Errors
    /// A [`ConsoleError`] naming the setting: an address in use, an address
    /// beyond loopback without a token, a store that cannot be created.
    pub async fn start(config: ConsoleConfig) -> Result<Self, ConsoleError> {
        let addrs = [
            ("ui_addr", Some(config.ui_addr)),
            ("otlp_http_addr", config.otlp_http_addr),
            ("otlp_grpc_addr", config.otlp_grpc_addr),
        ];
        if config.token.is_none()
            && let Some((setting, Some(addr))) = addrs
                .iter()
                .find(|(_, a)| a.is_some_and(|a| !a.ip().is_loopback()))
        {
            return Err(ConsoleError::TokenRequired {
                setting,
                addr: *addr,
            });
        }
        let store = Arc::new(
            tokio::task::spawn_blocking({
                let store = config.store.clone();
                move || Store::open(store)
            })
            .await
            .map_err(|e| ConsoleError::Store(e.to_string()))?
            .map_err(ConsoleError::Store)?,
        );
        let counters = Arc::new(IngestCounters::default());
        let sink = Sink {
            store: Arc::clone(&store),
            counters: Arc::clone(&counters),
            max_body_bytes: config.max_body_bytes,
        };
        let ui_listener = bind("UI", "ui_addr", config.ui_addr).await?;
        let http_listener = match config.otlp_http_addr {
            Some(addr) => Some(bind("OTLP/HTTP receiver", "otlp_http_addr", addr).await?),
            None => None,
        };
        let grpc_listener = match config.otlp_grpc_addr {
            Some(addr) => Some(bind("OTLP/gRPC receiver", "otlp_grpc_addr", addr).await?),
            None => None,
        };
        let ui_addr = ui_listener.local_addr().unwrap_or(config.ui_addr);
        let otlp_http_addr = http_listener.as_ref().and_then(|l| l.local_addr().ok());
        let otlp_grpc_addr = grpc_listener.as_ref().and_then(|l| l.local_addr().ok());
        let (stop, stopped) = watch::channel(false);
        let token: Option<Arc<str>> = config.token.as_deref().map(Arc::from);
        let guard = |router: Router| match &token {
            Some(token) => router.layer(middleware::from_fn_with_state(
                (Arc::clone(token), Arc::clone(&counters)),
                authorize,
            )),
            None => router,
        };
        let otlp_routes = || {
            Router::new()
                .route("/v1/traces", post(ingest::http_traces))
                .route("/v1/logs", post(ingest::http_logs))
                .with_state(sink.clone())
                // The body limit is applied by the handlers, which count refusals.
                .layer(axum::extract::DefaultBodyLimit::disable())
        };
        let api = Api {
            store: Arc::clone(&store),
            counters: Arc::clone(&counters),
        };
        let ui_app = guard(
            Router::new()
                .route("/api/traces", get(api::traces))
                .route("/api/traces/{trace_id}", get(api::trace))
                .route("/api/llm", get(api::llm))
                .route("/api/overview", get(api::overview))
                .route("/api/facets", get(api::facets))
                .route("/api/stats", get(api::stats))
                .with_state(api)
                .merge(ui::routes())
                // The UI port takes OTLP/HTTP too, for an embedded console
                // without receivers of its own.
                .merge(otlp_routes()),
        );
        let mut tasks = Vec::new();
        let serve = |listener: tokio::net::TcpListener, app: Router| {
            let mut stopped = stopped.clone();
            tokio::spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    })
                    .await;
            })
        };
        tasks.push(serve(ui_listener, ui_app));
        if let Some(listener) = http_listener {
            tasks.push(serve(listener, guard(otlp_routes())));
        }
        if let Some(listener) = grpc_listener {
            let grpc = Grpc(sink.clone());
            let max = config.max_body_bytes;
            let token = token.clone();
            let mut stopped = stopped.clone();
            tasks.push(tokio::spawn(async move {
                let check = move |request: tonic::Request<()>| -> Result<tonic::Request<()>, tonic::Status> {
                    let Some(token) = &token else {
                        return Ok(request);
                    };
                    let authorization = request
                        .metadata()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok());
                    if carries_token(authorization, None, token) {
                        Ok(request)
                    } else {
                        Err(tonic::Status::unauthenticated("an access token is required"))
                    }
                };
                let _ = tonic::transport::Server::builder()
                    .add_service(tonic::service::interceptor::InterceptedService::new(
                        TraceServiceServer::new(grpc.clone()).max_decoding_message_size(max),
                        check.clone(),
                    ))
                    .add_service(tonic::service::interceptor::InterceptedService::new(
                        LogsServiceServer::new(grpc).max_decoding_message_size(max),
                        check,
                    ))
                    .serve_with_incoming_shutdown(
                        tokio_stream::wrappers::TcpListenerStream::new(listener),
                        async move {
                            let _ = stopped.wait_for(|s| *s).await;
                        },
                    )
                    .await;
            }));
        }
        // The age bound also applies when nothing arrives.
        {
            let store = Arc::clone(&store);
            let mut stopped = stopped.clone();
            tasks.push(tokio::spawn(async move {
                let mut ticks = tokio::time::interval(Duration::from_secs(10));
                loop {
                    tokio::select! {
                        _ = ticks.tick() => {}
                        _ = stopped.wait_for(|s| *s) => return,
                    }
                    let store = Arc::clone(&store);
                    let _ = tokio::task::spawn_blocking(move || store.expire()).await;
                }
            }));
        }
        Ok(Self {
            store,
            counters,
            max_body_bytes: config.max_body_bytes,
            ui_addr,
            otlp_http_addr,
            otlp_grpc_addr,
            token: config.token,
            stop,
            tasks,
        })
    }

    /// The UI's URL (with the token, when one is set).
    pub fn ui_url(&self) -> String {
        match &self.token {
            Some(token) => format!("http://{}/?token={token}", self.ui_addr),
            None => format!("http://{}/", self.ui_addr),
        }
    }

    /// Where the UI listens.
    pub fn ui_addr(&self) -> SocketAddr {
        self.ui_addr
    }

    /// Where OTLP/HTTP is received.
    pub fn otlp_http_addr(&self) -> Option<SocketAddr> {
        self.otlp_http_addr
    }

    /// Where OTLP/gRPC is received.
    pub fn otlp_grpc_addr(&self) -> Option<SocketAddr> {
        self.otlp_grpc_addr
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// What the receivers took in and refused.
    pub fn counters(&self) -> &Arc<IngestCounters> {
        &self.counters
    }

    /// An exporter handing spans to this console in-process.
    pub fn span_exporter(&self) -> ConsoleExporter {
        self.exporter()
    }

    /// An exporter handing log records (the `tracing` bridge's events) to
    /// this console in-process; they appear on their spans.
    pub fn log_exporter(&self) -> ConsoleExporter {
        self.exporter()
    }

    fn exporter(&self) -> ConsoleExporter {
        ConsoleExporter {
            sink: self.sink(),
            resource: (&opentelemetry_sdk::Resource::builder_empty().build()).into(),
        }
    }

    fn sink(&self) -> Sink {
        Sink {
            store: Arc::clone(&self.store),
            counters: Arc::clone(&self.counters),
            max_body_bytes: self.max_body_bytes,
        }
    }

    /// Stops the listeners, waiting at most `deadline`.
    pub async fn shutdown(mut self, deadline: Duration) {
        let _ = self.stop.send(true);
        let tasks = std::mem::take(&mut self.tasks);
        let _ = tokio::time::timeout(deadline, async {
            for task in tasks {
                let _ = task.await;
            }
        })
        .await;
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::carries_token;

    #[test]
    fn only_the_exact_token_opens_the_door() {
        let token = "s3cret-token";
        assert!(carries_token(Some("Bearer s3cret-token"), None, token));
        assert!(carries_token(None, Some("a=1&token=s3cret-token"), token));
        for (authorization, query) in [
            (Some("Bearer s3cret"), None),
            (Some("Bearer s3cret-token-and-more"), None),
            (Some("s3cret-token"), None),
            (Some("Basic s3cret-token"), None),
            (None, Some("token=s3cret-tokeN")),
            (None, Some("xtoken=s3cret-token")),
            (None, Some("token=")),
            (None, None),
        ] {
            assert!(
                !carries_token(authorization, query, token),
                "{authorization:?} {query:?}"
            );
        }
    }
}
