//! Router (switch): a key function chooses which route handles the input.
//!
//! [`Router`] computes a key from the context and input and runs the route
//! registered under that key, under a child context. When no route matches it
//! runs the default route, or, without one, fails with
//! [`WorkflowError::NoRoute`] naming the key. The chosen route is reported as
//! [`Event::RouteChosen`] with the route's registered name (never the raw
//! input), so it is safe as a metric label.
//!
//! ```
//! use tower::ServiceExt;
//! use tta_primitives_core::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), WorkflowError> {
//! let fast = lambda(|q: String| async move { Ok::<_, WorkflowError>(format!("fast:{q}")) });
//! let deep = lambda(|q: String| async move { Ok::<_, WorkflowError>(format!("deep:{q}")) });
//! let by_length = router(|_, q: &String| if q.len() < 10 { "short" } else { "long" })
//!     .route("short", fast.clone())
//!     .route("long", deep);
//! let ctx = || WorkflowContext::new("answer");
//! assert_eq!(by_length.clone().oneshot(Request::new(ctx(), "hi".into())).await?, "fast:hi");
//!
//! let strict = router(|_, q: &String| q.chars().next().unwrap_or(' ')).route('a', fast);
//! let err = strict.oneshot(Request::new(ctx(), "zebra".into())).await.unwrap_err();
//! assert_eq!(err.kind(), "no_route");
//! assert_eq!(err.to_string(), "no route for key `z`");
//! # Ok(()) }
//! ```

use std::{
    collections::HashMap,
    fmt,
    hash::Hash,
    sync::Arc,
    task::{Context, Poll},
};

use futures_util::future::BoxFuture;
use tower::Service;

use crate::{
    Name, Request, WorkflowContext, WorkflowError,
    node::NodeFuture,
    observe::{Event, PrimitiveType, emit},
    primitive::{BoxPrimitive, NamedBox, impl_primitive},
};

/// Chooses a route by key. Built by [`router`].
pub struct Router<K, I, O, F> {
    key: F,
    routes: Arc<HashMap<K, NamedBox<I, O>>>,
    default: Option<NamedBox<I, O>>,
    name: Name,
}

/// A [`Router`] whose `key` function picks the route; add routes with
/// [`Router::route`] and a default with [`Router::default_route`].
pub fn router<K, I, O, F>(key: F) -> Router<K, I, O, F>
where
    F: Fn(&WorkflowContext, &I) -> K,
{
    Router {
        key,
        routes: Arc::new(HashMap::new()),
        default: None,
        name: Name::new_static("router"),
    }
}

impl<K, I, O, F> Router<K, I, O, F>
where
    K: Hash + Eq + Clone + fmt::Display,
{
    /// Registers `service` under `key` (replacing an earlier route with the
    /// same key). The route's name is the key's `Display` text.
    pub fn route<S>(mut self, key: K, service: S) -> Self
    where
        S: Service<Request<I>, Response = O> + Clone + Send + Sync + 'static,
        S::Error: Into<WorkflowError>,
        S::Future: Send + 'static,
    {
        let route = NamedBox {
            name: Name::from(key.to_string()),
            service: BoxPrimitive::new(service),
        };
        Arc::make_mut(&mut self.routes).insert(key, route);
        self
    }
}

impl<K, I, O, F> Router<K, I, O, F> {
    /// The route taken when no key matches (its name is `default`).
    pub fn default_route<S>(mut self, service: S) -> Self
    where
        S: Service<Request<I>, Response = O> + Clone + Send + Sync + 'static,
        S::Error: Into<WorkflowError>,
        S::Future: Send + 'static,
    {
        self.default = Some(NamedBox {
            name: Name::new_static("default"),
            service: BoxPrimitive::new(service),
        });
        self
    }

    /// The names of the registered routes (the default route excluded).
    pub fn route_names(&self) -> impl Iterator<Item = &str> {
        self.routes.values().map(|r| r.name.as_str())
    }
}

impl<K, I, O, F> Service<Request<I>> for Router<K, I, O, F>
where
    F: Fn(&WorkflowContext, &I) -> K,
    K: Hash + Eq + fmt::Display,
    I: Send + 'static,
    O: Send + 'static,
{
    type Response = O;
    type Error = WorkflowError;
    type Future = NodeFuture<BoxFuture<'static, Result<O, WorkflowError>>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<I>) -> Self::Future {
        NodeFuture::run(
            self,
            req.ctx,
            PrimitiveType::Router,
            |this, ctx| -> BoxFuture<'static, _> {
                let key = (this.key)(&ctx, &req.input);
                let Some(route) = this.routes.get(&key).or(this.default.as_ref()) else {
                    let err = WorkflowError::NoRoute {
                        key: key.to_string(),
                    };
                    return Box::pin(std::future::ready(Err(err)));
                };
                emit(&ctx, &this.name, PrimitiveType::Router, || {
                    Event::RouteChosen {
                        route: route.name.as_str(),
                    }
                });
                Box::pin(route.run(Request::new(ctx.into_child(), req.input)))
            },
        )
    }
}

impl<K, I, O, F: Clone> Clone for Router<K, I, O, F> {
    fn clone(&self) -> Self {
        Self {
            key: self.key.clone(),
            routes: Arc::clone(&self.routes),
            default: self.default.clone(),
            name: self.name.clone(),
        }
    }
}

impl<K: fmt::Debug, I, O, F> fmt::Debug for Router<K, I, O, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("name", &self.name)
            .field("routes", &self.routes.keys().collect::<Vec<_>>())
            .field("default", &self.default.is_some())
            .finish_non_exhaustive()
    }
}

impl_primitive!(Router<K, I, O, F>);
crate::name::impl_named!(Router<K, I, O, F>);
