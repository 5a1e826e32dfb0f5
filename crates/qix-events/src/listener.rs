//! Callback listeners: each one on a thread of its own, behind its own bounded queue, so a
//! listener that blocks (a `std::thread::sleep`, a slow terminal, a lock) holds up nothing but
//! its own later calls: never the publisher, never the runtime's threads.

use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Wake, Waker};

use crate::bus::Shared;
use crate::queue::Queue;
use crate::subscription::{self, Subscription};
use crate::Delivery;

/// Why [`Bus::on`](crate::Bus::on) could not add a listener.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ListenError {
    /// The operating system refused to start the listener's thread.
    #[error("could not start the listener's thread: {reason}")]
    Thread {
        /// The system's error.
        reason: String,
    },
}

/// Keeps a listener added with [`Bus::on`](crate::Bus::on); dropping it removes the listener.
#[must_use = "dropping the guard removes the listener at once"]
pub struct ListenerGuard {
    detach: Box<dyn Detach>,
    status: Arc<Status>,
}

#[derive(Default)]
struct Status {
    panicked: AtomicBool,
}

impl ListenerGuard {
    /// True once the listener has panicked and so been removed.
    pub fn has_panicked(&self) -> bool {
        self.status.panicked.load(Ordering::Acquire)
    }
}

impl Drop for ListenerGuard {
    fn drop(&mut self) {
        self.detach.detach();
    }
}

impl fmt::Debug for ListenerGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenerGuard")
            .field("has_panicked", &self.has_panicked())
            .finish_non_exhaustive()
    }
}

/// Erases the event type so that [`ListenerGuard`] is not generic.
trait Detach: Send + Sync {
    fn detach(&self);
}

struct Detacher<E> {
    id: u64,
    queue: Arc<Queue<E>>,
    bus: Weak<Shared<E>>,
}

impl<E: Send> Detach for Detacher<E> {
    fn detach(&self) {
        // The listener's thread then stops without calling it with what was queued.
        subscription::detach(&self.bus, self.id, &self.queue);
    }
}

/// Wakes the listener's thread.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

pub(crate) fn spawn<E, F>(
    subscription: Subscription<E>,
    listener: F,
    panics: Arc<AtomicU64>,
) -> Result<ListenerGuard, ListenError>
where
    E: Clone + Send + 'static,
    F: Fn(Delivery<E>) + Send + 'static,
{
    let (id, queue, bus) = subscription.detach_parts();
    let status = Arc::new(Status::default());
    let thread_status = Arc::clone(&status);
    // The thread ends by itself when its queue ends, is cancelled or the listener panics; its
    // JoinHandle is dropped.
    let spawned = std::thread::Builder::new()
        .name("qix-listener".to_owned())
        .spawn(move || {
            let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
            let mut cx = Context::from_waker(&waker);
            let mut subscription = subscription;
            loop {
                let delivery = match subscription.poll_next_delivery(&mut cx) {
                    Poll::Ready(Some(delivery)) => delivery,
                    Poll::Ready(None) => return,
                    // Woken by the next push, or by a spurious unpark: polled again either way.
                    Poll::Pending => {
                        std::thread::park();
                        continue;
                    }
                };
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| listener(delivery))) {
                    tracing::error!(
                        topics = %TopicList(subscription.topics()),
                        panic = panic_message(payload.as_ref()),
                        "event listener panicked; it has been removed and will not be called again"
                    );
                    // Unsubscribe before reporting, so whoever sees the report also sees the
                    // listener gone.
                    drop(subscription);
                    panics.fetch_add(1, Ordering::Release);
                    thread_status.panicked.store(true, Ordering::Release);
                    return;
                }
            }
        });
    if let Err(error) = spawned {
        // The subscription went with the closure; said again here, as it costs nothing.
        subscription::detach(&bus, id, &queue);
        return Err(ListenError::Thread {
            reason: error.to_string(),
        });
    }
    Ok(ListenerGuard {
        detach: Box::new(Detacher { id, queue, bus }),
        status,
    })
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(message) = payload.downcast_ref::<&'static str>() {
        message
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message
    } else {
        "<panic payload is not a string>"
    }
}

struct TopicList<'a>(&'a [crate::Topic]);

impl fmt::Display for TopicList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, topic) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(topic.as_str())?;
        }
        Ok(())
    }
}
