//! The in-memory transport.

mod common;

use common::{next, text, within};
use qix_transport::memory::{self, MemoryTransport};
use qix_transport::{CloseEvent, Incoming, Transport, TransportError};

fn closed(incoming: Incoming) -> CloseEvent {
    match incoming {
        Incoming::Closed(event) => event,
        other => panic!("expected Closed, got {other:?}"),
    }
}

#[tokio::test]
async fn pair_carries_text_both_ways_in_order() {
    let (mut a, mut b) = memory::pair();
    for i in 0..3 {
        within(a.send_text(format!("a{i}"))).await.unwrap();
    }
    within(b.send_text("b0".to_owned())).await.unwrap();
    assert_eq!(text(next(&mut b).await), "a0");
    assert_eq!(text(next(&mut b).await), "a1");
    assert_eq!(text(next(&mut b).await), "a2");
    assert_eq!(text(next(&mut a).await), "b0");
}

#[tokio::test]
async fn close_reaches_the_peer_after_earlier_text_and_is_echoed_to_the_closer() {
    let (mut a, mut b) = memory::pair();
    within(a.send_text("before".to_owned())).await.unwrap();
    within(b.send_text("crossing".to_owned())).await.unwrap();
    within(a.close(4000, "x")).await.unwrap();
    assert!(matches!(
        within(a.send_text("after".to_owned())).await,
        Err(TransportError::ConnectionClosed)
    ));

    let expected = CloseEvent::new(4000, "x");
    assert_eq!(text(next(&mut b).await), "before");
    assert_eq!(closed(next(&mut b).await), expected);
    // The peer answered the close: it cannot send any more.
    assert!(matches!(
        within(b.send_text("late".to_owned())).await,
        Err(TransportError::ConnectionClosed)
    ));
    // What the peer sent before it read the close still arrives, then the echo.
    assert_eq!(text(next(&mut a).await), "crossing");
    assert_eq!(closed(next(&mut a).await), expected);
    // Final on both ends.
    assert_eq!(closed(next(&mut a).await), expected);
    assert_eq!(closed(next(&mut b).await), expected);
}

#[tokio::test]
async fn closer_waits_for_the_echo_until_the_peer_reads_the_close() {
    let (mut a, mut b) = memory::pair();
    within(a.close(4001, "idle")).await.unwrap();
    let waiting = tokio::spawn(async move { (closed(next(&mut a).await), a) });
    assert_eq!(closed(next(&mut b).await), CloseEvent::new(4001, "idle"));
    let (echo, _a) = within(waiting).await.unwrap();
    assert_eq!(echo, CloseEvent::new(4001, "idle"));
}

#[tokio::test]
async fn dropping_an_end_without_close_reports_1006_to_the_other() {
    let (mut a, mut b) = memory::pair();
    within(a.send_text("last")).await.unwrap();
    drop(a);
    assert_eq!(text(next(&mut b).await), "last");
    assert_eq!(closed(next(&mut b).await), CloseEvent::abnormal());
    assert!(matches!(
        within(b.send_text("nobody")).await,
        Err(TransportError::ConnectionClosed)
    ));
}

#[tokio::test]
async fn dropping_an_end_after_its_close_keeps_the_close() {
    let (mut a, mut b) = memory::pair();
    within(a.close(4000, "")).await.unwrap();
    drop(a);
    assert_eq!(closed(next(&mut b).await), CloseEvent::new(4000, ""));
}

#[tokio::test]
async fn the_stream_ends_after_its_close() {
    use futures_util::StreamExt;
    let (mut a, b) = memory::pair();
    within(a.close(1000, "")).await.unwrap();
    let mut frames = b.into_frames();
    assert!(matches!(
        within(frames.next()).await,
        Some(Incoming::Closed(close)) if close == CloseEvent::new(1000, "")
    ));
    assert!(within(frames.next()).await.is_none());
}

#[tokio::test]
async fn close_refuses_codes_that_may_not_be_sent() {
    let (mut a, _b) = memory::pair();
    assert!(matches!(
        within(a.close(1006, "")).await,
        Err(TransportError::InvalidCloseCode { code: 1006 })
    ));
    within(a.send_text("still open".to_owned())).await.unwrap();
}

#[tokio::test]
async fn memory_transport_hands_each_connection_to_the_acceptor() {
    let (transport, mut acceptor) = memory::transport();
    for round in 0..2 {
        let mut client = within(transport.connect()).await.unwrap();
        let mut server = within(acceptor.accept()).await.unwrap();
        within(client.send_text(format!("hello {round}")))
            .await
            .unwrap();
        assert_eq!(text(next(&mut server).await), format!("hello {round}"));
        within(server.close(1000, "bye")).await.unwrap();
        assert_eq!(
            closed(next(&mut client).await),
            CloseEvent::new(1000, "bye")
        );
    }
}

#[tokio::test]
async fn acceptor_refuses_the_next_connect_with_the_given_error() {
    let (transport, mut acceptor) = memory::transport();
    acceptor.refuse_next(TransportError::HandshakeRejected {
        status: 503,
        reason: None,
    });
    let error = within(transport.connect()).await.unwrap_err();
    assert_eq!(error.http_status(), Some(503));
    // Only the next one: the following connect goes through.
    let _client = within(transport.connect()).await.unwrap();
    assert!(within(acceptor.accept()).await.is_some());
}

#[tokio::test]
async fn connect_fails_once_the_acceptor_is_dropped_and_accept_ends_with_the_transports() {
    let (transport, acceptor) = memory::transport();
    drop(acceptor);
    let error = within(transport.connect()).await.unwrap_err();
    assert!(matches!(error, TransportError::Connect { .. }), "{error:?}");

    let (transport, mut acceptor) = memory::transport();
    let clone: MemoryTransport = transport.clone();
    drop(transport);
    drop(clone);
    assert!(within(acceptor.accept()).await.is_none());
}

#[tokio::test]
async fn memory_transport_works_as_a_boxed_transport() {
    let (transport, mut acceptor) = memory::transport();
    let boxed: Box<dyn Transport> = Box::new(transport);
    let mut client = within(boxed.connect()).await.unwrap();
    let mut server = within(acceptor.accept()).await.unwrap();
    within(server.send_text("hi".to_owned())).await.unwrap();
    assert_eq!(text(next(&mut client).await), "hi");
}
