//! qix-transport: `WebSocketTransport` against a server on 127.0.0.1 that answers with any
//! bytes, after a valid handshake or instead of one, and then closes the connection. The
//! transport must not panic, and every stream must end: the connect fails, or the connection
//! yields a bounded number of events (`Closed` at most once, and last) and then `None`.

#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use arbitrary::Arbitrary;
use futures_util::{SinkExt, StreamExt};
use libfuzzer_sys::fuzz_target;
use qix_transport::{Bytes, Incoming, Outgoing, Transport, WebSocketTransport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    /// Send a valid `101 Switching Protocols` first; else `bytes` are the whole answer.
    handshake: bool,
    /// What the server writes, in pieces.
    pieces: Vec<&'a [u8]>,
    /// Frames the client writes meanwhile.
    sends: Vec<Send>,
    max_message: u16,
}

#[derive(Debug, Arbitrary)]
enum Send {
    Text(String),
    Close(u16),
}

/// Longer than any bound inside the transport takes here: past it the stream hung.
const HANG: Duration = Duration::from_secs(20);

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

/// Reads the upgrade request and answers it as `input` says.
async fn serve(listener: &TcpListener, input: &Input<'_>) {
    let Ok((mut socket, _)) = listener.accept().await else {
        return;
    };
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
    }
    if input.handshake {
        let text = String::from_utf8_lossy(&request);
        let key = text
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim().to_owned())
            })
            .unwrap_or_default();
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            derive_accept_key(key.as_bytes())
        );
        if socket.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
    for piece in &input.pieces {
        if socket.write_all(piece).await.is_err() {
            return;
        }
        tokio::task::yield_now().await;
    }
    // Then the server goes away (TCP FIN, or RST if the client's frames are unread). A
    // server that stays silent with the connection open is the session's liveness check's
    // business, not the transport's: only an ended connection must end the stream.
}

async fn client(url: String, input: &Input<'_>) {
    let transport = WebSocketTransport::builder(url)
        .connect_timeout(Duration::from_secs(5))
        .max_message_size(usize::from(input.max_message).max(1))
        .build()
        .expect("a valid transport");
    let Ok(connection) = transport.connect().await else {
        return; // a refused handshake ends here
    };
    let mut frames = connection.into_frames();
    for send in &input.sends {
        let item = match send {
            Send::Text(text) => Outgoing::Text(Bytes::from(text.clone())),
            Send::Close(code) => Outgoing::Close {
                code: *code,
                reason: String::new(),
            },
        };
        // Refused items (a bad close code, a closed connection) are fine; a panic is not.
        let _ = frames.feed(item).await;
    }
    let _ = frames.flush().await;
    let bound = input.pieces.iter().map(|p| p.len()).sum::<usize>() + 8;
    let mut closed = false;
    for _ in 0..=bound {
        match frames.next().await {
            None => return,
            Some(Incoming::Closed(_)) => {
                assert!(!closed, "Closed reported twice");
                closed = true;
            }
            Some(Incoming::Text(_) | Incoming::Error(_)) => {
                assert!(!closed, "an event after Closed");
            }
        }
    }
    panic!("the stream did not end within {bound} events");
}

fuzz_target!(|input: Input<'_>| {
    runtime().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let url = format!(
            "ws://{}/app/fuzz",
            listener.local_addr().expect("an address")
        );
        let both = async { tokio::join!(serve(&listener, &input), client(url, &input)) };
        tokio::time::timeout(HANG, both)
            .await
            .expect("the transport hung: its stream never ended");
    });
});
