//! Every connection the driver holds for the machine, from the connect it asked for to the end
//! of its stream, so that no connection is left open and none is dropped too early (Q-CLOSE-4).

use crate::{CloseEvent, ConnId};

/// Where one connection is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SocketPhase {
    /// Connecting; `then_close` when it was abandoned meanwhile and is closed once it connects.
    Connecting { then_close: Option<CloseEvent> },
    /// Connected, no close sent.
    Open,
    /// A close was sent; the peer's answer is awaited (the close timeout runs).
    Closing,
    /// The transport reported the close; its stream finishes (the close timeout runs).
    Finishing,
}

/// The connections, a handful at most (the current one, one being closed, one connecting).
#[derive(Debug, Default)]
pub(crate) struct Sockets(Vec<(ConnId, SocketPhase)>);

impl Sockets {
    pub(crate) fn add(&mut self, conn: ConnId) {
        self.0
            .push((conn, SocketPhase::Connecting { then_close: None }));
    }

    pub(crate) fn phase(&self, conn: ConnId) -> Option<SocketPhase> {
        self.0
            .iter()
            .find(|(id, _)| *id == conn)
            .map(|(_, phase)| phase.clone())
    }

    pub(crate) fn set(&mut self, conn: ConnId, phase: SocketPhase) {
        match self.0.iter_mut().find(|(id, _)| *id == conn) {
            Some(entry) => entry.1 = phase,
            None => self.0.push((conn, phase)),
        }
    }

    pub(crate) fn remove(&mut self, conn: ConnId) -> Option<SocketPhase> {
        let index = self.0.iter().position(|(id, _)| *id == conn)?;
        Some(self.0.remove(index).1)
    }

    pub(crate) fn conns(&self) -> Vec<ConnId> {
        self.0.iter().map(|(conn, _)| *conn).collect()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
