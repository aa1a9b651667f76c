//! The benchmark audio: the short set and the whole test split from the training cache (or
//! the demo clip repeated), and the short set converted to 48 kHz stereo.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use super::super::parse;
use super::super::AudioSet;
use crate::root;

/// Sample rate, channels, seconds of a WAV file (header only).
pub(super) fn wav_info(path: &Path) -> Option<(u32, u16, f64)> {
    let r = hound::WavReader::open(path).ok()?;
    let spec = r.spec();
    let secs = r.duration() as f64 / spec.sample_rate as f64;
    Some((spec.sample_rate, spec.channels, secs))
}

/// The short set's picks from the test split (name, seconds): round robin over the sources
/// (the name's first folder), each source's next track of at most 150 s, until at least 300 s.
fn pick_short(test: &[(String, f64)]) -> Vec<usize> {
    let mut sources: Vec<&str> = test
        .iter()
        .map(|(t, _)| t.split('/').next().unwrap_or(""))
        .collect();
    sources.dedup();
    let mut used = vec![false; test.len()];
    let (mut picks, mut secs) = (Vec::new(), 0.0);
    loop {
        let mut took = false;
        for src in &sources {
            let prefix = format!("{src}/");
            let next = (0..test.len())
                .find(|&i| !used[i] && test[i].0.starts_with(&prefix) && test[i].1 <= 150.0);
            if let Some(i) = next {
                used[i] = true;
                took = true;
                picks.push(i);
                secs += test[i].1;
                if secs >= 300.0 {
                    return picks;
                }
            }
        }
        if !took {
            return picks;
        }
    }
}

/// The demo clip copied 10 times into `dir`: the audio when the training cache is absent.
fn demo_set(dir: &Path) -> Result<(AudioSet, String)> {
    let demo = root().join("models").join("demo").join("demo.wav");
    let d = dir.join("demo-repeated");
    std::fs::create_dir_all(&d)?;
    let mut files = Vec::new();
    for i in 0..10 {
        let p = d.join(format!("demo{i:02}.wav"));
        std::fs::copy(&demo, &p)
            .with_context(|| format!("copying {} to {}", demo.display(), p.display()))?;
        files.push(p);
    }
    let set = AudioSet {
        name: "demo x10".into(),
        files,
        seconds: 10.0 * wav_info(&demo).map_or(30.0, |x| x.2),
        format: "22.05 kHz mono 16-bit WAV".into(),
    };
    let note = "the training cache (models/train/cache/audio) is absent: the audio is the \
                30 s demo clip copied 10 times, not a varied set of music";
    Ok((set, note.to_string()))
}

/// The short set of test-split tracks (see [`pick_short`]) and the whole test split as a long
/// second set; the demo clip repeated (and why) when the training cache is absent.
pub(super) fn audio_sets(dir: &Path) -> Result<(AudioSet, Option<AudioSet>, Option<String>)> {
    let train = root().join("models").join("train");
    let cache = train.join("cache").join("audio");
    let split = std::fs::read_to_string(train.join("split.json")).unwrap_or_default();
    let test: Vec<(String, PathBuf, f64)> = parse::split_tracks(&split, "test")
        .into_iter()
        .filter_map(|t| {
            let p = cache.join(format!("{t}.wav"));
            wav_info(&p).map(|(_, _, s)| (t, p, s))
        })
        .collect();
    if test.is_empty() {
        let (set, note) = demo_set(dir)?;
        return Ok((set, None, Some(note)));
    }
    let named: Vec<(String, f64)> = test.iter().map(|(t, _, s)| (t.clone(), *s)).collect();
    let picks = pick_short(&named);
    let first = picks.first().map_or(&test[0].1, |&i| &test[i].1);
    let format = wav_info(first).map_or("?".into(), |(r, c, _)| {
        let layout = if c == 1 { "mono" } else { "stereo" };
        format!("{:.2} kHz {layout} 16-bit WAV", r as f64 / 1000.0)
    });
    let short = AudioSet {
        name: format!("test split, {} tracks", picks.len()),
        files: picks.iter().map(|&i| test[i].1.clone()).collect(),
        seconds: picks.iter().map(|&i| test[i].2).sum(),
        format: format.clone(),
    };
    let full = AudioSet {
        name: format!("whole test split, {} tracks", test.len()),
        files: test.iter().map(|t| t.1.clone()).collect(),
        seconds: test.iter().map(|t| t.2).sum(),
        format,
    };
    Ok((short, Some(full), None))
}

/// The same audio as 48 kHz stereo 16-bit WAV (what most devices and downloads carry), with
/// sox, else the training venv's Python; `None` if neither works.
pub(super) fn to_48k(set: &AudioSet, dir: &Path, venv_python: &Path) -> Option<AudioSet> {
    let out = dir.join("audio-48k-stereo");
    std::fs::create_dir_all(&out).ok()?;
    let mut files = Vec::new();
    for f in &set.files {
        let name = f
            .strip_prefix(root().join("models/train/cache/audio"))
            .unwrap_or(f)
            .to_string_lossy()
            .replace('/', "__");
        let dst = out.join(name);
        if wav_info(&dst).is_none() {
            let ok = Command::new("sox")
                .args(["-q", "-G"])
                .arg(f)
                .args(["-r", "48000", "-c", "2", "-b", "16"])
                .arg(&dst)
                .status()
                .is_ok_and(|s| s.success())
                || Command::new(venv_python)
                    .arg(root().join("models/train/peer_bench.py"))
                    .args(["convert", "--rate", "48000", "--channels", "2"])
                    .arg(f)
                    .arg(&dst)
                    .status()
                    .is_ok_and(|s| s.success());
            if !ok {
                let f = f.display();
                eprintln!("xtask bench: cannot convert {f} to 48 kHz (no sox, no venv)");
                return None;
            }
        }
        files.push(dst);
    }
    let seconds = files.iter().filter_map(|f| wav_info(f)).map(|x| x.2).sum();
    Some(AudioSet {
        name: format!("{} (as 48 kHz stereo)", set.name),
        files,
        seconds,
        format: "48 kHz stereo 16-bit WAV (converted with sox)".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracks(t: &[(&str, f64)]) -> Vec<(String, f64)> {
        t.iter().map(|(n, s)| (n.to_string(), *s)).collect()
    }

    #[test]
    fn the_short_set_takes_sources_in_turn_until_300_s() {
        let test = tracks(&[
            ("a/1", 100.0),
            ("a/2", 90.0),
            ("a/3", 80.0),
            ("b/1", 200.0),
            ("b/2", 60.0),
            ("c/1", 70.0),
        ]);
        // a/1, then b's first track under 150 s, c/1, then a/2 reaches 320 s.
        assert_eq!(pick_short(&test), [0, 4, 5, 1]);
    }

    #[test]
    fn the_short_set_stops_when_no_track_fits() {
        let test = tracks(&[("a/1", 100.0), ("b/1", 151.0), ("a/2", 40.0)]);
        assert_eq!(pick_short(&test), [0, 2]);
        assert!(pick_short(&[]).is_empty());
    }

    #[test]
    fn wav_info_reads_rate_channels_and_seconds() {
        let path = std::env::temp_dir().join(format!("xtask-wav-{}.wav", std::process::id()));
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 48000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).expect("create wav");
        for i in 0..2 * 24000 {
            w.write_sample((i % 100) as i16).expect("sample");
        }
        w.finalize().expect("finalize");
        assert_eq!(wav_info(&path), Some((48000, 2, 0.5)));
        std::fs::write(&path, b"RIFF0000WAVE").expect("truncated file");
        assert_eq!(wav_info(&path), None);
        std::fs::remove_file(&path).expect("cleanup");
    }
}
