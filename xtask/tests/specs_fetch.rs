//! `cargo xtask fetch-specs` fills the spec cache from the pinned URLs (here
//! a local mirror serving the same paths), keeps only files with the pinned
//! checksum, and the tests' lookup then finds them there.

use std::{path::PathBuf, process::Command};

use axum::{Router, http::StatusCode, routing::get};
use tta_test_support::specs::{PINNED, UPSTREAM_HOST, locate, spec_path};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tta-fetch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Serves each pinned spec at its upstream path; with `corrupt`, the
/// compose spec's bytes are altered.
async fn mirror(corrupt: bool) -> String {
    let mut app = Router::new();
    for spec in PINNED {
        let path = spec.url.strip_prefix(UPSTREAM_HOST).unwrap().to_owned();
        let mut bytes = std::fs::read(spec_path(spec.file)).unwrap();
        if corrupt && spec.file == "compose-spec.json" {
            bytes.push(b'\n');
        }
        app = app.route(&path, get(move || async move { (StatusCode::OK, bytes) }));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn fetch(mirror: &str, cache: &PathBuf) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["fetch-specs", "--force"])
        .env("TTA_SPECS_MIRROR", mirror)
        .env("TTA_SPECS_CACHE", cache)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn specs_are_fetched_checked_and_found_in_the_cache() {
    let cache = temp("cache");
    let good = mirror(false).await;
    let out = tokio::task::spawn_blocking({
        let cache = cache.clone();
        move || fetch(&good, &cache)
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nowhere = temp("nowhere");
    for spec in PINNED {
        // Found in the cache when no folder holds it.
        let found = locate(spec.file, std::slice::from_ref(&nowhere), &cache).unwrap();
        assert_eq!(found, cache.join(spec.file));
    }

    let corrupt_cache = temp("corrupt");
    let bad = mirror(true).await;
    let out = tokio::task::spawn_blocking({
        let cache = corrupt_cache.clone();
        move || fetch(&bad, &cache)
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("compose-spec.json") && stderr.contains("refusing it"),
        "{stderr}"
    );
    assert!(!corrupt_cache.join("compose-spec.json").exists());
}
