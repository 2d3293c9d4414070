//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};

use tower::{Service, ServiceExt};
use tta_primitives_core::{
    Request, WorkflowContext, WorkflowError,
    observe::{Event, NodeInfo, Observer},
};

/// A fresh root context.
pub fn ctx() -> WorkflowContext {
    WorkflowContext::new("test")
}

/// Runs `service` once on `input` under a fresh root context.
pub async fn call<S, I>(service: &S, input: I) -> Result<S::Response, WorkflowError>
where
    S: Service<Request<I>> + Clone,
    S::Error: Into<WorkflowError>,
{
    service
        .clone()
        .oneshot(Request::new(ctx(), input))
        .await
        .map_err(Into::into)
}

/// Records every event as `"<node>: <Debug of event>"`.
#[derive(Default)]
pub struct Recorder {
    events: Mutex<Vec<String>>,
}

impl Recorder {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn ctx(self: &Arc<Self>) -> WorkflowContext {
        WorkflowContext::builder("test")
            .observer(self.clone())
            .build()
    }

    pub fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }

    /// Events whose text starts with `prefix`.
    pub fn matching(&self, prefix: &str) -> Vec<String> {
        self.events()
            .into_iter()
            .filter(|e| e.starts_with(prefix))
            .collect()
    }
}

impl Observer for Recorder {
    fn on_event(&self, node: &NodeInfo<'_>, _ctx: &WorkflowContext, event: &Event<'_>) {
        self.events.lock().unwrap().push(format!(
            "{}/{}: {:?}",
            node.primitive_type.as_str(),
            node.name,
            event
        ));
    }
}

/// Sets a flag when dropped: proves a future was cancelled.
pub struct DropFlag(pub Arc<std::sync::atomic::AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}
