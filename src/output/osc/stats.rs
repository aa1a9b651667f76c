//! The sender's counters: shared with its thread as atomics, read as [`OscStats`].

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::OscTarget;

/// Counters of one receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverStats {
    /// The receiver as given ([`OscTarget::spec`]).
    pub receiver: String,
    /// The address packets go to.
    pub addr: SocketAddr,
    /// Packets sent to this receiver.
    pub packets_sent: u64,
    /// Bytes sent (UDP payload) to this receiver.
    pub bytes_sent: u64,
    /// Packets that could not be sent (refused, would block, any other error).
    pub send_errors: u64,
    /// False while the receiver is considered unreachable.
    pub reachable: bool,
}

/// What the sender has done so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OscStats {
    /// Send rounds (the thread's wake-ups), including those before the first scores.
    pub rounds: u64,
    /// Packets sent, over all receivers.
    pub packets_sent: u64,
    /// Bytes sent (UDP payload), over all receivers.
    pub bytes_sent: u64,
    /// Failed sends, over all receivers.
    pub send_errors: u64,
    /// Per receiver, in the order of [`OscConfig::targets`](super::OscConfig::targets).
    pub receivers: Vec<ReceiverStats>,
}

impl fmt::Display for OscStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "OSC: {} packets ({} bytes) to {} receiver(s), {} send errors",
            self.packets_sent,
            self.bytes_sent,
            self.receivers.len(),
            self.send_errors
        )
    }
}

/// One receiver's counters, written by the sender thread.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) packets: AtomicU64,
    pub(super) bytes: AtomicU64,
    pub(super) errors: AtomicU64,
    pub(super) down: AtomicBool,
}

/// Everything the sender thread counts, shared with its [`OscSender`](super::OscSender).
pub(super) struct Shared {
    pub(super) rounds: AtomicU64,
    pub(super) receivers: Vec<(OscTarget, Counters)>,
}

impl Shared {
    /// Zeroed counters for these receivers.
    pub(super) fn new(targets: &[OscTarget]) -> Shared {
        Shared {
            rounds: AtomicU64::new(0),
            receivers: targets
                .iter()
                .map(|t| (t.clone(), Counters::default()))
                .collect(),
        }
    }

    /// The counters now, with the totals over all receivers.
    pub(super) fn snapshot(&self) -> OscStats {
        let receivers: Vec<ReceiverStats> = self
            .receivers
            .iter()
            .map(|(t, c)| ReceiverStats {
                receiver: t.spec.clone(),
                addr: t.addr,
                packets_sent: c.packets.load(Ordering::Relaxed),
                bytes_sent: c.bytes.load(Ordering::Relaxed),
                send_errors: c.errors.load(Ordering::Relaxed),
                reachable: !c.down.load(Ordering::Relaxed),
            })
            .collect();
        OscStats {
            rounds: self.rounds.load(Ordering::Relaxed),
            packets_sent: receivers.iter().map(|r| r.packets_sent).sum(),
            bytes_sent: receivers.iter().map(|r| r.bytes_sent).sum(),
            send_errors: receivers.iter().map(|r| r.send_errors).sum(),
            receivers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_sums_the_receivers() {
        let targets = [
            OscTarget::parse("127.0.0.1:9000").unwrap(),
            OscTarget::parse("[::1]:9001").unwrap(),
        ];
        let shared = Shared::new(&targets);
        shared.rounds.fetch_add(7, Ordering::Relaxed);
        for (i, (_, c)) in shared.receivers.iter().enumerate() {
            let k = i as u64 + 1;
            c.packets.fetch_add(10 * k, Ordering::Relaxed);
            c.bytes.fetch_add(1000 * k, Ordering::Relaxed);
            c.errors.fetch_add(k, Ordering::Relaxed);
        }
        shared.receivers[1].1.down.store(true, Ordering::Relaxed);
        let s = shared.snapshot();
        assert_eq!(
            (s.rounds, s.packets_sent, s.bytes_sent, s.send_errors),
            (7, 30, 3000, 3)
        );
        assert_eq!(s.receivers[0].receiver, "127.0.0.1:9000");
        assert_eq!(s.receivers[1].addr, "[::1]:9001".parse().unwrap());
        assert_eq!(
            (s.receivers[0].reachable, s.receivers[1].reachable),
            (true, false)
        );
        assert_eq!(
            s.to_string(),
            "OSC: 30 packets (3000 bytes) to 2 receiver(s), 3 send errors"
        );
    }
}
