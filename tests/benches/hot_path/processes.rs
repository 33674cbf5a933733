//! The processes under test (the server, the bare handler), the cores they run on, and what
//! they cost: CPU time and resident memory.

use std::{
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Json, Router, routing::post};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpStream;
use zoomtrack_tests::bench::rss_mib;

/// The environment variable that makes this benchmark the floor's server.
pub const FLOOR_PORT: &str = "HOT_PATH_FLOOR_PORT";

/// Where the generator and the processes under test run: each on a core of its own on a
/// machine with two or more, else both anywhere.
#[derive(Clone, Copy, Debug)]
pub struct Cores {
    pub pinned: bool,
}

impl Cores {
    /// Pins this process (the generator: every thread it starts later) to core 0, when there
    /// is a second core for the processes under test.
    pub fn pin_generator() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let pinned = cores >= 2
            && Command::new("taskset")
                .args(["-pc", "0", &std::process::id().to_string()])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
        Self { pinned }
    }

    /// `program`, on core 1 when pinned.
    pub fn command(self, program: &str) -> Command {
        if self.pinned {
            let mut command = Command::new("taskset");
            command.args(["-c", "1", program]);
            command
        } else {
            Command::new(program)
        }
    }

    /// Lets every thread of `pid` run on every core again: for what is not a throughput row
    /// (latencies at a fixed rate, statistics, the sweep), measured as the server runs in
    /// production.
    pub fn release(self, pid: u32) {
        if self.pinned {
            let _ = Command::new("taskset")
                .args(["-apc", "0-1023", &pid.to_string()])
                .stdout(Stdio::null())
                .status();
        }
    }

    pub fn describe(self) -> &'static str {
        if self.pinned {
            "Throughput rows: the generator on core 0, the server and the floor on core 1 \
             (`taskset`), the database servers anywhere. Latency, statistics and sweep rows: \
             the server on every core"
        } else {
            "The generator and the server on the same cores (one core, or `taskset` missing)"
        }
    }
}

/// CPU time (user and system, every thread) process `pid` has used, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    let ticks = *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100.0)
    });
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command's name in parentheses: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let field = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<f64>().ok());
    (field(14).unwrap_or(0.0) + field(15).unwrap_or(0.0)) / ticks
}

/// A process under test: the server or the floor.
pub struct Process {
    child: Child,
    pub addr: SocketAddr,
}

impl Process {
    pub async fn start(mut command: Command, port: u16, within: Duration) -> Self {
        let child = command
            .stdout(Stdio::null())
            .spawn()
            .expect("the process starts");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + within;
        while TcpStream::connect(addr).await.is_err() {
            assert!(Instant::now() < deadline, "the process never listened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child, addr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn rss(&self) -> f64 {
        rss_mib(self.child.id())
    }

    /// Samples resident memory every 100 ms until the returned flag is set; the task returns
    /// the peak.
    pub fn watch_rss(&self) -> (Arc<AtomicBool>, tokio::task::JoinHandle<f64>) {
        let stop = Arc::new(AtomicBool::new(false));
        let (pid, flag) = (self.child.id(), stop.clone());
        let peak = tokio::spawn(async move {
            let mut peak: f64 = 0.0;
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(rss_mib(pid));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peak
        });
        (stop, peak)
    }

    /// Stops the process with SIGTERM (a graceful stop, as a deployment does) and waits.
    pub fn terminate(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Deserialize)]
struct FloorBody {
    token: String,
}

/// The floor: a bare axum handler that parses the same JSON body as a heartbeat and answers a
/// small JSON body, with the same runtime as the server.
pub fn run_floor(port: u16) {
    tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(async move {
            let app = Router::new().route(
                "/floor",
                post(|Json(body): Json<FloorBody>| async move {
                    Json(json!({ "success": !body.token.is_empty() }))
                }),
            );
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .expect("bind");
            axum::serve(listener, app).await.expect("serve");
        });
}
