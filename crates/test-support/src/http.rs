//! HTTP helpers for tests: one GET, and polling until a condition holds (servers are polled for readiness, never waited for with sleeps).

use std::{
    future::Future,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};

/// `GET url`: the status and the body (panics on a transport error).
pub async fn get(url: &str) -> (u16, String) {
    try_get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// `GET url`: the status and the body, or the transport error.
pub async fn try_get(url: &str) -> Result<(u16, String), String> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri = url.parse().map_err(|e| format!("{e}"))?;
    let resp = client.get(uri).await.map_err(|e| format!("{e}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{e}"))?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// `POST url` with `body`: the status and the response body (panics on a
/// transport error).
pub async fn post(url: &str, body: &str) -> (u16, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = http::Request::post(url)
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let resp = client
        .request(req)
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Polls `check` every 200 ms until it returns `Some`.
///
/// # Panics
/// After `within`, naming `what` was awaited.
pub async fn eventually<T, F: Future<Output = Option<T>>>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> F,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < within,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
