//! `cargo xtask bench`: end-to-end figures for BENCHMARKS.md (see that file for what each
//! number means): offline and live runs, the latency harness, the plugin in a host, the
//! musicnn peer, the machine's multiply rate, the criterion tables; then the generated block of
//! BENCHMARKS.md.
//!
//! [`run`] runs the commands and collects their reports into [`Measurements`], [`parse`] turns
//! raw outputs into typed records, [`report`] renders the block from the measurements.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

#[cfg(test)]
mod fixture;
mod parse;
mod report;
mod run;

use parse::{CriterionResult, Kv, Timing};

/// Options of `cargo xtask bench`.
#[derive(Clone, Debug)]
pub(crate) struct BenchOpts {
    /// Repeats of each mstag timing (the median is reported).
    repeats: usize,
    /// Repeats of each musicnn timing.
    peer_repeats: usize,
    /// Seconds of the real-time latency run.
    latency_s: f64,
    /// Seconds of each `mstag-live` CPU run.
    live_s: f64,
    /// Run the criterion stage benchmarks too.
    stages: bool,
    /// Measure the peer (musicnn).
    peer: bool,
    /// Seconds of each extra latency run with a longer engine poll interval (0: none).
    sweep_s: f64,
    /// Only the `mstag-live` runs, printed (BENCHMARKS.md is not rewritten).
    live_only: bool,
}

impl Default for BenchOpts {
    /// What `cargo xtask bench` measures without options.
    fn default() -> BenchOpts {
        BenchOpts {
            repeats: 3,
            peer_repeats: 2,
            latency_s: 300.0,
            live_s: 30.0,
            stages: true,
            peer: true,
            sweep_s: 60.0,
            live_only: false,
        }
    }
}

impl BenchOpts {
    /// The options from the arguments after `bench`.
    fn parse(args: &[String]) -> Result<BenchOpts> {
        let mut o = BenchOpts::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut num = |name: &str| -> Result<f64> {
                it.next()
                    .with_context(|| format!("{name} needs a value"))?
                    .parse::<f64>()
                    .with_context(|| format!("{name}: not a number"))
            };
            match a.as_str() {
                "--quick" => {
                    o.repeats = 1;
                    o.peer_repeats = 1;
                    o.latency_s = 30.0;
                    o.live_s = 12.0;
                    o.sweep_s = 20.0;
                }
                "--repeats" => o.repeats = num(a)?.max(1.0) as usize,
                "--peer-repeats" => o.peer_repeats = num(a)?.max(1.0) as usize,
                "--latency-seconds" => o.latency_s = num(a)?.max(5.0),
                "--live-seconds" => o.live_s = num(a)?.max(8.0),
                "--no-stages" => o.stages = false,
                "--no-peer" => o.peer = false,
                "--live-only" => o.live_only = true,
                "--sweep-seconds" => o.sweep_s = num(a)?.max(0.0),
                other => bail!(
                    "bench: unknown option {other} (--quick, --repeats N, --peer-repeats N, \
                     --latency-seconds S, --live-seconds S, --sweep-seconds S, --no-stages, --no-peer, --live-only)"
                ),
            }
        }
        Ok(o)
    }
}

/// One audio set: files, total seconds, what it is.
#[derive(Clone, Debug)]
pub(crate) struct AudioSet {
    /// What the set is (`test split, 4 tracks`).
    name: String,
    /// Its WAV files.
    files: Vec<PathBuf>,
    /// Seconds of audio in all files.
    seconds: f64,
    /// Sample format (`22.05 kHz mono 16-bit WAV`).
    format: String,
}

impl AudioSet {
    /// The set's files, relative to the repository where they are inside it.
    pub(crate) fn shown_files(&self) -> Vec<String> {
        let root = super::root();
        self.files
            .iter()
            .map(|f| {
                f.strip_prefix(&root)
                    .unwrap_or(f)
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }
}

/// The peer (musicnn) on one audio set: process timings and its own reports, one core and all.
#[derive(Clone, Debug)]
pub(crate) struct PeerRun {
    /// Timing on one core.
    one: Timing,
    /// Its report on one core (`tagging_s`, `fileN`).
    one_kv: Kv,
    /// Timing on all cores.
    all: Timing,
    /// Its report on all cores.
    all_kv: Kv,
}

/// Everything one `cargo xtask bench` measured: what [`report::render`] turns into markdown.
#[derive(Clone, Debug)]
pub(crate) struct Measurements {
    /// The arguments after `bench`.
    args: Vec<String>,
    /// The options they gave.
    opts: BenchOpts,
    /// When the run started (`2026-11-25 18:33 UTC`).
    date: String,
    /// Load averages (1, 5, 15 min) at the start, at the end, and before the latency run.
    load_start: String,
    /// See `load_start`.
    load_end: String,
    /// See `load_start`.
    lat_load: String,
    /// Cores available to the process.
    cores: usize,
    /// The short set, as stored.
    set_a: AudioSet,
    /// The short set as 48 kHz stereo, if it could be converted.
    set_b: Option<AudioSet>,
    /// The whole test split, when the training cache is present.
    full: Option<AudioSet>,
    /// Why the audio is not the test split, if it is not.
    fallback_note: Option<String>,
    /// `mstag tag` on `set_a` and `set_b` (when present): one core, all cores.
    offline: Vec<(Timing, Timing)>,
    /// `mstag tag` on `full`: one core, all cores.
    full_t: Option<(Timing, Timing)>,
    /// The peer on `set_a` and `set_b`; `None` where it failed.
    peer: Vec<Option<PeerRun>>,
    /// Why the peer was not (fully) measured.
    peer_note: Option<String>,
    /// `mstag-live` runs: what was played, its measure report.
    live_runs: Vec<(String, Kv)>,
    /// The plugin in a host: its measure report (host's own under `host.`), or why not.
    plugin_host: std::result::Result<Kv, String>,
    /// The latency harness's report.
    lat: Kv,
    /// The back-to-back callbacks at real-time priority (empty if that run failed).
    lat_rt: Kv,
    /// The wake-up sweep: label, latency report.
    sweep: Vec<(String, Kv)>,
    /// numpy's matmul rate (`peer_bench.py matmul`), if the venv exists.
    mm: Option<Kv>,
    /// Criterion results of `benches/stages.rs`.
    stages: Vec<CriterionResult>,
    /// Criterion results of `benches/options.rs` (ids `option_*`).
    options: Vec<CriterionResult>,
    /// The resampler quality table written by `benches/options.rs`.
    resampler_quality: Option<String>,
    /// Machine table rows: what, value.
    machine: Vec<(String, String)>,
}

/// Where the generated block of BENCHMARKS.md starts.
const BENCH_BEGIN: &str = "<!-- cargo xtask bench: generated from here -->";
/// Where it ends.
const BENCH_END: &str = "<!-- cargo xtask bench: generated up to here -->";

/// `cargo xtask bench [options]`: runs everything and rewrites the generated block.
pub(crate) use run::machine_line;

/// Now, as `2026-12-01 09:05 UTC`.
pub(crate) fn today() -> String {
    run::sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
}

pub(crate) fn bench(args: &[String]) -> Result<()> {
    let opts = BenchOpts::parse(args)?;
    if opts.live_only {
        return run::live_only(&opts);
    }
    let m = run::collect(args, opts)?;
    let block = report::render(&m);
    let path = super::root().join("BENCHMARKS.md");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    write_atomic(&path, &splice(&old, &block))?;
    eprintln!("xtask bench: wrote {}", path.display());
    Ok(())
}

/// `old` with its generated block replaced by `block` (which carries the markers), keeping the
/// text around it; a new file with a short heading if `old` has no block.
fn splice(old: &str, block: &str) -> String {
    match (old.find(BENCH_BEGIN), old.find(BENCH_END)) {
        (Some(a), Some(b)) if b > a => {
            let rest = &old[b + BENCH_END.len()..];
            format!("{}{}{rest}", &old[..a], block.trim_end())
        }
        _ => format!(
            "# Benchmarks\n\nNumbers below are regenerated by `cargo xtask bench`; \
             the text outside the generated block is kept.\n\n{block}"
        ),
    }
}

/// Writes `text` to `path` through a temporary file beside it and a rename.
pub(crate) fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("md.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_default_quick_and_overrides() {
        let o = BenchOpts::parse(&[]).expect("no options");
        assert_eq!((o.repeats, o.peer_repeats), (3, 2));
        assert_eq!((o.latency_s, o.live_s, o.sweep_s), (300.0, 30.0, 60.0));
        assert!(o.stages && o.peer);
        let o = BenchOpts::parse(&args(&["--quick", "--live-seconds", "2", "--no-peer"]))
            .expect("quick");
        assert_eq!((o.repeats, o.latency_s, o.sweep_s), (1, 30.0, 20.0));
        assert_eq!(o.live_s, 8.0, "live runs are at least 8 s");
        assert!(!o.peer && o.stages);
    }

    #[test]
    fn options_reject_unknown_and_missing_values() {
        let e = BenchOpts::parse(&args(&["--fast"])).expect_err("unknown option");
        assert!(e.to_string().contains("unknown option --fast"), "{e}");
        let e = BenchOpts::parse(&args(&["--repeats"])).expect_err("no value");
        assert!(e.to_string().contains("--repeats needs a value"), "{e}");
        let e = BenchOpts::parse(&args(&["--repeats", "x"])).expect_err("not a number");
        assert!(e.to_string().contains("not a number"), "{e}");
    }

    #[test]
    fn splice_replaces_only_the_generated_block() {
        let old = format!("# B\n\nintro\n\n{BENCH_BEGIN}\nold numbers\n{BENCH_END}\n\nafter\n");
        let block = format!("{BENCH_BEGIN}\nnew numbers\n{BENCH_END}\n");
        assert_eq!(
            splice(&old, &block),
            format!("# B\n\nintro\n\n{BENCH_BEGIN}\nnew numbers\n{BENCH_END}\n\nafter\n")
        );
        let fresh = splice("", &block);
        assert!(fresh.starts_with("# Benchmarks\n\n"), "{fresh}");
        assert!(fresh.ends_with(&block), "{fresh}");
    }

    #[test]
    fn write_atomic_creates_then_replaces_and_leaves_no_temporary() {
        let path = std::env::temp_dir().join(format!("xtask-bench-{}.md", std::process::id()));
        for text in ["first", "second"] {
            write_atomic(&path, text).expect("write");
            assert_eq!(std::fs::read_to_string(&path).ok().as_deref(), Some(text));
        }
        assert!(!path.with_extension("md.tmp").exists());
        std::fs::remove_file(&path).expect("cleanup");
    }
}
