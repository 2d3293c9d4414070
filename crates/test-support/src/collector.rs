//! A local OTLP/HTTP collector whose behaviour a test switches while it
//! runs: answer, fail with a status, black-hole, or die and come back on
//! the same address. Fault injection only: the real exporters of
//! `opentelemetry-otlp` talk to it, and the spans it accepts are decoded
//! with the official protobuf definitions.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU16, AtomicU64, Ordering},
    },
};

use axum::{
    Router, body::Bytes, extract::State, http::StatusCode, response::IntoResponse, routing::post,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

/// How the collector answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Accepts every export.
    Accept,
    /// Answers every export with this HTTP status (429 with `Retry-After: 30`).
    Status(u16),
    /// Reads the request and never answers.
    BlackHole,
}

impl Behaviour {
    fn code(self) -> u16 {
        match self {
            Self::Accept => 0,
            Self::BlackHole => 1,
            Self::Status(status) => status,
        }
    }

    fn from_code(code: u16) -> Self {
        match code {
            0 => Self::Accept,
            1 => Self::BlackHole,
            status => Self::Status(status),
        }
    }
}

#[derive(Default)]
struct Shared {
    behaviour: AtomicU16,
    spans: AtomicU64,
    requests: AtomicU64,
}

/// The collector; [`kill`](Self::kill) stops it (connections are refused
/// from then on), [`revive`](Self::revive) starts it again on the same
/// address.
pub struct Collector {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Mutex<Option<std::thread::JoinHandle<()>>>,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl Collector {
    /// Starts a collector behaving as `behaviour` on a free 127.0.0.1 port,
    /// on a thread and runtime of its own (so killing it closes every
    /// connection, as a crashed collector would).
    ///
    /// # Panics
    /// When no port is free.
    pub fn start(behaviour: Behaviour) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let addr = listener.local_addr().expect("its address");
        let this = Self {
            addr,
            shared: Arc::default(),
            server: Mutex::new(None),
            stop: Mutex::new(None),
        };
        this.set(behaviour);
        this.serve(listener);
        this
    }

    fn serve(&self, listener: std::net::TcpListener) {
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let shared = Arc::clone(&self.shared);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a collector runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("a listener");
                let app = Router::new()
                    .route("/v1/traces", post(export))
                    .with_state(shared);
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = stopped => {}
                }
            });
            // Dropping the runtime closes every connection it holds.
        });
        *self.server.lock().expect("not poisoned") = Some(server);
        *self.stop.lock().expect("not poisoned") = Some(stop);
    }

    /// The traces URL (`http://127.0.0.1:PORT/v1/traces`).
    pub fn traces_url(&self) -> String {
        format!("http://{}/v1/traces", self.addr)
    }

    /// Changes how the collector answers from now on.
    pub fn set(&self, behaviour: Behaviour) {
        self.shared
            .behaviour
            .store(behaviour.code(), Ordering::SeqCst);
    }

    /// Spans accepted so far.
    pub fn spans(&self) -> u64 {
        self.shared.spans.load(Ordering::SeqCst)
    }

    /// Export requests received so far (answered or not).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Stops the collector: its port refuses connections until
    /// [`revive`](Self::revive).
    ///
    /// # Panics
    /// When the server thread panicked.
    pub fn kill(&self) {
        if let Some(stop) = self.stop.lock().expect("not poisoned").take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.lock().expect("not poisoned").take() {
            server.join().expect("the collector thread ends cleanly");
        }
    }

    /// Starts the killed collector again on the same address.
    ///
    /// # Panics
    /// When the address cannot be bound again.
    pub fn revive(&self) {
        let listener =
            std::net::TcpListener::bind(self.addr).expect("the collector's address is free again");
        self.serve(listener);
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        // A black-holed request would keep the thread alive: do not wait.
        if let Some(stop) = self.stop.lock().expect("not poisoned").take() {
            let _ = stop.send(());
        }
    }
}

async fn export(State(shared): State<Arc<Shared>>, body: Bytes) -> axum::response::Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    match Behaviour::from_code(shared.behaviour.load(Ordering::SeqCst)) {
        Behaviour::Accept => {
            let request = ExportTraceServiceRequest::decode(body.as_ref())
                .expect("a valid OTLP protobuf body");
            let spans: usize = request
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum();
            shared.spans.fetch_add(spans as u64, Ordering::SeqCst);
            (
                [("content-type", "application/x-protobuf")],
                Vec::<u8>::new(),
            )
                .into_response()
        }
        Behaviour::BlackHole => std::future::pending().await,
        Behaviour::Status(429) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "30")],
            "slow down",
        )
            .into_response(),
        Behaviour::Status(status) => (
            StatusCode::from_u16(status).expect("a valid status"),
            "collector failure",
        )
            .into_response(),
    }
}
