//! Writing the store's file behind the ingest path: a thread of its own
//! takes the keys of changed spans through a bounded queue, copies those
//! spans out of the memory store, and writes each group of waiting batches
//! in one `redb` transaction, so receiving spans costs the memory store
//! only. A full queue drops the batch's writes (the spans
//! stay in memory, and the drop is counted and shown); the file catches up
//! with the next batches.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
        mpsc::{Receiver, SyncSender, TrySendError, sync_channel},
    },
    thread::JoinHandle,
};

use redb::TableDefinition;

use crate::{model::Span, store::Inner};

/// The spans table: `trace_id` + `span_id` (hex) to the span as JSON.
pub(crate) const SPANS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("spans");

/// Batches that may wait for the writer.
const QUEUE: usize = 256;

/// The key of `span` in the file.
pub(crate) fn key_of(span: &Span) -> String {
    format!("{}{}", span.trace_id, span.span_id)
}

/// The (trace id, span id) of spans to write, and the file keys of
/// evicted spans to delete.
pub(crate) struct Changes {
    pub(crate) spans: Vec<(String, String)>,
    pub(crate) evicted: Vec<String>,
}

/// Writes `changes` in one transaction; with `durable`, the commit waits
/// for the disk (fsync), else it becomes durable with the next durable one
/// (a crash in between loses the spans since, never the file).
///
/// # Errors
/// The first error of the transaction, as text.
pub(crate) fn write(
    db: &redb::Database,
    spans: &[Span],
    evicted: &[&[String]],
    durable: bool,
) -> Result<(), String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let mut txn = db.begin_write().map_err(|e| text(&e))?;
    if !durable {
        txn.set_durability(redb::Durability::Eventual);
    }
    {
        let mut table = txn.open_table(SPANS).map_err(|e| text(&e))?;
        for key in evicted.iter().flat_map(|keys| keys.iter()) {
            table.remove(key.as_str()).map_err(|e| text(&e))?;
        }
        let mut bytes = Vec::new();
        for span in spans {
            bytes.clear();
            serde_json::to_writer(&mut bytes, span).map_err(|e| text(&e))?;
            table
                .insert(key_of(span).as_str(), bytes.as_slice())
                .map_err(|e| text(&e))?;
        }
    }
    txn.commit().map_err(|e| text(&e))
}

/// What the writer did, for `/api/stats`.
#[derive(Debug, Default)]
pub(crate) struct WriterStats {
    /// Transactions that failed.
    pub(crate) errors: AtomicU64,
    /// Span writes dropped because the queue was full.
    pub(crate) dropped: AtomicU64,
}

/// The writer thread and its queue.
pub(crate) struct Writer {
    queue: Option<SyncSender<Changes>>,
    thread: Option<JoinHandle<()>>,
    pub(crate) stats: Arc<WriterStats>,
}

impl Writer {
    /// Starts the writer for `db`, copying changed spans out of `store`.
    pub(crate) fn start(db: redb::Database, store: Arc<Mutex<Inner>>) -> Self {
        let (queue, inbox) = sync_channel(QUEUE);
        let stats = Arc::new(WriterStats::default());
        let thread_stats = Arc::clone(&stats);
        let thread = std::thread::Builder::new()
            .name("tta-console-store".into())
            .spawn(move || run(&db, &store, &inbox, &thread_stats))
            .ok();
        Self {
            queue: thread.is_some().then_some(queue),
            thread,
            stats,
        }
    }

    /// Queues `changes`; a full queue drops them and counts it.
    pub(crate) fn send(&self, changes: Changes) {
        if changes.spans.is_empty() && changes.evicted.is_empty() {
            return;
        }
        let n = changes.spans.len() as u64;
        match self.queue.as_ref().map(|q| q.try_send(changes)) {
            Some(Ok(())) => {}
            Some(Err(TrySendError::Full(_) | TrySendError::Disconnected(_))) | None => {
                self.stats.dropped.fetch_add(n, Ordering::Relaxed);
            }
        }
    }
}

impl Drop for Writer {
    /// Writes what is queued, then stops.
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A durable commit at least this often (and at shutdown); the others
/// skip the fsync.
const DURABLE_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

fn run(db: &redb::Database, store: &Mutex<Inner>, inbox: &Receiver<Changes>, stats: &WriterStats) {
    let mut last_durable = std::time::Instant::now();
    while let Ok(first) = inbox.recv() {
        let mut group = vec![first];
        while group.len() < QUEUE
            && let Ok(next) = inbox.try_recv()
        {
            group.push(next);
        }
        let durable = last_durable.elapsed() >= DURABLE_EVERY;
        if durable {
            last_durable = std::time::Instant::now();
        }
        let keys: Vec<(String, String)> = group
            .iter_mut()
            .flat_map(|c| std::mem::take(&mut c.spans))
            .collect();
        // Spans evicted meanwhile are simply not found.
        let spans = store
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .copies(&keys);
        let evicted: Vec<&[String]> = group.iter().map(|c| c.evicted.as_slice()).collect();
        if write(db, &spans, &evicted, durable).is_err() {
            stats.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    // The queue is closed: make everything written durable.
    if write(db, &[], &[], true).is_err() {
        stats.errors.fetch_add(1, Ordering::Relaxed);
    }
}
