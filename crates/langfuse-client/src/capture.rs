//! Prompt and completion capture: off by default, masked and capped when on.

use std::{fmt, sync::Arc};

/// The marker appended to a captured field cut at its size cap.
pub const TRUNCATION_MARKER: &str = "…[truncated]";

/// Default cap on one captured field, in bytes.
pub const DEFAULT_MAX_FIELD_BYTES: usize = 16 * 1024;

type MaskFn = dyn Fn(&str) -> String + Send + Sync;

/// Whether prompts and completions are recorded on spans, and how.
///
/// Off by default: spans then carry token counts, models and timings, never
/// text. When on, every message's content goes through the masking
/// function (if any) before it is put on a span, so nothing unmasked leaves
/// the process, and each captured field is cut at a size cap, ending with
/// [`TRUNCATION_MARKER`].
///
/// ```
/// use tta_langfuse::Capture;
///
/// let capture = Capture::enabled()
///     .mask(|text| text.replace("4111-1111-1111-1111", "[card]"))
///     .max_field_bytes(32);
/// assert_eq!(capture.apply("pay with 4111-1111-1111-1111").unwrap(), "pay with [card]");
/// assert!(capture.apply(&"x".repeat(100)).unwrap().ends_with(tta_langfuse::TRUNCATION_MARKER));
/// assert!(Capture::default().apply("secret").is_none());
/// ```
#[derive(Clone)]
pub struct Capture {
    enabled: bool,
    mask: Option<Arc<MaskFn>>,
    max_field_bytes: usize,
}

impl Default for Capture {
    fn default() -> Self {
        Self::disabled()
    }
}

impl fmt::Debug for Capture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capture")
            .field("enabled", &self.enabled)
            .field("masked", &self.mask.is_some())
            .field("max_field_bytes", &self.max_field_bytes)
            .finish()
    }
}

impl Capture {
    /// No capture (the default).
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            mask: None,
            max_field_bytes: DEFAULT_MAX_FIELD_BYTES,
        }
    }

    /// Captures prompts and completions, unmasked, capped at
    /// [`DEFAULT_MAX_FIELD_BYTES`].
    pub fn enabled() -> Self {
        Self {
            enabled: true,
            ..Self::disabled()
        }
    }

    /// Runs `mask` on every captured text before it is recorded.
    pub fn mask(mut self, mask: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        self.mask = Some(Arc::new(mask));
        self
    }

    /// Caps each captured field at `bytes` (at least room for the marker).
    pub fn max_field_bytes(mut self, bytes: usize) -> Self {
        self.max_field_bytes = bytes.max(TRUNCATION_MARKER.len() + 1);
        self
    }

    /// Whether capture is on.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The cap on one field.
    pub fn field_cap(&self) -> usize {
        self.max_field_bytes
    }

    /// `text` as it would be recorded: `None` when capture is off, else
    /// masked and capped.
    pub fn apply(&self, text: &str) -> Option<String> {
        if !self.enabled {
            return None;
        }
        let masked = self.mask_text(text);
        Some(self.cap(masked))
    }

    /// Masks `text` (no cap).
    pub(crate) fn mask_text(&self, text: &str) -> String {
        match &self.mask {
            Some(mask) => mask(text),
            None => text.to_owned(),
        }
    }

    /// Cuts `field` at the cap, on a character boundary, with the marker.
    pub(crate) fn cap(&self, mut field: String) -> String {
        if field.len() <= self.max_field_bytes {
            return field;
        }
        let mut end = self.max_field_bytes - TRUNCATION_MARKER.len();
        while !field.is_char_boundary(end) {
            end -= 1;
        }
        field.truncate(end);
        field.push_str(TRUNCATION_MARKER);
        field
    }
}
