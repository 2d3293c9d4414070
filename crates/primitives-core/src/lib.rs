#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod context;
mod error;
mod future;
mod lambda;
mod name;
mod node;
mod primitive;

pub mod cache;
pub mod circuit_breaker;
pub mod conditional;
pub mod fallback;
pub mod join;
pub mod mock;
pub mod observe;
pub mod parallel;
pub mod retry;
pub mod router;
pub mod saga;
pub mod sequence;
pub mod timeout;

pub use context::{Checkpoint, Request, StepId, WorkflowContext, WorkflowContextBuilder};
pub use error::{BoxError, ConfigError, ErrorClass, StepFailure, WorkflowError};
pub use future::IntoWorkflowError;
pub use lambda::{FnPrimitive, from_fn, lambda};
pub use name::{Name, Named};
pub use node::{NodeFuture, NodeGuard};
pub use primitive::{BoxPrimitive, Primitive, Step, WorkflowExt, step};

/// Everything needed to build and run workflows: `use tta_primitives_core::prelude::*;`.
pub mod prelude {
    pub use crate::{
        BoxPrimitive, ConfigError, ErrorClass, Named, Request, WorkflowContext, WorkflowError,
        WorkflowExt,
        cache::{CacheConfig, CacheStats},
        circuit_breaker::{BreakerConfig, BreakerState, FailurePolicy},
        conditional::when,
        fallback::Fallback,
        from_fn,
        join::join,
        lambda,
        mock::MockPrimitive,
        parallel::parallel,
        retry::{Jitter, RetryBudget, RetryPolicy},
        router::router,
        saga::Saga,
        step,
    };
}
