//! Describers for servers: [`HttpServer`] (axum, hyper, any `http`
//! service) and [`GrpcServer`] (tonic), used by
//! [`TelemetryLayer::http_server`](crate::layer::TelemetryLayer::http_server)
//! and [`TelemetryLayer::grpc_server`](crate::layer::TelemetryLayer::grpc_server).
//!
//! Both continue the caller's trace (W3C `traceparent`, `tracestate` and
//! `baggage` from the request headers), tell the service's failures from
//! the client's errors, and record a per-request metric whose labels are
//! bounded: the route *template* or the gRPC method, never the raw path,
//! under the cardinality guard.
//!
//! | | span name | failure (error status, `outcome="error"`) | client's error (`outcome="expected"`, status unset) |
//! |---|---|---|---|
//! | HTTP | `{method} {route}` (`{method}` when no route matched) | 5xx, a transport error | 4xx |
//! | gRPC | `{service}/{method}` (`grpc`, with `_OTHER` names, for a method the server does not have) | `UNKNOWN`, `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `INTERNAL`, `UNAVAILABLE`, `DATA_LOSS` | every other code but `OK` |
//!
//! These follow OpenTelemetry's HTTP and RPC conventions for server spans.

use std::borrow::Cow;

use opentelemetry::{Context, KeyValue};
use opentelemetry_http::HeaderExtractor;

use crate::{
    attr,
    builtin_metrics::instruments,
    layer::{Describe, Http, HttpRoute, RequestLabels, known_method},
};

/// The route template of a request: an [`HttpRoute`] extension, else (with
/// the `axum` feature) axum's `MatchedPath`, which axum's router sets for
/// the middleware added with `Router::layer` or `route_layer`.
/// Borrowed: each use copies only what it keeps.
pub(crate) fn route_of<B>(req: &http::Request<B>) -> Option<&str> {
    if let Some(route) = req.extensions().get::<HttpRoute>() {
        return Some(&route.0);
    }
    #[cfg(feature = "axum")]
    if let Some(matched) = req.extensions().get::<axum::extract::MatchedPath>() {
        return Some(matched.as_str());
    }
    None
}

/// The caller's context, from the request's W3C headers.
fn extracted<B>(req: &http::Request<B>) -> Context {
    crate::propagation::extract(&HeaderExtractor(req.headers()))
}

/// Describes an HTTP server: [`Http`]'s names and attributes (the route
/// from the [`HttpRoute`] extension or axum's `MatchedPath`), the caller's
/// context from the headers, 5xx as failures (`http_5xx`), 4xx as client
/// errors (`http_4xx`), and
/// `tta_http_server_request_duration_seconds` by method, route template
/// and status class. A request no route matched (a 404 from the
/// fallback) has the route label `""`.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpServer;

impl<B, RB, E> Describe<http::Request<B>, http::Response<RB>, E> for HttpServer {
    fn span_name(&self, req: &http::Request<B>) -> Option<Cow<'static, str>> {
        <Http as Describe<_, http::Response<RB>, E>>::span_name(&Http, req)
    }

    fn parent(&self, req: &http::Request<B>) -> Option<Context> {
        Some(extracted(req))
    }

    fn request_attributes(&self, req: &http::Request<B>, attributes: &mut Vec<KeyValue>) {
        <Http as Describe<_, http::Response<RB>, E>>::request_attributes(&Http, req, attributes);
    }

    fn classify(&self, result: &Result<http::Response<RB>, E>) -> Option<&'static str> {
        <Http as Describe<http::Request<B>, _, _>>::classify(&Http, result)
    }

    fn response_attributes(&self, resp: &http::Response<RB>, attributes: &mut Vec<KeyValue>) {
        <Http as Describe<http::Request<B>, _, E>>::response_attributes(&Http, resp, attributes);
    }

    fn client_error(&self, result: &Result<http::Response<RB>, E>) -> Option<&'static str> {
        match result {
            Ok(resp) if resp.status().is_client_error() => Some("http_4xx"),
            _ => None,
        }
    }

    fn request_labels(&self, req: &http::Request<B>) -> Option<RequestLabels> {
        Some(RequestLabels {
            series: &instruments().http_server,
            first: Cow::Borrowed(known_method(req.method())),
            second: Cow::Owned(route_of(req).unwrap_or_default().to_owned()),
            span_attributes: None,
        })
    }

    fn status_label(&self, result: &Result<http::Response<RB>, E>) -> &'static str {
        match result {
            Ok(resp) => match resp.status().as_u16() / 100 {
                1 => "1xx",
                2 => "2xx",
                3 => "3xx",
                4 => "4xx",
                _ => "5xx",
            },
            Err(_) => "error",
        }
    }
}

/// The gRPC status codes, by number.
const GRPC_CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The error types of the codes, by number (`grpc_not_found`, ...).
const GRPC_ERROR_TYPES: [&str; 17] = [
    "grpc_ok",
    "grpc_cancelled",
    "grpc_unknown",
    "grpc_invalid_argument",
    "grpc_deadline_exceeded",
    "grpc_not_found",
    "grpc_already_exists",
    "grpc_permission_denied",
    "grpc_resource_exhausted",
    "grpc_failed_precondition",
    "grpc_aborted",
    "grpc_out_of_range",
    "grpc_unimplemented",
    "grpc_internal",
    "grpc_unavailable",
    "grpc_data_loss",
    "grpc_unauthenticated",
];

/// The codes that are the server's failure (OpenTelemetry's RPC
/// conventions for server spans); the others are the client's errors.
fn is_server_failure(code: usize) -> bool {
    matches!(code, 2 | 4 | 12 | 13 | 14 | 15)
}

/// The call's gRPC status code. Errors come as a trailers-only response,
/// with `grpc-status` in the headers (tonic answers every `Status` returned
/// by a handler that way); a response without it is `OK`, since a status
/// sent in the trailers after a streamed body is not seen by a layer that
/// does not read the body. A code outside 0..=16 counts as `UNKNOWN`.
fn grpc_code<RB>(resp: &http::Response<RB>) -> usize {
    match resp.headers().get("grpc-status") {
        None => 0,
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|code| *code < GRPC_CODES.len())
            .unwrap_or(2),
    }
}

/// The service and method of a gRPC request path
/// (`/package.Service/Method`), or `None` for a path of another shape.
fn grpc_method(path: &str) -> Option<(&str, &str)> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    (!service.is_empty() && !method.is_empty() && !method.contains('/'))
        .then_some((service, method))
}

/// Describes a gRPC server (tonic): span name `{service}/{method}`,
/// `rpc.system`, `rpc.service`, `rpc.method` and `rpc.grpc.status_code`,
/// the caller's context from the metadata, server failures and client
/// errors by status code (see the [module docs](self)), and
/// `tta_rpc_server_duration_seconds` by service, method and code.
///
/// The method names come from the request path. A client can send the path
/// of a method that does not exist: the server answers `UNIMPLEMENTED`, and
/// the span and the metric then keep `_OTHER` instead of what the client
/// sent, so neither span names nor labels grow with made-up paths.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcServer;

impl<B, RB, E> Describe<http::Request<B>, http::Response<RB>, E> for GrpcServer {
    fn span_name(&self, req: &http::Request<B>) -> Option<Cow<'static, str>> {
        Some(match grpc_method(req.uri().path()) {
            Some(_) => Cow::Owned(req.uri().path()[1..].to_owned()),
            None => Cow::Borrowed("grpc"),
        })
    }

    fn parent(&self, req: &http::Request<B>) -> Option<Context> {
        Some(extracted(req))
    }

    /// `rpc.system`; `rpc.service` and `rpc.method` are written when the
    /// call ends, once the status says whether the method exists.
    fn request_attributes(&self, _req: &http::Request<B>, attributes: &mut Vec<KeyValue>) {
        attributes.push(KeyValue::new(attr::RPC_SYSTEM, "grpc"));
    }

    fn classify(&self, result: &Result<http::Response<RB>, E>) -> Option<&'static str> {
        match result {
            Ok(resp) => {
                let code = grpc_code(resp);
                is_server_failure(code).then_some(GRPC_ERROR_TYPES[code])
            }
            Err(_) => Some("transport"),
        }
    }

    fn response_attributes(&self, resp: &http::Response<RB>, attributes: &mut Vec<KeyValue>) {
        attributes.push(KeyValue::new(
            attr::RPC_GRPC_STATUS_CODE,
            grpc_code(resp) as i64,
        ));
    }

    fn client_error(&self, result: &Result<http::Response<RB>, E>) -> Option<&'static str> {
        match result {
            Ok(resp) => {
                let code = grpc_code(resp);
                (code != 0 && !is_server_failure(code)).then_some(GRPC_ERROR_TYPES[code])
            }
            Err(_) => None,
        }
    }

    fn request_labels(&self, req: &http::Request<B>) -> Option<RequestLabels> {
        let (service, method) = grpc_method(req.uri().path()).unwrap_or(("", ""));
        Some(RequestLabels {
            series: &instruments().rpc_server,
            first: Cow::Owned(service.to_owned()),
            second: Cow::Owned(method.to_owned()),
            span_attributes: Some([attr::RPC_SERVICE, attr::RPC_METHOD]),
        })
    }

    fn status_label(&self, result: &Result<http::Response<RB>, E>) -> &'static str {
        match result {
            Ok(resp) => GRPC_CODES[grpc_code(resp)],
            Err(_) => "transport",
        }
    }

    /// `UNIMPLEMENTED`: no such method, so the path the client sent names
    /// nothing: the span is `grpc` with `rpc.service` and `rpc.method`
    /// `_OTHER`, and so are the metric's labels.
    fn unknown_operation(&self, result: &Result<http::Response<RB>, E>) -> Option<&'static str> {
        match result {
            Ok(resp) if grpc_code(resp) == UNIMPLEMENTED => Some("grpc"),
            _ => None,
        }
    }
}

/// The code of a call to a method the server does not have.
const UNIMPLEMENTED: usize = 12;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_answer_is_labelled_by_its_status_class_and_4xx_is_the_clients() {
        let answer = |code: u16| -> Result<http::Response<()>, ()> {
            let mut resp = http::Response::new(());
            *resp.status_mut() = http::StatusCode::from_u16(code).unwrap();
            Ok(resp)
        };
        let label = |r: &Result<http::Response<()>, ()>| {
            <HttpServer as Describe<http::Request<()>, _, _>>::status_label(&HttpServer, r)
        };
        let client = |r: &Result<http::Response<()>, ()>| {
            <HttpServer as Describe<http::Request<()>, _, _>>::client_error(&HttpServer, r)
        };
        let classes: Vec<_> = [101, 204, 301, 404, 503, 599]
            .into_iter()
            .map(|c| (label(&answer(c)), client(&answer(c))))
            .collect();
        assert_eq!(
            classes,
            [
                ("1xx", None),
                ("2xx", None),
                ("3xx", None),
                ("4xx", Some("http_4xx")),
                ("5xx", None),
                ("5xx", None)
            ]
        );
        assert_eq!((label(&Err(())), client(&Err(()))), ("error", None));
    }

    #[test]
    fn grpc_paths_and_codes_are_read_as_the_protocol_writes_them() {
        assert_eq!(
            grpc_method("/helloworld.Greeter/SayHello"),
            Some(("helloworld.Greeter", "SayHello"))
        );
        for bad in ["", "/", "/svc", "/svc/", "//m", "/a/b/c", "svc/m"] {
            assert_eq!(grpc_method(bad), None, "{bad:?}");
        }
        let with = |status: Option<&str>| {
            let mut resp = http::Response::new(());
            if let Some(s) = status {
                resp.headers_mut().insert("grpc-status", s.parse().unwrap());
            }
            grpc_code(&resp)
        };
        assert_eq!(with(None), 0);
        assert_eq!(with(Some("5")), 5);
        assert_eq!(with(Some("16")), 16);
        assert_eq!(with(Some("17")), 2, "out of range is UNKNOWN");
        assert_eq!(with(Some("x")), 2);
        let failures: Vec<_> = (0..17)
            .filter(|c| is_server_failure(*c))
            .map(|c| GRPC_CODES[c])
            .collect();
        assert_eq!(
            failures,
            [
                "UNKNOWN",
                "DEADLINE_EXCEEDED",
                "UNIMPLEMENTED",
                "INTERNAL",
                "UNAVAILABLE",
                "DATA_LOSS"
            ]
        );
        for (code, kind) in GRPC_ERROR_TYPES.iter().enumerate() {
            assert_eq!(
                kind.strip_prefix("grpc_").unwrap().to_ascii_uppercase(),
                GRPC_CODES[code]
            );
        }
    }
}
