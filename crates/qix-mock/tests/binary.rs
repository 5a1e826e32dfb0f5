//! The `qix-mock` binary: serves until Ctrl-C and refuses bad arguments.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::Client;
use serde_json::json;

const BINARY: &str = env!("CARGO_BIN_EXE_qix-mock");

/// Kills the server if the test fails before it stopped it. Keeps its stdout open: the
/// server prints on shutdown too.
struct Server(
    std::process::Child,
    Option<BufReader<std::process::ChildStdout>>,
);

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts the binary with these arguments and returns it with the `ws://host:port` it prints.
fn start(args: &[&str]) -> (Server, String) {
    let mut server = Server(
        Command::new(BINARY)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
        None,
    );
    let mut stdout = BufReader::new(server.0.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let base = line
        .split_whitespace()
        .find(|word| word.starts_with("ws://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();
    server.1 = Some(stdout);
    (server, base)
}

#[tokio::test]
async fn the_binary_prints_its_url_serves_and_stops_on_ctrl_c() {
    let (mut server, base) = start(&["--port", "0", "--ttl", "5"]);

    let url = format!("{base}/app/engineData");
    let (mut client, state) = Client::open(&url).await;
    assert_eq!(state, "SESSION_CREATED");
    client.open_doc("engineData").await;
    client.close(1000, "").await;
    // --ttl 5 keeps the session for the next socket.
    let (mut client, state) = Client::open(&url).await;
    assert_eq!(state, "SESSION_ATTACHED");
    client.result(-1, "GetActiveDoc", json!([])).await;
    client.close(1000, "").await;

    let interrupted = Command::new("kill")
        .args(["-INT", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = common::within(async {
        loop {
            if let Some(status) = server.0.try_wait().unwrap() {
                break status;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(status.success(), "{status:?}");
}

#[test]
fn bad_arguments_exit_with_2_and_say_why() {
    let output = Command::new(BINARY)
        .arg("--port")
        .arg("many")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--port: `many` is not a port number"),
        "{stderr}"
    );
    assert!(stderr.contains("Usage:"), "{stderr}");

    let help = Command::new(BINARY).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--ttl <seconds>"));
}

#[tokio::test]
async fn seeded_apps_are_served_and_the_default_ttl_keeps_a_session_for_resume() {
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/seed.json");
    // No --ttl: the default lets a client suspend and resume, as the README's quick start does.
    let (_server, base) = start(&["--port", "0", "--seed", seed]);
    let url = format!("{base}/app/Sales.qvf");
    let (mut client, state) = Client::open(&url).await;
    assert_eq!(state, "SESSION_CREATED");
    let doc = client.open_doc("Sales.qvf").await;
    let sheet = client.result(doc, "GetObject", json!(["sheet-1"])).await;
    let sheet = common::handle(&sheet);
    let layout = client.result(sheet, "GetLayout", json!([])).await;
    assert_eq!(layout["qLayout"]["title"], "Overview");
    let measure = client.result(doc, "GetMeasure", json!(["m-total"])).await;
    assert!(common::handle(&measure) > 0);
    client.close(1000, "").await;

    let (mut client, state) = Client::open(&url).await;
    assert_eq!(state, "SESSION_ATTACHED");
    client.result(-1, "GetActiveDoc", json!([])).await;
    client.close(1000, "").await;
}

#[test]
fn a_bad_seed_file_exits_with_2_and_says_where() {
    let dir = std::env::temp_dir().join(format!("qix-mock-seed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("seed.json");
    std::fs::write(&file, r#"{"apps": {"a": {"objets": {}}}}"#).unwrap();
    let output = Command::new(BINARY)
        .args(["--port", "0", "--seed"])
        .arg(&file)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown key \"objets\""), "{stderr}");

    let missing = Command::new(BINARY)
        .args(["--port", "0", "--seed", "no/such/file.json"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}
