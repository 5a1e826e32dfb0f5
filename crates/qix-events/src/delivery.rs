//! What a subscription yields and a listener is called with.

use std::fmt;

/// One item of a [`Subscription`](crate::Subscription) or one call of a listener.
pub enum Delivery<E> {
    /// A published event: each matching subscriber gets its own clone (the last one the
    /// original), so an event that is costly to clone is best published as an `Arc`.
    Event(E),
    /// The queue was full and this many of the subscriber's events, the ones that would have
    /// come right here, were dropped. Deliveries go on with the events that follow them.
    Lagged {
        /// How many events were dropped; at least 1.
        missed: u64,
    },
}

impl<E> Delivery<E> {
    /// The event, or `None` for a lag marker.
    pub fn event(&self) -> Option<&E> {
        match self {
            Delivery::Event(event) => Some(event),
            Delivery::Lagged { .. } => None,
        }
    }

    /// The event, or `None` for a lag marker.
    pub fn into_event(self) -> Option<E> {
        match self {
            Delivery::Event(event) => Some(event),
            Delivery::Lagged { .. } => None,
        }
    }
}

impl<E: Clone> Clone for Delivery<E> {
    fn clone(&self) -> Self {
        match self {
            Delivery::Event(event) => Delivery::Event(event.clone()),
            Delivery::Lagged { missed } => Delivery::Lagged { missed: *missed },
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for Delivery<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delivery::Event(event) => f.debug_tuple("Event").field(event).finish(),
            Delivery::Lagged { missed } => {
                f.debug_struct("Lagged").field("missed", missed).finish()
            }
        }
    }
}
