//! A doorbell for the one thread that waits on one side of the ring: it cannot lose a
//! wake-up.
//!
//! The waiter, holding the bell's lock, announces that it is about to sleep and looks at the
//! ring once more; it sleeps only if it still has to. The ringer changes the ring first, then
//! takes the lock and looks for an announcement. The lock orders the two: either the ringer
//! takes it after the waiter released it, and then sees the announcement and unparks the
//! waiter, or before, and then its change happened before the waiter's look, so the waiter
//! does not sleep. An unpark that comes before the park is not lost either: a thread's park
//! token makes the next park return at once. Only acquire/release ordering is relied on.
//!
//! This file is written against `super::sync`, which is `std` in the library and `loom` in
//! `tests/loom_bell.rs`, where the protocol is model-checked over every interleaving.

use super::sync::{park_timeout, thread_current, Mutex, Thread};
use std::time::Duration;

/// What the lock guards.
#[derive(Debug)]
struct State {
    /// The waiter announced a sleep and has not been woken since.
    waiting: bool,
    /// The thread that waits (recorded at its first wait).
    waiter: Option<Thread>,
}

/// See the module documentation. One waiting thread at a time per bell. Neither side is
/// for a real-time thread: both take a lock, and ringing may unpark (a system call).
#[derive(Debug)]
pub struct Bell {
    state: Mutex<State>,
}

impl Default for Bell {
    fn default() -> Self {
        Self::new()
    }
}

impl Bell {
    /// A bell nobody waits on yet.
    pub fn new() -> Self {
        Bell {
            state: Mutex::new(State {
                waiting: false,
                waiter: None,
            }),
        }
    }

    /// Sleeps (at most `timeout`) unless `blocked()` turns false, checking it after the
    /// announcement so that a [`Bell::ring`] after the change it waits for cannot be missed.
    /// Returns `blocked()`'s answer: false when it need not sleep at all. May return early
    /// (a spurious or unrelated unpark): callers look again.
    pub fn wait_while(&self, blocked: impl Fn() -> bool, timeout: Duration) -> bool {
        let still = {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if st.waiter.is_none() {
                st.waiter = Some(thread_current());
            }
            let still = blocked();
            st.waiting = still;
            still
        };
        if still {
            park_timeout(timeout);
            self.state.lock().unwrap_or_else(|e| e.into_inner()).waiting = false;
        }
        still
    }

    /// Wakes the waiter if it announced a sleep. Call it after the change the waiter waits
    /// for is visible (stored with `Release` or stronger).
    pub fn ring(&self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if std::mem::take(&mut st.waiting) {
            if let Some(t) = st.waiter.as_ref() {
                t.unpark();
            }
        }
    }
}
