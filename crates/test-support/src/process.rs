//! A program under test as a child process: its stderr collected line by
//! line (and echoed, prefixed, for the test's own output), waited on with
//! deadlines, signalled as a container runtime would.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// A running child and the lines it printed on stderr so far. Dropping it
/// kills the child.
pub struct Process {
    /// The child itself (its id for signals).
    pub child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Process {
    /// Starts `command` with stderr piped (stdin and stdout closed), echoing
    /// each line as `{label}: {line}`.
    ///
    /// # Panics
    /// When the program cannot be started.
    pub fn spawn(label: &'static str, mut command: Command) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{label} cannot start: {e}"));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = BufReader::new(child.stderr.take().expect("stderr is piped"));
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                eprintln!("{label}: {line}");
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        Self { child, stderr }
    }

    /// Everything printed on stderr so far.
    pub fn text(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .join("\n")
    }

    /// Waits until stderr has a line containing `needle`, and returns it.
    ///
    /// # Panics
    /// When none comes `within`, with what was printed.
    pub fn wait_for(&self, needle: &str, within: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(line) = self
                .stderr
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .find(|l| l.contains(needle))
            {
                return line.clone();
            }
            assert!(
                start.elapsed() < within,
                "no line with {needle:?} after {within:?}:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The `host:port` printed right after `label` (`metrics
    /// http://ADDR/metrics`, `on ADDR (`), within 30 s.
    pub fn addr_after(&self, label: &str) -> String {
        let line = self.wait_for(label, Duration::from_secs(30));
        let rest = &line[line.find(label).unwrap_or(0) + label.len()..];
        rest.trim_start_matches("http://")
            .split(['/', ' ', ';', ','])
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits for the child to exit, and returns its status.
    ///
    /// # Panics
    /// When it still runs `within`.
    pub fn exit(&mut self, within: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("the child can be waited on") {
                // Let the reader thread take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return status;
            }
            assert!(
                start.elapsed() < within,
                "still running {within:?} later:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends signal `name` (`TERM`, `INT`, ...) to the child.
    pub fn signal(&self, name: &str) {
        signal(self.child.id(), name);
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends signal `name` to process `pid` with `kill(1)`.
///
/// # Panics
/// When `kill` fails.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} {pid}");
}
