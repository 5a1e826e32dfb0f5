//! A guided tour of a qix session, printing every event as it happens.
//!
//! ```sh
//! cargo run --example tour                          # against a mock engine started in-process
//! cargo run --example tour -- --url ws://host:9076/app/engineData [--app my.qvf]
//! cargo run --example tour -- --url wss://host/app/engineData --header "Authorization:Bearer <jwt>"
//! cargo run --example tour -- --url wss://host:4747/app/engineData \
//!     --header "X-Qlik-User:UserDirectory=INTERNAL;UserId=sa_api" --cert client.pem --key client_key.pem
//! ```

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use futures_util::{FutureExt, StreamExt};
use qix::{Direction, EngineSession, Error, EventStream, Session, SessionEvent};
use qix_mock::{MockApp, MockConfig, MockConnection, MockEngine};
use serde_json::json;

type Events = EventStream<SessionEvent>;

#[tokio::main]
async fn main() {
    if let Err(error) = run().await {
        eprintln!("\ntour failed: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    // The mock engine lives as long as the tour; with --url there is none.
    let engine = match &args.url {
        Some(_) => None,
        None => {
            let config = MockConfig::new().app(MockApp::new("tour.qvf").object(
                "sheet-1",
                "sheet",
                json!({"title": "Overview"}),
            ));
            Some(MockEngine::start_with(config).await?)
        }
    };
    let (url, app) = match (&engine, args.url) {
        // ttl/30: the engine keeps the session 30 s after its socket goes, so resume re-attaches.
        (Some(engine), _) => (
            engine.url("/app/tour.qvf/ttl/30"),
            Some("tour.qvf".to_owned()),
        ),
        (None, Some(url)) => (url, args.app),
        (None, None) => unreachable!("either a mock engine or --url"),
    };

    step(&format!(
        "a session for {}, with suspend_on_close(true)",
        qix::qix_transport::redact_url(&url)
    ));
    let mut builder = Session::builder(&url)
        .suspend_on_close(true)
        .on_connected_timeout(Duration::from_secs(5));
    for (name, value) in &args.header {
        println!("  header {name} (value not shown)");
        builder = builder.header(name, value);
    }
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        println!("  client certificate {}", cert.display());
        builder = builder.client_certificate_pem(std::fs::read(cert)?, std::fs::read(key)?);
    }
    let session = builder.build()?;
    let mut events = subscribe_all(&session)?;

    step("open(): connect and get the Global object");
    let global = session.open().await?;
    println!("  Global: handle {}, id {:?}", global.handle(), global.id());
    let mut connections = Connections(engine.as_ref());
    connections.skip().await;
    show(&mut events, Some("notification:OnConnected")).await;
    println!(
        "  engine session: {} (engine_session() tells it at any time)",
        describe(session.engine_session())
    );

    step("a call: Global.EngineVersion()");
    let version = global.call("EngineVersion", json!([])).await?;
    println!("  result: {version}");
    show(&mut events, None).await;

    let mut sheet = None;
    if let Some(app) = &app {
        step(&format!("OpenDoc({app:?}), then GetObject(\"sheet-1\")"));
        let doc = global.call_object("OpenDoc", json!([app])).await?;
        println!("  Doc: handle {}", doc.handle());
        if engine.is_some() {
            let object = doc.call_object("GetObject", json!(["sheet-1"])).await?;
            println!(
                "  GenericObject {:?}: handle {}",
                object.id(),
                object.handle()
            );
            sheet = Some(object);
        }
        show(&mut events, None).await;
    }

    step("suspend(): close the socket with 4000, keep the objects");
    session.suspend().await?;
    show(&mut events, None).await;
    match global.call("EngineVersion", json!([])).await {
        Err(error) => println!(
            "  a call while suspended fails: {error} (code {})",
            error.enigma_code().unwrap_or_default()
        ),
        Ok(_) => println!("  a call while suspended unexpectedly succeeded"),
    }

    step("resume(true): reconnect, re-attach to the same engine session, restore the objects");
    let sheet_changes = sheet
        .as_ref()
        .map(|sheet| sheet.subscribe("changed"))
        .transpose()?;
    resume(&session).await?;
    show(&mut events, None).await;
    if let (Some(sheet), Some(mut changes)) = (&sheet, sheet_changes) {
        if let Some(Some(_)) = changes.next().now_or_never() {
            println!(
                "  [changed] on sheet-1: the same Object now has handle {}",
                sheet.handle()
            );
        }
    }

    if let Some(connection) = connections.skip().await {
        step("the network drops (the engine's TCP connection dies without a close frame)");
        connection.drop_tcp();
        show(&mut events, Some("suspended")).await;

        step("resume(true) again");
        resume(&session).await?;
        show(&mut events, None).await;
    }

    step("close(): close with 1000, every object and the session emit closed");
    session.close().await?;
    show(&mut events, Some("closed")).await;
    println!("\nThat is the whole session lifecycle. See the README for the event table.");
    Ok(())
}

/// Resumes re-attaching; when the engine created a new session instead (a real engine without a
/// session TTL does), says so and resumes again restoring the objects on the new one.
async fn resume(session: &Session) -> Result<(), Error> {
    match session.resume(true).await {
        Ok(status) => {
            println!("  engine session: {}", describe(status));
            Ok(())
        }
        Err(Error::SessionNotAttached) => {
            println!(
                "  engine session: Created: the engine kept no session to re-attach to \
                 (SessionNotAttached, -12); resume(false) restores the objects on the new one"
            );
            let status = session.resume(false).await?;
            println!("  engine session: {}", describe(status));
            Ok(())
        }
        Err(error) => Err(error),
    }
}

fn describe(status: EngineSession) -> &'static str {
    match status {
        EngineSession::Attached => "Attached (the engine session and its state were kept)",
        EngineSession::Created => "Created (a new engine session: nothing of the old one is left)",
        EngineSession::Unknown => "Unknown (the engine did not say in time)",
        _ => "not known to this tour",
    }
}

/// The mock engine's sockets, in the order the session opened them.
struct Connections<'a>(Option<&'a MockEngine>);

impl Connections<'_> {
    /// The next socket the session opened, when there is a mock engine to ask.
    async fn skip(&mut self) -> Option<MockConnection> {
        let engine = self.0?;
        tokio::time::timeout(Duration::from_secs(5), engine.next_connection())
            .await
            .ok()
    }
}

/// Every session topic in one stream, so events print in the order they happened.
fn subscribe_all(session: &Session) -> Result<Events, qix::Error> {
    session.subscribe_many([
        "opened",
        "closed",
        "notification:*",
        "socket-error",
        "suspended",
        "resumed",
        "traffic:*",
    ])
}

fn step(title: &str) {
    println!("\n== {title}");
}

/// Prints the events that have happened; with `until`, first waits (up to 5 s) for that topic.
async fn show(events: &mut Events, until: Option<&str>) {
    if let Some(topic) = until {
        let wait = async {
            while let Some(event) = events.next().await {
                let done = topic_of(&event) == topic;
                print_event(&event);
                if done {
                    break;
                }
            }
        };
        if tokio::time::timeout(Duration::from_secs(5), wait)
            .await
            .is_err()
        {
            println!("  (no {topic} event within 5 s)");
        }
    }
    while let Some(Some(event)) = events.next().now_or_never() {
        print_event(&event);
    }
}

fn topic_of(event: &SessionEvent) -> String {
    match event {
        SessionEvent::Opened => "opened".into(),
        SessionEvent::Closed(_) => "closed".into(),
        SessionEvent::Notification { method, .. } => format!("notification:{method}"),
        SessionEvent::SocketError(_) => "socket-error".into(),
        SessionEvent::Suspended { .. } => "suspended".into(),
        SessionEvent::Resumed => "resumed".into(),
        SessionEvent::Traffic(traffic) => format!("traffic:{}", traffic.direction()),
        _ => "other".into(),
    }
}

fn print_event(event: &SessionEvent) {
    let detail = match event {
        SessionEvent::Closed(close) => format!("code {}, reason {:?}", close.code, close.reason),
        SessionEvent::Notification { params, .. } => params.to_string(),
        SessionEvent::SocketError(error) => error.to_string(),
        SessionEvent::Suspended {
            initiator,
            code,
            reason,
        } => format!("initiator {initiator:?}, code {code}, reason {reason:?}"),
        SessionEvent::Traffic(traffic) => {
            let arrow = match traffic.direction() {
                Direction::Sent => "->",
                Direction::Received => "<-",
            };
            format!("{arrow} {}", shorten(traffic.text(), 100))
        }
        SessionEvent::Lagged { missed } => format!("missed {missed} events"),
        _ => String::new(),
    };
    println!("  [{}] {detail}", topic_of(event));
}

fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A guided tour of a qix session: open, calls, suspend, resume, a network drop, close, with
/// every event printed as it happens. Without --url it runs against a mock engine started in
/// this process.
#[derive(Parser)]
#[command(name = "tour")]
struct Args {
    /// The engine to tour instead of the mock, e.g. ws://host:9076/app/engineData.
    #[arg(long)]
    url: Option<String>,
    /// A doc to open on that engine (with the mock: tour.qvf).
    #[arg(long, requires = "url")]
    app: Option<String>,
    /// A request header for the handshake, as NAME:VALUE (repeatable), e.g.
    /// "Authorization:Bearer <jwt>" or "X-Qlik-User:UserDirectory=INTERNAL;UserId=sa_api".
    #[arg(long, value_name = "NAME:VALUE", value_parser = header)]
    header: Vec<(String, String)>,
    /// A client certificate chain (PEM) for wss://, with --key.
    #[arg(long, requires = "key", value_name = "PEM")]
    cert: Option<PathBuf>,
    /// The client certificate's private key (PEM), with --cert.
    #[arg(long, requires = "cert", value_name = "PEM")]
    key: Option<PathBuf>,
}

fn header(text: &str) -> Result<(String, String), String> {
    match text.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.trim_start().to_owned()))
        }
        _ => Err("expected NAME:VALUE".to_owned()),
    }
}
