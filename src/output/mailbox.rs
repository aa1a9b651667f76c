//! Commands for a sending thread that wakes on its own clock (OSC, WebSocket): it sleeps until
//! the next round or until a command arrives, whichever is first, in one wait of the kernel.
//!
//! crossbeam's `recv_deadline` spins and then yields the processor up to four times before it
//! blocks, on every call; a thread that waits 30 times a second paid for those yields with
//! context switches that cost more than its round (`perf` of `mstag-live` with OSC and the
//! WebSocket, BENCHMARKS.md). Here the waiting side parks on a [`Bell`] (the ring's doorbell,
//! model-checked in `tests/loom_bell.rs`), and the posting side rings it after each command and
//! when it goes away.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};

use crate::stream::bell::Bell;

/// What the two ends share besides the queue.
#[derive(Debug, Default)]
struct Shared {
    bell: Bell,
    /// The [`Post`] was dropped (stored before the bell rings).
    closed: AtomicBool,
}

/// The sending end: give it to whoever controls the thread.
#[derive(Debug)]
pub(crate) struct Post<T> {
    tx: Sender<T>,
    shared: Arc<Shared>,
}

/// The receiving end, owned by the thread that waits.
#[derive(Debug)]
pub(crate) struct Mailbox<T> {
    rx: Receiver<T>,
    shared: Arc<Shared>,
}

/// A mailbox that holds at most `capacity` commands not yet taken.
pub(crate) fn mailbox<T>(capacity: usize) -> (Post<T>, Mailbox<T>) {
    let (tx, rx) = crossbeam_channel::bounded(capacity);
    let shared = Arc::new(Shared::default());
    (
        Post {
            tx,
            shared: Arc::clone(&shared),
        },
        Mailbox { rx, shared },
    )
}

// The WebSocket server posts commands; OSC only closes its mailbox.
impl<T> Post<T> {
    /// Posts `command` unless the mailbox is full or its thread is gone (then it is handed
    /// back); never blocks.
    #[cfg_attr(not(feature = "ws"), allow(dead_code))]
    pub(crate) fn try_send(&self, command: T) -> Result<(), T> {
        match self.tx.try_send(command) {
            Ok(()) => {
                self.shared.bell.ring();
                Ok(())
            }
            Err(TrySendError::Full(c) | TrySendError::Disconnected(c)) => Err(c),
        }
    }

    /// Posts `command`, waiting for room if the mailbox is full (its thread takes one command
    /// per look); hands it back only if the thread is gone.
    #[cfg_attr(not(feature = "ws"), allow(dead_code))]
    pub(crate) fn send(&self, command: T) -> Result<(), T> {
        self.tx.send(command).map_err(|e| e.into_inner())?;
        self.shared.bell.ring();
        Ok(())
    }
}

impl<T> Drop for Post<T> {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.bell.ring();
    }
}

impl<T> Mailbox<T> {
    /// The next command, waiting for it until `deadline` at most. `Timeout` when the deadline
    /// passed without one; `Disconnected` once the [`Post`] is gone and every command it
    /// posted has been taken.
    pub(crate) fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        loop {
            if let Ok(c) = self.rx.try_recv() {
                return Ok(c);
            }
            // Looked at after the queue: a command posted before the close is still taken.
            if self.shared.closed.load(Ordering::Acquire) && self.rx.is_empty() {
                return Err(RecvTimeoutError::Disconnected);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(RecvTimeoutError::Timeout);
            }
            let idle = || self.rx.is_empty() && !self.shared.closed.load(Ordering::Acquire);
            self.shared.bell.wait_while(idle, deadline - now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_deadline_with_nothing_posted_is_a_timeout_after_the_deadline() {
        let (_post, mailbox) = mailbox::<u32>(4);
        let start = Instant::now();
        let deadline = start + Duration::from_millis(30);
        assert_eq!(
            mailbox.recv_deadline(deadline),
            Err(RecvTimeoutError::Timeout)
        );
        assert!(Instant::now() >= deadline);
        // A deadline already past does not wait at all.
        assert_eq!(mailbox.recv_deadline(start), Err(RecvTimeoutError::Timeout));
    }

    #[test]
    fn a_command_ends_the_wait_at_once_and_arrives_in_order() {
        let (post, mailbox) = mailbox::<u32>(4);
        let waiter = std::thread::spawn(move || {
            let far = Instant::now() + Duration::from_secs(60);
            let got: Vec<u32> = (0..3)
                .map(|_| mailbox.recv_deadline(far).unwrap())
                .collect();
            (got, mailbox.recv_deadline(far))
        });
        std::thread::sleep(Duration::from_millis(20));
        for k in 0..3 {
            post.try_send(k).unwrap();
        }
        drop(post);
        let (got, end) = waiter.join().unwrap();
        assert_eq!(got, vec![0, 1, 2]);
        assert_eq!(end, Err(RecvTimeoutError::Disconnected));
    }

    #[test]
    fn a_full_mailbox_hands_the_command_back() {
        let (post, mailbox) = mailbox::<u32>(1);
        assert_eq!(post.try_send(1), Ok(()));
        assert_eq!(post.try_send(2), Err(2));
        let now = Instant::now();
        assert_eq!(mailbox.recv_deadline(now), Ok(1));
        drop(mailbox);
        assert_eq!(post.try_send(3), Err(3));
    }

    /// Stress: a poster and a waiter that wakes on a 1 ms clock, 20,000 commands; every one
    /// arrives exactly once and in order, and the close is seen after the last.
    #[test]
    fn nothing_is_lost_or_doubled_under_a_racing_clock() {
        const N: u32 = 20_000;
        let (post, mailbox) = mailbox::<u32>(8);
        let waiter = std::thread::spawn(move || {
            let mut next = 0u32;
            let mut timeouts = 0u64;
            loop {
                let deadline = Instant::now() + Duration::from_millis(1);
                match mailbox.recv_deadline(deadline) {
                    Ok(k) => {
                        assert_eq!(k, next, "out of order or doubled");
                        next += 1;
                    }
                    Err(RecvTimeoutError::Timeout) => timeouts += 1,
                    Err(RecvTimeoutError::Disconnected) => return (next, timeouts),
                }
            }
        });
        let mut k = 0;
        while k < N {
            match post.try_send(k) {
                Ok(()) => k += 1,
                Err(_) => std::thread::yield_now(),
            }
        }
        drop(post);
        let (received, _timeouts) = waiter.join().unwrap();
        assert_eq!(received, N);
    }
}
