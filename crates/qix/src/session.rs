//! The session handle and what it shares with objects.

use std::borrow::Cow;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::stream::FusedStream;
use qix_events::{Bus, Delivery, ListenerGuard, Subscription};
use qix_session::{Command, EngineSession, State, Waiter};
use tokio::sync::{mpsc, oneshot};

use crate::driver::{DriverReply, ToDriver};
use crate::event::{session_topic, ObjectEvent, SessionEvent};
use crate::intercept::Pipeline;
use crate::{Error, Object, SessionBuilder};

/// A QIX session: one engine session over one WebSocket at a time, which can be opened, closed,
/// suspended and resumed, and which emits the events of enigma.js.
///
/// `Session` is a cheap handle to a driver task that owns the connection; clones share it and may
/// be used from many tasks at once. Dropping the last `Session` closes the socket cleanly (code
/// 1000). See the [crate docs](crate) for a complete example.
#[derive(Clone)]
pub struct Session {
    link: Link,
    bus: Bus<SessionEvent>,
    state: StatusCell,
}

impl Session {
    /// Starts configuring a session for the engine at `url`, e.g.
    /// `ws://127.0.0.1:9076/app/engineData` or `wss://host/app/<app id>`.
    pub fn builder(url: impl Into<String>) -> SessionBuilder {
        SessionBuilder::new(url.into())
    }

    pub(crate) fn new(senders: Senders, bus: Bus<SessionEvent>, state: StatusCell) -> Self {
        Self {
            link: Link::Session(Arc::new(senders)),
            bus,
            state,
        }
    }

    /// The session's lifecycle state (docs/behaviour.md, "Lifecycle"), as of the last input the driver
    /// handled: `Idle`, `Connecting`, `Open`, `Suspending`, `Suspended`, `Resuming`, `Closing`
    /// or `Closed`.
    pub fn state(&self) -> State {
        self.state.read(|status| status.state)
    }

    /// Whether the engine session of the current (or last) connection was attached to or
    /// newly created, as the engine's `OnConnected` said (Q-OPEN-4): what
    /// [`open`](Self::open) and [`resume`](Self::resume) found, readable at any time, by a
    /// subscriber that came late too. [`EngineSession::Unknown`] before the first open, and
    /// when the engine said nothing in time.
    pub fn engine_session(&self) -> EngineSession {
        self.state.read(|status| status.engine_session)
    }

    /// The server's answer to the handshake of the last connect that succeeded (an open or a
    /// resume): its HTTP status and response headers, such as the `Set-Cookie` of a Qlik
    /// proxy session. `None` before the first connect, and with a transport that records no
    /// handshake. It stays while the session is suspended or closed, until the next connect.
    ///
    /// ```no_run
    /// # async fn run(session: qix::Session) -> Result<(), qix::Error> {
    /// session.open().await?;
    /// if let Some(handshake) = session.handshake() {
    ///     for cookie in handshake.headers("set-cookie") {
    ///         println!("the proxy set {}", cookie.split(';').next().unwrap_or_default());
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn handshake(&self) -> Option<qix_transport::Handshake> {
        self.state.read(|status| status.handshake.clone())
    }

    /// Opens the session and returns the Global object (handle -1).
    ///
    /// The first call connects; calls while connecting or open return the same Global without a
    /// second socket (Q-OPEN-1). A failed connect fails with what went wrong (an HTTP status
    /// is kept: [`Error::http_status`]) and is not remembered: call `open` again to retry
    /// (Q-OPEN-2). After [`close`](Self::close), `open` connects afresh (Q-OPEN-3).
    pub async fn open(&self) -> Result<Object, Error> {
        match self.link.request(Command::Open).await? {
            DriverReply::Opened(shared) => Ok(Object::new(shared, self.link.downgrade())),
            _ => Err(Error::BadResponse(
                "open was answered with another reply".to_owned(),
            )),
        }
    }

    /// Closes the session with code 1000 and resolves once the socket has closed. Pending calls
    /// fail with [`Error::NotConnected`] ("Socket closed"); every object and the session emit
    /// `closed`. On a session that was never opened, or is closed already, it resolves at once.
    pub async fn close(&self) -> Result<(), Error> {
        self.close_with(1000, "").await
    }

    /// Like [`close`](Self::close), with the close code and reason to send.
    ///
    /// A code or reason that cannot go in a WebSocket close frame (a code outside 1000-1003,
    /// 1007-1013 and 3000-4999, or a reason over 123 bytes) fails with [`Error::InvalidClose`]
    /// before anything is sent.
    pub async fn close_with(&self, code: u16, reason: &str) -> Result<(), Error> {
        check_close(code, reason)?;
        self.done(Command::Close {
            code,
            reason: reason.to_owned(),
        })
        .await
    }

    /// Suspends the session with code 4000: closes the socket but keeps every object, so that
    /// [`resume`](Self::resume) can bring them back. Emits `suspended` (manual) once the socket
    /// has closed. Pending calls fail with "Socket closed"; calls while suspended fail with
    /// [`Error::SessionSuspended`].
    pub async fn suspend(&self) -> Result<(), Error> {
        self.suspend_with(4000, "").await
    }

    /// Like [`suspend`](Self::suspend), with the close code and reason to send.
    ///
    /// A code or reason that cannot go in a WebSocket close frame fails with
    /// [`Error::InvalidClose`] before anything is sent.
    pub async fn suspend_with(&self, code: u16, reason: &str) -> Result<(), Error> {
        check_close(code, reason)?;
        self.done(Command::Suspend {
            code,
            reason: reason.to_owned(),
        })
        .await
    }

    /// Resumes a suspended session: opens a new socket to the same URL, waits for `OnConnected`
    /// (up to `on_connected_timeout`), then restores the Doc and its objects and emits `resumed`.
    ///
    /// With `only_if_attached`, a new engine session (`SESSION_CREATED`) fails with
    /// [`Error::SessionNotAttached`] and the session stays suspended; without it, the Doc is
    /// reopened and objects that cannot be restored emit `closed`. On a session that is not
    /// suspended it fails with [`Error::InvalidState`] and opens nothing.
    pub async fn resume(&self, only_if_attached: bool) -> Result<EngineSession, Error> {
        self.done(Command::Resume { only_if_attached }).await?;
        Ok(self.engine_session())
    }

    async fn done(&self, command: Command) -> Result<(), Error> {
        match self.link.request(command).await? {
            DriverReply::Done => Ok(()),
            _ => Err(Error::BadResponse(
                "a command was answered with another reply".to_owned(),
            )),
        }
    }

    /// A stream of the session's events on `topic` (see [`SessionEvent`] for the topics).
    ///
    /// Each stream has its own bounded queue: a stream that is not read falls behind and gets
    /// [`SessionEvent::Lagged`] instead of growing without limit. An unknown topic is an error.
    /// The stream ends when the session's driver stops.
    pub fn subscribe(&self, topic: &str) -> Result<EventStream<SessionEvent>, Error> {
        let topic = session_topic(topic)?;
        Ok(EventStream::new(self.bus.subscribe(topic)))
    }

    /// One stream of the session's events on several topics, in the order they happened (an
    /// event that matches several of the topics comes once).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), qix::Error> {
    /// # let session = qix::Session::builder("ws://127.0.0.1:9/app/x").build()?;
    /// let lifecycle = session.subscribe_many(["opened", "suspended", "resumed", "closed"])?;
    /// # drop(lifecycle);
    /// # Ok(())
    /// # }
    /// ```
    pub fn subscribe_many<'a>(
        &self,
        topics: impl IntoIterator<Item = &'a str>,
    ) -> Result<EventStream<SessionEvent>, Error> {
        let topics = topics
            .into_iter()
            .map(session_topic)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(EventStream::new(self.bus.subscribe_many(topics)))
    }

    /// Calls `listener` for each of the session's events on `topic`, on a thread of its own (a listener that blocks delays only its own later calls, Q-EV-6), until
    /// the returned guard is dropped. A listener that panics is removed; the others go on.
    pub fn on<F>(&self, topic: &str, listener: F) -> Result<ListenerGuard, Error>
    where
        F: Fn(&SessionEvent) + Send + 'static,
    {
        let topic = session_topic(topic)?;
        self.bus
            .on(topic, move |delivery| match delivery {
                Delivery::Event(event) => listener(&event),
                Delivery::Lagged { missed } => listener(&SessionEvent::Lagged { missed }),
            })
            .map_err(Error::Listener)
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

fn check_close(code: u16, reason: &str) -> Result<(), Error> {
    qix_transport::check_close(code, reason).map_err(|error| Error::InvalidClose(error.to_string()))
}

/// What the driver shows of the machine after every input, and of the last connect.
#[derive(Debug, Clone)]
pub(crate) struct Status {
    pub(crate) state: State,
    pub(crate) engine_session: EngineSession,
    /// The server's answer to the last successful connect's handshake.
    pub(crate) handshake: Option<qix_transport::Handshake>,
}

/// The driver's [`Status`] as the handles read it at any time. A mutex, not a watch channel:
/// nobody waits for a change, and a watch wakes its (absent) waiters through eight shards on
/// every one.
#[derive(Clone)]
pub(crate) struct StatusCell(Arc<std::sync::Mutex<Status>>);

impl StatusCell {
    pub(crate) fn new() -> Self {
        Self(Arc::new(std::sync::Mutex::new(Status {
            state: State::Idle,
            engine_session: EngineSession::Unknown,
            handshake: None,
        })))
    }

    // Every update is a plain assignment, so a lock poisoned by a panic elsewhere still
    // guards a consistent status.
    fn lock(&self) -> std::sync::MutexGuard<'_, Status> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn read<T>(&self, read: impl FnOnce(&Status) -> T) -> T {
        read(&self.lock())
    }

    pub(crate) fn update(&self, update: impl FnOnce(&mut Status)) {
        update(&mut self.lock());
    }
}

/// The driver's inboxes: lifecycle commands, always taken; calls, which wait while the socket
/// is backed up or too many are in flight; and the waiters of calls whose caller left.
pub(crate) struct Senders {
    /// Lifecycle commands, boxed: they are rare, and a channel holds room for 32 messages
    /// from its first one, so their size is paid by every idle session.
    pub(crate) control: mpsc::Sender<Box<ToDriver>>,
    pub(crate) calls: mpsc::Sender<ToDriver>,
    pub(crate) cancels: mpsc::UnboundedSender<Waiter>,
    pub(crate) waiters: Arc<AtomicU64>,
    /// The session's interceptors; `None` when it has none, so calls skip them for free.
    pub(crate) pipeline: Option<Arc<Pipeline>>,
}

/// The same inboxes, held without keeping the session alive.
pub(crate) struct WeakSenders {
    control: mpsc::WeakSender<Box<ToDriver>>,
    calls: mpsc::WeakSender<ToDriver>,
    cancels: mpsc::WeakUnboundedSender<Waiter>,
    waiters: Arc<AtomicU64>,
    pipeline: Option<Arc<Pipeline>>,
}

/// How a handle reaches the driver. Sessions keep it alive; objects only borrow it, so that
/// dropping the last `Session` closes the session even while objects are still held.
#[derive(Clone)]
pub(crate) enum Link {
    Session(Arc<Senders>),
    Object(Arc<WeakSenders>),
}

// A session's senders are borrowed, an object's upgraded: cloning a sender, or upgrading one,
// is two atomic read-modify-writes there and two more when it drops, on every call.
impl Link {
    fn calls(&self) -> Option<Cow<'_, mpsc::Sender<ToDriver>>> {
        match self {
            Self::Session(senders) => Some(Cow::Borrowed(&senders.calls)),
            Self::Object(weak) => weak.calls.upgrade().map(Cow::Owned),
        }
    }

    fn control(&self) -> Option<Cow<'_, mpsc::Sender<Box<ToDriver>>>> {
        match self {
            Self::Session(senders) => Some(Cow::Borrowed(&senders.control)),
            Self::Object(weak) => weak.control.upgrade().map(Cow::Owned),
        }
    }

    fn cancels(&self) -> Option<mpsc::UnboundedSender<Waiter>> {
        match self {
            Self::Session(senders) => Some(senders.cancels.clone()),
            Self::Object(weak) => weak.cancels.upgrade(),
        }
    }

    pub(crate) fn downgrade(&self) -> Self {
        match self {
            Self::Session(senders) => Self::Object(Arc::new(WeakSenders {
                control: senders.control.downgrade(),
                calls: senders.calls.downgrade(),
                cancels: senders.cancels.downgrade(),
                waiters: senders.waiters.clone(),
                pipeline: senders.pipeline.clone(),
            })),
            object => object.clone(),
        }
    }

    /// The session's interceptors, when it has any.
    pub(crate) fn pipeline(&self) -> Option<&Pipeline> {
        match self {
            Self::Session(senders) => senders.pipeline.as_deref(),
            Self::Object(weak) => weak.pipeline.as_deref(),
        }
    }

    /// A fresh waiter id: the caller names its reply, so it can also name it to cancel.
    fn waiter(&self) -> Waiter {
        let counter = match self {
            Self::Session(senders) => &senders.waiters,
            Self::Object(weak) => &weak.waiters,
        };
        Waiter(counter.fetch_add(1, Ordering::Relaxed) + 1)
    }

    pub(crate) async fn request(&self, command: Command) -> Result<DriverReply, Error> {
        let is_call = matches!(command, Command::Call(_));
        let (reply, answer) = oneshot::channel();
        let waiter = self.waiter();
        let message = ToDriver {
            waiter,
            command,
            reply,
        };
        let sent = if is_call {
            let sender = self.calls().ok_or(Error::SessionGone)?;
            sender.send(message).await.is_ok()
        } else {
            let sender = self.control().ok_or(Error::SessionGone)?;
            sender.send(Box::new(message)).await.is_ok()
        };
        if !sent {
            return Err(Error::SessionGone);
        }
        // Q-CANCEL-1: from here on, a caller that leaves tells the session.
        let mut guard = CancelOnDrop {
            waiter,
            link: is_call.then_some(self),
        };
        let answer = answer.await;
        guard.link = None;
        match answer.map_err(|_| Error::SessionGone)? {
            DriverReply::Failed(failure) => Err(Error::from_failure(failure)),
            DriverReply::DeltaFailed(error) => Err(Error::from_delta(error)),
            reply => Ok(reply),
        }
    }
}

/// Tells the driver that a call's caller left before its reply came (Q-CANCEL-1). The sender
/// is found only then: most calls are answered.
struct CancelOnDrop<'a> {
    waiter: Waiter,
    link: Option<&'a Link>,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        // A driver that is gone has nothing to cancel.
        if let Some(cancels) = self.link.take().and_then(Link::cancels) {
            let _ = cancels.send(self.waiter);
        }
    }
}

/// A stream of events from [`Session::subscribe`] or [`Object::subscribe`]
/// (`futures::Stream<Item = E>`).
pub struct EventStream<E> {
    inner: Subscription<E>,
}

impl<E> EventStream<E> {
    pub(crate) fn new(inner: Subscription<E>) -> Self {
        Self { inner }
    }
}

/// Both event types carry lag as a variant, so a stream of either maps deliveries the same way.
macro_rules! event_stream {
    ($event:ident) => {
        impl futures_util::Stream for EventStream<$event> {
            type Item = $event;

            fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<$event>> {
                Pin::new(&mut self.inner).poll_next(cx).map(|delivery| {
                    delivery.map(|delivery| match delivery {
                        Delivery::Event(event) => event,
                        Delivery::Lagged { missed } => $event::Lagged { missed },
                    })
                })
            }
        }

        impl FusedStream for EventStream<$event> {
            fn is_terminated(&self) -> bool {
                self.inner.is_terminated()
            }
        }
    };
}

event_stream!(SessionEvent);
event_stream!(ObjectEvent);

impl<E> fmt::Debug for EventStream<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream")
            .field("topics", &self.inner.topics())
            .finish()
    }
}
