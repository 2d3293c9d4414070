//! Waiting for the signal that asks a service to stop.
//!
//! Containers and Kubernetes stop a process with SIGTERM, a terminal with
//! Ctrl-C (SIGINT); both must lead to the same graceful shutdown. A process
//! running as PID 1 (a container's entry point) has no default action for
//! SIGTERM at all: only an installed handler makes it stop, which is what
//! [`shutdown_signal`] installs.

/// Which signal asked the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShutdownSignal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (containers, Kubernetes, `kill`).
    Terminate,
}

impl ShutdownSignal {
    /// The signal's name (`SIGINT`, `SIGTERM`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Interrupt => "SIGINT",
            Self::Terminate => "SIGTERM",
        }
    }

    /// The exit code of a process killed by this signal (128 + its number),
    /// what a second signal during shutdown exits with.
    pub fn exit_code(self) -> i32 {
        match self {
            Self::Interrupt => 130,
            Self::Terminate => 143,
        }
    }
}

/// Resolves when SIGTERM or SIGINT (Ctrl-C) arrives, and from then on makes
/// a second one exit the process at once (with 130 or 143, after a line on
/// stderr), so an operator can always cut a shutdown short. Call it once,
/// early (handlers are installed on the first poll), inside a Tokio runtime.
///
/// ```no_run
/// # async fn serve(_stop: impl std::future::Future<Output = ()>) {}
/// # #[tokio::main] async fn main() {
/// let guard_deadline = std::time::Duration::from_secs(5);
/// serve(async {
///     let signal = tta_obs_init::shutdown_signal().await;
///     eprintln!("{} received: shutting down", signal.name());
/// })
/// .await;
/// # let _ = guard_deadline;
/// # }
/// ```
///
/// # Panics
/// When the signal handlers cannot be installed (outside a Tokio runtime, or
/// without the operating system's support).
pub async fn shutdown_signal() -> ShutdownSignal {
    let first = wait_for_signal().await;
    tokio::spawn(async {
        let second = wait_for_signal().await;
        eprintln!(
            "tta-obs-init: {} received during shutdown: exiting now",
            second.name()
        );
        std::process::exit(second.exit_code());
    });
    first
}

#[cfg(unix)]
async fn wait_for_signal() -> ShutdownSignal {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate =
        signal(SignalKind::terminate()).expect("a SIGTERM handler can be installed");
    let mut interrupt = signal(SignalKind::interrupt()).expect("a SIGINT handler can be installed");
    tokio::select! {
        _ = terminate.recv() => ShutdownSignal::Terminate,
        _ = interrupt.recv() => ShutdownSignal::Interrupt,
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> ShutdownSignal {
    tokio::signal::ctrl_c()
        .await
        .expect("a Ctrl-C handler can be installed");
    ShutdownSignal::Interrupt
}
