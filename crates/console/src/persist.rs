//! Writing the store's file behind the ingest path: a thread of its own
//! takes the changed spans (shared with the memory store, not copied)
//! through a bounded queue, serializes them, and writes each group of
//! waiting batches in one `redb` transaction, so receiving spans costs the
//! memory store only. A full queue drops the batch's writes (the spans
//! stay in memory, and the drop is counted and shown); the file catches up
//! with the next batches.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc::{Receiver, SyncSender, TrySendError, sync_channel},
    },
    thread::JoinHandle,
};

use redb::TableDefinition;

use crate::model::Span;

/// The spans table: `trace_id` + `span_id` (hex) to the span as JSON.
pub(crate) const SPANS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("spans");

/// Batches that may wait for the writer.
const QUEUE: usize = 256;

/// The key of `span` in the file.
pub(crate) fn key_of(span: &Span) -> String {
    format!("{}{}", span.trace_id, span.span_id)
}

/// The spans to write, and the file keys of evicted spans to delete.
pub(crate) struct Changes {
    pub(crate) spans: Vec<Arc<Span>>,
    pub(crate) evicted: Vec<String>,
}

/// Writes `changes` in one transaction, in their order (each batch's spans,
/// then its evictions, which may name those spans); with `durable`, the
/// commit waits for the disk (fsync), else it becomes durable with the next
/// durable one (a crash in between loses the spans since, never the file).
///
/// # Errors
/// The first error of the transaction, as text.
pub(crate) fn write(db: &redb::Database, changes: &[Changes], durable: bool) -> Result<(), String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let mut txn = db.begin_write().map_err(|e| text(&e))?;
    if !durable {
        txn.set_durability(redb::Durability::Eventual);
    }
    {
        let mut table = txn.open_table(SPANS).map_err(|e| text(&e))?;
        let mut bytes = Vec::new();
        for change in changes {
            for span in &change.spans {
                bytes.clear();
                serde_json::to_writer(&mut bytes, &**span).map_err(|e| text(&e))?;
                table
                    .insert(key_of(span).as_str(), bytes.as_slice())
                    .map_err(|e| text(&e))?;
            }
            for key in &change.evicted {
                table.remove(key.as_str()).map_err(|e| text(&e))?;
            }
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
    /// Starts the writer for `db`.
    pub(crate) fn start(db: redb::Database) -> Self {
        let (queue, inbox) = sync_channel(QUEUE);
        let stats = Arc::new(WriterStats::default());
        let thread_stats = Arc::clone(&stats);
        let thread = std::thread::Builder::new()
            .name("tta-console-store".into())
            .spawn(move || run(&db, &inbox, &thread_stats))
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

fn run(db: &redb::Database, inbox: &Receiver<Changes>, stats: &WriterStats) {
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
        if write(db, &group, durable).is_err() {
            stats.errors.fetch_add(1, Ordering::Relaxed);
        }
        // The last copies of evicted spans are freed here, off the lock.
        drop(group);
    }
    // The queue is closed: make everything written durable.
    if write(db, &[], true).is_err() {
        stats.errors.fetch_add(1, Ordering::Relaxed);
    }
}
