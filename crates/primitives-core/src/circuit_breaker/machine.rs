//! The circuit breaker's state machine, pure: time is passed in, and the
//! primitive around it ([`super::CircuitBreaker`]) locks, calls and reports.

use std::collections::VecDeque;

use tokio::time::Instant;

use super::{BreakerConfig, BreakerState, FailurePolicy};

#[derive(Debug)]
pub(super) enum Phase {
    Closed {
        consecutive_failures: u32,
        /// (completion time, failed) for the failure-rate policy.
        window: VecDeque<(Instant, bool)>,
    },
    Open {
        until: Instant,
    },
    HalfOpen {
        admitted: u32,
        succeeded: u32,
    },
}

impl Phase {
    pub(super) fn state(&self) -> BreakerState {
        match self {
            Self::Closed { .. } => BreakerState::Closed,
            Self::Open { .. } => BreakerState::Open,
            Self::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    fn closed() -> Self {
        Self::Closed {
            consecutive_failures: 0,
            window: VecDeque::new(),
        }
    }
}

/// A call's admission: which generation of the state machine admitted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Permit {
    generation: u64,
    pub(super) probe: bool,
}

pub(super) type Transition = Option<(BreakerState, BreakerState)>;

/// The breaker's state machine. Pure: time is passed in.
#[derive(Debug)]
pub(super) struct Machine {
    phase: Phase,
    /// Bumped on every transition; outcomes of older permits are ignored.
    generation: u64,
}

impl Machine {
    /// A closed breaker.
    pub(super) fn new() -> Self {
        Self {
            phase: Phase::closed(),
            generation: 0,
        }
    }

    /// The current state.
    pub(super) fn state(&self) -> BreakerState {
        self.phase.state()
    }

    fn transition(&mut self, to: Phase) -> Transition {
        let from = self.phase.state();
        self.phase = to;
        self.generation += 1;
        Some((from, self.phase.state()))
    }

    /// Admits a call at `now`, or says in which state it is rejected.
    pub(super) fn admit(
        &mut self,
        config: &BreakerConfig,
        now: Instant,
    ) -> (Result<Permit, BreakerState>, Transition) {
        let mut transition = None;
        if let Phase::Open { until } = self.phase
            && now >= until
        {
            transition = self.transition(Phase::HalfOpen {
                admitted: 0,
                succeeded: 0,
            });
        }
        let generation = self.generation;
        let admission = match &mut self.phase {
            Phase::Closed { .. } => Ok(Permit {
                generation,
                probe: false,
            }),
            Phase::Open { .. } => Err(BreakerState::Open),
            Phase::HalfOpen { admitted, .. } if *admitted < config.half_open_probes => {
                *admitted += 1;
                Ok(Permit {
                    generation,
                    probe: true,
                })
            }
            Phase::HalfOpen { .. } => Err(BreakerState::HalfOpen),
        };
        (admission, transition)
    }

    /// Records the outcome of an admitted call that completed at `now`.
    pub(super) fn record(
        &mut self,
        config: &BreakerConfig,
        permit: Permit,
        failed: bool,
        now: Instant,
    ) -> Transition {
        if permit.generation != self.generation {
            return None;
        }
        let open = || Phase::Open {
            until: now + config.open_duration,
        };
        match &mut self.phase {
            Phase::Closed {
                consecutive_failures,
                window,
            } => {
                let trip = match config.policy {
                    FailurePolicy::ConsecutiveFailures(limit) => {
                        *consecutive_failures = if failed { *consecutive_failures + 1 } else { 0 };
                        *consecutive_failures >= limit
                    }
                    FailurePolicy::FailureRate {
                        threshold,
                        window: span,
                        min_calls,
                    } => {
                        window.push_back((now, failed));
                        while window
                            .front()
                            .is_some_and(|(t, _)| now.duration_since(*t) >= span)
                        {
                            window.pop_front();
                        }
                        let failures = window.iter().filter(|(_, f)| *f).count();
                        window.len() >= min_calls as usize
                            && failures as f64 >= threshold * window.len() as f64
                    }
                };
                if trip { self.transition(open()) } else { None }
            }
            Phase::Open { .. } => None,
            Phase::HalfOpen { succeeded, .. } => {
                if failed {
                    self.transition(open())
                } else {
                    *succeeded += 1;
                    if *succeeded >= config.half_open_probes {
                        self.transition(Phase::closed())
                    } else {
                        None
                    }
                }
            }
        }
    }

    /// Gives back the slot of an admitted call dropped unfinished.
    pub(super) fn release(&mut self, permit: Permit) {
        if permit.probe
            && permit.generation == self.generation
            && let Phase::HalfOpen { admitted, .. } = &mut self.phase
        {
            *admitted -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn consecutive(n: u32, probes: u32) -> BreakerConfig {
        BreakerConfig::builder()
            .policy(FailurePolicy::ConsecutiveFailures(n))
            .open_duration(Duration::from_secs(30))
            .half_open_probes(probes)
            .build()
            .unwrap()
    }

    /// Admits one call at `at` and records its outcome at once.
    fn run(m: &mut Machine, c: &BreakerConfig, at: Instant, failed: bool) -> Transition {
        let permit = m.admit(c, at).0.expect("admitted");
        m.record(c, permit, failed, at)
    }

    fn open_it(m: &mut Machine, c: &BreakerConfig, at: Instant, n: u32) {
        for _ in 0..n {
            run(m, c, at, true);
        }
        assert_eq!(m.state(), BreakerState::Open);
    }

    #[test]
    fn consecutive_failures_trip_at_the_limit_and_a_success_resets_the_count() {
        let (c, t) = (consecutive(3, 1), Instant::now());
        let mut m = Machine::new();
        assert_eq!(run(&mut m, &c, t, true), None);
        assert_eq!(run(&mut m, &c, t, true), None);
        assert_eq!(run(&mut m, &c, t, false), None, "a success resets");
        assert_eq!(run(&mut m, &c, t, true), None);
        assert_eq!(run(&mut m, &c, t, true), None);
        assert_eq!(
            run(&mut m, &c, t, true),
            Some((BreakerState::Closed, BreakerState::Open))
        );
        assert_eq!(m.admit(&c, t).0.unwrap_err(), BreakerState::Open);
    }

    #[test]
    fn the_failure_rate_counts_only_the_window_and_needs_min_calls() {
        let c = BreakerConfig::builder()
            .policy(FailurePolicy::FailureRate {
                threshold: 0.5,
                window: Duration::from_secs(10),
                min_calls: 4,
            })
            .build()
            .unwrap();
        let t = Instant::now();
        let mut m = Machine::new();
        for _ in 0..3 {
            assert_eq!(run(&mut m, &c, t, true), None, "fewer than min_calls");
        }
        // At t + 10 s the three failures have left the window.
        let later = t + Duration::from_secs(10);
        for failed in [false, false, false, true] {
            assert_eq!(run(&mut m, &c, later, failed), None, "1 of 4 failed");
        }
        assert_eq!(run(&mut m, &c, later, true), None, "2 of 5: under half");
        assert_eq!(
            run(&mut m, &c, later, true),
            Some((BreakerState::Closed, BreakerState::Open)),
            "3 of 6: exactly half trips"
        );
    }

    #[test]
    fn an_open_breaker_half_opens_exactly_at_its_open_duration() {
        let (c, t) = (consecutive(1, 1), Instant::now());
        let mut m = Machine::new();
        open_it(&mut m, &c, t, 1);
        let almost = t + Duration::from_secs(30) - Duration::from_nanos(1);
        assert_eq!(m.admit(&c, almost), (Err(BreakerState::Open), None));
        let (admission, transition) = m.admit(&c, t + Duration::from_secs(30));
        assert!(admission.unwrap().probe);
        assert_eq!(
            transition,
            Some((BreakerState::Open, BreakerState::HalfOpen))
        );
    }

    #[test]
    fn half_open_admits_its_probes_and_closes_only_when_all_succeed() {
        let (c, t) = (consecutive(1, 2), Instant::now());
        let mut m = Machine::new();
        open_it(&mut m, &c, t, 1);
        let at = t + Duration::from_secs(30);
        let first = m.admit(&c, at).0.unwrap();
        let second = m.admit(&c, at).0.unwrap();
        assert_eq!(m.admit(&c, at).0.unwrap_err(), BreakerState::HalfOpen);
        assert_eq!(m.record(&c, first, false, at), None, "one of two probes");
        assert_eq!(
            m.record(&c, second, false, at),
            Some((BreakerState::HalfOpen, BreakerState::Closed))
        );
    }

    #[test]
    fn a_failed_probe_reopens_for_a_full_open_duration() {
        let (c, t) = (consecutive(1, 2), Instant::now());
        let mut m = Machine::new();
        open_it(&mut m, &c, t, 1);
        let at = t + Duration::from_secs(30);
        let probe = m.admit(&c, at).0.unwrap();
        assert_eq!(
            m.record(&c, probe, true, at),
            Some((BreakerState::HalfOpen, BreakerState::Open))
        );
        let again = at + Duration::from_secs(30);
        assert_eq!(
            m.admit(&c, again - Duration::from_nanos(1)).0.unwrap_err(),
            BreakerState::Open
        );
        assert!(m.admit(&c, again).0.is_ok());
    }

    #[test]
    fn outcomes_of_permits_from_before_a_transition_are_ignored() {
        let (c, t) = (consecutive(1, 1), Instant::now());
        let mut m = Machine::new();
        let slow = m.admit(&c, t).0.unwrap(); // admitted while closed
        open_it(&mut m, &c, t, 1);
        assert_eq!(m.record(&c, slow, true, t), None);
        let at = t + Duration::from_secs(30);
        let probe = m.admit(&c, at).0.unwrap();
        // The slow call from the closed period succeeds now: ignored, the
        // breaker stays half-open with its probe slot taken.
        assert_eq!(m.record(&c, slow, false, at), None);
        assert_eq!(m.state(), BreakerState::HalfOpen);
        assert_eq!(m.admit(&c, at).0.unwrap_err(), BreakerState::HalfOpen);
        m.release(slow);
        assert_eq!(
            m.admit(&c, at).0.unwrap_err(),
            BreakerState::HalfOpen,
            "stale release"
        );
        m.release(probe);
        assert!(
            m.admit(&c, at).0.unwrap().probe,
            "the probe's slot came back"
        );
    }
}
