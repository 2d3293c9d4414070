//! The batch ingestion client (`POST /api/public/ingestion`, Langfuse v2/v3;
//! v4 accepts only scores there).
//!
//! * [`IngestionClient::enqueue`] never blocks and never waits: the event
//!   is serialized (an event over the size cap is refused alone, with an
//!   error naming the limit) and put in a bounded queue; a full queue drops
//!   it and counts it in `tta_langfuse_events_dropped_total{reason="queue_full"}`.
//! * A background thread sends batches when enough events are queued, on an
//!   interval, and on [`flush`](IngestionClient::flush): batches stay under
//!   the API's 3.5 MB limit (split as needed), gzip-compressed.
//! * Network errors, 429 (honouring `Retry-After`) and 5xx are retried with
//!   the toolkit's own [`RetryPolicy`](tta_primitives_core::retry::RetryPolicy)
//!   (exponential backoff, equal jitter), with the same event ids (Langfuse
//!   deduplicates on them). On a 207, events the server rejected with a 4xx
//!   are logged and counted, not retried; those with a 5xx are retried.
//! * [`shutdown`](IngestionClient::shutdown) delivers everything queued
//!   within a deadline and counts what it could not deliver.
//!
//! ```no_run
//! use std::time::Duration;
//! use tta_langfuse::{LangfuseConfig, ingestion::{IngestionClient, IngestionSettings, ScoreBody, IngestionEvent}};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = IngestionClient::start(&LangfuseConfig::from_env()?, IngestionSettings::default())?;
//! client.enqueue(IngestionEvent::score_create(
//!     ScoreBody::numeric("helpfulness", 0.9).on_trace("4bf92f3577b34da6a3ce929d0e0e4736"),
//! ))?;
//! client.shutdown(Duration::from_secs(5)).await?;
//! # Ok(()) }
//! ```

mod event;
mod exporter;
mod sender;

use std::{
    fmt,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use tokio::sync::{Notify, mpsc, oneshot};

pub use event::{
    GenerationBody, IngestionEvent, Level, ObservationEventBody, ScoreBody, ScoreDataType,
    ScoreValue, SpanBody, TraceBody,
};
pub use exporter::IngestionSpanExporter;

use crate::{config::LangfuseConfig, metrics::series};

/// The API's limit on one request body.
pub const MAX_BATCH_BYTES: usize = 3_500_000;

/// Settings of the batch client.
#[derive(Debug, Clone)]
pub struct IngestionSettings {
    /// Events held before new ones are dropped (default 10 000).
    pub max_queue_events: usize,
    /// Send once this many events are queued (default 200).
    pub flush_at_events: usize,
    /// Send queued events at least this often (default 1 s).
    pub flush_interval: Duration,
    /// The largest request body, before compression (default and at most
    /// [`MAX_BATCH_BYTES`]).
    pub max_batch_bytes: usize,
    /// The largest single event, serialized (default 1 MB).
    pub max_event_bytes: usize,
    /// Retries of one batch before its events are dropped (default 8).
    pub max_retries: u32,
    /// The first backoff (default 250 ms, greater than zero); it doubles per
    /// retry, and each wait is a random delay in the upper half of its
    /// backoff (the toolkit's `RetryPolicy` with equal jitter).
    pub backoff_base: Duration,
    /// The longest backoff, and the longest `Retry-After` honoured (default
    /// 30 s, at least `backoff_base`).
    pub backoff_max: Duration,
    /// Gzip request bodies (default on).
    pub gzip: bool,
}

impl Default for IngestionSettings {
    fn default() -> Self {
        Self {
            max_queue_events: 10_000,
            flush_at_events: 200,
            flush_interval: Duration::from_secs(1),
            max_batch_bytes: MAX_BATCH_BYTES,
            max_event_bytes: 1_000_000,
            max_retries: 8,
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            gzip: true,
        }
    }
}

/// Why an event was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnqueueError {
    /// The event alone is over the size cap; nothing else is affected.
    #[error(
        "{kind} event {id} is {size} bytes serialized, over the {limit}-byte limit (IngestionSettings::max_event_bytes): shorten its input, output or metadata"
    )]
    TooLarge {
        /// The event type.
        kind: &'static str,
        /// The event id.
        id: String,
        /// Its serialized size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The queue is full (the event is dropped and counted).
    #[error("the Langfuse ingestion queue is full ({capacity} events): event dropped")]
    QueueFull {
        /// The queue's capacity.
        capacity: usize,
    },
    /// The client was shut down.
    #[error("the Langfuse ingestion client is shut down")]
    Closed,
}

/// Why a flush or shutdown did not deliver everything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The deadline passed; `undelivered` events were dropped.
    #[error("Langfuse ingestion shutdown deadline passed with {undelivered} events undelivered")]
    Deadline {
        /// Events dropped at the deadline.
        undelivered: u64,
    },
    /// The client was already shut down.
    #[error("the Langfuse ingestion client is shut down")]
    Closed,
}

/// Counters of what the client did, for health checks and tests.
#[derive(Debug, Default)]
pub struct IngestionStats {
    /// Events the server accepted.
    pub sent: AtomicU64,
    /// Requests retried.
    pub retries: AtomicU64,
    /// Events dropped: queue full.
    pub dropped_queue_full: AtomicU64,
    /// Events refused for their size.
    pub dropped_too_large: AtomicU64,
    /// Events the server rejected (4xx).
    pub dropped_rejected: AtomicU64,
    /// Events dropped after the last retry.
    pub dropped_retries_exhausted: AtomicU64,
    /// Events dropped at the shutdown deadline.
    pub dropped_shutdown: AtomicU64,
}

impl IngestionStats {
    pub(crate) fn drop_events(&self, reason: DropReason, n: u64) {
        let counter = match reason {
            DropReason::QueueFull => &self.dropped_queue_full,
            DropReason::TooLarge => &self.dropped_too_large,
            DropReason::Rejected => &self.dropped_rejected,
            DropReason::RetriesExhausted => &self.dropped_retries_exhausted,
            DropReason::Shutdown => &self.dropped_shutdown,
        };
        counter.fetch_add(n, Ordering::Relaxed);
        series().dropped.increment(&[reason.as_str()], n);
    }

    /// Events dropped for any reason.
    pub fn dropped(&self) -> u64 {
        [
            &self.dropped_queue_full,
            &self.dropped_too_large,
            &self.dropped_rejected,
            &self.dropped_retries_exhausted,
            &self.dropped_shutdown,
        ]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum DropReason {
    QueueFull,
    TooLarge,
    Rejected,
    RetriesExhausted,
    Shutdown,
}

impl DropReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::QueueFull => "queue_full",
            Self::TooLarge => "too_large",
            Self::Rejected => "rejected",
            Self::RetriesExhausted => "retries_exhausted",
            Self::Shutdown => "shutdown",
        }
    }
}

/// An event serialized once, at enqueue: retries resend the same bytes.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) id: String,
    pub(crate) json: Box<str>,
}

pub(crate) enum Control {
    Flush(oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
}

struct Inner {
    events: mpsc::Sender<Prepared>,
    control: mpsc::UnboundedSender<Control>,
    cancel: Arc<Notify>,
    stats: Arc<IngestionStats>,
    settings: IngestionSettings,
    worker: Mutex<Option<JoinHandle<()>>>,
}

/// The batch ingestion client. Cheap to clone; the background thread stops
/// (after a last delivery attempt of a few seconds) when the last clone is
/// dropped, or on [`shutdown`](Self::shutdown).
#[derive(Clone)]
pub struct IngestionClient {
    inner: Arc<Inner>,
}

impl fmt::Debug for IngestionClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IngestionClient")
            .field("settings", &self.inner.settings)
            .field("stats", &self.inner.stats)
            .finish_non_exhaustive()
    }
}

impl IngestionClient {
    /// Starts the client's background thread.
    ///
    /// # Errors
    /// When the HTTP client or the thread cannot be created, or the backoff
    /// settings cannot work (the message names `backoff_base` or
    /// `backoff_max`).
    pub fn start(
        config: &LangfuseConfig,
        mut settings: IngestionSettings,
    ) -> Result<Self, std::io::Error> {
        crate::metrics::register_metrics().map_err(std::io::Error::other)?;
        settings.max_batch_bytes = settings.max_batch_bytes.min(MAX_BATCH_BYTES);
        settings.max_queue_events = settings.max_queue_events.max(1);
        settings.flush_at_events = settings.flush_at_events.max(1);
        let (events, events_rx) = mpsc::channel(settings.max_queue_events);
        let (control, control_rx) = mpsc::unbounded_channel();
        let cancel = Arc::new(Notify::new());
        let stats = Arc::new(IngestionStats::default());
        let sender = sender::Sender::new(config, &settings, Arc::clone(&stats))?;
        let worker = sender::spawn(
            sender,
            settings.clone(),
            events_rx,
            control_rx,
            Arc::clone(&cancel),
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                events,
                control,
                cancel,
                stats,
                settings,
                worker: Mutex::new(Some(worker)),
            }),
        })
    }

    /// Queues `event` without blocking.
    ///
    /// # Errors
    /// [`EnqueueError::TooLarge`] (only this event is refused),
    /// [`EnqueueError::QueueFull`] (dropped and counted), or
    /// [`EnqueueError::Closed`].
    pub fn enqueue(&self, event: IngestionEvent) -> Result<(), EnqueueError> {
        let json = serde_json::to_string(&event).expect("ingestion events always serialize");
        let limit = self.inner.settings.max_event_bytes;
        if json.len() > limit {
            self.inner.stats.drop_events(DropReason::TooLarge, 1);
            return Err(EnqueueError::TooLarge {
                kind: event.kind,
                id: event.id,
                size: json.len(),
                limit,
            });
        }
        let prepared = Prepared {
            id: event.id,
            json: json.into_boxed_str(),
        };
        match self.inner.events.try_send(prepared) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.inner.stats.drop_events(DropReason::QueueFull, 1);
                Err(EnqueueError::QueueFull {
                    capacity: self.inner.settings.max_queue_events,
                })
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(EnqueueError::Closed),
        }
    }

    /// Sends everything queued before this call; returns once the server
    /// answered for all of it (accepted, rejected, or retries exhausted).
    ///
    /// # Errors
    /// [`DeliveryError::Closed`] after shutdown.
    pub async fn flush(&self) -> Result<(), DeliveryError> {
        let (done, wait) = oneshot::channel();
        self.inner
            .control
            .send(Control::Flush(done))
            .map_err(|_| DeliveryError::Closed)?;
        wait.await.map_err(|_| DeliveryError::Closed)
    }

    /// Delivers everything queued, then stops the background thread. At
    /// `deadline`, what is still undelivered is dropped and counted.
    ///
    /// # Errors
    /// [`DeliveryError::Deadline`] with the number of events dropped.
    pub async fn shutdown(&self, deadline: Duration) -> Result<(), DeliveryError> {
        let before = self.inner.stats.dropped_shutdown.load(Ordering::Relaxed);
        let (done, mut wait) = oneshot::channel();
        self.inner
            .control
            .send(Control::Shutdown(done))
            .map_err(|_| DeliveryError::Closed)?;
        let finished = tokio::time::timeout(deadline, &mut wait).await.is_ok();
        if !finished {
            self.inner.cancel.notify_one();
            // The worker stops at its next await point.
            let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
        }
        let worker = self
            .inner
            .worker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(worker) = worker {
            let _ = tokio::task::spawn_blocking(move || worker.join()).await;
        }
        let undelivered = self.inner.stats.dropped_shutdown.load(Ordering::Relaxed) - before;
        if finished && undelivered == 0 {
            Ok(())
        } else {
            Err(DeliveryError::Deadline { undelivered })
        }
    }

    /// What the client did so far.
    pub fn stats(&self) -> &IngestionStats {
        &self.inner.stats
    }

    /// The settings in force.
    pub fn settings(&self) -> &IngestionSettings {
        &self.inner.settings
    }
}
