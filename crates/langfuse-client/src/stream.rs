//! Observing a streamed response as it passes.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use futures_util::Stream;

use crate::{
    record::{Outcome, Recorder, Summary},
    types::{LlmChunk, LlmStream, Message, Usage},
};

/// A streamed response under observation: the first chunk with content
/// marks the time to first token; ids, model, usage and finish reasons are
/// gathered from whichever chunks carry them; the call is recorded when the
/// stream ends, fails, or is dropped early (as cancelled).
pub struct InstrumentedStream<E> {
    inner: LlmStream<E>,
    recorder: Recorder,
    id: Option<String>,
    model: Option<String>,
    finish_reasons: Vec<String>,
    usage: Option<Usage>,
    /// The completion so far, only when capture is on (capped).
    text: Option<String>,
}

impl<E> std::fmt::Debug for InstrumentedStream<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstrumentedStream")
            .field("recorder", &self.recorder)
            .finish_non_exhaustive()
    }
}

impl<E> InstrumentedStream<E> {
    pub(crate) fn new(inner: LlmStream<E>, recorder: Recorder) -> Self {
        let text = recorder.capture().is_enabled().then(String::new);
        Self {
            inner,
            recorder,
            id: None,
            model: None,
            finish_reasons: Vec::new(),
            usage: None,
            text,
        }
    }

    fn observe(&mut self, chunk: &LlmChunk) {
        if chunk.has_content() {
            self.recorder.first_token();
            if let Some(text) = &mut self.text {
                // Keep at most the cap (plus one char to show truncation).
                let room = self
                    .recorder
                    .capture()
                    .field_cap()
                    .saturating_sub(text.len());
                if room > 0 {
                    let mut end = chunk.delta.len().min(room + 1);
                    while !chunk.delta.is_char_boundary(end) {
                        end -= 1;
                    }
                    text.push_str(&chunk.delta[..end]);
                }
            }
        }
        if self.id.is_none() {
            self.id.clone_from(&chunk.id);
        }
        if let Some(model) = &chunk.model
            && self.model.is_none()
        {
            self.model = Some(model.clone());
        }
        if let Some(reason) = &chunk.finish_reason {
            self.finish_reasons.push(reason.clone());
        }
        if let Some(usage) = &chunk.usage {
            self.usage.get_or_insert_with(Usage::default).merge(usage);
        }
    }

    fn finish_success(&mut self) {
        let output = self.text.take().map(|t| [Message::new("assistant", t)]);
        self.recorder.finish(Outcome::Success(Summary {
            id: self.id.as_deref(),
            model: self.model.as_deref(),
            finish_reasons: &self.finish_reasons,
            usage: self.usage,
            output: output.as_ref().map(|o| &o[..]),
        }));
    }
}

impl<E: std::fmt::Display> Stream for InstrumentedStream<E> {
    type Item = Result<LlmChunk, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let item = std::task::ready!(this.inner.inner.as_mut().poll_next(cx));
        match &item {
            Some(Ok(chunk)) => this.observe(chunk),
            Some(Err(error)) => this.recorder.finish(Outcome::Error(error)),
            None => this.finish_success(),
        }
        Poll::Ready(item)
    }
}
