//! The processes of a run: the engine, the enigma.js install, one client on one workload, and
//! the limits (open files, CPU affinity) they inherit from this one.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::{Client, Paths, Spec};

/// How long one client process may take before it is killed and its cell marked failed.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(300);

/// The running engine.
pub(crate) struct Server {
    child: Child,
    /// Held open: the server exits when it closes.
    stdin: Option<ChildStdin>,
    pub(crate) port: u16,
    pub(crate) pid: u32,
    pub(crate) announce: Value,
}

impl Server {
    pub(crate) fn start(binary: &Path) -> Result<Self, String> {
        let mut child = Command::new(binary)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|error| format!("could not start {}: {error}", binary.display()))?;
        let stdin = child.stdin.take();
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut line);
        }
        let announce: Value = serde_json::from_str(&line)
            .map_err(|_| format!("the engine did not announce itself (it said {line:?})"))?;
        let port = announce["port"]
            .as_u64()
            .and_then(|port| u16::try_from(port).ok());
        let Some(port) = port else {
            return Err(format!("the engine announced no port: {announce}"));
        };
        Ok(Self {
            pid: child.id(),
            child,
            stdin,
            port,
            announce,
        })
    }

    pub(crate) fn alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("the engine exited ({status})")),
            Err(error) => Err(format!("the engine cannot be waited for: {error}")),
        }
    }

    pub(crate) fn stop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// Where the enigma.js client runs from.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) script: PathBuf,
    pub(crate) modules: PathBuf,
    pub(crate) node_version: String,
    pub(crate) enigma_version: String,
}

/// Installs the pinned enigma.js and ws into target/bench-node/ unless they already are there.
pub(crate) fn setup_node(paths: &Paths) -> Result<Node, String> {
    let version = |program: &str| {
        Command::new(program)
            .arg("--version")
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    let node_version = version("node").ok_or("`node` is not installed")?;
    let source = paths.root.join("bench").join("node");
    let files = ["package.json", "package-lock.json"];
    let same = files.iter().all(|file| {
        let ours = fs::read(source.join(file));
        ours.is_ok() && ours.ok() == fs::read(paths.node_dir.join(file)).ok()
    });
    let modules = paths.node_dir.join("node_modules");
    let installed = || {
        let manifest = fs::read_to_string(modules.join("enigma.js").join("package.json")).ok()?;
        let manifest: Value = serde_json::from_str(&manifest).ok()?;
        manifest["version"].as_str().map(str::to_owned)
    };
    if !same || installed().is_none() {
        version("npm").ok_or("`npm` is not installed")?;
        eprintln!(
            "xtask bench: installing enigma.js into {}",
            paths.node_dir.display()
        );
        fs::create_dir_all(&paths.node_dir).map_err(|error| error.to_string())?;
        for file in files {
            fs::copy(source.join(file), paths.node_dir.join(file))
                .map_err(|error| format!("could not copy {file}: {error}"))?;
        }
        let output = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&paths.node_dir)
            .output()
            .map_err(|error| format!("could not start npm: {error}"))?;
        if !output.status.success() {
            // A failed install must not pass for a good one next time.
            let _ = fs::remove_file(paths.node_dir.join("package.json"));
            return Err(format!(
                "`npm ci` failed: {}",
                tail(&String::from_utf8_lossy(&output.stderr), 5)
            ));
        }
    }
    let enigma_version = installed().ok_or("enigma.js is not in node_modules after npm ci")?;
    Ok(Node {
        script: source.join("enigma-client.js"),
        modules,
        node_version,
        enigma_version,
    })
}

/// One client process on one workload.
pub(crate) struct Run<'a> {
    pub(crate) paths: &'a Paths,
    pub(crate) client: Client,
    pub(crate) spec: &'a Spec,
    pub(crate) ops: usize,
    pub(crate) warmup: usize,
    pub(crate) url: &'a str,
    pub(crate) server: &'a Value,
    pub(crate) enigma: Option<&'a Node>,
}

impl Run<'_> {
    fn command(&self) -> Result<Command, String> {
        let mut command = match self.client {
            Client::Raw => Command::new(self.paths.release.join("bench-raw")),
            Client::Qix => Command::new(self.paths.release.join("bench-qix")),
            Client::Enigma => {
                let node = self.enigma.ok_or("enigma.js is not installed")?;
                let mut command = Command::new("node");
                command
                    .arg("--expose-gc")
                    .arg(&node.script)
                    .env("NODE_PATH", &node.modules);
                command
            }
        };
        command
            .arg(self.spec.workload)
            .args(["--url", self.url])
            .args(["--ops", &self.ops.to_string()])
            .args(["--warmup", &self.warmup.to_string()])
            .args(["--server-pid", &self.server["pid"].to_string()])
            .args([
                "--expect-version",
                self.server["version"].as_str().unwrap_or_default(),
            ])
            .args(["--expect-docs", &self.server["docs"].to_string()]);
        Ok(command)
    }

    /// Runs the client and returns the metrics of the report line it printed.
    pub(crate) fn run(&self) -> Result<Map<String, Value>, String> {
        let mut child = self
            .command()?
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| format!("could not start: {error}"))?;
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let deadline = Instant::now() + CLIENT_TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(format!("killed after {} s", CLIENT_TIMEOUT.as_secs()));
                }
                Ok(None) => thread::sleep(Duration::from_millis(50)),
                Err(error) => break Err(format!("cannot be waited for: {error}")),
            }
        };
        let stdout = stdout.join().unwrap_or_default();
        let stderr = stderr.join().unwrap_or_default();
        let status = status.map_err(|error| format!("{error}; stderr: {}", tail(&stderr, 10)))?;
        if !status.success() {
            return Err(format!("{status}: {}", tail(&stderr, 10)));
        }
        let line = stdout
            .lines()
            .rev()
            .find_map(|line| serde_json::from_str::<Value>(line).ok())
            .ok_or_else(|| format!("printed no report line; stderr: {}", tail(&stderr, 10)))?;
        match line.get("metrics") {
            Some(Value::Object(metrics)) => Ok(metrics.clone()),
            _ => Err(format!("a report line without metrics: {line}")),
        }
    }
}

/// Reads a child's pipe to the end on a thread of its own, so that neither pipe fills up.
fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    })
}

/// The last `lines` lines of `text`, on one line.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    let start = all.len().saturating_sub(lines);
    let joined = all[start..].join(" | ");
    if joined.is_empty() {
        "(nothing on stderr)".to_owned()
    } else {
        joined
    }
}

/// Raises the open-file limit to the hard limit (children inherit it: the enigma.js client
/// cannot raise its own) and returns the soft limit now in force.
pub(crate) fn raise_nofile() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(_) => soft,
        },
        Ok((soft, _)) => soft,
        Err(_) => 0,
    }
}

/// Pins this process (and so all it starts from now on) to the last CPU it may run on.
pub(crate) fn pin_self() -> Result<Option<usize>, String> {
    use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
    use nix::unistd::Pid;
    let allowed = sched_getaffinity(Pid::from_raw(0))
        .map_err(|error| format!("sched_getaffinity: {error}"))?;
    let Some(cpu) = (0..CpuSet::count())
        .rev()
        .find(|cpu| allowed.is_set(*cpu).unwrap_or(false))
    else {
        return Ok(None);
    };
    let mut set = CpuSet::new();
    set.set(cpu)
        .map_err(|error| format!("CPU {cpu}: {error}"))?;
    sched_setaffinity(Pid::from_raw(0), &set)
        .map_err(|error| format!("sched_setaffinity: {error}"))?;
    Ok(Some(cpu))
}
