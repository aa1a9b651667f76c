//! Model check of the ring's wait/wake protocol (`src/stream/bell.rs`) with loom: every
//! interleaving of a producer that waits for room and a consumer that waits for input, on a
//! ring of one or two slots. A lost wake-up would leave both threads parked for ever, which
//! loom reports as a deadlock. The timed sleeps of the real code are modelled as untimed
//! parks here, so the protocol must be right without the timeouts' help.

mod sync {
    pub use loom::sync::Mutex;
    pub use loom::thread::Thread;
    /// An untimed park: a timeout must never be what ends a wait.
    pub fn park_timeout(_: std::time::Duration) {
        loom::thread::park();
    }
    pub fn thread_current() -> Thread {
        loom::thread::current()
    }
}

#[path = "../src/stream/bell.rs"]
#[allow(dead_code)]
mod bell;

use bell::Bell;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::Arc;
use std::time::Duration;

/// A counter-based SPSC ring (indices only: the protocol is about when each side sleeps).
struct Ring {
    capacity: usize,
    written: AtomicUsize,
    read: AtomicUsize,
    producer_gone: AtomicBool,
    input: Bell,
    room: Bell,
}

impl Ring {
    fn occupied(&self) -> usize {
        self.written.load(Ordering::Acquire) - self.read.load(Ordering::Acquire)
    }
}

const FOREVER: Duration = Duration::from_secs(3600);

/// loom's exhaustive search with its preemption bound set (as loom's documentation
/// recommends): every interleaving with at most 3 preemptions, which is where bugs of this
/// kind live, in seconds instead of hours. `LOOM_MAX_PREEMPTIONS` overrides it.
fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    b.check(f);
}

/// The producer pushes `items` one at a time, waiting for room as `push_waiting` does; the
/// consumer pops until the producer is gone and the ring empty, waiting for input as the
/// engine does. Both must finish, with every item delivered.
fn producer_and_consumer(capacity: usize, items: usize) {
    model(move || {
        let ring = Arc::new(Ring {
            capacity,
            written: AtomicUsize::new(0),
            read: AtomicUsize::new(0),
            producer_gone: AtomicBool::new(false),
            input: Bell::new(),
            room: Bell::new(),
        });
        let p = ring.clone();
        let producer = loom::thread::spawn(move || {
            let mut done = 0;
            while done < items {
                if p.occupied() < p.capacity {
                    p.written.store(done + 1, Ordering::Release);
                    done += 1;
                    p.input.ring();
                } else {
                    p.room.wait_while(|| p.occupied() >= p.capacity, FOREVER);
                }
            }
            p.producer_gone.store(true, Ordering::Release);
            p.input.ring();
        });
        let mut popped = 0;
        loop {
            if ring.occupied() > 0 {
                let r = ring.read.load(Ordering::Relaxed);
                ring.read.store(r + 1, Ordering::Release);
                popped += 1;
                ring.room.ring();
                continue;
            }
            if ring.producer_gone.load(Ordering::Acquire) && ring.occupied() == 0 {
                break;
            }
            ring.input.wait_while(
                || ring.occupied() == 0 && !ring.producer_gone.load(Ordering::Acquire),
                FOREVER,
            );
        }
        producer.join().unwrap();
        assert_eq!(popped, items);
    });
}

#[test]
fn one_slot_ring_never_loses_a_wake_up() {
    producer_and_consumer(1, 2);
}

#[test]
fn two_slot_ring_never_loses_a_wake_up() {
    producer_and_consumer(2, 3);
}

/// The engine's other wake-up: a request (`Engine::wake`, an unpark) while it waits for
/// input that will not come, and the bell rung with nobody waiting (the token stays unused).
#[test]
fn an_unpark_ends_a_wait_and_a_ring_without_a_waiter_is_harmless() {
    model(|| {
        let bell = Arc::new(Bell::new());
        let requested = Arc::new(AtomicBool::new(false));
        bell.ring();
        let (b, r) = (bell.clone(), requested.clone());
        let waiter = loom::thread::spawn(move || {
            while !r.load(Ordering::Acquire) {
                b.wait_while(|| !r.load(Ordering::Acquire), FOREVER);
            }
        });
        requested.store(true, Ordering::Release);
        bell.ring();
        waiter.join().unwrap();
    });
}
