//! The audio-thread side: copy what the host plays into the engine's ring, as mono.
//!
//! Nothing here allocates, locks, logs or makes a system call: the mix-down buffer is
//! allocated once, and the ring's producer drops (and counts) what does not fit.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use mstag::stream::RingProducer;

/// Frames mixed down per push into the ring.
pub const CHUNK_FRAMES: usize = 1024;

/// Longest a push waits for room in offline rendering before it drops (a stuck engine must not
/// hang the host's bounce).
pub const OFFLINE_WAIT: Duration = Duration::from_secs(2);

/// Owns the ring's producer and a preallocated mono buffer.
pub struct AudioFeed {
    producer: RingProducer,
    mono: Box<[f32]>,
    wait_when_full: bool,
}

impl AudioFeed {
    /// `producer` must be a mono ring (the plugin mixes down before pushing).
    pub fn new(producer: RingProducer) -> AudioFeed {
        debug_assert_eq!(producer.channels(), 1);
        AudioFeed {
            producer,
            mono: vec![0.0; CHUNK_FRAMES].into_boxed_slice(),
            wait_when_full: false,
        }
    }

    /// In offline rendering (a bounce, faster than real time) the host is not a real-time
    /// thread: instead of dropping what does not fit, a push then waits (sleeping, up to
    /// [`OFFLINE_WAIT`]) for the engine to make room, so that the whole bounce is analysed;
    /// the wait ends as soon as the engine pops, and each push wakes the engine.
    /// Off (drop and count) for real-time processing.
    pub fn set_wait_when_full(&mut self, wait: bool) {
        self.wait_when_full = wait;
    }

    #[inline]
    fn push(producer: &mut RingProducer, wait: bool, frames: &[f32]) -> usize {
        if wait {
            // Offline: wait for room (and wake the engine) instead of dropping.
            static NEVER: AtomicBool = AtomicBool::new(false);
            let deadline = Instant::now() + OFFLINE_WAIT;
            producer.push_waiting(frames, &NEVER, Some(deadline), OFFLINE_WAIT)
        } else {
            producer.push_interleaved(frames)
        }
    }

    /// Pushes one block of planar audio (one slice per channel, equal lengths) as its mono
    /// mix (the mean of the channels). Any block size works; the block is read, never written.
    /// Returns the frames accepted by the ring. Real-time safe (no allocation, lock or system
    /// call) unless [`AudioFeed::set_wait_when_full`] is on.
    #[inline]
    pub fn push_planar<S: AsRef<[f32]>>(&mut self, channels: &[S]) -> usize {
        match channels {
            [] => 0,
            [mono] => {
                let wait = self.wait_when_full;
                mono.as_ref()
                    .chunks(CHUNK_FRAMES)
                    .map(|c| Self::push(&mut self.producer, wait, c))
                    .sum()
            }
            [first, rest @ ..] => {
                let len = first.as_ref().len();
                let gain = 1.0 / channels.len() as f32;
                let mut pushed = 0;
                let mut start = 0;
                while start < len {
                    let n = CHUNK_FRAMES.min(len - start);
                    let out = &mut self.mono[..n];
                    out.copy_from_slice(&first.as_ref()[start..start + n]);
                    for ch in rest {
                        let ch = &ch.as_ref()[start..start + n];
                        for (o, &x) in out.iter_mut().zip(ch) {
                            *o += x;
                        }
                    }
                    for o in out.iter_mut() {
                        *o *= gain;
                    }
                    pushed += Self::push(&mut self.producer, self.wait_when_full, out);
                    start += n;
                }
                pushed
            }
        }
    }

    /// Frames dropped so far because the engine lagged.
    pub fn dropped_frames(&self) -> u64 {
        self.producer.stats().dropped_frames()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mstag::stream::ring;

    #[test]
    fn stereo_is_mixed_down_and_mono_passes_as_is() {
        let (p, mut c) = ring(1, 8192);
        let mut feed = AudioFeed::new(p);
        let l: Vec<f32> = (0..3000).map(|i| i as f32).collect();
        let r: Vec<f32> = (0..3000).map(|i| -(i as f32) + 1.0).collect();
        assert_eq!(feed.push_planar(&[&l[..], &r[..]]), 3000);
        assert_eq!(feed.push_planar(&[&l[..5]]), 5);
        let mut out = vec![0.0; 8192];
        let n = c.pop_frames(&mut out);
        assert_eq!(n, 3005);
        assert!(out[..3000].iter().all(|&x| x == 0.5));
        assert_eq!(&out[3000..3005], &l[..5]);
    }

    #[test]
    fn offline_rendering_waits_for_room_instead_of_dropping() {
        let (p, mut c) = ring(1, 1024);
        let mut feed = AudioFeed::new(p);
        feed.set_wait_when_full(true);
        let x = vec![0.25f32; 4096];
        let reader = std::thread::spawn(move || {
            let mut got = 0;
            let mut buf = vec![0.0; 256];
            while got < 4096 {
                got += c.pop_frames(&mut buf);
                std::thread::sleep(Duration::from_millis(1));
            }
            got
        });
        assert_eq!(feed.push_planar(&[&x[..]]), 4096);
        assert_eq!(feed.dropped_frames(), 0);
        assert_eq!(reader.join().unwrap(), 4096);
        // Real time: what does not fit is dropped at once.
        feed.set_wait_when_full(false);
        assert_eq!(feed.push_planar(&[&x[..], &x[..]]), 1024);
        assert_eq!(feed.dropped_frames(), 4096 - 1024);
    }
}
