//! Typed errors with stable, low-cardinality kinds.

use std::{borrow::Cow, error::Error as StdError, fmt, sync::Arc, time::Duration};

use crate::{Name, circuit_breaker::BreakerState};

/// A boxed error, as returned by many tower middlewares.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// The error every primitive returns.
///
/// Each variant has a stable [`kind`](Self::kind): a short `snake_case` string
/// meant for the `error_type` metric label and the `error.type` span
/// attribute. Kinds never contain user data, ids or messages; the `Display`
/// text does, and goes to logs and span events only.
///
/// The error is cheap to clone (sources are shared), so a cache can hand the
/// same failure to every caller that waited for it.
///
/// ```
/// use tta_primitives_core::WorkflowError;
///
/// let err = WorkflowError::downstream(std::io::Error::other("connection reset"));
/// assert_eq!(err.kind(), "downstream");
/// let err = WorkflowError::with_kind("payment_declined", std::io::Error::other("card expired"));
/// assert_eq!(err.kind(), "payment_declined");
/// assert_eq!(err.to_string(), "payment_declined: card expired");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum WorkflowError {
    /// The step did not finish within its deadline; its future was dropped.
    #[error("timed out after {after:?}")]
    Timeout {
        /// The configured deadline.
        after: Duration,
    },
    /// A circuit breaker rejected the call without running it.
    #[error("circuit breaker `{breaker}` rejected the call while {state}")]
    CircuitOpen {
        /// The breaker's node name.
        breaker: Name,
        /// The state that caused the rejection (open, or half-open with all
        /// probes taken).
        state: BreakerState,
    },
    /// Every attempt a retry allowed failed.
    #[error("gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// How many attempts ran.
        attempts: u32,
        /// The last attempt's error.
        last: Box<WorkflowError>,
    },
    /// The retry budget refused a retry, so the call stopped early.
    #[error("retry budget exhausted after {attempts} attempts: {last}")]
    RetryBudgetExhausted {
        /// How many attempts ran.
        attempts: u32,
        /// The last attempt's error.
        last: Box<WorkflowError>,
    },
    /// A router found no route for the key and has no default route.
    #[error("no route for key `{key}`")]
    NoRoute {
        /// The key the router's key function produced.
        key: String,
    },
    /// The work was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// A load-shedding layer refused the request.
    #[error("overloaded: the service is not ready to accept work")]
    Overloaded,
    /// Every leg of a fallback chain failed.
    #[error("all {} fallback legs failed: {}", failures.len(), LegList(failures))]
    FallbackExhausted {
        /// Each leg's name and error, in the order the legs ran.
        failures: Vec<StepFailure>,
    },
    /// A saga step failed and the completed steps were compensated.
    #[error("{}", SagaMessage(self))]
    Compensated {
        /// The step that failed.
        failed_step: Name,
        /// The error that aborted the saga.
        cause: Box<WorkflowError>,
        /// The steps whose compensation ran successfully, in the order run
        /// (reverse order of completion).
        compensated: Vec<Name>,
        /// The compensations that failed, in the order run. When non-empty
        /// the kind is `compensation_failed`.
        compensation_failures: Vec<StepFailure>,
    },
    /// An error from user code or a downstream service.
    #[error("{kind}: {source}")]
    Downstream {
        /// The low-cardinality kind (`downstream` unless the user chose one).
        kind: &'static str,
        /// Whether retrying may help, and whether it counts as a failure.
        class: ErrorClass,
        /// The underlying error.
        source: Arc<dyn StdError + Send + Sync>,
    },
}

/// What an error means for retries and for error budgets: the answer to
/// "may trying again help?" and "is this the service failing?".
///
/// | class | retried by default | recorded as | in SLO error ratios |
/// |---|---|---|---|
/// | [`Transient`](Self::Transient) | yes | `outcome="error"` | yes |
/// | [`Permanent`](Self::Permanent) | no | `outcome="error"` | yes |
/// | [`Expected`](Self::Expected) | no | `outcome="expected"` | no |
///
/// An expected error is an answer the workflow gives on purpose: a lookup
/// that finds nothing, an input it rejects, a payment the bank declines. It
/// ends the call with an error, but the service did its job, so it is
/// neither retried nor counted against the service's availability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// Trying again may succeed: a timeout, an overload, a flaky dependency.
    Transient,
    /// Trying again will fail the same way: a bug, a broken configuration,
    /// a dependency that answered "never".
    Permanent,
    /// Not a failure of the service: a not-found, a rejected input.
    Expected,
}

impl ErrorClass {
    /// The class as a label value: `transient`, `permanent` or `expected`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::Permanent => "permanent",
            Self::Expected => "expected",
        }
    }
}

/// A named step and the error it failed with.
#[derive(Debug, Clone)]
pub struct StepFailure {
    /// The step's (or leg's) name.
    pub name: Name,
    /// Why it failed.
    pub error: WorkflowError,
}

struct LegList<'a>(&'a [StepFailure]);

impl fmt::Display for LegList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, failure) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "`{}` failed: {}", failure.name, failure.error)?;
        }
        Ok(())
    }
}

struct SagaMessage<'a>(&'a WorkflowError);

impl fmt::Display for SagaMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let WorkflowError::Compensated {
            failed_step,
            cause,
            compensated,
            compensation_failures,
        } = self.0
        else {
            return Ok(());
        };
        write!(
            f,
            "saga aborted at `{failed_step}`: {cause}; compensated {} step(s)",
            compensated.len()
        )?;
        if !compensation_failures.is_empty() {
            write!(
                f,
                "; {} compensation(s) failed: {}",
                compensation_failures.len(),
                LegList(compensation_failures)
            )?;
        }
        Ok(())
    }
}

impl WorkflowError {
    /// Wraps a user or downstream error with kind `downstream`, as
    /// [transient](ErrorClass::Transient).
    pub fn downstream(err: impl Into<BoxError>) -> Self {
        Self::with_kind("downstream", err)
    }

    /// Wraps a user error under a kind of the user's choosing, as
    /// [transient](ErrorClass::Transient) (the same as
    /// [`transient`](Self::transient)). The kind must be a fixed string (it
    /// becomes a metric label value). Say what the error means with
    /// [`transient`](Self::transient), [`permanent`](Self::permanent) or
    /// [`expected`](Self::expected).
    pub fn with_kind(kind: &'static str, err: impl Into<BoxError>) -> Self {
        Self::classified(kind, ErrorClass::Transient, err)
    }

    /// A user error that trying again may cure (a dependency's 503, a
    /// dropped connection): retried by the default retry predicate.
    ///
    /// ```
    /// use tta_primitives_core::{ErrorClass, WorkflowError};
    ///
    /// let err = WorkflowError::transient("upstream_unavailable", "503 from the pricing API");
    /// assert!(err.is_transient());
    /// assert_eq!(err.class(), ErrorClass::Transient);
    /// ```
    pub fn transient(kind: &'static str, err: impl Into<BoxError>) -> Self {
        Self::classified(kind, ErrorClass::Transient, err)
    }

    /// A user error that trying again cannot cure (a malformed answer, a
    /// missing credential): never retried by default, and counted as a
    /// failure.
    ///
    /// ```
    /// use tta_primitives_core::{ErrorClass, WorkflowError};
    ///
    /// let err = WorkflowError::permanent("bad_response", "the API answered HTML");
    /// assert!(!err.is_transient());
    /// assert_eq!(err.class(), ErrorClass::Permanent);
    /// ```
    pub fn permanent(kind: &'static str, err: impl Into<BoxError>) -> Self {
        Self::classified(kind, ErrorClass::Permanent, err)
    }

    /// An answer that is an error for the caller but not a failure of the
    /// service (a not-found, a rejected input): never retried, recorded
    /// with `outcome="expected"`, and left out of the error ratios of the
    /// generated SLO rules and alerts. Its span keeps `error.type` but not
    /// an error status.
    ///
    /// ```
    /// use tta_primitives_core::{ErrorClass, WorkflowError};
    ///
    /// let err = WorkflowError::expected("not_found", "no user 42");
    /// assert!(!err.is_transient());
    /// assert_eq!(err.class(), ErrorClass::Expected);
    /// assert_eq!(err.to_string(), "not_found: no user 42");
    /// ```
    pub fn expected(kind: &'static str, err: impl Into<BoxError>) -> Self {
        Self::classified(kind, ErrorClass::Expected, err)
    }

    fn classified(kind: &'static str, class: ErrorClass, err: impl Into<BoxError>) -> Self {
        Self::Downstream {
            kind,
            class,
            source: Arc::from(err.into()),
        }
    }

    /// A `downstream` error with just a message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self::downstream(message.into())
    }

    /// The stable, low-cardinality kind of this error.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Timeout { .. } => "timeout",
            Self::CircuitOpen { .. } => "circuit_open",
            Self::RetriesExhausted { .. } => "retries_exhausted",
            Self::RetryBudgetExhausted { .. } => "retry_budget_exhausted",
            Self::NoRoute { .. } => "no_route",
            Self::Cancelled => "cancelled",
            Self::Overloaded => "overloaded",
            Self::FallbackExhausted { .. } => "fallback_exhausted",
            Self::Compensated {
                compensation_failures,
                ..
            } if compensation_failures.is_empty() => "compensated",
            Self::Compensated { .. } => "compensation_failed",
            Self::Downstream { kind, .. } => kind,
        }
    }

    /// What the error means for retries and error budgets.
    ///
    /// Timeouts and overload are transient; a user error has the class it
    /// was made with ([`with_kind`](Self::with_kind) and
    /// [`downstream`](Self::downstream): transient); a saga compensated
    /// after an expected error is expected; a rejection by an open breaker,
    /// a missing route, a cancellation and the terminal errors of other
    /// combinators are permanent.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Timeout { .. } | Self::Overloaded => ErrorClass::Transient,
            Self::Downstream { class, .. } => *class,
            Self::Compensated {
                cause,
                compensation_failures,
                ..
            } if compensation_failures.is_empty() && cause.class() == ErrorClass::Expected => {
                ErrorClass::Expected
            }
            _ => ErrorClass::Permanent,
        }
    }

    /// Whether retrying might help ([`class`](Self::class) is
    /// [`Transient`](ErrorClass::Transient)): the default retry predicate.
    pub fn is_transient(&self) -> bool {
        self.class() == ErrorClass::Transient
    }
}

impl From<BoxError> for WorkflowError {
    /// Recovers a [`WorkflowError`] that travelled through a boxing tower
    /// middleware, and maps tower's own timeout and load-shed errors to
    /// their kinds; anything else becomes `downstream`.
    fn from(err: BoxError) -> Self {
        let err = match err.downcast::<WorkflowError>() {
            Ok(err) => return *err,
            Err(err) => err,
        };
        if err.is::<tower::load_shed::error::Overloaded>() {
            return Self::Overloaded;
        }
        if err.is::<tower::timeout::error::Elapsed>() {
            return Self::Timeout {
                after: Duration::ZERO,
            };
        }
        Self::classified("downstream", ErrorClass::Transient, err)
    }
}

impl From<std::convert::Infallible> for WorkflowError {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

/// An invalid setting: the one error shape of every crate of the toolkit
/// that checks user settings (the primitives, obs-init, langfuse-client,
/// the dashboards generator), so each such error reads the same way.
///
/// The message names the setting, the rejected value and what is allowed.
///
/// ```
/// use tta_primitives_core::{ConfigError, retry::RetryPolicy};
///
/// let err = RetryPolicy::builder().max_attempts(0).build().unwrap_err();
/// assert_eq!(err.setting(), "retry.max_attempts");
/// assert!(err.to_string().contains("at least 1"));
///
/// let err = ConfigError::text("TTA_METRICS_ADDR", "localhost:x", "use host:port");
/// assert_eq!(err.to_string(), r#"invalid setting `TTA_METRICS_ADDR` = "localhost:x": use host:port"#);
/// assert_eq!(err.value(), "localhost:x");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting `{setting}` = {}: {expected}", self.shown())]
pub struct ConfigError {
    setting: Cow<'static, str>,
    value: String,
    /// Whether `value` is text to show quoted (else it is shown as is).
    quoted: bool,
    expected: Cow<'static, str>,
}

impl ConfigError {
    /// An error for `setting`, rejected `value` (shown in its `Debug`
    /// form), and what is `expected`.
    pub fn new(
        setting: impl Into<Cow<'static, str>>,
        value: impl fmt::Debug,
        expected: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            setting: setting.into(),
            value: format!("{value:?}"),
            quoted: false,
            expected: expected.into(),
        }
    }

    /// An error for `setting` whose rejected value is the text `value`
    /// (shown quoted; pass it masked when it may hold a secret), and what
    /// is `expected`.
    pub fn text(
        setting: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
        expected: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            setting: setting.into(),
            value: value.into(),
            quoted: true,
            expected: expected.into(),
        }
    }

    /// The setting's full name, e.g. `cache.capacity`.
    pub fn setting(&self) -> &str {
        &self.setting
    }

    /// The rejected value (the text given to [`text`](Self::text), or the
    /// `Debug` form given to [`new`](Self::new)).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What the setting accepts.
    pub fn expected(&self) -> &str {
        &self.expected
    }

    fn shown(&self) -> Cow<'_, str> {
        if self.quoted {
            Cow::Owned(format!("{:?}", self.value))
        } else {
            Cow::Borrowed(&self.value)
        }
    }
}

/// Checks a setting: `Ok(value)` when `valid`, else a [`ConfigError`].
pub(crate) fn check<T: fmt::Debug>(
    setting: &'static str,
    value: T,
    valid: bool,
    expected: &'static str,
) -> Result<T, ConfigError> {
    if valid {
        Ok(value)
    } else {
        Err(ConfigError::new(setting, value, expected))
    }
}
