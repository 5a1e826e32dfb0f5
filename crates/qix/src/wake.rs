//! Which of the driver's sources woke it.
//!
//! The driver owns several sources (the handles' channels, connects in progress, the sockets,
//! the timer). Each is polled with a waker of its own that records its name before waking the
//! driver's task, so a wake-up polls only the sources that have something, or that the
//! driver's own work made worth asking (a new connect, a timer set again). Asking every source
//! on every wake-up is what a single shared waker forces, and it is not free: an empty channel
//! re-registers its waker, a socket read that finds nothing makes tungstenite zero its read
//! buffer, a sleep goes through the timer wheel.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Wake, Waker};

use futures_util::task::AtomicWaker;

/// One of the driver's sources; its value is its bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Source {
    Control = 1,
    Cancels = 1 << 1,
    Calls = 1 << 2,
    Connects = 1 << 3,
    /// Every connection, reads and writes alike: there is one current connection, and at most
    /// a finishing one beside it.
    Sockets = 1 << 4,
    Timer = 1 << 5,
}

const SOURCES: [Source; 6] = [
    Source::Control,
    Source::Cancels,
    Source::Calls,
    Source::Connects,
    Source::Sockets,
    Source::Timer,
];

const ALL: u8 = (1 << SOURCES.len()) - 1;

/// What the source wakers share with the driver.
struct Shared {
    /// The sources woken since the driver last looked.
    woken: AtomicU8,
    /// The driver's task, as of its last poll.
    task: AtomicWaker,
}

struct SourceWaker {
    shared: Arc<Shared>,
    source: Source,
}

impl Wake for SourceWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // The bit is set before the task is woken, so the poll this wake causes sees it.
        self.shared
            .woken
            .fetch_or(self.source as u8, Ordering::AcqRel);
        self.shared.task.wake();
    }
}

/// The driver's record of which sources are worth polling, and their wakers.
pub(crate) struct Wakeups {
    shared: Arc<Shared>,
    wakers: [Waker; SOURCES.len()],
    /// Sources to poll: woken, or never yet seen `Pending` since they last were. A source
    /// leaves the set only when it says `Pending`, that is with its waker registered.
    due: u8,
}

impl Wakeups {
    /// Every source starts due: none has been asked yet.
    pub(crate) fn new() -> Self {
        let shared = Arc::new(Shared {
            woken: AtomicU8::new(0),
            task: AtomicWaker::new(),
        });
        let wakers = SOURCES.map(|source| {
            Waker::from(Arc::new(SourceWaker {
                shared: Arc::clone(&shared),
                source,
            }))
        });
        Self {
            shared,
            wakers,
            due: ALL,
        }
    }

    /// Starts a poll of the driver: remembers its task's waker, then takes the sources woken
    /// since the last poll. Returns whether the sockets were among them.
    pub(crate) fn begin(&mut self, task: &Waker) -> bool {
        // Registered first: a source woken after the swap wakes the task again.
        self.shared.task.register(task);
        let woken = self.shared.woken.swap(0, Ordering::AcqRel);
        self.due |= woken;
        woken & Source::Sockets as u8 != 0
    }

    /// True when `source` is worth polling.
    pub(crate) fn is_due(&self, source: Source) -> bool {
        self.due & source as u8 != 0
    }

    /// `source` said `Pending`: it will wake its waker when it has something.
    pub(crate) fn pending(&mut self, source: Source) {
        self.due &= !(source as u8);
    }

    /// The driver's own work made `source` worth polling (a connect started, a sleep reset).
    pub(crate) fn mark_due(&mut self, source: Source) {
        self.due |= source as u8;
    }

    /// The waker to poll `source` with.
    pub(crate) fn waker(&self, source: Source) -> &Waker {
        let index = source as u8;
        &self.wakers[index.trailing_zeros() as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_source_waker_marks_its_source_due_and_wakes_the_task() {
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let task = Waker::from(Arc::clone(&counter));
        let mut wakeups = Wakeups::new();
        assert!(SOURCES.iter().all(|&source| wakeups.is_due(source)));
        wakeups.begin(&task);
        for source in SOURCES {
            wakeups.pending(source);
        }
        assert!(SOURCES.iter().all(|&source| !wakeups.is_due(source)));

        wakeups.waker(Source::Calls).wake_by_ref();
        // Dropping a woken clone is what a socket does with the waker it kept.
        let kept = wakeups.waker(Source::Sockets).clone();
        kept.wake();
        assert_eq!(
            counter.0.load(Ordering::SeqCst),
            1,
            "the task is woken once per poll"
        );
        // Not due before the driver looks: the driver's view changes only in `begin`.
        assert!(!wakeups.is_due(Source::Calls));
        assert!(wakeups.begin(&task));
        let due: Vec<_> = SOURCES.into_iter().filter(|&s| wakeups.is_due(s)).collect();
        assert_eq!(due, [Source::Calls, Source::Sockets]);

        // Registered again by that poll, the task is woken again.
        wakeups.waker(Source::Timer).wake_by_ref();
        assert_eq!(counter.0.load(Ordering::SeqCst), 2);
        assert!(!wakeups.begin(&task));
        assert!(wakeups.is_due(Source::Timer));
    }

    #[test]
    fn a_source_marked_due_stays_due_until_it_says_pending() {
        let task = Waker::noop().clone();
        let mut wakeups = Wakeups::new();
        wakeups.begin(&task);
        wakeups.pending(Source::Connects);
        wakeups.mark_due(Source::Connects);
        wakeups.begin(&task);
        assert!(wakeups.is_due(Source::Connects));
        wakeups.pending(Source::Connects);
        assert!(!wakeups.is_due(Source::Connects));
    }
}
