//! `profile-service`: serves the API on `PORT` (default 8080, loopback
//! unless `BIND` says otherwise), with metrics on `TTA_METRICS_ADDR`
//! (default 127.0.0.1:9464) and traces where `OTEL_*` says; stops cleanly
//! on SIGTERM or Ctrl-C, flushing the telemetry within 5 seconds.
#![allow(clippy::print_stderr)] // a server logs on stderr

use std::{process::ExitCode, time::Duration};

use tta_example_profile::{Store, app, observability, workflows};
use tta_obs_init::{initialize_observability, shutdown_signal};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("profile-service: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = initialize_observability(observability()?.build()?)?; // tta: 9
    let app = app(workflows(Store::new(10))?);
    let host = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".to_owned());
    let listener = tokio::net::TcpListener::bind(format!("{host}:{port}"))
        .await
        .map_err(|e| format!("cannot listen on {host}:{port} (set BIND / PORT): {e}"))?;
    eprintln!(
        "profile-service: listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let signal = shutdown_signal().await; // tta: 10
            eprintln!("profile-service: {} received, stopping", signal.name());
        })
        .await?;
    let report = telemetry.shutdown(Duration::from_secs(5)).await; // tta: 11
    eprintln!("profile-service: stopped; telemetry {report}");
    Ok(())
}
