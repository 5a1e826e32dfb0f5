//! The `qix-mock` binary: serves until Ctrl-C and refuses bad arguments.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::Client;
use serde_json::json;

const BINARY: &str = env!("CARGO_BIN_EXE_qix-mock");

/// Kills the server if the test fails before it stopped it.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[tokio::test]
async fn the_binary_prints_its_url_serves_and_stops_on_ctrl_c() {
    let mut server = Server(
        Command::new(BINARY)
            .args(["--port", "0", "--ttl", "5"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdout = BufReader::new(server.0.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let base = line
        .split_whitespace()
        .find(|word| word.starts_with("ws://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();

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
