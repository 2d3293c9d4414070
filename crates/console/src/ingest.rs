//! The OTLP receivers: traces and logs over HTTP (protobuf or the OTLP/JSON
//! mapping, optionally gzip-compressed) and over gRPC, each decoded with
//! the official protobuf definitions and stored. Bad input gets a clear
//! 4xx (or gRPC status) and a counter; it never reaches the store.

use std::{
    io::Read,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use opentelemetry_proto::tonic::collector::{
    logs::v1::{
        ExportLogsServiceRequest, ExportLogsServiceResponse, logs_service_server::LogsService,
    },
    trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse, trace_service_server::TraceService,
    },
};
use serde::Serialize;

use crate::{convert, store::Store};

/// What the receivers took in and turned away.
#[derive(Debug, Default, Serialize)]
pub struct IngestCounters {
    /// Spans stored.
    pub spans: AtomicU64,
    /// Spans skipped because their ids were malformed.
    pub invalid_spans: AtomicU64,
    /// Log records attached to spans (or held for them).
    pub logs: AtomicU64,
    /// Log records without a span id (not shown).
    pub logs_without_span: AtomicU64,
    /// Requests refused: the body did not decode.
    pub rejected_malformed: AtomicU64,
    /// Requests refused: a content type other than protobuf or JSON.
    pub rejected_content_type: AtomicU64,
    /// Requests refused: the body exceeded the size limit.
    pub rejected_too_large: AtomicU64,
    /// Requests refused: no or a wrong access token.
    pub rejected_unauthorized: AtomicU64,
}

/// Where decoded data goes.
#[derive(Clone)]
pub(crate) struct Sink {
    pub(crate) store: Arc<Store>,
    pub(crate) counters: Arc<IngestCounters>,
    pub(crate) max_body_bytes: usize,
}

impl Sink {
    pub(crate) fn traces(&self, request: ExportTraceServiceRequest) {
        let (spans, invalid) = convert::spans(request);
        self.counters
            .spans
            .fetch_add(spans.len() as u64, Ordering::Relaxed);
        self.counters
            .invalid_spans
            .fetch_add(invalid, Ordering::Relaxed);
        self.store.ingest(spans);
    }

    pub(crate) fn logs(&self, request: ExportLogsServiceRequest) {
        let (logs, unattached) = convert::logs(request);
        self.counters
            .logs
            .fetch_add(logs.len() as u64, Ordering::Relaxed);
        self.counters
            .logs_without_span
            .fetch_add(unattached, Ordering::Relaxed);
        self.store.ingest_logs(logs);
    }
}

/// How a request body is encoded.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

fn refuse(counter: &AtomicU64, status: StatusCode, message: String) -> Response {
    counter.fetch_add(1, Ordering::Relaxed);
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

/// Reads, decompresses and decodes a request body as `T`.
fn decode<T: prost::Message + Default + serde::de::DeserializeOwned>(
    sink: &Sink,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(T, Encoding), Box<Response>> {
    let counters = &sink.counters;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let encoding = match content_type.as_str() {
        "application/x-protobuf" | "application/protobuf" => Encoding::Protobuf,
        "application/json" => Encoding::Json,
        other => {
            return Err(Box::new(refuse(
                &counters.rejected_content_type,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "unsupported content type {other:?}: send application/x-protobuf or application/json (OTLP/HTTP)\n"
                ),
            )));
        }
    };
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let inflated;
    let bytes = if gzip {
        let mut out = Vec::new();
        let limit = u64::try_from(sink.max_body_bytes).unwrap_or(u64::MAX) + 1;
        if flate2::read::GzDecoder::new(body)
            .take(limit)
            .read_to_end(&mut out)
            .is_err()
        {
            return Err(Box::new(refuse(
                &counters.rejected_malformed,
                StatusCode::BAD_REQUEST,
                "the body is not valid gzip\n".to_owned(),
            )));
        }
        if out.len() > sink.max_body_bytes {
            return Err(Box::new(too_large(sink)));
        }
        inflated = out;
        inflated.as_slice()
    } else {
        body
    };
    let decoded = match encoding {
        Encoding::Protobuf => T::decode(bytes).map_err(|e| e.to_string()),
        Encoding::Json => serde_json::from_slice::<T>(bytes).map_err(|e| e.to_string()),
    };
    decoded.map(|d| (d, encoding)).map_err(|e| {
        Box::new(refuse(
            &counters.rejected_malformed,
            StatusCode::BAD_REQUEST,
            format!("the body is not a valid OTLP export request: {e}\n"),
        ))
    })
}

fn too_large(sink: &Sink) -> Response {
    refuse(
        &sink.counters.rejected_too_large,
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the body exceeds the limit of {} bytes: send smaller batches\n",
            sink.max_body_bytes
        ),
    )
}

/// Reads the body up to the limit.
async fn read(sink: &Sink, body: Body) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, sink.max_body_bytes)
        .await
        .map_err(|_| too_large(sink))
}

fn answer<T: prost::Message + Serialize>(encoding: Encoding, response: &T) -> Response {
    match encoding {
        Encoding::Protobuf => (
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            response.encode_to_vec(),
        )
            .into_response(),
        Encoding::Json => (
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_vec(response).unwrap_or_else(|_| b"{}".to_vec()),
        )
            .into_response(),
    }
}

/// Reads, decodes and hands one OTLP/HTTP request to `handle`, answering
/// with `response` in the request's encoding.
async fn receive<T, R>(
    sink: &Sink,
    headers: &HeaderMap,
    body: Body,
    handle: impl FnOnce(&Sink, T),
    response: &R,
) -> Response
where
    T: prost::Message + Default + serde::de::DeserializeOwned,
    R: prost::Message + Serialize,
{
    let bytes = match read(sink, body).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    match decode::<T>(sink, headers, &bytes) {
        Ok((request, encoding)) => {
            handle(sink, request);
            answer(encoding, response)
        }
        Err(response) => *response,
    }
}

/// `POST /v1/traces`.
pub(crate) async fn http_traces(
    State(sink): State<Sink>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let handle = |sink: &Sink, request: ExportTraceServiceRequest| sink.traces(request);
    receive(
        &sink,
        &headers,
        body,
        handle,
        &ExportTraceServiceResponse::default(),
    )
    .await
}

/// `POST /v1/logs`.
pub(crate) async fn http_logs(
    State(sink): State<Sink>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let handle = |sink: &Sink, request: ExportLogsServiceRequest| sink.logs(request);
    receive(
        &sink,
        &headers,
        body,
        handle,
        &ExportLogsServiceResponse::default(),
    )
    .await
}

/// The gRPC trace and logs services.
#[derive(Clone)]
pub(crate) struct Grpc(pub(crate) Sink);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.traces(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.0.logs(request.into_inner());
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}
