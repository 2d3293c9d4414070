//! The one clock every span of this crate is timestamped with.
//!
//! Durations come from the node clock ([`tta_primitives_core::observe::now`],
//! monotonic and cheap); wall-clock times are one wall-clock reading (the
//! anchor) plus the node clock's offset from it. A span's parent and children
//! then share one time base: the wall clock, which NTP may slew by hundreds
//! of parts per million, is read once per span tree, not once per end, so a
//! child measured by the node clock never ends after a parent measured by
//! it too. (`TelemetryLayer`'s spans and the workflow's spans use it; the
//! SDK's own timestamps would read the wall clock at each end.)

use std::time::{Duration, SystemTime};

use tta_primitives_core::observe::{self, Instant};

/// One wall-clock reading and the node clock's reading at the same moment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Anchor {
    wall: SystemTime,
    at: Instant,
}

impl Anchor {
    /// An anchor at this moment: both clocks read back to back, so that a
    /// preemption between the readings is as unlikely as it can be.
    pub(crate) fn now() -> Self {
        let at = observe::now();
        Self {
            wall: SystemTime::now(),
            at,
        }
    }

    /// An anchor for a call with no span: only the node clock is read (the
    /// wall-clock reading is what a metrics-only call would otherwise pay
    /// for nothing); its wall times are the Unix epoch and never exported.
    pub(crate) fn monotonic_only() -> Self {
        Self {
            wall: SystemTime::UNIX_EPOCH,
            at: observe::now(),
        }
    }

    /// The node clock's reading at the anchor.
    pub(crate) fn started(&self) -> Instant {
        self.at
    }

    /// Nanoseconds from the anchor to `t` (0 for a reading before it).
    pub(crate) fn offset(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.at).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The wall-clock time `offset` nanoseconds after the anchor.
    pub(crate) fn wall(&self, offset: u64) -> SystemTime {
        self.wall + Duration::from_nanos(offset)
    }

    /// The wall-clock time of the node clock's reading `t`.
    pub(crate) fn wall_at(&self, t: Instant) -> SystemTime {
        self.wall(self.offset(t))
    }
}
