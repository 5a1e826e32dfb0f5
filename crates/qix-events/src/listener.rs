//! Callback listeners: each one on a tokio task of its own, behind its own bounded queue.

use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use futures_util::StreamExt;

use crate::bus::{Shared, Subscription};
use crate::queue::Queue;
use crate::Delivery;

/// Why [`Bus::on`](crate::Bus::on) could not add a listener.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ListenError {
    /// Listeners run on tokio tasks and there is no runtime to spawn one on.
    #[error(
        "event listeners run on a tokio task, but no tokio runtime is running on this thread; \
         add the listener from inside the runtime (an async fn it runs, or after Runtime::enter), \
         or use Bus::subscribe and poll the stream yourself"
    )]
    NoRuntime,
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

impl<E: Send + Sync> Detach for Detacher<E> {
    fn detach(&self) {
        // Unregister now, so `is_listened` turns false at once, and empty the queue so the
        // task stops without calling the listener with what was queued.
        if let Some(shared) = self.bus.upgrade() {
            shared.unregister(self.id);
        }
        self.queue.cancel();
    }
}

pub(crate) fn spawn<E, F>(
    runtime: &tokio::runtime::Handle,
    mut subscription: Subscription<E>,
    listener: F,
    panics: Arc<AtomicU64>,
) -> ListenerGuard
where
    E: Send + Sync + 'static,
    F: Fn(Delivery<E>) + Send + 'static,
{
    let (id, queue, bus) = subscription.detach_parts();
    let status = Arc::new(Status::default());
    let task_status = Arc::clone(&status);
    // The JoinHandle is dropped: the task ends by itself when its queue ends, is cancelled or
    // the listener panics.
    drop(runtime.spawn(async move {
        while let Some(delivery) = subscription.next().await {
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
                task_status.panicked.store(true, Ordering::Release);
                return;
            }
        }
    }));
    ListenerGuard {
        detach: Box::new(Detacher { id, queue, bus }),
        status,
    }
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
