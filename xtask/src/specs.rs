//! Fetches the upstream specs the contract tests validate against into the
//! cache outside the clone, when neither `$TTA_SPECS_DIR` nor
//! `../shared/specs` holds them: each from its commit-pinned URL, kept only
//! when its SHA-256 is the pinned one.

use std::time::Duration;

use tta_test_support::specs::{self, PINNED, PinnedSpec, UPSTREAM_HOST};

/// The URL to fetch `spec` from: its pinned URL, or the same path on
/// `$TTA_SPECS_MIRROR`.
fn source(spec: &PinnedSpec) -> String {
    match std::env::var("TTA_SPECS_MIRROR") {
        Ok(mirror) => spec
            .url
            .replacen(UPSTREAM_HOST, mirror.trim_end_matches('/'), 1),
        Err(_) => spec.url.to_owned(),
    }
}

/// Makes every pinned spec available; with `force`, fetches into the cache
/// even when a folder already holds it.
///
/// # Errors
/// A spec that is nowhere and cannot be fetched, or fails its checksum.
pub(crate) fn ensure(force: bool) -> Result<(), String> {
    let dirs = specs::spec_dirs();
    let cache = specs::cache_dir();
    let mut client = None;
    for spec in PINNED {
        if !force && specs::locate(spec.file, &dirs, &cache).is_ok() {
            continue;
        }
        let url = source(spec);
        eprintln!("==> setup: fetching {} from {url}", spec.upstream);
        let client = match &client {
            Some(client) => client,
            None => client.insert(
                reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(60))
                    .build()
                    .map_err(|e| format!("cannot build the HTTP client: {e}"))?,
            ),
        };
        let fail = |why: String| {
            format!(
                "cannot fetch {} ({why}); put the file in TTA_SPECS_DIR or ../shared/specs, or make {url} reachable",
                spec.upstream
            )
        };
        let response = client
            .get(&url)
            .send()
            .map_err(|e| fail(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(fail(format!("HTTP {}", response.status())));
        }
        let bytes = response
            .bytes()
            .map_err(|e| fail(e.without_url().to_string()))?;
        let path = specs::store(spec, &bytes, &cache)?;
        eprintln!("==> setup: {} cached at {}", spec.file, path.display());
    }
    Ok(())
}
