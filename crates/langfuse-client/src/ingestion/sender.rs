//! The background thread: batching, compression, retries.

use std::{
    io::Write as _,
    sync::{Arc, Mutex, atomic::Ordering},
    thread::JoinHandle,
    time::{Duration, Instant, SystemTime},
};

use flate2::{Compression, write::GzEncoder};
use reqwest::{StatusCode, header};
use serde::Deserialize;
use tokio::sync::{Notify, mpsc};

use tta_primitives_core::{
    ConfigError,
    retry::{Jitter, RetryPolicy},
};
use tta_primitives_obs::pipeline_series;

use super::{Control, DropReason, IngestionSettings, IngestionStats, Prepared};
use crate::{config::LangfuseConfig, metrics::series};

/// Bytes around the events of a batch body: `{"batch":[` ... `],"metadata":{..}}`.
const ENVELOPE_BYTES: usize = 256;

/// The exporter label of export errors.
const EXPORTER: &str = "langfuse_ingestion";

/// How long the thread keeps trying when every client handle was dropped
/// without a shutdown.
const DROP_GRACE: Duration = Duration::from_secs(5);

pub(crate) struct Sender {
    http: reqwest::Client,
    url: String,
    authorization: header::HeaderValue,
    settings: IngestionSettings,
    /// When and how long to wait before resending a batch: the toolkit's
    /// own retry policy (exponential, equal jitter).
    policy: RetryPolicy,
    stats: Arc<IngestionStats>,
    warned: Mutex<Option<Instant>>,
}

/// The documented 207 body; `successes` is not needed: every event not
/// listed in `errors` was accepted.
#[derive(Deserialize)]
struct IngestionResponse {
    #[serde(default)]
    errors: Vec<ItemError>,
}

#[derive(Deserialize)]
struct ItemError {
    id: String,
    status: u16,
    #[serde(default)]
    message: Option<String>,
}

/// Why sending stopped early.
struct Cancelled;

impl Sender {
    pub(crate) fn new(
        config: &LangfuseConfig,
        settings: &IngestionSettings,
        stats: Arc<IngestionStats>,
    ) -> Result<Self, std::io::Error> {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout())
            .user_agent(concat!("tta-langfuse/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(std::io::Error::other)?;
        let mut authorization =
            header::HeaderValue::from_str(&config.authorization()).map_err(|_| {
                std::io::Error::other(
                    "the Langfuse keys contain characters not allowed in an HTTP header",
                )
            })?;
        authorization.set_sensitive(true);
        // The pipeline dashboard's series exist at 0 from the start.
        let pipeline = pipeline_series();
        for reason in ["http_5xx", "http_429", "http_4xx", "timeout", "network"] {
            pipeline.export_errors.increment(&[EXPORTER, reason], 0);
        }
        for reason in ["throttled", "unavailable"] {
            pipeline.export_retries.increment(&[EXPORTER, reason], 0);
        }
        Ok(Self {
            http,
            url: config.ingestion_url(),
            authorization,
            settings: settings.clone(),
            policy: retry_policy(settings).map_err(std::io::Error::other)?,
            stats,
            warned: Mutex::new(None),
        })
    }

    /// Logs at most one warning a minute (a down server must not flood logs).
    fn warn(&self, message: std::fmt::Arguments<'_>) {
        let mut last = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
            *last = Some(Instant::now());
            tracing::warn!(target: "tta_langfuse", "{message}");
        }
    }

    fn export_error(&self, reason: &'static str) {
        pipeline_series()
            .export_errors
            .increment(&[EXPORTER, reason], 1);
    }

    /// Sends `pending` in batches under the size limit; empties it.
    async fn send_all(
        &self,
        pending: &mut Vec<Prepared>,
        cancel: &Notify,
    ) -> Result<(), Cancelled> {
        let limit = self.settings.max_batch_bytes.saturating_sub(ENVELOPE_BYTES);
        while !pending.is_empty() {
            let mut size = 0;
            let mut take = 0;
            for event in pending.iter() {
                let extra = event.json.len() + 1;
                if take > 0 && size + extra > limit {
                    break;
                }
                size += extra;
                take += 1;
            }
            let batch: Vec<Prepared> = pending.drain(..take).collect();
            if let Err(Cancelled) = self.send_batch(batch, cancel).await {
                return Err(Cancelled);
            }
        }
        Ok(())
    }

    /// Sends one batch, retrying what can be retried, as the policy says.
    async fn send_batch(&self, mut batch: Vec<Prepared>, cancel: &Notify) -> Result<(), Cancelled> {
        let mut attempt = 1u32;
        loop {
            let (rest, retry_after, reason) = match self.attempt(batch, cancel).await? {
                Next::Done => return Ok(()),
                Next::Split(mut first) => {
                    let second = first.split_off(first.len() / 2);
                    Box::pin(self.send_batch(first, cancel)).await?;
                    return Box::pin(self.send_batch(second, cancel)).await;
                }
                Next::Retry {
                    batch,
                    retry_after,
                    reason,
                } => (batch, retry_after, reason),
            };
            if attempt >= self.policy.max_attempts() {
                self.warn(format_args!(
                    "Langfuse ingestion gave up on {} events after {} retries",
                    rest.len(),
                    self.settings.max_retries
                ));
                self.stats
                    .drop_events(DropReason::RetriesExhausted, rest.len() as u64);
                return Ok(());
            }
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            pipeline_series()
                .export_retries
                .increment(&[EXPORTER, reason], 1);
            let delay = retry_after
                .map(|d| d.min(self.settings.backoff_max))
                .unwrap_or_else(|| self.policy.delay(attempt));
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = cancel.notified() => {
                    self.stats.drop_events(DropReason::Shutdown, rest.len() as u64);
                    return Err(Cancelled);
                }
            }
            attempt += 1;
            batch = rest;
        }
    }

    /// Sends `batch` once and acts on the answer as [`classify`] says:
    /// counts and logs, and returns what is left to do.
    async fn attempt(&self, batch: Vec<Prepared>, cancel: &Notify) -> Result<Next, Cancelled> {
        let body = self.body(&batch);
        let request = self
            .http
            .post(&self.url)
            .header(header::AUTHORIZATION, self.authorization.clone())
            .header(header::CONTENT_TYPE, "application/json");
        let request = if self.settings.gzip {
            request
                .header(header::CONTENT_ENCODING, "gzip")
                .body(gzip(body.as_bytes()))
        } else {
            request.body(body)
        };
        let outcome = tokio::select! {
            response = request.send() => response,
            () = cancel.notified() => {
                self.stats.drop_events(DropReason::Shutdown, batch.len() as u64);
                return Err(Cancelled);
            }
        };
        let response = match outcome {
            Ok(response) => response,
            Err(error) => {
                self.export_error(if error.is_timeout() {
                    "timeout"
                } else {
                    "network"
                });
                // reqwest's errors name the URL, never header values.
                self.warn(format_args!(
                    "Langfuse ingestion request failed ({}); retrying {} events",
                    error.without_url(),
                    batch.len()
                ));
                return Ok(Next::retry(batch, None, "unavailable"));
            }
        };
        let status = response.status();
        Ok(match classify(status, batch.len()) {
            Verdict::Accepted => {
                let text = response.text().await.unwrap_or_default();
                let rest = self.settle(batch, &text);
                if rest.is_empty() {
                    Next::Done
                } else {
                    Next::retry(rest, None, "unavailable")
                }
            }
            Verdict::Retry { reason, error } => {
                self.export_error(error);
                self.warn(format_args!(
                    "Langfuse ingestion answered {status}; retrying {} events",
                    batch.len()
                ));
                Next::retry(batch, retry_after(response.headers()), reason)
            }
            Verdict::Split => Next::Split(batch),
            Verdict::Reject => {
                self.export_error("http_4xx");
                self.warn(format_args!(
                    "Langfuse ingestion refused a batch of {} events with {status}{}; they are dropped",
                    batch.len(),
                    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                        ": check LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY and LANGFUSE_BASE_URL"
                    } else {
                        ""
                    }
                ));
                self.stats
                    .drop_events(DropReason::Rejected, batch.len() as u64);
                Next::Done
            }
        })
    }

    /// Counts a 2xx answer's results; returns the events to retry (those
    /// the server failed with a 5xx or 429). Rejected (4xx) events are
    /// logged and dropped.
    fn settle(&self, batch: Vec<Prepared>, body: &str) -> Vec<Prepared> {
        let Ok(parsed) = serde_json::from_str::<IngestionResponse>(body) else {
            // A 2xx without the documented body: the batch was accepted.
            self.sent(batch.len());
            return Vec::new();
        };
        let mut retry = Vec::new();
        let mut accepted = 0usize;
        for event in batch {
            match parsed.errors.iter().find(|e| e.id == event.id) {
                Some(e) if e.status == 429 || e.status >= 500 => retry.push(event),
                Some(e) => {
                    self.stats.drop_events(DropReason::Rejected, 1);
                    self.export_error("event_rejected");
                    tracing::warn!(
                        target: "tta_langfuse",
                        event_id = %e.id,
                        status = e.status,
                        "Langfuse rejected an ingestion event: {}",
                        e.message.as_deref().unwrap_or("no message")
                    );
                }
                None => accepted += 1,
            }
        }
        self.sent(accepted);
        retry
    }

    fn sent(&self, n: usize) {
        self.stats.sent.fetch_add(n as u64, Ordering::Relaxed);
        series().sent.increment(&[], n as u64);
    }

    fn body(&self, batch: &[Prepared]) -> String {
        let size = batch.iter().map(|e| e.json.len() + 1).sum::<usize>() + ENVELOPE_BYTES;
        let mut body = String::with_capacity(size);
        body.push_str("{\"batch\":[");
        for (i, event) in batch.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&event.json);
        }
        body.push_str("],\"metadata\":{\"sdk_name\":\"tta-langfuse\",\"sdk_version\":\"");
        body.push_str(env!("CARGO_PKG_VERSION"));
        body.push_str("\",\"sdk_integration\":\"tta\",\"batch_size\":");
        body.push_str(&batch.len().to_string());
        body.push_str("}}");
        body
    }
}

/// What is left to do with a batch after one attempt.
enum Next {
    /// Every event was accepted, or dropped and counted.
    Done,
    /// Resend these events, after `retry_after` (the server's `Retry-After`)
    /// or the policy's backoff; `reason` labels the retry.
    Retry {
        batch: Vec<Prepared>,
        retry_after: Option<Duration>,
        reason: &'static str,
    },
    /// Too large for the server: send each half on its own.
    Split(Vec<Prepared>),
}

impl Next {
    fn retry(batch: Vec<Prepared>, retry_after: Option<Duration>, reason: &'static str) -> Self {
        Self::Retry {
            batch,
            retry_after,
            reason,
        }
    }
}

/// How an answer's status is handled.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// 2xx: the body says which events (if any) to retry.
    Accepted,
    /// 429 or 5xx: retry the batch. `reason` labels the retry, `error` the
    /// export error.
    Retry {
        reason: &'static str,
        error: &'static str,
    },
    /// 413 for more than one event: split the batch.
    Split,
    /// Any other answer: the batch is refused; drop it.
    Reject,
}

/// Classifies the answer `status` to a batch of `events` events.
fn classify(status: StatusCode, events: usize) -> Verdict {
    if status.is_success() {
        Verdict::Accepted
    } else if status == StatusCode::TOO_MANY_REQUESTS {
        Verdict::Retry {
            reason: "throttled",
            error: "http_429",
        }
    } else if status.is_server_error() {
        Verdict::Retry {
            reason: "unavailable",
            error: "http_5xx",
        }
    } else if status == StatusCode::PAYLOAD_TOO_LARGE && events > 1 {
        Verdict::Split
    } else {
        Verdict::Reject
    }
}

/// The retry policy of `settings`: `max_retries` retries after the first
/// attempt, backoffs from `backoff_base` doubling up to `backoff_max`, each
/// a random delay in the upper half of its backoff (equal jitter).
fn retry_policy(settings: &IngestionSettings) -> Result<RetryPolicy, ConfigError> {
    if settings.backoff_base.is_zero() {
        return Err(ConfigError::new(
            "langfuse.ingestion.backoff_base",
            settings.backoff_base,
            "greater than zero",
        ));
    }
    if settings.backoff_max < settings.backoff_base {
        return Err(ConfigError::new(
            "langfuse.ingestion.backoff_max",
            settings.backoff_max,
            "at least langfuse.ingestion.backoff_base",
        ));
    }
    RetryPolicy::builder()
        .max_attempts(settings.max_retries.saturating_add(1))
        .initial_backoff(settings.backoff_base)
        .max_backoff(settings.backoff_max)
        .multiplier(2.0)
        .jitter(Jitter::Equal)
        .build()
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::fast());
    encoder
        .write_all(body)
        .expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

/// Starts the background thread with its own single-threaded runtime, so
/// the client works from any caller (async or not) and never runs on the
/// application's executor.
pub(crate) fn spawn(
    sender: Sender,
    settings: IngestionSettings,
    events: mpsc::Receiver<Prepared>,
    control: mpsc::UnboundedReceiver<Control>,
    cancel: Arc<Notify>,
) -> Result<JoinHandle<()>, std::io::Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("tta-langfuse-ingestion".into())
        .spawn(move || runtime.block_on(run(sender, settings, events, control, cancel)))
}

async fn run(
    sender: Sender,
    settings: IngestionSettings,
    mut events: mpsc::Receiver<Prepared>,
    mut control: mpsc::UnboundedReceiver<Control>,
    cancel: Arc<Notify>,
) {
    let mut pending: Vec<Prepared> = Vec::new();
    let mut pending_bytes = 0usize;
    let mut tick = tokio::time::interval(settings.flush_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let drain = |events: &mut mpsc::Receiver<Prepared>, pending: &mut Vec<Prepared>| {
        while let Ok(event) = events.try_recv() {
            pending.push(event);
        }
    };
    loop {
        tokio::select! {
            biased;
            command = control.recv() => match command {
                Some(Control::Flush(done)) => {
                    drain(&mut events, &mut pending);
                    pending_bytes = 0;
                    if sender.send_all(&mut pending, &cancel).await.is_err() {
                        break;
                    }
                    let _ = done.send(());
                }
                Some(Control::Shutdown(done)) => {
                    events.close();
                    drain(&mut events, &mut pending);
                    if sender.send_all(&mut pending, &cancel).await.is_err() {
                        break;
                    }
                    let _ = done.send(());
                    return;
                }
                None => {
                    // Every handle dropped without a shutdown: a last try.
                    drain(&mut events, &mut pending);
                    let _ = tokio::time::timeout(DROP_GRACE, sender.send_all(&mut pending, &cancel)).await;
                    break;
                }
            },
            event = events.recv() => {
                let Some(event) = event else { continue };
                pending_bytes += event.json.len();
                pending.push(event);
                if pending.len() >= settings.flush_at_events || pending_bytes >= settings.max_batch_bytes {
                    pending_bytes = 0;
                    if sender.send_all(&mut pending, &cancel).await.is_err() {
                        break;
                    }
                }
            }
            _ = tick.tick() => {
                if !pending.is_empty() {
                    pending_bytes = 0;
                    if sender.send_all(&mut pending, &cancel).await.is_err() {
                        break;
                    }
                }
            }
        }
    }
    // Stopped at the shutdown deadline (or after the last handle went away):
    // what is left is dropped, and counted.
    events.close();
    drain(&mut events, &mut pending);
    sender
        .stats
        .drop_events(DropReason::Shutdown, pending.len() as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_answer_is_classified_once() {
        let retry = |reason, error| Verdict::Retry { reason, error };
        for (status, events, verdict) in [
            (200, 5, Verdict::Accepted),
            (207, 5, Verdict::Accepted),
            (429, 5, retry("throttled", "http_429")),
            (500, 5, retry("unavailable", "http_5xx")),
            (503, 1, retry("unavailable", "http_5xx")),
            (413, 2, Verdict::Split),
            (413, 1, Verdict::Reject),
            (400, 5, Verdict::Reject),
            (401, 5, Verdict::Reject),
        ] {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(classify(status, events), verdict, "{status} for {events}");
        }
    }

    #[test]
    fn the_policy_doubles_from_the_base_up_to_the_cap_in_the_upper_half() {
        let settings = IngestionSettings {
            max_retries: 8,
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(1),
            ..IngestionSettings::default()
        };
        let policy = retry_policy(&settings).unwrap();
        assert_eq!(policy.max_attempts(), 9, "the first attempt and 8 retries");
        for (attempt, backoff) in [(1, 250), (2, 500), (3, 1000), (4, 1000)] {
            let backoff = Duration::from_millis(backoff);
            assert_eq!(policy.backoff(attempt), backoff);
            for _ in 0..100 {
                let delay = policy.delay(attempt);
                assert!(delay >= backoff / 2 && delay <= backoff, "{delay:?}");
            }
        }
    }

    #[test]
    fn backoff_settings_that_cannot_work_are_refused_by_name() {
        let zero = IngestionSettings {
            backoff_base: Duration::ZERO,
            ..IngestionSettings::default()
        };
        assert_eq!(
            retry_policy(&zero).unwrap_err().setting(),
            "langfuse.ingestion.backoff_base"
        );
        let inverted = IngestionSettings {
            backoff_max: Duration::from_millis(1),
            ..IngestionSettings::default()
        };
        assert_eq!(
            retry_policy(&inverted).unwrap_err().setting(),
            "langfuse.ingestion.backoff_max"
        );
    }
}
