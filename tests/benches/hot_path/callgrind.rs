//! Instructions per request, counted by `valgrind --tool=callgrind`: a figure that does not move
//! with the machine's load. The server (and the floor) run under callgrind with one Tokio worker
//! thread; requests go one at a time over one connection, and only the window of the measured
//! requests is counted (`callgrind_control -i on`, then `-d` to dump it). The count covers every
//! thread of the process: on SQLite that includes the database's own work, which runs inside it.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use http_body_util::Full;
use hyper::{Request, body::Bytes};

use crate::{
    load::{connect, send},
    processes::Process,
};

/// Whether valgrind and `callgrind_control` are installed.
pub fn available() -> bool {
    let runs = |program: &str, arg: &str| {
        Command::new(program)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    runs("valgrind", "--version") && runs("callgrind_control", "-h")
}

/// The variable naming a folder where the dumps are kept for `callgrind_annotate` (one
/// `callgrind.out.N` per measured window, in `server/` and `floor/`); without it they go to a
/// temporary folder, removed at the end.
const KEEP: &str = "HOT_PATH_CALLGRIND_DIR";

/// Where the dumps of the process called `name` go, and whether they are kept.
fn folder(name: &str) -> (PathBuf, bool) {
    match std::env::var_os(KEEP) {
        Some(kept) => (PathBuf::from(kept).join(name), true),
        None => (
            std::env::temp_dir().join(format!("hot-path-callgrind-{name}-{}", std::process::id())),
            false,
        ),
    }
}

/// A process running under callgrind, its counts dumped into `dir`.
pub struct Counted {
    process: Process,
    dir: PathBuf,
    keep: bool,
    dumps: u32,
}

impl Counted {
    /// Starts `program` with `args` and `env` under callgrind, collecting nothing until asked.
    pub async fn start(
        program: &Path,
        args: &[String],
        env: &[(&str, String)],
        port: u16,
        name: &str,
    ) -> Self {
        let (dir, keep) = folder(name);
        std::fs::create_dir_all(&dir).expect("the callgrind folder");
        let mut command = Command::new("valgrind");
        command
            .arg("--tool=callgrind")
            .arg("--instr-atstart=no")
            .arg(format!(
                "--callgrind-out-file={}",
                dir.join("callgrind.out").display()
            ))
            .arg(program)
            .args(args)
            .env("TOKIO_WORKER_THREADS", "1")
            .stderr(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        let process = Process::start(command, port, Duration::from_secs(600)).await;
        Self {
            process,
            dir,
            keep,
            dumps: 0,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.process.addr
    }

    fn control(&self, args: &[&str]) {
        let status = Command::new("callgrind_control")
            .args(args)
            .arg(self.process.pid().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("callgrind_control runs");
        assert!(status.success(), "callgrind_control {args:?} failed");
    }

    /// Sends `requests` one at a time over one connection and returns the instructions the
    /// process executed per request while they were answered.
    pub async fn per_request(&mut self, requests: Vec<Request<Full<Bytes>>>) -> f64 {
        let count = requests.len().max(1) as f64;
        let mut sender = connect(self.addr()).await;
        self.control(&["-i", "on"]);
        for request in requests {
            assert!(send(&mut sender, request).await, "a counted request failed");
        }
        self.control(&["-d"]);
        self.control(&["-i", "off"]);
        self.dumps += 1;
        let dump = self.dir.join(format!("callgrind.out.{}", self.dumps));
        let text = std::fs::read_to_string(&dump)
            .unwrap_or_else(|err| panic!("{}: {err}", dump.display()));
        let total: f64 = text
            .lines()
            .find_map(|line| line.strip_prefix("totals:"))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or_else(|| panic!("no totals in {}", dump.display()));
        total / count
    }

    pub fn stop(self) {
        self.process.terminate();
        if self.keep {
            eprintln!("callgrind dumps kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
