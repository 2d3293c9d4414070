//! Opt-in resource usage of expensive steps: CPU time and bytes allocated
//! while the step's future is being polled.
//!
//! [`MeasureExt::measure_resources`] wraps a primitive so that every poll of
//! its future reads the thread's CPU clock before and after; time spent
//! waiting (between polls) is not counted. The call's total is recorded in
//! the histogram `tta_primitive_cpu_seconds{primitive}` when the call
//! finishes (or is dropped). With [`CountingAllocator`] installed as the global allocator,
//! the bytes allocated during those polls go to
//! `tta_primitive_allocated_bytes_total{primitive}`; calls that allocated
//! nothing (and every call without the allocator) add no series there, so
//! a zero never reads as "measured, allocates nothing".
//!
//! ```
//! use tower::ServiceExt;
//! use tta_primitives_core::prelude::*;
//! use tta_primitives_obs::resources::MeasureExt;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), WorkflowError> {
//! let embed = lambda(|text: String| async move { Ok::<_, WorkflowError>(text.len()) })
//!     .measure_resources("embed");
//! assert_eq!(embed.oneshot(Request::new(WorkflowContext::new("rag"), "hello".into())).await?, 5);
//! # Ok(()) }
//! ```

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use cpu_time::ThreadTime;
use pin_project_lite::pin_project;
use tower::Service;
use tta_primitives_core::{Name, Primitive, Request};

use crate::builtin_metrics::instruments;

thread_local! {
    static ALLOCATED: Cell<u64> = const { Cell::new(0) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// Bytes allocated on this thread so far, as counted by
/// [`CountingAllocator`] (always 0 when it is not the global allocator).
pub fn thread_allocated_bytes() -> u64 {
    ALLOCATED.try_with(Cell::get).unwrap_or(0)
}

/// Allocations (and growing reallocations) made on this thread so far, as
/// counted by [`CountingAllocator`] (always 0 when it is not the global
/// allocator).
pub fn thread_allocations() -> u64 {
    ALLOCATIONS.try_with(Cell::get).unwrap_or(0)
}

/// A global allocator that counts the bytes each thread allocates, then
/// delegates to the system allocator. Install it to get
/// `tta_primitive_allocated_bytes_total`:
///
/// ```
/// #[global_allocator]
/// static ALLOC: tta_primitives_obs::resources::CountingAllocator = tta_primitives_obs::resources::CountingAllocator;
/// # fn main() {}
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAllocator;

fn count(bytes: usize) {
    // `try_with`: the counters may already be gone while a thread exits.
    let _ = ALLOCATED.try_with(|c| c.set(c.get().wrapping_add(bytes as u64)));
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get().wrapping_add(1)));
}

// SAFETY: every method delegates to `System` with the caller's arguments
// unchanged; counting touches only a const-initialised thread-local `Cell`
// (no allocation, no destructor), so the allocator's contract is `System`'s.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is; `ptr` came from this allocator, i.e. `System`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size.saturating_sub(layout.size()));
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Adds [`measure_resources`](Self::measure_resources) to every primitive.
pub trait MeasureExt: Primitive + Sized {
    /// Measures CPU time (and, with [`CountingAllocator`], allocated bytes)
    /// spent polling this primitive, under the `primitive` label `name`.
    fn measure_resources(self, name: impl Into<Name>) -> Measured<Self> {
        Measured {
            inner: self,
            name: name.into(),
        }
    }
}

impl<T: Primitive> MeasureExt for T {}

/// A primitive whose CPU time and allocations are measured.
#[derive(Debug, Clone)]
pub struct Measured<S> {
    inner: S,
    name: Name,
}

impl<S> Primitive for Measured<S> {}

impl<S, I> Service<Request<I>> for Measured<S>
where
    S: Service<Request<I>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = MeasuredFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<I>) -> Self::Future {
        let mut usage = Usage {
            name: self.name.clone(),
            cpu: Duration::ZERO,
            bytes: 0,
        };
        let inner = usage.during(|| self.inner.call(req));
        MeasuredFuture { inner, usage }
    }
}

/// What a measured call used so far; recorded when dropped.
struct Usage {
    name: Name,
    cpu: Duration,
    bytes: u64,
}

impl Usage {
    /// Runs `f`, adding the thread CPU time and allocations it used.
    #[inline]
    fn during<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let cpu = ThreadTime::try_now().ok();
        let bytes = thread_allocated_bytes();
        let out = f();
        self.bytes += thread_allocated_bytes().wrapping_sub(bytes);
        if let Some(cpu) = cpu.and_then(|t| t.try_elapsed().ok()) {
            self.cpu += cpu;
        }
        out
    }
}

impl Drop for Usage {
    fn drop(&mut self) {
        let m = instruments();
        let name = self.name.as_str();
        m.cpu.record(&[name], self.cpu.as_secs_f64());
        if self.bytes > 0 {
            m.allocated.increment(&[name], self.bytes);
        }
    }
}

pin_project! {
    /// The future of a [`Measured`] primitive.
    #[must_use = "futures do nothing unless polled"]
    pub struct MeasuredFuture<F> {
        #[pin]
        inner: F,
        usage: Usage,
    }
}

impl<F: Future> Future for MeasuredFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        this.usage.during(|| inner.poll(cx))
    }
}
