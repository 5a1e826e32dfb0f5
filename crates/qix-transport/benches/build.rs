//! How long `WebSocketTransportBuilder::build` takes for a `wss://` URL, per root store: what
//! 1,000 sessions pay before their first connect.

use std::time::Instant;

use qix_transport::{TlsRoots, WebSocketTransport};

const BUILDS: u32 = 1_000;

fn main() {
    for (name, roots) in [("webpki", TlsRoots::WebPki), ("native", TlsRoots::Native)] {
        let start = Instant::now();
        let mut first = None;
        for _ in 0..BUILDS {
            let transport = WebSocketTransport::builder("wss://qlik.example.com/app/engineData")
                .tls_roots(roots)
                .build();
            if let Err(error) = transport {
                eprintln!("{name}: build failed: {error}");
                return;
            }
            first.get_or_insert_with(|| start.elapsed());
        }
        let elapsed = start.elapsed();
        println!(
            "{BUILDS} builds with TlsRoots::{name}: {elapsed:?} ({:?} each; the first {:?})",
            elapsed / BUILDS,
            first.unwrap_or_default()
        );
    }
}
