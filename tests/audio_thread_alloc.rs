//! The device data callback must not allocate. `assert_no_alloc` aborts the process on any
//! allocation inside `assert_no_alloc(|| ...)` (its `disable_release` feature is off in
//! Cargo.toml, so this holds in release builds too), so these tests passing proves the callback
//! path is allocation-free, including when the ring is full.

use assert_no_alloc::assert_no_alloc;
use mstag::capture::{capture_callback, StreamHealth};
use mstag::stream::ring;

#[global_allocator]
static A: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

/// Minor page faults taken by the calling thread so far.
fn thread_minor_faults() -> i64 {
    // SAFETY: all-zero is a valid `rusage`, which getrusage then fills.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    assert_eq!(rc, 0, "getrusage");
    ru.ru_minflt
}

/// A fresh allocation is only mapped on first write; `ring()` maps its memory up front, so the
/// audio thread's first pass through a new ring takes no page faults (each one a trip into the
/// kernel, tens of µs on a virtual machine).
#[test]
fn the_first_pass_through_a_new_ring_takes_no_page_faults() {
    // 64 MiB (16,384 pages of 4 KiB): above glibc's largest mmap threshold, so the memory is
    // always freshly mapped rather than reused from the heap.
    let (mut producer, _consumer) = ring(2, 1 << 23);
    let block = vec![0.25f32; 1024]; // 512 stereo frames
    let mut callbacks = 0;
    let before = thread_minor_faults();
    while capture_callback(&mut producer, &block) > 0 {
        callbacks += 1;
    }
    let faults = thread_minor_faults() - before;
    assert_eq!(callbacks, (1 << 23) / 512);
    assert!(faults < 4, "{faults} page faults while filling the ring");
}

#[test]
fn capture_callback_never_allocates_even_when_the_ring_is_full() {
    // Everything that allocates happens out here, before the "audio thread" part.
    let (mut producer, mut consumer) = ring(2, 64);
    let f: Vec<f32> = (0..96).map(|i| i as f32 / 96.0).collect(); // 48 frames
    let i16s: Vec<i16> = (0..96).map(|i| (i * 300) as i16).collect(); // 48 frames
    let i32s: Vec<i32> = (0..96).map(|i| i << 24).collect(); // 48 frames
    let health = StreamHealth::default();
    let mut out = vec![0.0f32; 512];

    let (a, b, c, popped, d) = assert_no_alloc(|| {
        let a = capture_callback(&mut producer, &f); // 48 fit
        let b = capture_callback(&mut producer, &i16s); // 16 fit, 32 dropped
        let c = capture_callback(&mut producer, &i32s); // full: all 48 dropped
        let popped = consumer.pop_frames(&mut out);
        let d = capture_callback(&mut producer, &i32s); // room again
        health.record(cpal::ErrorKind::Xrun); // the error callback's work
        (a, b, c, popped, d)
    });

    assert_eq!((a, b, c, d), (48, 16, 0, 48));
    assert_eq!(popped, 128);
    assert_eq!(&out[..96], &f[..]);
    assert_eq!(out[96], 0.0);
    assert_eq!(out[97], 300.0 / 32_768.0);
    let stats = producer.stats();
    assert_eq!(stats.pushed_frames(), 48 + 16 + 48);
    assert_eq!(stats.dropped_frames(), 32 + 48);
    assert_eq!(health.errors(), 1);

    let n = consumer.pop_frames(&mut out);
    assert_eq!(n, 96);
    assert_eq!(out[1], (1 << 24) as f32 / 2_147_483_648.0);
}

#[test]
fn other_sample_formats_never_allocate() {
    let (mut producer, mut consumer) = ring(1, 8);
    let u8s = [0u8, 128, 255];
    let u16s = [0u16, 32_768];
    let mut out = [0.0f32; 8];
    let n = assert_no_alloc(|| {
        capture_callback(&mut producer, &u8s);
        capture_callback(&mut producer, &u16s);
        capture_callback(&mut producer, &[0.5f64; 10]); // overflows the ring
        consumer.pop_frames(&mut out)
    });
    assert_eq!(n, 8);
    assert_eq!(&out[..5], &[-1.0, 0.0, 127.0 / 128.0, -1.0, 0.0]);
    assert_eq!(producer.stats().dropped_frames(), 7);
}

/// Guards the guard: an allocation inside `assert_no_alloc` must kill the
/// process, otherwise the tests above would prove nothing. Runs itself in a child process.
#[test]
fn allocation_inside_the_guard_aborts() {
    const PROBE: &str = "MSTAG_ALLOC_PROBE";
    if std::env::var_os(PROBE).is_some() {
        assert_no_alloc(|| {
            let v = std::hint::black_box(vec![1u8; 64]);
            std::hint::black_box(&v);
        });
        return; // not reached when the allocator guard works
    }
    let exe = std::env::current_exe().expect("test binary path");
    let status = std::process::Command::new(exe)
        .args([
            "--exact",
            "allocation_inside_the_guard_aborts",
            "--test-threads=1",
        ])
        .env(PROBE, "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run the probe");
    assert!(
        !status.success(),
        "allocating inside assert_no_alloc did not abort"
    );
}
