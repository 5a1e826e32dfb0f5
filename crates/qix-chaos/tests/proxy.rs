//! The fault proxy does what it says, over real sockets on 127.0.0.1, on the paused clock
//! where time matters.

use std::io::ErrorKind;
use std::time::Duration;

use qix_chaos::{Close, Direction, Proxy, RandomFaults};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// A client and the server's end of the same link through a proxy.
async fn link() -> (Proxy, TcpStream, TcpStream) {
    let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = Proxy::start(server.local_addr().unwrap()).await.unwrap();
    let client = TcpStream::connect(proxy.addr()).await.unwrap();
    let (upstream, _) = server.accept().await.unwrap();
    (proxy, client, upstream)
}

async fn read_exactly(stream: &mut TcpStream, count: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; count];
    stream.read_exact(&mut bytes).await.unwrap();
    bytes
}

/// Waits (a bounded number of scheduler turns) until the proxy has `count` links open.
async fn links_become(proxy: &Proxy, count: usize) {
    for _ in 0..1000 {
        if proxy.open_links() == count {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("{} links open, not {count}", proxy.open_links());
}

/// Whether the stream is still open with nothing to read: a read would wait.
async fn open_and_silent(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    tokio::time::timeout(Duration::from_secs(60), stream.read(&mut byte))
        .await
        .is_err()
}

#[tokio::test]
async fn bytes_go_through_unchanged_both_ways() {
    let (_proxy, mut client, mut server) = link().await;
    client.write_all(b"request").await.unwrap();
    assert_eq!(read_exactly(&mut server, 7).await, b"request");
    server.write_all(b"answer").await.unwrap();
    assert_eq!(read_exactly(&mut client, 6).await, b"answer");
}

#[tokio::test]
async fn a_drop_with_fin_ends_both_streams() {
    let (proxy, mut client, mut server) = link().await;
    proxy.drop_links(Close::Fin);
    let mut rest = Vec::new();
    assert_eq!(client.read_to_end(&mut rest).await.unwrap(), 0);
    assert_eq!(server.read_to_end(&mut rest).await.unwrap(), 0);
}

#[tokio::test]
async fn a_drop_with_rst_resets_both_sockets() {
    let (proxy, mut client, mut server) = link().await;
    proxy.drop_links(Close::Rst);
    let mut rest = Vec::new();
    for stream in [&mut client, &mut server] {
        let error = stream.read_to_end(&mut rest).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ConnectionReset);
    }
}

#[tokio::test(start_paused = true)]
async fn half_open_forwards_nothing_and_keeps_the_sockets_until_healed() {
    let (proxy, mut client, mut server) = link().await;
    proxy.half_open(true);
    tokio::task::yield_now().await;
    client.write_all(b"up").await.unwrap();
    server.write_all(b"down").await.unwrap();
    assert!(open_and_silent(&mut server).await, "nothing forwarded up");
    assert!(open_and_silent(&mut client).await, "nothing forwarded down");
    proxy.half_open(false);
    assert_eq!(read_exactly(&mut server, 2).await, b"up");
    assert_eq!(read_exactly(&mut client, 4).await, b"down");
}

#[tokio::test(start_paused = true)]
async fn a_delay_is_a_latency_of_one_direction() {
    let (proxy, mut client, mut server) = link().await;
    proxy.delay(Direction::Down, Duration::from_secs(2));
    tokio::task::yield_now().await;
    let started = Instant::now();
    server.write_all(b"first").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.write_all(b"second").await.unwrap();
    assert_eq!(read_exactly(&mut client, 5).await, b"first");
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    assert_eq!(read_exactly(&mut client, 6).await, b"second");
    // Latency, not a queue: the second chunk waited its own 2 s, not behind the first.
    assert_eq!(started.elapsed(), Duration::from_millis(2500));
    client.write_all(b"up").await.unwrap();
    let up = Instant::now();
    assert_eq!(read_exactly(&mut server, 2).await, b"up");
    assert_eq!(
        up.elapsed(),
        Duration::ZERO,
        "the other direction is not delayed"
    );
}

#[tokio::test(start_paused = true)]
async fn throttling_spreads_a_chunk_over_time() {
    let (proxy, mut client, mut server) = link().await;
    proxy.throttle(Direction::Down, Some(100));
    tokio::task::yield_now().await;
    let started = Instant::now();
    server.write_all(&[7u8; 300]).await.unwrap();
    assert_eq!(read_exactly(&mut client, 300).await, vec![7u8; 300]);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(2900) && took <= Duration::from_millis(3100),
        "300 bytes at 100 B/s took {took:?} of the paused clock"
    );
}

#[tokio::test]
async fn a_cut_forwards_part_of_the_next_chunk_then_drops_the_link() {
    let (proxy, mut client, mut server) = link().await;
    proxy.cut_next(Direction::Up, Close::Fin);
    tokio::task::yield_now().await;
    client.write_all(&[1u8; 100]).await.unwrap();
    let mut received = Vec::new();
    server.read_to_end(&mut received).await.unwrap();
    assert!(
        !received.is_empty() && received.len() < 100,
        "{} of 100 bytes arrived",
        received.len()
    );
    assert_eq!(received, vec![1u8; received.len()]);
}

#[tokio::test]
async fn a_flip_changes_one_bit_of_one_byte() {
    let (proxy, mut client, mut server) = link().await;
    proxy.flip_next(Direction::Down, 1);
    tokio::task::yield_now().await;
    server.write_all(&[0u8; 64]).await.unwrap();
    let received = read_exactly(&mut client, 64).await;
    let bits: u32 = received.iter().map(|byte| byte.count_ones()).sum();
    assert_eq!(bits, 1, "{received:?}");
    // One-shot: what follows is untouched.
    server.write_all(&[0u8; 64]).await.unwrap();
    assert_eq!(read_exactly(&mut client, 64).await, vec![0u8; 64]);
}

#[tokio::test]
async fn refused_connections_are_reset_and_never_reach_the_server() {
    let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = Proxy::start(server.local_addr().unwrap()).await.unwrap();
    proxy.refuse(true);
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut rest = Vec::new();
    let ended = client.read_to_end(&mut rest).await;
    assert!(
        matches!(&ended, Err(error) if error.kind() == ErrorKind::ConnectionReset),
        "{ended:?}"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(50), server.accept())
            .await
            .is_err()
    );
    assert_eq!(proxy.accepted(), 1);
}

#[tokio::test]
async fn random_faults_come_from_the_seed() {
    let (proxy, mut client, mut server) = link().await;
    proxy.random(Some(RandomFaults {
        seed: 7,
        chance: 1_000_000, // every chunk
        drop: true,
        cut: false,
        flip: false,
        stall: false,
        delay: false,
        max_stall: Duration::ZERO,
    }));
    tokio::task::yield_now().await;
    client.write_all(b"doomed").await.unwrap();
    let mut rest = Vec::new();
    // Dropped on its first chunk, with FIN or RST as the seed draws: nothing gets through.
    let _ = server.read_to_end(&mut rest).await;
    assert!(rest.is_empty(), "{rest:?}");
    links_become(&proxy, 0).await;
}

#[tokio::test]
async fn dropping_the_proxy_ends_every_link() {
    let (proxy, mut client, _server) = link().await;
    links_become(&proxy, 1).await;
    drop(proxy);
    let mut rest = Vec::new();
    // Aborted pumps drop their sockets as they are (FIN or RST): the client's stream ends.
    let _ = client.read_to_end(&mut rest).await;
    assert!(rest.is_empty());
}
