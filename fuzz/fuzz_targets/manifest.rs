//! The manifest parser must turn any input into a manifest or a clear error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(m) = mstag::model::Manifest::parse(text, std::path::Path::new("/fuzz/manifest.json")) {
            // A manifest that validates must be usable by the engine's arithmetic.
            let _ = m.feature_dim();
            let _ = mstag::offline::min_duration_s(&m);
            let _ = mstag::dsp::MelFrontEnd::new(m.sample_rate, &m.frontend);
        }
    }
});
