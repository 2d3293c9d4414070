//! A local OTLP/HTTP receiver: every export request decoded with the
//! official protobuf definitions (`opentelemetry-proto`), with its headers.

use std::sync::{Arc, Mutex};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

/// What the receiver got: each request's headers and decoded body.
pub type Received = Arc<Mutex<Vec<(HeaderMap, ExportTraceServiceRequest)>>>;

/// Starts a receiver answering OTLP/HTTP trace exports at `path` on a free
/// 127.0.0.1 port; returns its base URL (`http://127.0.0.1:PORT`).
///
/// # Panics
/// When a request body is not a valid `ExportTraceServiceRequest` (inside
/// the server task: the export then fails, which the test sees).
pub async fn receiver(path: &'static str) -> (String, Received) {
    let received = Received::default();
    let app = Router::new()
        .route(
            path,
            post(
                |State(received): State<Received>, headers: HeaderMap, body: Bytes| async move {
                    let request = ExportTraceServiceRequest::decode(body.as_ref())
                        .expect("a valid OTLP protobuf body");
                    received
                        .lock()
                        .expect("not poisoned")
                        .push((headers, request));
                    // An empty ExportTraceServiceResponse.
                    (
                        [("content-type", "application/x-protobuf")],
                        Vec::<u8>::new(),
                    )
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), received)
}
