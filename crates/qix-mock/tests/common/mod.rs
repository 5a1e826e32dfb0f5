//! A raw WebSocket client for the tests: no qix client logic, only frames and JSON.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

/// Only guards against hanging forever; no test asserts on how long anything took.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = timeout(WAIT, connect_async(url))
            .await
            .expect("connect timed out")
            .expect("connect failed");
        Client { ws, next_id: 1 }
    }

    /// Connects and reads the OnConnected greeting; returns the client and the session state.
    pub async fn open(url: &str) -> (Client, String) {
        let mut client = Client::connect(url).await;
        let state = client.greeting().await;
        (client, state)
    }

    /// Reads the next frame, which must be OnConnected, and returns its state.
    pub async fn greeting(&mut self) -> String {
        let frame = self.recv().await;
        assert_eq!(frame["method"], "OnConnected", "first frame: {frame}");
        assert!(frame.get("id").is_none());
        frame["params"]["qSessionState"]
            .as_str()
            .expect("qSessionState is a string")
            .to_owned()
    }

    /// The next frame other than ping/pong; `None` when the socket ended.
    pub async fn frame(
        &mut self,
    ) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
        loop {
            let next = timeout(WAIT, self.ws.next())
                .await
                .expect("no frame in time");
            match next {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => return other,
            }
        }
    }

    /// The next frame, which must be text holding JSON.
    pub async fn recv(&mut self) -> Value {
        match self.frame().await {
            Some(Ok(Message::Text(text))) => serde_json::from_str(text.as_str()).expect("JSON"),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::text(text.to_owned()))
            .await
            .expect("send");
    }

    /// Sends a request and returns its id.
    pub async fn request(&mut self, handle: i32, method: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({"jsonrpc": "2.0", "id": id, "handle": handle, "method": method, "params": params});
        self.send_text(&request.to_string()).await;
        id
    }

    /// Reads frames until the response with this id; other frames are dropped.
    pub async fn response(&mut self, id: u64) -> Value {
        loop {
            let frame = self.recv().await;
            if frame["id"] == json!(id) {
                return frame;
            }
        }
    }

    /// Sends a request and returns the whole response frame.
    pub async fn call(&mut self, handle: i32, method: &str, params: Value) -> Value {
        let id = self.request(handle, method, params).await;
        self.response(id).await
    }

    /// The `result` of a call that must succeed.
    pub async fn result(&mut self, handle: i32, method: &str, params: Value) -> Value {
        let response = self.call(handle, method, params).await;
        assert!(
            response.get("error").is_none(),
            "{method} failed: {response}"
        );
        response["result"].clone()
    }

    /// The `error` of a call that must fail.
    pub async fn error(&mut self, handle: i32, method: &str, params: Value) -> Value {
        let response = self.call(handle, method, params).await;
        assert!(
            response.get("result").is_none(),
            "{method} succeeded: {response}"
        );
        response["error"].clone()
    }

    /// `OpenDoc(app)` and the doc handle.
    pub async fn open_doc(&mut self, app: &str) -> i32 {
        let result = self.result(-1, "OpenDoc", json!([app])).await;
        handle(&result)
    }

    /// Closes with this code and reason and reads until the socket ends.
    pub async fn close(mut self, code: u16, reason: &str) {
        use tokio_tungstenite::tungstenite::protocol::CloseFrame;
        let frame = CloseFrame {
            code: code.into(),
            reason: reason.to_owned().into(),
        };
        self.ws.close(Some(frame)).await.expect("close");
        while let Some(Ok(_)) = self.frame().await {}
    }
}

/// `result.qReturn.qHandle` as a handle.
pub fn handle(result: &Value) -> i32 {
    let handle = result["qReturn"]["qHandle"]
        .as_i64()
        .unwrap_or_else(|| panic!("no handle in {result}"));
    i32::try_from(handle).expect("handle fits i32")
}

/// Awaits with the [`WAIT`] guard.
pub async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
    timeout(WAIT, future).await.expect("timed out")
}
