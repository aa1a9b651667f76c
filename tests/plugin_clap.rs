//! The CLAP plugin in a real (if minimal) host: clack-host loads the bundle made by
//! `cargo xtask bundle` (copied to a temporary folder first, to show that it finds its models
//! and ONNX Runtime wherever it is installed), activates it at 48 kHz and plays the demo clip
//! (resampled to 48 kHz, stereo) through it in host blocks of 64 and then 512 frames, across a
//! stop / deactivate / re-activate cycle. The output must equal the input bit for bit, and the
//! tags the plugin sends over OSC to a local UDP port must have the same top 5 as `mstag tag`
//! on the same 48 kHz stereo clip (written to a WAV file). The read-only meter parameters must
//! agree with OSC.
//!
//! MIDI: the restored project also turns MIDI CCs on (chosen tags, one of them unknown, on
//! channel 5 from CC 30); the host reads the plugin's CLAP output events, and the last value
//! of each CC must be `round(127 × calibrated score)` of the tag's score as OSC sends it (the
//! manifest's calibration), with at most 30 messages a second of audio time per CC, each a
//! change; the unknown tag's CC and the other instance (MIDI off) send nothing.
//!
//! (Against `mstag tag` on the original 22.05 kHz clip the top 5 are the same tags but not in
//! the same order: going up to 48 kHz and back down through two band-limiting resamplers moves
//! scores by up to about 0.09.)

#[path = "../plugin/examples/clap_host/mod.rs"]
mod clap_host;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clack_extensions::params::{ParamInfoBuffer, ParamInfoFlags, PluginParams};
use clack_extensions::state::PluginState;
use clack_host::prelude::*;

fn repo_root() -> PathBuf {
    let mut d = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !d.join("models").join("manifest.json").is_file() {
        assert!(d.pop(), "repository root not found");
    }
    d
}

fn bundled_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .map(|d| {
            if d.is_absolute() {
                d
            } else {
                repo_root().join(d)
            }
        })
        .unwrap_or_else(|| repo_root().join("target"));
    target.join("bundled")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// mstag.clap and its mstag-data/ folder, copied somewhere else ("installed").
fn install_clap(into: &Path) -> PathBuf {
    let src = bundled_dir();
    let clap = src.join("mstag.clap");
    assert!(
        clap.is_file() && src.join("mstag-data").is_dir(),
        "{} (with mstag-data/) is missing: run `cargo xtask bundle` (cargo xtask test does)",
        clap.display()
    );
    let _ = std::fs::remove_dir_all(into);
    std::fs::create_dir_all(into).unwrap();
    std::fs::copy(&clap, into.join("mstag.clap")).unwrap();
    copy_dir(&src.join("mstag-data"), &into.join("mstag-data"));
    into.join("mstag.clap")
}

/// The demo clip resampled to `rate` (mono).
fn demo_at(rate: u32) -> Vec<f32> {
    let clip = repo_root().join("models/demo/demo.wav");
    let (samples, sr, ch) = mstag::decode::decode_all(&clip).unwrap();
    assert_eq!(ch, 1, "the demo clip is mono");
    let mut r = mstag::dsp::StreamResampler::new(sr, rate).unwrap();
    let mut out = Vec::new();
    r.push(&samples, &mut out).unwrap();
    r.finish(&mut out).unwrap();
    out
}

/// Writes the clip as the host plays it (48 kHz, stereo: left as is, right with the lowest
/// mantissa bit flipped, see [`right_of`]) to a 32-bit float WAV file.
fn write_stereo_wav(path: &Path, audio: &[f32]) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: RATE,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &x in audio {
        w.write_sample(x).unwrap();
        w.write_sample(right_of(x)).unwrap();
    }
    w.finalize().unwrap();
}

/// The right channel: the left one with the lowest mantissa bit flipped. The same sound, but a
/// swapped or mixed-up channel shows in the bit-exact check.
fn right_of(x: f32) -> f32 {
    f32::from_bits(x.to_bits() ^ 1)
}

/// `mstag tag` on a file: tag name -> score, in manifest order.
fn offline_tags(clip: &Path) -> Vec<(String, f32)> {
    let exe = option_env!("CARGO_BIN_EXE_mstag")
        .map(PathBuf::from)
        .unwrap_or_else(|| bundled_dir().join("../release/mstag"));
    let out = Command::new(exe)
        .arg("tag")
        .arg(clip)
        .args(["--format", "json"])
        .output()
        .expect("running mstag tag");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v[0]["tags"]
        .as_object()
        .expect("tags")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_f64().unwrap() as f32))
        .collect()
}

fn top(scores: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

/// Listens on a local UDP port and keeps the latest `/mstag/tags` message.
struct OscReceiver {
    port: u16,
    latest: LatestScores,
    top_name: Arc<Mutex<Option<String>>>,
    /// Anything wrong with what arrived.
    error: Arc<Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OscReceiver {
    fn start() -> OscReceiver {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let port = socket.local_addr().unwrap().port();
        let latest = Arc::new(Mutex::new(None));
        let top_name = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let error = Arc::new(Mutex::new(None));
        let (l, t, s, e) = (
            latest.clone(),
            top_name.clone(),
            stop.clone(),
            error.clone(),
        );
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            while !s.load(Ordering::Relaxed) {
                let Ok(n) = socket.recv(&mut buf) else {
                    continue;
                };
                if n >= 1400 {
                    *e.lock().unwrap() = Some(format!("OSC packet of {n} bytes"));
                    continue;
                }
                let packet = match rosc::decoder::decode_udp(&buf[..n]) {
                    Ok((_, p)) => p,
                    Err(err) => {
                        *e.lock().unwrap() = Some(format!("invalid OSC: {err:?}"));
                        continue;
                    }
                };
                let mut stack = vec![packet];
                while let Some(p) = stack.pop() {
                    match p {
                        rosc::OscPacket::Bundle(b) => stack.extend(b.content),
                        rosc::OscPacket::Message(m) if m.addr == "/mstag/tags" => {
                            let v: Vec<f32> =
                                m.args.iter().filter_map(|a| a.clone().float()).collect();
                            *l.lock().unwrap() = Some((Instant::now(), v));
                        }
                        rosc::OscPacket::Message(m) if m.addr == "/mstag/top" => {
                            *t.lock().unwrap() = m.args[0].clone().string();
                        }
                        _ => {}
                    }
                }
            }
        });
        OscReceiver {
            port,
            latest,
            top_name,
            error,
            stop,
            thread: Some(thread),
        }
    }

    fn latest(&self) -> Option<(Instant, Vec<f32>)> {
        if let Some(e) = self.error.lock().unwrap().as_ref() {
            panic!("{e}");
        }
        self.latest.lock().unwrap().clone()
    }
}

impl Drop for OscReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const RATE: u32 = 48_000;

/// MIDI messages from the plugin: (frame of the stream, the three bytes).
type MidiLog = Vec<(u64, [u8; 3])>;

/// Plays `audio` (on both channels) through the plugin out of place, in
/// blocks of `block` frames, paced at no more than 10x real time so that the engine keeps up,
/// and checks the output against the input bit for bit. `at` is the stream frame of
/// `audio[0]`; the MIDI the plugin sends goes to `midi`.
fn play(
    processor: &mut StartedPluginAudioProcessor<()>,
    audio: &[f32],
    block: usize,
    at: u64,
    midi: &mut MidiLog,
) {
    let started = Instant::now();
    let mut player = clap_host::Player::new(block);
    let mut right = vec![0.0f32; block];
    let mut pos = 0;
    while pos < audio.len() {
        let n = block.min(audio.len() - pos);
        let left = &audio[pos..pos + n];
        for (o, &x) in right[..n].iter_mut().zip(left) {
            *o = right_of(x);
        }
        player
            .process(processor, left, &right[..n], at + pos as u64)
            .expect("process");
        midi.extend(
            player
                .midi_out()
                .map(|(t, bytes)| (at + pos as u64 + t as u64, bytes)),
        );
        let (out_l, out_r) = player.output(n);
        for (o, i) in [(out_l, left), (out_r, &right[..n])] {
            assert!(
                o.iter().zip(i).all(|(a, b)| a.to_bits() == b.to_bits()),
                "output differs from input at frame {pos} (block {block})"
            );
        }
        pos += n;
        let ahead = pos as f64 / RATE as f64 / 10.0 - started.elapsed().as_secs_f64();
        if ahead > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(ahead));
        }
    }
}

/// Parameter ids of the meters, by their names.
fn meter_ids(instance: &mut PluginInstance<()>, params: &PluginParams) -> Vec<(String, ClapId)> {
    let handle = instance.plugin_handle();
    let mut out = Vec::new();
    for i in 0..params.count(&handle) {
        let mut buf = ParamInfoBuffer::new();
        let info = params.get_info(&handle, i, &mut buf).expect("param info");
        let name = String::from_utf8_lossy(info.name).into_owned();
        assert!(
            info.flags.contains(ParamInfoFlags::IS_READONLY),
            "meter {name} must be read-only"
        );
        assert!(
            !info.flags.contains(ParamInfoFlags::IS_AUTOMATABLE),
            "{name}"
        );
        out.push((name, info.id));
    }
    out
}

/// When the last OSC scores arrived, and their values.
type LatestScores = Arc<Mutex<Option<(Instant, Vec<f32>)>>>;

#[test]
fn clap_plugin_passes_audio_bit_exact_and_tags_the_demo_over_osc_and_midi() {
    let dir = std::env::temp_dir().join(format!("mstag-clap-test-{}", std::process::id()));
    let clap = install_clap(&dir.join("plugins"));
    let audio = demo_at(RATE);
    // The reference: `mstag tag` on exactly what the host plays.
    let wav = dir.join("demo-48k-stereo.wav");
    write_stereo_wav(&wav, &audio);
    let offline = offline_tags(&wav);
    let osc = OscReceiver::start();

    let (entry, id, name) = clap_host::load(&clap).expect("the bundle loads");
    assert_eq!(name, "mstag");
    let host = clap_host::host_info("mstag-test");
    let mut instance = PluginInstance::<()>::new(|_| (), |_| (), &entry, &id, &host).unwrap();

    // A second instance next to the first: instances are independent.
    let mut other = PluginInstance::<()>::new(|_| (), |_| (), &entry, &id, &host).unwrap();

    let params: PluginParams = instance.plugin_handle().get_extension().expect("params");
    let state: PluginState = instance.plugin_handle().get_extension().expect("state");
    let meters = meter_ids(&mut instance, &params);
    assert_eq!(meters.len(), 6, "{meters:?}");

    // Settings as a saved project would restore them: song-level view, OSC to our port.
    let mut saved = Vec::new();
    state.save(&instance.plugin_handle(), &mut saved).unwrap();
    // nice-plug's CLAP state: a little-endian u64 length, then JSON.
    let len = u64::from_le_bytes(saved[..8].try_into().unwrap()) as usize;
    let mut project: serde_json::Value =
        serde_json::from_slice(&saved[8..8 + len]).expect("JSON state");
    let settings = serde_json::json!({
        "view": "session",
        "osc_enabled": true,
        "osc_target": format!("127.0.0.1:{}", osc.port),
        "midi_enabled": true,
        "midi_channel": 5,
        "midi_first_cc": 30,
        "midi_mode": "tags",
        "midi_tags": MIDI_TAGS,
    });
    project["fields"]["settings"] = serde_json::Value::String(settings.to_string());
    let json = serde_json::to_vec(&project).unwrap();
    let mut restored = (json.len() as u64).to_le_bytes().to_vec();
    restored.extend_from_slice(&json);
    state
        .load(&instance.plugin_handle(), &mut &restored[..])
        .expect("state loads");

    let config = |max| PluginAudioConfiguration {
        sample_rate: RATE as f64,
        min_frames_count: 1,
        max_frames_count: max,
    };
    let half = audio.len() / 2;
    let mut midi = MidiLog::new();

    // First half in blocks of 64 frames.
    let stopped = instance.activate(|_, _| (), config(64)).expect("activates");
    let mut p = stopped.start_processing().expect("starts");
    play(&mut p, &audio[..half], 64, 0, &mut midi);
    let stopped = p.stop_processing();
    instance.deactivate(stopped);

    // The other instance hears only silence meanwhile.
    let so = other.activate(|_, _| (), config(512)).unwrap();
    let mut po = so.start_processing().unwrap();
    let mut other_midi = MidiLog::new();
    play(&mut po, &vec![0.0; RATE as usize], 512, 0, &mut other_midi);
    assert!(other_midi.is_empty(), "MIDI is off by default");
    other.deactivate(po.stop_processing());

    // The host re-activates with bigger blocks: the session goes on.
    let stopped = instance
        .activate(|_, _| (), config(512))
        .expect("re-activates");
    let mut p = stopped.start_processing().expect("starts");
    play(&mut p, &audio[half..], 512, half as u64, &mut midi);

    // Wait until the engine has caught up: the OSC values stop changing.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last: Option<Vec<f32>> = None;
    let mut stable_since = Instant::now();
    let live = loop {
        assert!(
            Instant::now() < deadline,
            "no stable OSC tags (last: {last:?})"
        );
        std::thread::sleep(Duration::from_millis(100));
        let Some((at, v)) = osc.latest() else {
            continue;
        };
        assert!(at.elapsed() < Duration::from_secs(2), "OSC stopped");
        if last.as_ref() != Some(&v) {
            last = Some(v);
            stable_since = Instant::now();
        } else if stable_since.elapsed() > Duration::from_millis(1500) {
            break v;
        }
    };
    let settled = settle_midi(&mut p, &osc, audio.len() as u64, &mut midi, live.clone());
    check_midi(&midi, &settled);
    let stopped = p.stop_processing();

    let names: Vec<&str> = offline.iter().map(|(n, _)| n.as_str()).collect();
    let want: Vec<f32> = offline.iter().map(|(_, s)| *s).collect();
    assert_eq!(live.len(), want.len(), "one OSC value per tag");
    let live_top: Vec<&str> = top(&live, 5).into_iter().map(|i| names[i]).collect();
    let want_top: Vec<&str> = top(&want, 5).into_iter().map(|i| names[i]).collect();
    let max_diff = live
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    eprintln!("plugin over OSC: {live_top:?}\nmstag tag:       {want_top:?}\nmax |difference| {max_diff:.4}");
    assert_eq!(live_top, want_top, "top 5 over OSC vs mstag tag");
    // Live and offline run the same pipeline; only the end differs (offline flushes the
    // resampler and runs the last segments, live never ends).
    assert!(max_diff < 0.01, "scores differ by up to {max_diff}");
    assert_eq!(osc.top_name.lock().unwrap().as_deref(), Some(want_top[0]));

    // The meters say the same (the session view was restored from the state).
    let handle = instance.plugin_handle();
    let value = |name: &str| {
        let id = meters.iter().find(|(n, _)| n == name).expect(name).1;
        params.get_value(&handle, id).expect("value")
    };
    // (After the silence that let MIDI catch up: the values OSC sends now.)
    let top_index = top(&settled, 1)[0];
    // Stepped parameters are exported as their step index (0..=64 for -1..=63).
    assert_eq!(
        value("Top tag") as i64 - 1,
        top_index as i64,
        "top tag meter"
    );
    assert!((value("Top tag score") as f32 - settled[top_index]).abs() < 1e-3);

    instance.deactivate(stopped);
    drop(instance);
    drop(other);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The tags sent as MIDI CCs 30.. (one is not a tag: its CC is never sent).
const MIDI_TAGS: [&str; 6] = ["rock", "guitar", "no such tag", "piano", "drums", "vocal"];
const MIDI_CHANNEL: u8 = 4; // channel 5
const MIDI_FIRST_CC: u8 = 30;

/// Plays silence (the engine holds its scores over silence) until the OSC values are the same
/// before and after: the audio thread has then seen the scores OSC sends. Returns them.
fn settle_midi(
    p: &mut StartedPluginAudioProcessor<()>,
    osc: &OscReceiver,
    mut at: u64,
    midi: &mut MidiLog,
    mut live: Vec<f32>,
) -> Vec<f32> {
    let silence = vec![0.0f32; RATE as usize * 3 / 10];
    for _ in 0..20 {
        play(p, &silence, 512, at, midi);
        at += silence.len() as u64;
        std::thread::sleep(Duration::from_millis(400));
        let (_, now) = osc.latest().expect("OSC");
        if now == live {
            return live;
        }
        live = now;
    }
    panic!("the scores never settled");
}

/// The CCs the plugin sent: on the chosen channel and CCs, rate limited, changes only, and
/// the last value of each `round(127 × calibrated score)` of `live` (OSC's values).
fn check_midi(midi: &MidiLog, live: &[f32]) {
    let manifest = mstag::model::Manifest::load(&repo_root().join("models/manifest.json")).unwrap();
    let cal = manifest
        .calibration()
        .expect("the bundled manifest is calibrated");
    assert!(midi.len() >= MIDI_TAGS.len() - 1, "{midi:?}");
    let mut last: std::collections::BTreeMap<u8, (u64, u8)> = Default::default();
    for &(at, [status, cc, value]) in midi {
        assert_eq!(
            status,
            0xB0 | MIDI_CHANNEL,
            "a CC on channel 5: {status:#x}"
        );
        let k = cc.checked_sub(MIDI_FIRST_CC).expect("CC number") as usize;
        assert!(k < MIDI_TAGS.len() && value <= 127, "CC {cc} = {value}");
        if let Some(&(before, old)) = last.get(&cc) {
            assert!(
                at - before >= (RATE / 30) as u64,
                "CC {cc}: {before} then {at}"
            );
            assert_ne!(old, value, "CC {cc}: {value} sent twice in a row");
        }
        last.insert(cc, (at, value));
    }
    for (k, name) in MIDI_TAGS.iter().enumerate() {
        let cc = MIDI_FIRST_CC + k as u8;
        let Some(tag) = manifest.tags.iter().position(|t| t == name) else {
            assert!(!last.contains_key(&cc), "{name} is not a tag: CC {cc} sent");
            continue;
        };
        let want = (127.0 * cal.value(tag, live[tag])).round() as u8;
        assert_eq!(last.get(&cc).map(|l| l.1), Some(want), "CC {cc} ({name})");
    }
    eprintln!(
        "MIDI: {} messages, last {:?}",
        midi.len(),
        last.iter()
            .map(|(cc, (_, v))| (*cc, *v))
            .collect::<Vec<_>>()
    );
}
