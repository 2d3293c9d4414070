//! Small HTTP helpers for the health checks and readiness polling.

use std::time::{Duration, Instant};

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client")
}

/// GET `url`: status and body, or why it failed.
pub(super) fn get(url: &str) -> Result<(u16, String), String> {
    get_with(url, None)
}

/// GET `url` with Basic auth.
pub(super) fn get_with(url: &str, basic: Option<(&str, &str)>) -> Result<(u16, String), String> {
    let mut request = client().get(url);
    if let Some((user, password)) = basic {
        request = request.basic_auth(user, Some(password));
    }
    let response = request.send().map_err(|e| e.without_url().to_string())?;
    let status = response.status().as_u16();
    Ok((status, response.text().unwrap_or_default()))
}

/// A Prometheus instant query's result series.
pub(super) fn query(prometheus: &str, promql: &str) -> Result<Vec<serde_json::Value>, String> {
    let response = client()
        .get(format!("{prometheus}/api/v1/query"))
        .query(&[("query", promql)])
        .send()
        .map_err(|e| e.without_url().to_string())?;
    let json: serde_json::Value = response.json().map_err(|e| e.to_string())?;
    if json["status"] != "success" {
        return Err(format!("query `{promql}` failed: {}", json["error"]));
    }
    Ok(json["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// The first series' value.
pub(super) fn value(result: &[serde_json::Value]) -> Option<f64> {
    result.first()?["value"][1].as_str()?.parse().ok()
}

/// Polls `url` until it answers 200, up to `timeout`.
pub(super) fn wait_ready(url: &str, timeout: Duration, mut on_try: impl FnMut()) -> bool {
    let started = Instant::now();
    while started.elapsed() < timeout {
        on_try();
        if matches!(get(url), Ok((200, _))) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    false
}
