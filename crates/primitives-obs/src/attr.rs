//! Every span attribute key this crate writes: the `tta.` namespace, and the
//! OpenTelemetry semantic-convention keys it uses. Code writes attributes
//! through these constants only, so the console, dashboards and tests read
//! the same names.

/// The workflow's name.
pub const WORKFLOW_NAME: &str = "tta.workflow.name";
/// The workflow execution's id.
pub const WORKFLOW_ID: &str = "tta.workflow.id";
/// The correlation id.
pub const CORRELATION_ID: &str = "tta.correlation_id";
/// The node's name.
pub const PRIMITIVE_NAME: &str = "tta.primitive.name";
/// The node's type.
pub const PRIMITIVE_TYPE: &str = "tta.primitive.type";
/// The node's step id.
pub const STEP_ID: &str = "tta.step.id";
/// The node's position among its parent's children (0-based, in start
/// order: sequence step, parallel branch, fallback leg, retry attempt).
pub const STEP_INDEX: &str = "tta.step.index";
/// The attempt number, on each attempt of a retry (1-based).
pub const RETRY_ATTEMPT: &str = "tta.retry.attempt";
/// The backoff waited before this attempt, in seconds.
pub const RETRY_BACKOFF: &str = "tta.retry.backoff_s";
/// The route a router chose.
pub const ROUTER_ROUTE: &str = "tta.router.route";
/// Whether a cache lookup was a hit.
pub const CACHE_HIT: &str = "tta.cache.hit";
/// `forward` or `compensation`, on the children of a saga.
pub const SAGA_PHASE: &str = "tta.saga.phase";
/// The index of the fallback leg that answered.
pub const FALLBACK_LEG: &str = "tta.fallback.leg";
/// Set on a node whose future was dropped before it finished.
pub const CANCELLED: &str = "tta.cancelled";
/// OpenTelemetry's `error.type`.
pub const ERROR_TYPE: &str = "error.type";
/// Retry backoff event: the delay before the next attempt, in seconds.
pub const RETRY_DELAY: &str = "tta.retry.delay_s";
/// On a retry's span: the attempts it made.
pub const RETRY_ATTEMPTS: &str = "tta.retry.attempts";
/// On a retry's span: how it ended (`RetryOutcome`'s label).
pub const RETRY_RESULT: &str = "tta.retry.result";
/// Cache miss event: whether the call waited for another caller's load.
pub const CACHE_COALESCED: &str = "tta.cache.coalesced";
/// Cache eviction event: why the entry left.
pub const CACHE_EVICTION_REASON: &str = "tta.cache.eviction_reason";
/// Breaker transition event: the state left.
pub const BREAKER_FROM: &str = "tta.circuit_breaker.from";
/// Breaker transition event: the state entered.
pub const BREAKER_TO: &str = "tta.circuit_breaker.to";
/// Breaker rejection event: the state that rejected the call.
pub const BREAKER_STATE: &str = "tta.circuit_breaker.state";
/// Timeout event: the deadline, in seconds.
pub const TIMEOUT_AFTER: &str = "tta.timeout.after_s";
/// Fallback event: the name of the leg that answered.
pub const FALLBACK_LEG_NAME: &str = "tta.fallback.leg_name";
/// Saga compensation events: the step being undone.
pub const SAGA_STEP: &str = "tta.saga.step";
/// On a failed node: the error's class (`transient`, `permanent`,
/// `expected`); an expected error leaves the span's status unset.
pub const ERROR_CLASS: &str = "tta.error.class";

// OpenTelemetry semantic conventions written by this crate.

/// `session.id`, on a root span whose context has a session.
pub const SESSION_ID: &str = "session.id";
/// `enduser.id`, on a root span whose context has a user.
pub const ENDUSER_ID: &str = "enduser.id";
/// `exception.type`, on an `exception` event.
pub const EXCEPTION_TYPE: &str = "exception.type";
/// `exception.message`, on an `exception` event.
pub const EXCEPTION_MESSAGE: &str = "exception.message";
/// `http.request.method` (normalised: a known method or `_OTHER`).
pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
/// `http.request.method_original`, when the method was normalised.
pub const HTTP_REQUEST_METHOD_ORIGINAL: &str = "http.request.method_original";
/// `rpc.system` (`grpc`).
pub const RPC_SYSTEM: &str = "rpc.system";
/// `rpc.service`: the full gRPC service name (`package.Service`).
pub const RPC_SERVICE: &str = "rpc.service";
/// `rpc.method`: the gRPC method.
pub const RPC_METHOD: &str = "rpc.method";
/// `rpc.grpc.status_code`: the call's gRPC status code.
pub const RPC_GRPC_STATUS_CODE: &str = "rpc.grpc.status_code";
/// `http.response.status_code`.
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
/// `http.route`, the matched route template.
pub const HTTP_ROUTE: &str = "http.route";
/// `url.path`.
pub const URL_PATH: &str = "url.path";
