//! [`FeaturePipeline`] and [`Scorer`] with stand-in models: segment scheduling, the silence
//! gate, rate and channel switching and the looping of short clips, with no ONNX Runtime
//! (no `.onnx` file is opened; only the manifest's JSON is read, for the front end).

use std::path::Path;
use std::sync::{Arc, Mutex};

use super::*;
use crate::dsp::MelFrontEnd;

/// The bundled manifest: its sample rate and front end (the pipeline reads nothing else).
fn manifest() -> Manifest {
    let text = include_str!("../../models/manifest.json");
    Manifest::parse(text, Path::new("models/manifest.json")).expect("bundled manifest")
}

thread_local! {
    /// How many segments each model call on this thread took.
    static CALLS: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn take_calls() -> Vec<usize> {
    CALLS.with(|c| std::mem::take(&mut *c.borrow_mut()))
}

/// Every segment a [`Recorder`] was given, in order.
type Seen = Arc<Mutex<Vec<Vec<f32>>>>;

/// A stand-in scale model: records each segment and returns its per-band maximum over time
/// (the paper's max-over-time pooling, applied to the log-mel input).
struct Recorder {
    frames: usize,
    hop: usize,
    n_mels: usize,
    seen: Seen,
}

impl SegmentModel for Recorder {
    fn frames(&self) -> usize {
        self.frames
    }
    fn hop_frames(&self) -> usize {
        self.hop
    }
    fn feature_dim(&self) -> usize {
        self.n_mels
    }
    fn extract(&mut self, segments: &[f32], n: usize, out: &mut [f32]) -> Result<()> {
        CALLS.with(|c| c.borrow_mut().push(n));
        let per = self.frames * self.n_mels;
        if segments.len() != n * per || out.len() != n * self.n_mels {
            return Err(Error::Inference {
                stage: "recorder".into(),
                reason: format!("buffer sizes {} / {}", segments.len(), out.len()),
                source: None,
            });
        }
        for (seg, o) in segments.chunks(per).zip(out.chunks_mut(self.n_mels)) {
            self.seen.lock().expect("recorder lock").push(seg.to_vec());
            o.copy_from_slice(&max_over_time(seg, self.n_mels));
        }
        Ok(())
    }
}

fn max_over_time(seg: &[f32], n_mels: usize) -> Vec<f32> {
    let mut m = vec![f32::MIN; n_mels];
    for frame in seg.chunks(n_mels) {
        for (a, &x) in m.iter_mut().zip(frame) {
            *a = a.max(x);
        }
    }
    m
}

/// A pipeline over [`Recorder`]s with these (frames, hop) scales, and what each records.
fn pipeline(
    scales: &[(usize, usize)],
    rate: u32,
    channels: usize,
    cfg: PipelineConfig,
) -> (FeaturePipeline<Recorder>, Vec<Seen>) {
    let m = manifest();
    let seen: Vec<Seen> = scales.iter().map(|_| Seen::default()).collect();
    let models = scales
        .iter()
        .zip(&seen)
        .map(|(&(frames, hop), s)| Recorder {
            frames,
            hop,
            n_mels: m.frontend.n_mels,
            seen: s.clone(),
        })
        .collect();
    let p = FeaturePipeline::new(&m, models, rate, channels, cfg).expect("pipeline");
    (p, seen)
}

fn recorded(seen: &Seen) -> Vec<Vec<f32>> {
    seen.lock().expect("recorder lock").clone()
}

/// Deterministic noise-like audio (a linear congruential generator), amplitude 0.5.
fn noise(n: usize, seed: u32) -> Vec<f32> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
        .collect()
}

/// Log-mel frames of mono audio at the model's rate, computed in one go.
fn reference_mel(audio: &[f32]) -> Vec<f32> {
    let m = manifest();
    let mut mel = MelFrontEnd::new(m.sample_rate, &m.frontend).expect("mel");
    let mut frames = Vec::new();
    mel.push(audio, &mut frames);
    frames
}

fn push_in_blocks(p: &mut FeaturePipeline<Recorder>, audio: &[f32], block: usize) -> usize {
    audio.chunks(block).map(|b| p.push(b).expect("push")).sum()
}

fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol, "{what}[{k}]: {x} vs {y}");
    }
}

fn mean_of(rows: &[Vec<f32>]) -> Vec<f32> {
    let mut sum = vec![0.0f64; rows[0].len()];
    for r in rows {
        for (s, &x) in sum.iter_mut().zip(r) {
            *s += f64::from(x);
        }
    }
    sum.iter().map(|s| (s / rows.len() as f64) as f32).collect()
}

#[test]
fn each_scale_gets_its_segments_at_its_hop_and_the_session_is_their_mean() {
    let m = manifest();
    let (n_mels, hop, n_fft) = (m.frontend.n_mels, m.frontend.hop, m.frontend.n_fft);
    let sr = m.sample_rate;
    // 18/18 and 54/54 as the paper, 27 frames every 9 (overlapping) to check the hop.
    let scales = [(18, 18), (27, 9), (54, 54)];
    let cfg = PipelineConfig {
        window_s: 1.0,
        ..PipelineConfig::default()
    };
    let (mut p, seen) = pipeline(&scales, sr, 1, cfg);
    let audio = noise(3 * sr as usize + 777, 1);
    let made = push_in_blocks(&mut p, &audio, 1000);
    let mel = reference_mel(&audio);
    let n_frames = mel.len() / n_mels;
    assert_eq!(p.mel_frames(), n_frames as u64);
    assert_eq!(n_frames, (audio.len() - n_fft) / hop + 1);

    let mut total = 0;
    for (i, &(frames, seg_hop)) in scales.iter().enumerate() {
        let got = recorded(&seen[i]);
        let want_n = (n_frames - frames) / seg_hop + 1;
        assert_eq!(got.len(), want_n, "segments of the {frames}-frame scale");
        total += want_n;
        let starts = (0..want_n).map(|k| k * seg_hop);
        let reference: Vec<Vec<f32>> = starts
            .clone()
            .map(|s| mel[s * n_mels..(s + frames) * n_mels].to_vec())
            .collect();
        for (k, (g, r)) in got.iter().zip(&reference).enumerate() {
            assert_close(g, r, 1e-5, &format!("scale {frames} segment {k}"));
        }
        // Session: the mean over segments of each segment's max over time.
        let feats: Vec<Vec<f32>> = reference.iter().map(|s| max_over_time(s, n_mels)).collect();
        let mut out = vec![0.0; n_mels];
        assert!(p.aggregates.scales[i].write(View::Session, &mut out));
        assert_close(&out, &mean_of(&feats), 1e-4, "session");
        // Window: the segments that ended within 1 s of the last one, by their end times.
        let end_s: Vec<f64> = starts
            .map(|s| ((s + frames - 1) * hop + n_fft) as f64 / f64::from(sr))
            .collect();
        let last = end_s[end_s.len() - 1];
        let recent: Vec<Vec<f32>> = feats
            .iter()
            .zip(&end_s)
            .filter(|(_, &t)| t > last - 1.0)
            .map(|(f, _)| f.clone())
            .collect();
        assert!(recent.len() < feats.len());
        assert!(p.aggregates.scales[i].write(View::Window, &mut out));
        assert_close(&out, &mean_of(&recent), 1e-4, "window");
    }
    assert_eq!(made, total);
    assert_eq!(p.segments(), total as u64);
    assert_eq!(p.silent_segments(), 0);
    assert!((p.time_s() - audio.len() as f64 / f64::from(sr)).abs() < 1e-12);
}

#[test]
fn silent_segments_are_counted_but_not_aggregated_and_the_scores_hold() {
    let sr = manifest().sample_rate;
    let scales = [(18, 18), (54, 54)];
    let (mut p, seen) = pipeline(&scales, sr, 1, PipelineConfig::default());
    push_in_blocks(&mut p, &noise(2 * sr as usize, 2), 512);
    push_in_blocks(&mut p, &vec![0.0; sr as usize], 512);
    assert!(p.is_silent());
    let held: Vec<Vec<f32>> = View::ALL
        .iter()
        .map(|&v| {
            let mut out = vec![0.0; p.aggregates.dim()];
            assert!(p.aggregates.write(v, &mut out));
            out
        })
        .collect();
    let (segments, silent) = (p.segments(), p.silent_segments());
    assert!(silent > 0);
    // Three more seconds of digital silence: counted, never shown to a model.
    push_in_blocks(&mut p, &vec![0.0; 3 * sr as usize], 512);
    let analysed: usize = seen.iter().map(|s| recorded(s).len()).sum();
    assert!(p.segments() > segments && p.silent_segments() > silent);
    assert_eq!(p.segments() - p.silent_segments(), analysed as u64);
    let counts: u64 = p.aggregates.scales.iter().map(|a| a.count()).sum();
    assert_eq!(counts, analysed as u64);
    for (v, before) in View::ALL.iter().zip(&held) {
        let mut out = vec![0.0; p.aggregates.dim()];
        assert!(p.aggregates.write(*v, &mut out));
        assert_eq!(&out, before, "{} view held through silence", v.name());
    }
    // Without the gate every segment reaches the model.
    let cfg = PipelineConfig {
        silence_gate: None,
        ..PipelineConfig::default()
    };
    let (mut open, seen) = pipeline(&scales, sr, 1, cfg);
    push_in_blocks(&mut open, &vec![0.0; 2 * sr as usize], 512);
    let analysed: usize = seen.iter().map(|s| recorded(s).len()).sum();
    assert_eq!(open.silent_segments(), 0);
    assert_eq!(analysed as u64, open.segments());
    assert!(!open.is_silent());
}

#[test]
fn a_new_input_rate_mid_stream_continues_the_segments_and_the_time_line() {
    let scales = [(18, 18), (27, 27)];
    let (mut p, seen) = pipeline(&scales, 44_100, 1, PipelineConfig::default());
    let mut made = push_in_blocks(&mut p, &noise(44_100, 3), 441);
    assert_eq!(p.set_input_rate(44_100).expect("same rate"), 0);
    made += p.set_input_rate(48_000).expect("48 kHz");
    assert_eq!(p.input_rate(), 48_000);
    // The old resampler was flushed: exactly one second at the model's rate.
    let sr = manifest().sample_rate as u64;
    assert_eq!(p.mel_frames(), (sr - 1024) / 512 + 1);
    let refused = p.set_input_rate(1);
    assert!(
        matches!(refused, Err(Error::InvalidSetting { .. })),
        "{refused:?}"
    );
    assert_eq!(p.input_rate(), 48_000);
    made += push_in_blocks(&mut p, &noise(48_000, 4), 480);
    made += p.finish().expect("finish");
    assert!((p.time_s() - 2.0).abs() < 1e-9, "{}", p.time_s());
    // Two seconds at the model's rate, framed as one continuous stream.
    let frames = (2 * sr - 1024) / 512 + 1;
    assert_eq!(p.mel_frames(), frames);
    let want: Vec<u64> = scales
        .iter()
        .map(|&(f, h)| (frames - f as u64) / h as u64 + 1)
        .collect();
    let got: Vec<u64> = seen.iter().map(|s| recorded(s).len() as u64).collect();
    assert_eq!(got, want);
    assert_eq!(made as u64, want.iter().sum::<u64>());
    assert_eq!(p.segments(), made as u64);
    assert!(matches!(
        p.set_input_rate(44_100),
        Err(Error::EngineStopped(_))
    ));
}

#[test]
fn changing_channels_between_pushes_downmixes_the_new_layout() {
    let sr = manifest().sample_rate;
    let scales = [(18, 18)];
    let audio = noise(sr as usize, 5);
    let (mut mono, mono_seen) = pipeline(&scales, sr, 1, PipelineConfig::default());
    push_in_blocks(&mut mono, &audio, 1024);
    // The same audio as identical left and right channels, then mono again.
    let (mut p, seen) = pipeline(&scales, sr, 2, PipelineConfig::default());
    let half = audio.len() / 2;
    let stereo: Vec<f32> = audio[..half].iter().flat_map(|&x| [x, x]).collect();
    push_in_blocks(&mut p, &stereo, 2048);
    assert!(matches!(p.set_channels(0), Err(Error::AudioFormat { .. })));
    assert!(matches!(p.set_channels(65), Err(Error::AudioFormat { .. })));
    assert_eq!(p.channels(), 2);
    p.set_channels(1).expect("mono");
    assert_eq!(p.channels(), 1);
    push_in_blocks(&mut p, &audio[half..], 1024);
    assert!((p.time_s() - mono.time_s()).abs() < 1e-12);
    let (a, b) = (recorded(&seen[0]), recorded(&mono_seen[0]));
    assert_eq!(a.len(), b.len());
    for (k, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_close(x, y, 1e-6, &format!("segment {k}"));
    }
}

#[test]
fn finish_loops_a_short_clip_into_the_longer_scales_only() {
    let m = manifest();
    let (n_mels, hop, n_fft) = (m.frontend.n_mels, m.frontend.hop, m.frontend.n_fft);
    let scales = [(18, 18), (27, 27), (54, 54)];
    // 20 frames: one plain 18-frame segment; 27 and 54 only by looping the clip.
    let clip = noise(19 * hop + n_fft, 6);
    let (mut p, seen) = pipeline(&scales, m.sample_rate, 1, PipelineConfig::default());
    assert_eq!(push_in_blocks(&mut p, &clip, 4096), 1);
    assert!(p.looped_scales().is_empty());
    assert_eq!(p.finish().expect("finish"), 2);
    assert_eq!(p.finish().expect("second finish"), 0);
    assert_eq!(p.input_frames_until_next_segment(), 0);
    assert_eq!(p.looped_scales(), vec![27, 54]);
    assert!(p.aggregates.looped());
    assert_eq!(p.segments(), 3);
    let mel = reference_mel(&clip);
    assert_eq!(mel.len(), 20 * n_mels);
    for (i, &(frames, _)) in scales.iter().enumerate() {
        let got = recorded(&seen[i]);
        assert_eq!(got.len(), 1, "scale {frames}");
        let want: Vec<f32> = (0..frames)
            .flat_map(|k| mel[(k % 20) * n_mels..(k % 20 + 1) * n_mels].to_vec())
            .collect();
        assert_close(&got[0], &want, 1e-5, &format!("scale {frames}"));
    }
    assert!(matches!(p.push(&clip), Err(Error::EngineStopped(_))));

    // Shorter than the shortest segment: nothing to loop, nothing analysed.
    let (mut short, seen) = pipeline(&scales, m.sample_rate, 1, PipelineConfig::default());
    push_in_blocks(&mut short, &noise(16 * hop + n_fft, 7), 4096);
    assert_eq!(short.finish().expect("finish"), 0);
    assert_eq!(short.segments(), 0);
    assert!(seen.iter().all(|s| recorded(s).is_empty()));

    // Longer than the longest: no loop, the scores are those of the plain segments.
    let (mut long, _) = pipeline(&scales, m.sample_rate, 1, PipelineConfig::default());
    push_in_blocks(&mut long, &noise(60 * hop + n_fft, 8), 4096);
    let before = long.segments();
    assert_eq!(long.finish().expect("finish"), 0);
    assert_eq!(long.segments(), before);
    assert!(long.looped_scales().is_empty());
}

/// A stand-in classifier: tag 0 is `1 / (1 + first feature)`, tag 1 a negative score, tag 2 NaN and
/// tag 3 a score above 1 (the scorer clamps them to 0..=1).
struct Probe {
    dim: usize,
}

impl TagClassifier for Probe {
    fn input_dim(&self) -> usize {
        self.dim
    }
    fn n_tags(&self) -> usize {
        4
    }
    fn predict(&mut self, features: &[f32], n: usize, out: &mut [f32]) -> Result<()> {
        for (f, o) in features.chunks(self.dim).zip(out.chunks_mut(4)).take(n) {
            o.copy_from_slice(&[1.0 / (1.0 + f[0]), -1.0, f32::NAN, 5.0]);
        }
        Ok(())
    }
}

#[test]
fn the_scorer_waits_for_every_scale_and_clamps_what_it_publishes() {
    let m = manifest();
    let (sr, n_mels) = (m.sample_rate, m.frontend.n_mels);
    let (mut p, _) = pipeline(&[(18, 18), (54, 54)], sr, 1, PipelineConfig::default());
    let mut scorer = Scorer::new(Probe { dim: 2 * n_mels });
    assert_eq!(scorer.n_tags(), 4);
    let mut scores = Scores::default();
    // 20 frames: the 54-frame scale has no segment yet.
    push_in_blocks(&mut p, &noise(19 * 512 + 1024, 9), 4096);
    assert!(!scorer.score(&p.aggregates, &mut scores).expect("score"));
    push_in_blocks(&mut p, &noise(sr as usize, 10), 4096);
    assert!(scorer.score(&p.aggregates, &mut scores).expect("score"));
    assert_eq!(scores.n_tags, 4);
    let mut first = vec![0.0; p.aggregates.dim()];
    for v in View::ALL {
        assert!(p.aggregates.write(v, &mut first));
        let want = [1.0 / (1.0 + first[0]), 0.0, 0.0, 1.0];
        assert_eq!(scores.view(v), want, "{} view", v.name());
    }
    assert!(!scores.looped);
    // A classifier for other features is refused.
    let mut wrong = Scorer::new(Probe { dim: 3 });
    assert!(matches!(
        wrong.score(&p.aggregates, &mut scores),
        Err(Error::Inference { .. })
    ));
}

#[test]
fn loop_frames_repeats_whole_frames_from_the_start() {
    // Three frames of two mel bands: (0, 1), (10, 11), (20, 21).
    let clip = [0.0, 1.0, 10.0, 11.0, 20.0, 21.0];
    let mut seg = vec![99.0; 3];
    loop_frames(&clip, 2, 7, &mut seg);
    let frames: Vec<&[f32]> = seg.chunks(2).collect();
    assert_eq!(frames.len(), 7);
    let firsts: Vec<f32> = frames.iter().map(|f| f[0]).collect();
    assert_eq!(firsts, [0.0, 10.0, 20.0, 0.0, 10.0, 20.0, 0.0]);
    assert!(frames.iter().all(|f| f[1] == f[0] + 1.0));
    loop_frames(&[], 2, 7, &mut seg);
    assert!(seg.is_empty());
}

#[test]
fn a_batch_runs_the_same_segments_in_fewer_calls_and_flush_brings_the_rest() {
    let sr = manifest().sample_rate;
    let scales = [(18, 18), (54, 54)];
    // 1 s of noise, 1 s of digital silence, 3 s of noise: some segments are gated.
    let mut audio = noise(sr as usize, 3);
    audio.extend(vec![0.0; sr as usize]);
    audio.extend(noise(3 * sr as usize, 4));
    let (mut single, seen1) = pipeline(&scales, sr, 1, PipelineConfig::default());
    take_calls();
    push_in_blocks(&mut single, &audio, 700);
    single.finish().unwrap();
    assert!(take_calls().iter().all(|&n| n == 1));

    let (mut batched, seen5) = pipeline(&scales, sr, 1, PipelineConfig::default());
    batched.set_batch(5).unwrap();
    assert_eq!(batched.batch(), 5);
    push_in_blocks(&mut batched, &audio, 700);
    // Counted as they complete; in the aggregates only once run.
    assert_eq!(batched.segments(), single.segments());
    assert_eq!(batched.silent_segments(), single.silent_segments());
    assert!(batched.silent_segments() > 0);
    let run: u64 = batched.aggregates.scales.iter().map(|a| a.count()).sum();
    let waiting = (batched.segments() - batched.silent_segments()) - run;
    assert!(waiting > 0 && waiting < 2 * 5, "{waiting} waiting");
    batched.finish().unwrap();
    let calls = take_calls();
    assert!(calls.iter().all(|&n| (1..=5).contains(&n)), "{calls:?}");
    assert!(calls.iter().filter(|&&n| n == 5).count() >= 2, "{calls:?}");
    // The same segments, in the same order, and the same aggregates in every view.
    for (a, b) in seen1.iter().zip(&seen5) {
        assert_eq!(recorded(a), recorded(b));
    }
    for v in View::ALL {
        let (mut x, mut y) = (vec![0.0; 2 * 128], vec![0.0; 2 * 128]);
        assert!(single.aggregates.write(v, &mut x));
        assert!(batched.aggregates.write(v, &mut y));
        assert_eq!(x, y, "{} view", v.name());
    }
}

#[test]
fn reset_forgets_segments_still_waiting_for_a_batch() {
    let sr = manifest().sample_rate;
    let (mut p, _) = pipeline(&[(18, 18)], sr, 1, PipelineConfig::default());
    p.set_batch(64).unwrap();
    push_in_blocks(&mut p, &noise(2 * sr as usize, 5), 512);
    assert_eq!(p.aggregates.scales[0].count(), 0);
    p.reset_aggregates();
    p.flush().unwrap();
    assert_eq!(p.aggregates.scales[0].count(), 0);
    // Out-of-range batches are clamped.
    p.set_batch(0).unwrap();
    assert_eq!(p.batch(), 1);
    p.set_batch(1_000_000).unwrap();
    assert_eq!(p.batch(), MAX_BATCH);
}
