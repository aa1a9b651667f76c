//! Plays an audio file into the same kind of ring a sound card feeds, so the rest of the
//! pipeline cannot tell a file from a microphone.
//!
//! A background thread decodes the file with [`AudioFile`] and pushes its frames:
//!
//! * [`Pace::RealTime`] pushes blocks of [`REALTIME_BLOCK_FRAMES`] frames on the wall clock,
//!   each at the moment a sound card would have finished capturing it; like a device it never
//!   waits for the consumer, so frames that do not fit in the ring are dropped and counted.
//! * [`Pace::Fast`] pushes as fast as the consumer takes them and never drops: when the ring
//!   is full it waits until the engine makes room ([`RingProducer::push_waiting`]), and each
//!   push wakes the engine.
//!
//! When the thread ends (all pushed, stopped, or failed) it drops the ring's producer, so
//! [`RingConsumer::producer_alive`] turns false once the last frame is in the ring.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::decode::AudioFile;
use crate::error::{Error, Result};
use crate::stream::{ring, RingConsumer, RingProducer};

/// Frames per push in [`Pace::RealTime`] (about 11.6 ms at 44.1 kHz, a typical device period).
pub const REALTIME_BLOCK_FRAMES: usize = 512;

/// How often [`Pace::Fast`] looks at its stop flag while it waits for room (the wait itself
/// ends as soon as the engine makes room).
const STOP_POLL: Duration = Duration::from_millis(20);

/// How a [`FilePlayer`] feeds its ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// At the file's own rate by the wall clock, in device-sized blocks; drops (and counts)
    /// frames when the ring is full, exactly like a live device.
    RealTime,
    /// As fast as the consumer keeps up; waits when the ring is full and never drops.
    Fast,
}

/// State shared between the player and its thread.
#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    finished: AtomicBool,
    error: OnceLock<String>,
}

/// A file being played into a ring by a background thread.
///
/// Dropping it stops the thread and waits for it to end.
#[derive(Debug)]
pub struct FilePlayer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
    sample_rate: u32,
    channels: usize,
    duration_s: Option<f64>,
}

impl FilePlayer {
    /// Opens `path` and starts playing it into a new ring of `ring_capacity_s` seconds (at the
    /// file's rate and channel count), returned with the player.
    ///
    /// # Errors
    /// Everything [`AudioFile::open`] reports (missing, empty, not audio, unsupported codec),
    /// before any thread is started; [`Error::InvalidSetting`] for a non-positive capacity.
    /// Errors found later, while decoding, are reported by [`error`](Self::error).
    pub fn start(
        path: &Path,
        pace: Pace,
        ring_capacity_s: f64,
    ) -> Result<(FilePlayer, RingConsumer)> {
        if !(ring_capacity_s.is_finite() && ring_capacity_s > 0.0) {
            return Err(Error::InvalidSetting {
                name: "ring_capacity_s",
                value: ring_capacity_s.to_string(),
                reason: "must be a positive number of seconds".into(),
            });
        }
        let file = AudioFile::open(path)?;
        let (sample_rate, channels) = (file.sample_rate(), file.channels());
        let duration_s = file.duration_s();
        let capacity_frames = (ring_capacity_s * sample_rate as f64).ceil().max(1.0) as usize;
        let (producer, consumer) = ring(channels, capacity_frames);

        let shared = Arc::new(Shared::default());
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("mstag-file-player".into())
            .spawn(move || {
                // Dropped last, after `play` has dropped the producer: `finished` is only seen
                // once the consumer can also see the producer gone.
                let _finish = FinishGuard(thread_shared.clone());
                if let Err(e) = play(file, producer, pace, &thread_shared.stop) {
                    let _ = thread_shared.error.set(crate::error::report(&e));
                }
            })
            .map_err(|e| Error::Decode {
                path: path.to_path_buf(),
                reason: "cannot start the file player thread".into(),
                source: Some(Box::new(e)),
            })?;

        Ok((
            FilePlayer {
                shared,
                thread: Some(thread),
                path: path.to_path_buf(),
                sample_rate,
                channels,
                duration_s,
            },
            consumer,
        ))
    }

    /// The file being played.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's sample rate in Hz (the rate of the samples in the ring).
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Interleaved channels per frame in the ring.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The file's duration in seconds, if its container states it.
    pub fn duration_s(&self) -> Option<f64> {
        self.duration_s
    }

    /// The player thread has ended: every frame was pushed, it was stopped, or decoding
    /// failed (see [`error`](Self::error)). The ring's producer is gone by then.
    pub fn finished(&self) -> bool {
        self.shared.finished.load(Ordering::Acquire)
    }

    /// The decode error that ended playback early, if any.
    pub fn error(&self) -> Option<String> {
        self.shared.error.get().cloned()
    }

    /// Asks the thread to stop after its current block (within a few milliseconds). Does not
    /// wait; dropping the player waits for the thread.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
    }
}

impl Drop for FilePlayer {
    fn drop(&mut self) {
        self.stop();
        if let Some(thread) = self.thread.take() {
            // A panic in the thread was already turned into `error()` by its guard.
            let _ = thread.join();
        }
    }
}

/// Marks the player finished when its thread ends, even by panic.
struct FinishGuard(Arc<Shared>);

impl Drop for FinishGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.0.error.set("file player thread panicked".into());
        }
        self.0.finished.store(true, Ordering::Release);
    }
}

/// The thread body. Takes the producer by value so it is dropped when playback ends.
fn play(
    mut file: AudioFile,
    mut producer: RingProducer,
    pace: Pace,
    stop: &AtomicBool,
) -> Result<()> {
    match pace {
        Pace::RealTime => play_realtime(&mut file, &mut producer, stop),
        Pace::Fast => play_fast(&mut file, &mut producer, stop),
    }
}

/// Pushes block `k` at `start + (frames up to and including block k) / rate`, when a sound
/// card would have delivered it. Falls behind gracefully (no sleep) if decoding is slow.
fn play_realtime(
    file: &mut AudioFile,
    producer: &mut RingProducer,
    stop: &AtomicBool,
) -> Result<()> {
    let channels = file.channels();
    let rate = f64::from(file.sample_rate());
    let mut blocks = Blocks::new(channels);
    let mut block = Vec::with_capacity(REALTIME_BLOCK_FRAMES * channels);
    let mut sent: u64 = 0;
    let start = Instant::now();
    loop {
        if stop.load(Ordering::Acquire) {
            return Ok(());
        }
        let n = blocks.next(file, REALTIME_BLOCK_FRAMES, &mut block)?;
        if n == 0 {
            return Ok(());
        }
        sent += n as u64;
        let due = start + Duration::from_secs_f64(sent as f64 / rate);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        producer.push_interleaved(&block);
    }
}

/// Pushes every decoded frame, waiting for room instead of dropping.
fn play_fast(file: &mut AudioFile, producer: &mut RingProducer, stop: &AtomicBool) -> Result<()> {
    let channels = file.channels();
    let mut packet = Vec::new();
    loop {
        if stop.load(Ordering::Acquire) {
            return Ok(());
        }
        let frames = file.read(&mut packet)?;
        if frames == 0 {
            return Ok(());
        }
        // Waits for room (waking the engine as it pushes): nothing is dropped unless stopped.
        let pushed = producer.push_waiting(&packet[..frames * channels], stop, None, STOP_POLL);
        if pushed < frames {
            return Ok(());
        }
    }
}

/// Re-chunks decoded packets (whatever size the codec uses) into fixed-size blocks.
struct Blocks {
    channels: usize,
    packet: Vec<f32>,
    /// Next unread sample in `packet`.
    pos: usize,
}

impl Blocks {
    fn new(channels: usize) -> Self {
        Blocks {
            channels,
            packet: Vec::new(),
            pos: 0,
        }
    }

    /// Fills `out` with up to `frames` frames; fewer only at the end of the file. Returns the
    /// frame count (0 at the end).
    fn next(&mut self, file: &mut AudioFile, frames: usize, out: &mut Vec<f32>) -> Result<usize> {
        out.clear();
        let want = frames * self.channels;
        while out.len() < want {
            if self.pos >= self.packet.len() {
                self.pos = 0;
                if file.read(&mut self.packet)? == 0 {
                    break;
                }
            }
            let take = (want - out.len()).min(self.packet.len() - self.pos);
            out.extend_from_slice(&self.packet[self.pos..self.pos + take]);
            self.pos += take;
        }
        Ok(out.len() / self.channels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "mstag-player-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).expect("create temp dir");
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Writes a 16-bit WAV whose samples are a counter, so order and loss are easy to check.
    fn write_counter_wav(path: &Path, rate: u32, channels: u16, frames: usize) -> Vec<f32> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        let mut want = Vec::new();
        for i in 0..frames * channels as usize {
            let s = ((i % 65_536) as i32 - 32_768) as i16;
            w.write_sample(s).unwrap();
            want.push(s as f32 / 32_768.0);
        }
        w.finalize().unwrap();
        want
    }

    /// Pops everything until the producer is gone and the ring is empty.
    fn drain(consumer: &mut RingConsumer, timeout: Duration) -> Vec<f32> {
        let mut got = Vec::new();
        let mut buf = vec![0.0f32; 4096];
        let start = Instant::now();
        loop {
            let alive = consumer.producer_alive();
            let n = consumer.pop_frames(&mut buf);
            got.extend_from_slice(&buf[..n]);
            if n == 0 {
                if !alive {
                    return got;
                }
                assert!(
                    start.elapsed() < timeout,
                    "playback did not finish in {timeout:?}"
                );
                std::thread::sleep(Duration::from_micros(500));
            }
        }
    }

    /// `finished` is set just after the thread dropped the producer (which is what ends
    /// `drain`): waits for it, up to 5 s.
    fn finishes(player: &FilePlayer) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !player.finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        player.finished()
    }

    #[test]
    fn fast_delivers_every_sample_in_order() {
        let dir = TempDir::new();
        let path = dir.0.join("counter.wav");
        let want = write_counter_wav(&path, 44_100, 2, 50_000);
        // A ring much smaller than the file forces the player to wait for room.
        let (player, mut consumer) = FilePlayer::start(&path, Pace::Fast, 0.01).unwrap();
        assert_eq!((player.sample_rate(), player.channels()), (44_100, 2));
        assert_eq!(consumer.channels(), 2);
        let got = drain(&mut consumer, Duration::from_secs(30));
        assert!(finishes(&player));
        assert_eq!(player.error(), None);
        assert_eq!(consumer.stats().dropped_frames(), 0);
        assert_eq!(consumer.stats().pushed_frames(), 50_000);
        assert_eq!(got.len(), want.len());
        assert!(got == want, "samples differ or are out of order");
    }

    #[test]
    fn realtime_takes_about_the_files_duration() {
        let dir = TempDir::new();
        let path = dir.0.join("short.wav");
        let rate = 22_050;
        let frames = (rate as f64 * 0.3) as usize;
        let want = write_counter_wav(&path, rate, 1, frames);
        let start = Instant::now();
        let (player, mut consumer) = FilePlayer::start(&path, Pace::RealTime, 1.0).unwrap();
        let got = drain(&mut consumer, Duration::from_secs(10));
        let took = start.elapsed().as_secs_f64();
        assert!(
            took >= 0.15,
            "real-time playback of 0.3 s took only {took:.3} s"
        );
        assert!(took < 3.0, "real-time playback of 0.3 s took {took:.3} s");
        assert!(finishes(&player));
        assert_eq!(player.error(), None);
        assert_eq!(got, want);
    }

    #[test]
    fn realtime_drops_like_a_device_when_nobody_reads() {
        let dir = TempDir::new();
        let path = dir.0.join("drop.wav");
        write_counter_wav(&path, 8_000, 1, 2_400); // 0.3 s
        let (player, consumer) = FilePlayer::start(&path, Pace::RealTime, 0.1).unwrap();
        while !player.finished() {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!consumer.producer_alive());
        assert_eq!(consumer.stats().pushed_frames(), 800);
        assert_eq!(consumer.stats().dropped_frames(), 1_600);
    }

    #[test]
    fn stop_and_drop_end_playback_promptly() {
        let dir = TempDir::new();
        let path = dir.0.join("long.wav");
        write_counter_wav(&path, 8_000, 1, 80_000); // 10 s
        for pace in [Pace::RealTime, Pace::Fast] {
            // Nobody reads: Fast blocks on the full ring, RealTime sleeps between blocks.
            let (player, consumer) = FilePlayer::start(&path, pace, 0.05).unwrap();
            std::thread::sleep(Duration::from_millis(30));
            assert!(!player.finished());
            let t = Instant::now();
            drop(player);
            assert!(
                t.elapsed() < Duration::from_millis(500),
                "{pace:?} stop took {:?}",
                t.elapsed()
            );
            assert!(!consumer.producer_alive());
        }
    }

    #[test]
    fn open_errors_come_back_before_any_thread() {
        let dir = TempDir::new();
        let missing = dir.0.join("missing.wav");
        let Err(err) = FilePlayer::start(&missing, Pace::Fast, 1.0) else {
            panic!("started a player for a missing file");
        };
        assert!(
            err.to_string().contains(&*missing.to_string_lossy()),
            "{err}"
        );
        let path = dir.0.join("ok.wav");
        write_counter_wav(&path, 8_000, 1, 10);
        assert!(matches!(
            FilePlayer::start(&path, Pace::Fast, 0.0),
            Err(Error::InvalidSetting { .. })
        ));
    }

    #[test]
    fn truncated_file_plays_what_it_has() {
        let dir = TempDir::new();
        let full = dir.0.join("full.wav");
        let want = write_counter_wav(&full, 8_000, 1, 8_000);
        let bytes = std::fs::read(&full).unwrap();
        let cut = dir.0.join("cut.wav");
        std::fs::write(&cut, &bytes[..44 + 8_000]).unwrap(); // half the data
        let (player, mut consumer) = FilePlayer::start(&cut, Pace::Fast, 0.1).unwrap();
        let got = drain(&mut consumer, Duration::from_secs(10));
        assert_eq!(player.error(), None);
        assert!(!got.is_empty() && got.len() <= 4_000);
        assert_eq!(got[..], want[..got.len()]);
    }
}
