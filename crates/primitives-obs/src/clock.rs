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

#[cfg(test)]
mod tests {
    use super::*;

    /// A node-clock reading strictly after `t`.
    fn after(t: Instant) -> Instant {
        loop {
            let now = observe::now();
            if now > t {
                return now;
            }
            std::hint::spin_loop();
        }
    }

    #[test]
    fn wall_times_are_the_anchor_plus_the_node_clocks_offset() {
        let anchor = Anchor::now();
        let start = anchor.started();
        let later = after(start);
        let offset = anchor.offset(later);
        assert_eq!(
            u128::from(offset),
            (later - start).as_nanos(),
            "the offset is the node clock's"
        );
        assert!(offset > 0);
        let at_start = anchor.wall(0);
        assert!(
            at_start.duration_since(SystemTime::UNIX_EPOCH).unwrap() > Duration::from_secs(1 << 30),
            "the anchor holds a real wall-clock time"
        );
        assert_eq!(anchor.wall(5), at_start + Duration::from_nanos(5));
        assert_eq!(
            anchor.wall_at(later),
            at_start + Duration::from_nanos(offset)
        );
        assert_eq!(anchor.wall_at(start), at_start);
    }

    #[test]
    fn a_reading_before_the_anchor_is_at_the_anchor_and_a_metrics_only_anchor_reads_no_wall_clock()
    {
        let before = observe::now();
        let anchor = Anchor::monotonic_only();
        assert!(anchor.started() >= before);
        assert_eq!(anchor.offset(before), 0);
        assert_eq!(anchor.wall(0), SystemTime::UNIX_EPOCH);
    }
}
