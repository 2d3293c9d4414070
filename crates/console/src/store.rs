//! The embedded store: every span in memory, indexed by start time,
//! service, workflow and LLM use, and (by default) persisted in a `redb`
//! file so traces survive a restart. Bounded by a span count, an estimate
//! of the bytes held and an age; the oldest traces go first, whole, and
//! what was evicted is counted.

use std::{
    collections::{BTreeSet, HashMap},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use redb::ReadableTable;
use serde::{Deserialize, Serialize};
use tta_primitives_obs::attr;

use crate::{
    model::{LogRecord, Span, TraceSummary},
    persist::{Changes, SPANS, Writer, key_of, write},
};

/// Log records waiting for their span, at most this many.
const MAX_PENDING_LOGS: usize = 10_000;

/// The store's bounds and where it keeps its file.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The file (`None`: memory only, nothing survives a restart).
    pub path: Option<PathBuf>,
    /// At most this many spans.
    pub max_spans: usize,
    /// At most about this many bytes of span data (estimated).
    pub max_bytes: usize,
    /// Spans older than this (by start time) are evicted.
    pub max_age: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            path: None,
            max_spans: 200_000,
            max_bytes: 512 * 1024 * 1024,
            max_age: Duration::from_secs(24 * 3600),
        }
    }
}

/// What happened to the store file at start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Recovery {
    /// Spans read back from the file.
    pub loaded_spans: u64,
    /// Records that could not be read and were dropped.
    pub unreadable_records: u64,
    /// Why the file could not be opened, and where it was moved, if so.
    pub moved_aside: Option<String>,
}

/// The store's figures, for `/api/stats`.
#[derive(Debug, Clone, Serialize)]
pub struct StoreStats {
    /// Spans held.
    pub spans: usize,
    /// Traces held.
    pub traces: usize,
    /// Estimated bytes held.
    pub bytes: usize,
    /// Spans evicted by the bounds since start.
    pub evicted_spans: u64,
    /// Traces evicted since start.
    pub evicted_traces: u64,
    /// The bounds.
    pub max_spans: usize,
    /// The byte bound.
    pub max_bytes: usize,
    /// The age bound, in seconds.
    pub max_age_seconds: u64,
    /// Whether the store is file-backed, and where.
    pub path: Option<String>,
    /// What happened at start.
    pub recovery: Recovery,
    /// Writes to the file that failed (the spans stay in memory).
    pub persist_errors: u64,
    /// Span writes dropped because the file's writer fell behind (the
    /// spans stay in memory; they are missing from the file after a
    /// restart).
    pub persist_dropped: u64,
}

/// A trace list query; every field optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TraceQuery {
    /// Only traces with a span of this service.
    pub service: Option<String>,
    /// Only traces of this workflow.
    pub workflow: Option<String>,
    /// `ok` or `error`.
    pub status: Option<String>,
    /// Only traces lasting at least this long.
    pub min_duration_ms: Option<f64>,
    /// Only traces starting at or after (Unix ns).
    pub from_ns: Option<u64>,
    /// Only traces starting before (Unix ns).
    pub to_ns: Option<u64>,
    /// `key=value`: only traces with a span carrying that attribute.
    pub attr: Option<String>,
    /// Free text, matched against span names and attribute values.
    pub q: Option<String>,
    /// Only traces with a span of this primitive (`tta.primitive.name`)
    /// lasting within `span_min_ms..span_max_ms` (when given).
    pub primitive: Option<String>,
    /// With `primitive` (or alone: any span), the span lasts at least this.
    pub span_min_ms: Option<f64>,
    /// With `primitive` (or alone: any span), the span lasts less than this.
    pub span_max_ms: Option<f64>,
    /// Traces to skip (paging).
    pub offset: usize,
    /// Traces to return (default 50, at most 500).
    pub limit: Option<usize>,
}

/// A page of the trace list.
#[derive(Debug, Clone, Serialize)]
pub struct TracePage {
    /// The traces, newest first.
    pub traces: Vec<TraceSummary>,
    /// Whether more traces match past this page.
    pub has_more: bool,
}

type Key = (u64, String);

struct Trace {
    /// Shared with the file's writer, which serializes them off the lock.
    spans: Vec<Arc<Span>>,
    start_ns: u64,
    bytes: usize,
    services: Vec<String>,
    workflow: Option<String>,
    summary: Option<TraceSummary>,
    /// Span names and attribute values, lowercased, for free-text search
    /// without a pass over every attribute.
    search: String,
    /// `key=value` of every attribute, a line each (string values as they
    /// are, others written out), for the attribute filter.
    attrs: String,
}

#[derive(Default)]
pub(crate) struct Inner {
    traces: HashMap<String, Trace>,
    by_start: BTreeSet<Key>,
    by_service: HashMap<String, BTreeSet<Key>>,
    by_workflow: HashMap<String, BTreeSet<Key>>,
    llm: BTreeSet<(u64, String, String)>,
    pending_logs: HashMap<(String, String), Vec<LogRecord>>,
    spans: usize,
    bytes: usize,
    evicted_spans: u64,
    evicted_traces: u64,
}

/// The store. Every method takes `&self`; it is shared between the
/// receivers, the API and the in-process exporter.
pub struct Store {
    config: StoreConfig,
    inner: Mutex<Inner>,
    writer: Option<Writer>,
    recovery: Recovery,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Opens `path`, or moves an unreadable file aside and starts anew.
fn open(path: &Path) -> Result<(redb::Database, Option<String>), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the state directory {}: {e}", dir.display()))?;
    }
    // redb asserts on some damaged files (one cut short, say) instead of
    // returning an error: a panic while opening is an unreadable file too.
    let opened = std::panic::catch_unwind(|| redb::Database::create(path)).unwrap_or_else(|_| {
        Err(redb::DatabaseError::Storage(redb::StorageError::Corrupted(
            "the file is damaged (cut short?)".to_owned(),
        )))
    });
    match opened {
        Ok(db) => Ok((db, None)),
        Err(error) => {
            let aside = path.with_extension(format!(
                "corrupt-{}",
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
            ));
            std::fs::rename(path, &aside).map_err(|e| {
                format!(
                    "the store file {} cannot be opened ({error}) nor moved aside ({e})",
                    path.display()
                )
            })?;
            let db = redb::Database::create(path)
                .map_err(|e| format!("cannot create the store file {}: {e}", path.display()))?;
            Ok((
                db,
                Some(format!(
                    "the store file could not be opened ({error}); it was moved to {} and the console started with an empty store",
                    aside.display()
                )),
            ))
        }
    }
}

impl Store {
    /// Opens the store: with a path, reads back what the file holds (an
    /// unreadable file is moved aside and reported, never a crash).
    ///
    /// # Errors
    /// When the state directory or a new file cannot be created.
    pub fn open(config: StoreConfig) -> Result<Self, String> {
        let mut recovery = Recovery::default();
        let db = match &config.path {
            Some(path) => {
                let (db, moved) = open(path)?;
                recovery.moved_aside = moved;
                Some(db)
            }
            None => None,
        };
        let mut store = Self {
            config,
            inner: Mutex::default(),
            writer: None,
            recovery: Recovery::default(),
        };
        let mut spans = Vec::new();
        if let Some(db) = &db {
            match db.begin_read().map(|txn| txn.open_table(SPANS)) {
                Ok(Ok(table)) => {
                    if let Ok(iter) = table.iter() {
                        for row in iter {
                            match row
                                .ok()
                                .and_then(|(_, v)| serde_json::from_slice::<Span>(v.value()).ok())
                            {
                                Some(span) => spans.push(span),
                                None => recovery.unreadable_records += 1,
                            }
                        }
                    }
                }
                // A new file has no table yet.
                Ok(Err(redb::TableError::TableDoesNotExist(_))) => {}
                Ok(Err(e)) => {
                    recovery
                        .moved_aside
                        .get_or_insert(format!("the spans table is unreadable: {e}"));
                }
                Err(e) => {
                    recovery
                        .moved_aside
                        .get_or_insert(format!("the store cannot be read: {e}"));
                }
            }
        }
        recovery.loaded_spans = spans.len() as u64;
        store.recovery = recovery;
        let evicted = {
            let mut inner = store.lock();
            for span in spans {
                inner.insert(span);
            }
            inner.enforce(&store.config, now_ns())
        };
        if let Some(db) = db {
            // What the bounds evicted at start goes from the file now.
            write(
                &db,
                &[Changes {
                    spans: Vec::new(),
                    evicted,
                }],
                true,
            )?;
            store.writer = Some(Writer::start(db));
        }
        Ok(store)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores `spans` (a span already held with the same ids is replaced),
    /// then applies the bounds.
    pub fn ingest(&self, spans: Vec<Span>) {
        if spans.is_empty() {
            return;
        }
        // The writer gets the stored spans themselves (shared, not copied)
        // and serializes them on its own thread; a memory-only store keeps
        // no list.
        let keep = self.writer.is_some();
        let mut changed = Vec::with_capacity(if keep { spans.len() } else { 0 });
        let evicted = {
            let mut inner = self.lock();
            for span in spans {
                let stored = inner.insert(span);
                if keep {
                    changed.push(stored);
                }
            }
            inner.enforce(&self.config, now_ns())
        };
        if let Some(writer) = &self.writer {
            writer.send(Changes {
                spans: changed,
                evicted,
            });
        }
    }

    /// Attaches log records to their spans (or holds them, boundedly, until
    /// the span arrives).
    pub fn ingest_logs(&self, logs: Vec<(String, String, LogRecord)>) {
        let mut changed = Vec::new();
        {
            let mut inner = self.lock();
            for (trace_id, span_id, record) in logs {
                let target = inner
                    .traces
                    .get_mut(&trace_id)
                    .and_then(|t| t.spans.iter_mut().find(|s| s.span_id == span_id));
                if let Some(span) = target {
                    // Copied only while the writer still holds it.
                    Arc::make_mut(span).logs.push(record);
                    changed.push(Arc::clone(span));
                    continue;
                }
                if inner.pending_logs.len() < MAX_PENDING_LOGS {
                    inner
                        .pending_logs
                        .entry((trace_id, span_id))
                        .or_default()
                        .push(record);
                }
            }
        }
        if let Some(writer) = &self.writer {
            writer.send(Changes {
                spans: changed,
                evicted: Vec::new(),
            });
        }
    }

    /// Applies the age bound now (the receivers also apply every bound on
    /// each ingest).
    pub fn expire(&self) {
        let evicted = self.lock().enforce(&self.config, now_ns());
        if let Some(writer) = &self.writer {
            writer.send(Changes {
                spans: Vec::new(),
                evicted,
            });
        }
    }

    /// A page of traces matching `query`, newest first.
    pub fn traces(&self, query: &TraceQuery) -> TracePage {
        let mut inner = self.lock();
        let limit = query.limit.unwrap_or(50).clamp(1, 500);
        let candidates: Vec<Key> = {
            let set = match (&query.service, &query.workflow) {
                (Some(service), _) => inner.by_service.get(service),
                (None, Some(workflow)) => inner.by_workflow.get(workflow),
                (None, None) => Some(&inner.by_start),
            };
            let Some(set) = set else {
                return TracePage {
                    traces: Vec::new(),
                    has_more: false,
                };
            };
            let lower = (query.from_ns.unwrap_or(0), String::new());
            let upper = query.to_ns.unwrap_or(u64::MAX);
            set.range(lower..)
                .rev()
                .filter(|(start, _)| *start < upper)
                .cloned()
                .collect()
        };
        // The attribute filter as a whole line of the trace's `attrs`.
        // Both searches scan text blobs; memchr's finder, built once per
        // query, is several times faster than `str::contains` on them.
        let attr_line = query
            .attr
            .as_deref()
            .and_then(|a| a.split_once('='))
            .map(|(k, v)| format!("\n{}={}\n", k.trim(), v.trim()));
        let attr_line = attr_line.as_deref().map(memchr::memmem::Finder::new);
        let text = query
            .q
            .as_deref()
            .map(str::to_lowercase)
            .filter(|t| !t.is_empty());
        let text = text.as_deref().map(memchr::memmem::Finder::new);
        let mut out = Vec::new();
        let mut skipped = 0;
        let mut has_more = false;
        for (_, trace_id) in candidates {
            let Some(trace) = inner.traces.get_mut(&trace_id) else {
                continue;
            };
            if let Some(workflow) = &query.workflow
                && trace.workflow.as_ref() != Some(workflow)
            {
                continue;
            }
            if let Some(line) = &attr_line
                && line.find(trace.attrs.as_bytes()).is_none()
            {
                continue;
            }
            if let Some(text) = &text
                && text.find(trace.search.as_bytes()).is_none()
            {
                continue;
            }
            if (query.primitive.is_some()
                || query.span_min_ms.is_some()
                || query.span_max_ms.is_some())
                && !trace.spans.iter().any(|s| {
                    let ms = s.duration_ns() as f64 / 1e6;
                    query
                        .primitive
                        .as_ref()
                        .is_none_or(|p| s.attr_str(attr::PRIMITIVE_NAME).as_ref() == Some(p))
                        && query.span_min_ms.is_none_or(|min| ms >= min)
                        && query.span_max_ms.is_none_or(|max| ms < max)
                })
            {
                continue;
            }
            let summary = trace.summary();
            if let Some(status) = &query.status
                && summary.status != *status
            {
                continue;
            }
            if let Some(min) = query.min_duration_ms
                && (summary.duration_ns as f64) < min * 1e6
            {
                continue;
            }
            if skipped < query.offset {
                skipped += 1;
                continue;
            }
            if out.len() == limit {
                has_more = true;
                break;
            }
            out.push(summary);
        }
        TracePage {
            traces: out,
            has_more,
        }
    }

    /// The workflow overview of the last `window` (of one workflow, when
    /// given), from the stored spans.
    pub fn overview(&self, window: Duration, workflow: Option<&str>) -> crate::overview::Overview {
        let to_ns = now_ns();
        let from_ns = to_ns.saturating_sub(u64::try_from(window.as_nanos()).unwrap_or(u64::MAX));
        let inner = self.lock();
        let keys: Vec<&Key> = match workflow {
            Some(w) => inner
                .by_workflow
                .get(w)
                .map(|set| set.range((from_ns, String::new())..).collect())
                .unwrap_or_default(),
            None => inner.by_start.range((from_ns, String::new())..).collect(),
        };
        let spans = keys
            .into_iter()
            .filter_map(|(_, id)| inner.traces.get(id))
            .flat_map(|t| t.spans.iter().map(|s| &**s))
            .filter(|s| {
                workflow.is_none_or(|w| s.attr_str(attr::WORKFLOW_NAME).as_deref() == Some(w))
            });
        crate::overview::overview(spans, from_ns, to_ns)
    }

    /// The spans of trace `trace_id`, by start time.
    pub fn trace(&self, trace_id: &str) -> Option<Vec<Span>> {
        let inner = self.lock();
        let trace = inner.traces.get(trace_id)?;
        let mut spans: Vec<Span> = trace.spans.iter().map(|s| Span::clone(s)).collect();
        spans.sort_by(|a, b| (a.start_ns, &a.span_id).cmp(&(b.start_ns, &b.span_id)));
        Some(spans)
    }

    /// The LLM spans, newest first, at most `limit`.
    pub fn llm_spans(&self, limit: usize) -> Vec<Span> {
        let inner = self.lock();
        inner
            .llm
            .iter()
            .rev()
            .take(limit)
            .filter_map(|(_, trace, span)| {
                inner
                    .traces
                    .get(trace)
                    .and_then(|t| t.spans.iter().find(|s| &s.span_id == span))
                    .map(|s| Span::clone(s))
            })
            .collect()
    }

    /// The services and workflows held, for the filters.
    pub fn facets(&self) -> (Vec<String>, Vec<String>) {
        let inner = self.lock();
        let mut services: Vec<String> = inner.by_service.keys().cloned().collect();
        let mut workflows: Vec<String> = inner.by_workflow.keys().cloned().collect();
        services.sort();
        workflows.sort();
        (services, workflows)
    }

    /// The store's figures.
    pub fn stats(&self) -> StoreStats {
        let inner = self.lock();
        StoreStats {
            spans: inner.spans,
            traces: inner.traces.len(),
            bytes: inner.bytes,
            evicted_spans: inner.evicted_spans,
            evicted_traces: inner.evicted_traces,
            max_spans: self.config.max_spans,
            max_bytes: self.config.max_bytes,
            max_age_seconds: self.config.max_age.as_secs(),
            path: self.config.path.as_ref().map(|p| p.display().to_string()),
            recovery: self.recovery.clone(),
            persist_errors: self.writer.as_ref().map_or(0, |w| {
                w.stats.errors.load(std::sync::atomic::Ordering::Relaxed)
            }),
            persist_dropped: self.writer.as_ref().map_or(0, |w| {
                w.stats.dropped.load(std::sync::atomic::Ordering::Relaxed)
            }),
        }
    }
}

/// Appends what free text is matched against (the span's name and its
/// attribute values, lowercased, a line each) to `search`, and its
/// attributes as `key=value` lines to `attrs`.
fn append_search_text(search: &mut String, attrs: &mut String, span: &Span) {
    use std::fmt::Write as _;
    // Lowercased as it is appended: no string per value.
    let lower = |search: &mut String, text: &str| {
        if text.is_ascii() {
            search.extend(text.bytes().map(|b| char::from(b.to_ascii_lowercase())));
        } else {
            search.extend(text.chars().flat_map(char::to_lowercase));
        }
    };
    lower(search, &span.name);
    search.push('\n');
    for (key, value) in &span.attributes {
        attrs.push_str(key);
        attrs.push('=');
        match value {
            serde_json::Value::String(s) => {
                lower(search, s);
                attrs.push_str(s);
            }
            other => {
                let _ = write!(search, "{other}");
                let _ = write!(attrs, "{other}");
            }
        }
        search.push('\n');
        attrs.push('\n');
    }
}

impl Trace {
    fn summary(&mut self) -> TraceSummary {
        if let Some(summary) = &self.summary {
            return summary.clone();
        }
        let ids: BTreeSet<&str> = self.spans.iter().map(|s| s.span_id.as_str()).collect();
        let is_root = |s: &Span| s.parent_span_id.as_deref().is_none_or(|p| !ids.contains(p));
        let root = self
            .spans
            .iter()
            .filter(|s| is_root(s))
            .min_by_key(|s| (s.parent_span_id.is_some(), s.start_ns));
        let partial = self.spans.iter().any(|s| {
            s.parent_span_id
                .as_deref()
                .is_some_and(|p| !ids.contains(p))
        });
        let end = self.spans.iter().map(|s| s.end_ns).max().unwrap_or(0);
        let first_error = self.spans.iter().find(|s| s.status == "error");
        let error_type = root
            .filter(|r| r.status == "error")
            .or(first_error)
            .and_then(|s| s.attr_str(attr::ERROR_TYPE));
        let (mut tokens, mut cost) = (0u64, 0.0f64);
        for span in self.spans.iter().filter(|s| s.is_llm()) {
            tokens += span.attr_f64("gen_ai.usage.input_tokens").unwrap_or(0.0) as u64
                + span.attr_f64("gen_ai.usage.output_tokens").unwrap_or(0.0) as u64;
            cost += llm_cost(span).unwrap_or(0.0);
        }
        let summary = TraceSummary {
            trace_id: self
                .spans
                .first()
                .map(|s| s.trace_id.clone())
                .unwrap_or_default(),
            root_name: root.map(|r| r.name.clone()).unwrap_or_default(),
            services: self.services.clone(),
            workflow: self.workflow.clone(),
            start_ns: self.start_ns,
            duration_ns: end.saturating_sub(self.start_ns),
            span_count: self.spans.len(),
            status: if first_error.is_some() { "error" } else { "ok" }.to_owned(),
            error_type,
            partial,
            llm_tokens: tokens,
            llm_cost_usd: cost,
        };
        self.summary = Some(summary.clone());
        summary
    }
}

/// The cost of an LLM span in USD, from Langfuse's `cost_details` (its
/// `total`), or `gen_ai.usage.cost` when a producer sets that.
pub fn llm_cost(span: &Span) -> Option<f64> {
    if let Some(details) = span.attr_str("langfuse.observation.cost_details")
        && let Ok(value) = serde_json::from_str::<serde_json::Value>(&details)
        && let Some(total) = value.get("total").and_then(serde_json::Value::as_f64)
    {
        return Some(total);
    }
    span.attr_f64("gen_ai.usage.cost")
}

impl Inner {
    /// Inserts `span` (replacing a span of the same ids) and returns it as
    /// stored. Strings are copied only where an index gains an entry.
    fn insert(&mut self, mut span: Span) -> Arc<Span> {
        if !self.pending_logs.is_empty()
            && let Some(logs) = self
                .pending_logs
                .remove(&(span.trace_id.clone(), span.span_id.clone()))
        {
            span.logs.extend(logs);
        }
        // What the indexes need, taken before the span moves in.
        let bytes = span.estimated_bytes();
        let start_ns = span.start_ns;
        let is_root = span.parent_span_id.is_none();
        if span.is_llm() {
            self.llm
                .insert((start_ns, span.trace_id.clone(), span.span_id.clone()));
        }
        let old_start = self.traces.get(&span.trace_id).map(|t| t.start_ns);
        if old_start.is_none() {
            self.traces.insert(
                span.trace_id.clone(),
                Trace {
                    spans: Vec::new(),
                    start_ns,
                    bytes: 0,
                    services: Vec::new(),
                    workflow: None,
                    summary: None,
                    search: String::from("\n"),
                    attrs: String::from("\n"),
                },
            );
        }
        let span = Arc::new(span);
        let Some(trace) = self.traces.get_mut(&span.trace_id) else {
            return span;
        };
        let searchable = trace.search.len() + trace.attrs.len();
        append_search_text(&mut trace.search, &mut trace.attrs, &span);
        let bytes = bytes + trace.search.len() + trace.attrs.len() - searchable;
        let new_service = (!trace.services.contains(&span.service)).then(|| span.service.clone());
        if new_service.is_some() {
            if is_root {
                trace.services.insert(0, span.service.clone());
            } else {
                trace.services.push(span.service.clone());
            }
        }
        let new_workflow = trace.workflow.is_none()
            && match span.attr(attr::WORKFLOW_NAME).and_then(|v| v.as_str()) {
                Some(workflow) => {
                    trace.workflow = Some(workflow.to_owned());
                    true
                }
                None => false,
            };
        trace.summary = None;
        let new_start = trace.start_ns.min(start_ns);
        trace.start_ns = new_start;
        let moved = old_start.is_some_and(|start| start != new_start);
        let needs_key = old_start.is_none() || moved || new_service.is_some() || new_workflow;
        let key = needs_key.then(|| (new_start, span.trace_id.clone()));
        if let Some(existing) = trace.spans.iter_mut().find(|s| s.span_id == span.span_id) {
            let old = existing.estimated_bytes();
            trace.bytes = (trace.bytes + bytes).saturating_sub(old);
            self.bytes = (self.bytes + bytes).saturating_sub(old);
            *existing = Arc::clone(&span);
        } else {
            self.spans += 1;
            trace.bytes += bytes;
            self.bytes += bytes;
            trace.spans.push(Arc::clone(&span));
        }
        let Some(key) = key else {
            return span;
        };
        if old_start.is_none() || moved {
            let services = trace.services.clone();
            let workflow = trace.workflow.clone();
            if let Some(old) = old_start.filter(|_| moved) {
                let old = (old, key.1.clone());
                self.by_start.remove(&old);
                for service in &services {
                    if let Some(set) = self.by_service.get_mut(service) {
                        set.remove(&old);
                    }
                }
                if let Some(set) = workflow.as_ref().and_then(|w| self.by_workflow.get_mut(w)) {
                    set.remove(&old);
                }
            }
            for service in services {
                self.by_service
                    .entry(service)
                    .or_default()
                    .insert(key.clone());
            }
            if let Some(w) = workflow {
                self.by_workflow.entry(w).or_default().insert(key.clone());
            }
            self.by_start.insert(key);
        } else {
            if let Some(service) = new_service {
                self.by_service
                    .entry(service)
                    .or_default()
                    .insert(key.clone());
            }
            if new_workflow && let Some(w) = trace.workflow.clone() {
                self.by_workflow.entry(w).or_default().insert(key);
            }
        }
        span
    }

    /// Evicts the oldest traces until every bound holds; returns the store
    /// keys of the evicted spans.
    fn enforce(&mut self, config: &StoreConfig, now: u64) -> Vec<String> {
        let oldest_allowed =
            now.saturating_sub(u64::try_from(config.max_age.as_nanos()).unwrap_or(u64::MAX));
        let mut evicted = Vec::new();
        while let Some(first) = self.by_start.first().cloned() {
            let over = self.spans > config.max_spans
                || self.bytes > config.max_bytes
                || first.0 < oldest_allowed;
            if !over {
                break;
            }
            self.remove_trace(&first, &mut evicted);
        }
        evicted
    }

    fn remove_trace(&mut self, key: &Key, evicted: &mut Vec<String>) {
        self.by_start.remove(key);
        let Some(trace) = self.traces.remove(&key.1) else {
            return;
        };
        for service in &trace.services {
            if let Some(set) = self.by_service.get_mut(service) {
                set.remove(key);
                if set.is_empty() {
                    self.by_service.remove(service);
                }
            }
        }
        if let Some(w) = &trace.workflow
            && let Some(set) = self.by_workflow.get_mut(w)
        {
            set.remove(key);
            if set.is_empty() {
                self.by_workflow.remove(w);
            }
        }
        for span in &trace.spans {
            if span.is_llm() {
                self.llm
                    .remove(&(span.start_ns, span.trace_id.clone(), span.span_id.clone()));
            }
            evicted.push(key_of(span));
        }
        self.spans -= trace.spans.len();
        self.bytes = self.bytes.saturating_sub(trace.bytes);
        self.evicted_spans += trace.spans.len() as u64;
        self.evicted_traces += 1;
    }
}
