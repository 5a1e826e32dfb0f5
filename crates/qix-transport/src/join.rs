//! One connection made of a stream and a sink.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::{Sink, Stream};

use crate::{Incoming, Outgoing, TransportError};

/// Joins a stream of [`Incoming`] and a sink of [`Outgoing`] into one value that is both, and
/// so a connection ([`Frames`](crate::Frames)): the usual way to write a transport from
/// channels or from two halves of something else.
pub fn join<St, Si>(stream: St, sink: Si) -> Joined<St, Si>
where
    St: Stream<Item = Incoming> + Unpin,
    Si: Sink<Outgoing, Error = TransportError> + Unpin,
{
    Joined { stream, sink }
}

/// A stream and a sink joined by [`join`].
pub struct Joined<St, Si> {
    stream: St,
    sink: Si,
}

impl<St, Si> std::fmt::Debug for Joined<St, Si> {
    /// The parts are often adapters over closures, which have no `Debug`: only the type shows.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Joined").finish_non_exhaustive()
    }
}

impl<St, Si> Joined<St, Si> {
    /// The two parts again.
    pub fn into_parts(self) -> (St, Si) {
        (self.stream, self.sink)
    }
}

impl<St: Stream<Item = Incoming> + Unpin, Si: Unpin> Stream for Joined<St, Si> {
    type Item = Incoming;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Incoming>> {
        Pin::new(&mut self.stream).poll_next(cx)
    }
}

impl<St: Unpin, Si: Sink<Outgoing, Error = TransportError> + Unpin> Sink<Outgoing>
    for Joined<St, Si>
{
    type Error = TransportError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.sink).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Outgoing) -> Result<(), Self::Error> {
        Pin::new(&mut self.sink).start_send(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.sink).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.sink).poll_close(cx)
    }
}
