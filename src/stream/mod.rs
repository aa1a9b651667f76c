//! The hand-off from audio threads to the inference thread: a lock-free SPSC ring of
//! interleaved `f32` samples.
//!
//! The producer half is all an audio thread owns. Its push methods never allocate, lock,
//! block or make a system call: when the ring is full the frames that do not fit are
//! dropped and counted, so a slow consumer can never make the audio side wait.
//!
//! A producer that is *not* a real-time thread (a file played as fast as the engine takes it,
//! a plugin host rendering offline) may instead wait for room
//! ([`RingProducer::push_waiting`]); it then also wakes the consumer when it pushes. The
//! consumer waits for input with [`RingConsumer::wait_for_input`]. Both waits go through a
//! [`bell::Bell`] each, whose protocol cannot lose a wake-up (model-checked with loom in
//! `tests/loom_bell.rs`), so the two sides can never both sleep while the other waits.

use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub mod bell;

/// The primitives [`bell`] is written against (loom's in its model-checked test).
mod sync {
    pub use std::sync::Mutex;
    pub use std::thread::{park_timeout, Thread};
    pub fn thread_current() -> Thread {
        std::thread::current()
    }
}

use bell::Bell;

use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};

/// Counters shared by both halves (and whoever wants to report them).
#[derive(Debug, Default)]
pub struct RingStats {
    dropped_frames: AtomicU64,
    pushed_frames: AtomicU64,
}

/// The two doorbells of a ring: the consumer waits on `input`, a waiting producer on `room`.
#[derive(Debug, Default)]
struct Bells {
    input: Bell,
    room: Bell,
}

impl RingStats {
    /// Frames (one sample per channel) dropped because the ring was full.
    pub fn dropped_frames(&self) -> u64 {
        self.dropped_frames.load(Ordering::Relaxed)
    }
    /// Frames accepted into the ring.
    pub fn pushed_frames(&self) -> u64 {
        self.pushed_frames.load(Ordering::Relaxed)
    }
}

/// Audio-thread side of the ring. Only whole frames are pushed, so channels never slip.
pub struct RingProducer {
    /// Dropped by hand in `Drop`, before the consumer is woken to see it gone.
    prod: ManuallyDrop<HeapProd<f32>>,
    channels: usize,
    stats: Arc<RingStats>,
    bells: Arc<Bells>,
}

/// Inference-thread side of the ring.
pub struct RingConsumer {
    cons: HeapCons<f32>,
    channels: usize,
    stats: Arc<RingStats>,
    bells: Arc<Bells>,
}

/// Makes a ring holding `capacity_frames` frames of `channels` interleaved samples.
/// Allocates, and writes to every page of the ring's memory so that the operating system
/// maps it now: a fresh allocation is only mapped on first write, and those page faults
/// would otherwise land in the audio callback during the first pass through the ring (a
/// plugin's 4 MiB ring takes 22 s to fill). Call it before the audio starts.
pub fn ring(channels: usize, capacity_frames: usize) -> (RingProducer, RingConsumer) {
    const STRIDE: usize = 512; // 2 KiB: at least one write per page of 4 KiB or more
    let channels = channels.max(1);
    let len = capacity_frames.max(1) * channels;
    let mut storage = vec![0.0f32; len];
    // Every 512th sample and the last one: the allocation need not start on a page, so the
    // stride alone could leave the last page untouched.
    let last = len - 1;
    for i in (0..len).step_by(STRIDE).chain(std::iter::once(last)) {
        // SAFETY: `i < len`, so the pointer is in bounds, aligned and exclusively ours.
        // Volatile, so that the write (which maps the page) is not elided as storing a
        // known zero.
        unsafe { std::ptr::write_volatile(storage.as_mut_ptr().add(i), 0.0) };
    }
    // From a Vec the ring starts full (of those zeros): empty it.
    let mut rb = HeapRb::<f32>::from(storage);
    rb.clear();
    let (prod, cons) = rb.split();
    let stats = Arc::new(RingStats::default());
    let bells = Arc::new(Bells::default());
    (
        RingProducer {
            prod: ManuallyDrop::new(prod),
            channels,
            stats: stats.clone(),
            bells: bells.clone(),
        },
        RingConsumer {
            cons,
            channels,
            stats,
            bells,
        },
    )
}

impl RingProducer {
    /// Interleaved channels per frame; every push takes whole frames.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The counters this ring shares with its consumer (frames pushed and dropped).
    pub fn stats(&self) -> &Arc<RingStats> {
        &self.stats
    }

    /// Frames that fit right now.
    #[inline]
    pub fn vacant_frames(&self) -> usize {
        self.prod.vacant_len() / self.channels
    }

    /// Pushes interleaved `f32` samples (a trailing partial frame is ignored). Returns the
    /// frames pushed; the rest are dropped and counted. Real-time safe.
    #[inline]
    pub fn push_interleaved(&mut self, samples: &[f32]) -> usize {
        let frames = samples.len() / self.channels;
        let fit = frames.min(self.vacant_frames());
        if fit > 0 {
            self.prod.push_slice(&samples[..fit * self.channels]);
        }
        self.account(frames, fit)
    }

    /// Pushes interleaved samples of any type (for i16/i32 devices), converted through a
    /// 4 KiB buffer on the stack and copied into the ring a slice at a time (a fifth of the
    /// time of pushing them one by one: BENCHMARKS.md). Real-time safe.
    #[inline]
    pub fn push_converted<T: Copy>(&mut self, samples: &[T], convert: impl Fn(T) -> f32) -> usize {
        const SCRATCH: usize = 1024;
        let frames = samples.len() / self.channels;
        let fit = frames.min(self.vacant_frames());
        let per = SCRATCH / self.channels * self.channels;
        if fit > 0 && per > 0 {
            let mut scratch = [0.0f32; SCRATCH];
            for chunk in samples[..fit * self.channels].chunks(per) {
                let dst = &mut scratch[..chunk.len()];
                for (d, &s) in dst.iter_mut().zip(chunk) {
                    *d = convert(s);
                }
                // Cannot fall short: `fit` frames were vacant and only this thread pushes.
                self.prod.push_slice(dst);
            }
        } else if fit > 0 {
            // More than 1024 channels: one sample at a time.
            self.prod
                .push_iter(samples[..fit * self.channels].iter().map(|&s| convert(s)));
        }
        self.account(frames, fit)
    }

    /// Pushes every whole frame of `samples`, waiting for room whenever the ring is full, and
    /// wakes the consumer after each push. For producers that may wait (a file played as fast
    /// as the engine takes it, a host rendering offline); **never on a real-time thread**.
    /// Gives up, returning the frames pushed so far, when `stop` is set (the rest is not
    /// played, so not counted) or at `deadline` (the rest is counted as dropped, as a full
    /// ring's frames are); both are checked at least every `poll` while waiting. The wait
    /// itself cannot miss the consumer making room ([`bell`]).
    pub fn push_waiting(
        &mut self,
        samples: &[f32],
        stop: &AtomicBool,
        deadline: Option<Instant>,
        poll: Duration,
    ) -> usize {
        let ch = self.channels;
        let frames = samples.len() / ch;
        let mut done = 0;
        while done < frames {
            let room = self.vacant_frames().min(frames - done);
            if room > 0 {
                self.prod
                    .push_slice(&samples[done * ch..(done + room) * ch]);
                self.stats
                    .pushed_frames
                    .fetch_add(room as u64, Ordering::Relaxed);
                done += room;
                self.bells.input.ring();
                continue;
            }
            if stop.load(Ordering::Acquire) {
                return done;
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                break;
            }
            let wait = deadline.map_or(poll, |d| poll.min(d - now));
            self.bells
                .room
                .wait_while(|| self.prod.vacant_len() < ch, wait);
        }
        if frames > done {
            self.stats
                .dropped_frames
                .fetch_add((frames - done) as u64, Ordering::Relaxed);
        }
        done
    }

    #[inline]
    fn account(&self, offered: usize, pushed: usize) -> usize {
        if pushed > 0 {
            self.stats
                .pushed_frames
                .fetch_add(pushed as u64, Ordering::Relaxed);
        }
        if offered > pushed {
            self.stats
                .dropped_frames
                .fetch_add((offered - pushed) as u64, Ordering::Relaxed);
        }
        pushed
    }
}

impl RingConsumer {
    /// Interleaved channels per frame; pops return whole frames only.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The counters this ring shares with its producer (frames pushed and dropped).
    pub fn stats(&self) -> &Arc<RingStats> {
        &self.stats
    }

    /// Pops up to `out.len()` samples, whole frames only; returns the number of samples.
    /// Wakes a producer waiting for room ([`RingProducer::push_waiting`]).
    pub fn pop_frames(&mut self, out: &mut [f32]) -> usize {
        let avail = self.cons.occupied_len() / self.channels * self.channels;
        let want = (out.len() / self.channels * self.channels).min(avail);
        let n = self.cons.pop_slice(&mut out[..want]);
        if n > 0 {
            self.bells.room.ring();
        }
        n
    }

    /// Sleeps until a whole frame is in the ring, the producer is gone, the thread is
    /// unparked, or `timeout` passes. A producer that pushes with
    /// [`RingProducer::push_waiting`] (or drops its half) wakes it at once; a real-time
    /// producer never does (it must not make system calls), so then it is a plain timed
    /// sleep. Returns at once if there is input already.
    pub fn wait_for_input(&self, timeout: Duration) {
        let ch = self.channels;
        self.bells.input.wait_while(
            || self.cons.occupied_len() < ch && self.cons.write_is_held(),
            timeout,
        );
    }

    /// Samples waiting in the ring.
    pub fn occupied_samples(&self) -> usize {
        self.cons.occupied_len()
    }

    /// Whether the producer half still exists.
    pub fn producer_alive(&self) -> bool {
        self.cons.write_is_held()
    }
}

impl Drop for RingProducer {
    fn drop(&mut self) {
        // SAFETY: `prod` is not used again: this is the producer's last use.
        unsafe { ManuallyDrop::drop(&mut self.prod) };
        // The consumer may be waiting for input: it must see the producer gone.
        self.bells.input.ring();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_ring_drops_whole_frames_and_counts_them() {
        let (mut p, mut c) = ring(2, 4);
        let data: Vec<f32> = (0..12).map(|i| i as f32).collect();
        assert_eq!(p.push_interleaved(&data), 4);
        assert_eq!(p.stats().dropped_frames(), 2);
        let mut out = [0.0f32; 16];
        let n = c.pop_frames(&mut out);
        assert_eq!(&out[..n], &data[..8]);
        assert_eq!(
            p.push_converted(&[i16::MAX, i16::MIN], |s| s as f32 / 32768.0),
            1
        );
        let n = c.pop_frames(&mut out);
        assert_eq!(n, 2);
        assert!((out[0] - 0.99997).abs() < 1e-4 && out[1] == -1.0);
        assert_eq!(c.stats().pushed_frames(), 5);
    }

    #[test]
    fn converted_pushes_cross_the_scratch_buffer_in_order_and_drop_what_does_not_fit() {
        // 3 channels (1024 is not a multiple of 3), 1500 frames offered, 1200 fit.
        let (mut p, mut c) = ring(3, 1200);
        let data: Vec<i16> = (0..4500)
            .map(|i| (i * 7 % 65_536 - 32_768) as i16)
            .collect();
        assert_eq!(p.push_converted(&data, |s| s as f32), 1200);
        assert_eq!(p.stats().dropped_frames(), 300);
        let mut out = vec![0.0f32; 4500];
        let n = c.pop_frames(&mut out);
        assert_eq!(n, 3600);
        let want: Vec<f32> = data[..3600].iter().map(|&s| s as f32).collect();
        assert_eq!(&out[..n], &want[..]);
    }

    #[test]
    fn converted_pushes_work_past_the_scratch_buffer_width() {
        // More channels than the 1024-sample scratch buffer holds: one sample at a time.
        let (mut p, mut c) = ring(1500, 2);
        let data: Vec<i32> = (0..3000).collect();
        assert_eq!(p.push_converted(&data, |s| s as f32), 2);
        let mut out = vec![0.0f32; 3000];
        assert_eq!(c.pop_frames(&mut out), 3000);
        assert!(out.iter().enumerate().all(|(i, &v)| v == i as f32));
    }
}
