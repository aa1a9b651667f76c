//! The file decoding path must turn any bytes into audio or a clear error, never a panic or
//! a hang. Inputs are written to a file because that is how users hand audio to mstag.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("mstag-fuzz-decode-{}.bin", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(mut f) = mstag::decode::AudioFile::open(&path) {
        let mut buf = Vec::new();
        let mut frames = 0u64;
        // Bounded: a tiny input cannot legitimately hold more than this many frames.
        while let Ok(n) = f.read(&mut buf) {
            if n == 0 || frames > 50_000_000 {
                break;
            }
            frames += n as u64;
        }
    }
});
