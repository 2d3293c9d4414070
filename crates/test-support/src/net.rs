//! Runtimes and networks for tests: a multi-thread runtime, an address that never answers, and private network namespaces.

use std::{net::SocketAddr, process::Command};

/// A multi-thread runtime with two workers, for tests that drive their own.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a test runtime")
}

/// A collector that accepts connections and never answers (a black hole);
/// its address.
pub fn black_hole() -> SocketAddr {
    let hole = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = hole.local_addr().expect("its address");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in hole.incoming().flatten() {
            held.push(stream);
        }
    });
    addr
}

/// Runs the test `name` of the current test binary again, alone, inside a
/// private network namespace (`unshare -n` with loopback up), and returns
/// `true` there (where the caller runs the test's body); outside, it waits
/// for that run, asserts it passed, and returns `false`. The inner run's
/// report goes to stderr so the outer test's result is the only one counted.
pub fn in_private_network(name: &str) -> bool {
    if std::env::var_os("TTA_IN_PRIVATE_NETWORK").is_some() {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let script = format!(
        "ip link set lo up && TTA_IN_PRIVATE_NETWORK=1 exec '{}' --exact '{name}' --nocapture --test-threads=1 1>&2",
        exe.display()
    );
    let status = Command::new("unshare")
        .args(["-n", "--", "sh", "-c", &script])
        .status()
        .expect("`unshare` (util-linux) and `ip` (iproute2) run: `cargo xtask ci` installs them; this needs root");
    assert!(
        status.success(),
        "`{name}` failed inside its private network namespace ({status})"
    );
    false
}
