//! Pushgateway mode: short batch jobs push their metrics instead of being
//! scraped.
//!
//! Written by hand (a PUT of the rendered exposition every interval and at
//! shutdown) rather than with `metrics-exporter-prometheus`'s push feature,
//! which brings a TLS stack and a crypto provider this crate does not need
//! otherwise; plain-HTTP gateways (the usual in-cluster set-up) are
//! supported.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::watch;

use tta_primitives_obs::redact::redact_url;

use crate::InitError;

/// Where and how often metrics are pushed.
#[derive(Clone, PartialEq, Eq)]
pub struct PushgatewaySettings {
    pub(crate) url: String,
    pub(crate) every: Duration,
}

impl std::fmt::Debug for PushgatewaySettings {
    /// The URL's credentials, if any, are masked.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushgatewaySettings")
            .field("url", &redact_url(&self.url))
            .field("every", &self.every)
            .finish()
    }
}

impl PushgatewaySettings {
    /// Pushes to `gateway` (`http://host:9091`) under `job`, every `every`.
    ///
    /// # Errors
    /// An [`InitError::InvalidSetting`] naming `setting` for a URL that is
    /// not `http://` with a host, an empty job, or a zero interval.
    pub(crate) fn new(
        setting: &'static str,
        gateway: &str,
        job: &str,
        every: Duration,
    ) -> Result<Self, InitError> {
        let invalid = |value: String, fix: &'static str| InitError::invalid(setting, value, fix);
        let uri: http::Uri = gateway
            .parse()
            .map_err(|_| invalid(redact_url(gateway), "use http://host:9091"))?;
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(invalid(
                redact_url(gateway),
                "do not put credentials in the URL: the Pushgateway is reached without authentication (put an authenticating proxy in front of it)",
            ));
        }
        if uri.query().is_some() {
            return Err(invalid(
                redact_url(gateway),
                "use the gateway's base URL without a query string, e.g. http://host:9091",
            ));
        }
        if uri.scheme_str() != Some("http") || uri.host().is_none_or(str::is_empty) {
            return Err(invalid(
                redact_url(gateway),
                "use an http:// URL with a host (put a TLS-terminating proxy in front of an https gateway)",
            ));
        }
        if job.is_empty() || job.contains('/') {
            return Err(invalid(
                job.to_owned(),
                "use a non-empty job name without `/`",
            ));
        }
        if every.is_zero() {
            return Err(invalid(format!("{every:?}"), "use an interval above zero"));
        }
        Ok(Self {
            url: format!("{}/metrics/job/{job}", gateway.trim_end_matches('/')),
            every,
        })
    }
}

/// Pushes every interval until stopped, then once more.
pub(crate) async fn run(
    settings: PushgatewaySettings,
    handle: PrometheusHandle,
    mut stopped: watch::Receiver<bool>,
) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut ticks = tokio::time::interval(settings.every);
    ticks.tick().await;
    loop {
        let last = tokio::select! {
            _ = ticks.tick() => false,
            _ = stopped.wait_for(|s| *s) => true,
        };
        push(&client, &settings.url, &handle).await;
        if last {
            return;
        }
    }
}

async fn push(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    url: &str,
    handle: &PrometheusHandle,
) {
    let request = http::Request::put(url)
        .header("content-type", "text/plain; version=0.0.4")
        .body(Full::new(Bytes::from(handle.render())));
    let Ok(request) = request else { return };
    // A failed push must not take the job down; the next push retries.
    match client.request(request).await {
        Ok(resp) if resp.status().is_success() => {}
        Ok(resp) => eprintln!(
            "tta-obs-init: the Pushgateway answered {} to a push",
            resp.status()
        ),
        Err(e) => eprintln!("tta-obs-init: pushing metrics to the Pushgateway failed: {e}"),
    }
}
