//! Parsing what the benchmark commands write into typed records: the `key=value` reports of
//! `peer_bench.py` and `benches/latency.rs`, criterion's JSON estimates, the training split,
//! `/proc` files. Pure functions of text, so each is tested on captured outputs.

use std::collections::BTreeMap;

/// A `key=value` report (one pair a line), as `peer_bench.py` and `benches/latency.rs` write.
pub(crate) type Kv = BTreeMap<String, String>;

/// The `key=value` pairs of `text`; lines without `=` are skipped, the first `=` splits.
pub(crate) fn parse_kv(text: &str) -> Kv {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `key` of `kv` as a number; NaN when missing or not a number (rendered as such).
pub(crate) fn num(kv: &Kv, key: &str) -> f64 {
    kv.get(key).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

/// `key` of `kv` as written; `?` when missing.
pub(crate) fn text<'a>(kv: &'a Kv, key: &str) -> &'a str {
    kv.get(key).map_or("?", String::as_str)
}

/// Peak resident memory of a measured process in MB (the larger of ru_maxrss and VmHWM).
pub(crate) fn rss_mb(kv: &Kv) -> f64 {
    num(kv, "maxrss_kb").max(num(kv, "vmhwm_kb")) / 1024.0
}

/// Whether a latency report's back-to-back callbacks ran at real-time priority.
pub(crate) fn realtime(kv: &Kv) -> bool {
    kv.get("callback.realtime_priority")
        .is_some_and(|v| v == "true")
}

/// The median of the finite values of `v`; NaN when there are none.
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// The 1-minute load average of a `/proc/loadavg` line (or of its first three fields).
pub(crate) fn load1(loadavg: &str) -> f64 {
    loadavg
        .split_whitespace()
        .next()
        .and_then(|l| l.parse().ok())
        .unwrap_or(f64::NAN)
}

/// The three load averages of a `/proc/loadavg` line, space-separated.
pub(crate) fn load3(loadavg: &str) -> String {
    loadavg
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Wall and CPU seconds (medians over repeats), peak RSS (max), load averages seen.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Timing {
    /// Median wall seconds of the process.
    pub wall: f64,
    /// Shortest wall seconds of the process.
    pub wall_min: f64,
    /// Median user + system seconds.
    pub cpu: f64,
    /// Largest peak RSS, MB.
    pub rss_mb: f64,
    /// 1-minute load average before each run.
    pub loads: Vec<f64>,
}

impl Timing {
    /// The timing of repeated runs of one command: their `peer_bench.py measure` reports and
    /// the 1-minute load average before each.
    pub(crate) fn from_runs(runs: &[Kv], loads: Vec<f64>) -> Timing {
        let wall: Vec<f64> = runs.iter().map(|kv| num(kv, "wall_s")).collect();
        Timing {
            wall_min: wall.iter().copied().fold(f64::INFINITY, f64::min),
            wall: median(wall),
            cpu: median(runs.iter().map(|kv| num(kv, "cpu_s")).collect()),
            rss_mb: runs.iter().map(rss_mb).fold(0.0, f64::max),
            loads,
        }
    }

    /// The highest 1-minute load average seen before a run.
    pub(crate) fn max_load(&self) -> f64 {
        self.loads.iter().copied().fold(0.0, f64::max)
    }
}

/// One criterion benchmark: its full id and the median and mean point estimates (ns).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CriterionResult {
    /// `group/function/value`, as criterion names it.
    pub id: String,
    /// Median, ns (NaN if absent).
    pub median_ns: f64,
    /// Mean, ns (NaN if absent).
    pub mean_ns: f64,
}

/// A criterion result from its `new/benchmark.json` and `new/estimates.json`; the id is `?`
/// and the estimates NaN where the files lack them.
pub(crate) fn criterion_result(benchmark_json: &str, estimates_json: &str) -> CriterionResult {
    let b: serde_json::Value = serde_json::from_str(benchmark_json).unwrap_or_default();
    let e: serde_json::Value = serde_json::from_str(estimates_json).unwrap_or_default();
    let point = |stat: &str| e[stat]["point_estimate"].as_f64().unwrap_or(f64::NAN);
    CriterionResult {
        id: b["full_id"].as_str().unwrap_or("?").to_string(),
        median_ns: point("median"),
        mean_ns: point("mean"),
    }
}

/// The track names of the split `key` (`"test"`) of `models/train/split.json`; empty when the
/// text is not such a JSON object.
pub(crate) fn split_tracks(split_json: &str, key: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(split_json).unwrap_or_default();
    v[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The CPU model and its SIMD extensions that matter here, from `/proc/cpuinfo`.
pub(crate) fn cpu_summary(cpuinfo: &str) -> String {
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "?".into())
    };
    let flags = field("flags");
    let simd: Vec<&str> = ["avx2", "fma", "avx512f", "avx512_vnni"]
        .into_iter()
        .filter(|f| flags.split_whitespace().any(|x| x == *f))
        .collect();
    format!("{} ({})", field("model name"), simd.join(", "))
}

/// Total memory from `/proc/meminfo`, in GiB with one decimal; `?` if absent.
pub(crate) fn mem_total(meminfo: &str) -> String {
    meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or("?".into(), |kb| format!("{:.1} GiB", kb / 1048576.0))
}

/// The per-file lines (`file0`, `file1`, ...) of a `peer_bench.py musicnn` report, in key order.
pub(crate) fn peer_files(kv: &Kv) -> Vec<&str> {
    kv.iter()
        .filter(|(k, _)| {
            k.strip_prefix("file")
                .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        })
        .map(|(_, v)| v.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `peer_bench.py measure` report of one `mstag-live` run (as in target/bench/live0.txt).
    const LIVE_REPORT: &str = include_str!("testdata/live0.txt");

    #[test]
    fn kv_reports_parse_to_numbers_and_text() {
        let kv = parse_kv(LIVE_REPORT);
        assert_eq!(kv.len(), 11);
        assert_eq!(num(&kv, "wall_s"), 30.18);
        assert_eq!(num(&kv, "steady_thread.mstag-inference_pct"), 0.17);
        assert!(num(&kv, "missing").is_nan());
        assert_eq!(text(&kv, "steady_cpu_pct"), "0.410");
        assert_eq!(text(&kv, "missing"), "?");
        assert_eq!(rss_mb(&kv), 39834.0 / 1024.0);
        // Values may hold `=` and spaces (the latency report's `live.input`).
        let kv = parse_kv("live.input=4 file(s), 331.9 s\nx=a=b\nno pair\n");
        assert_eq!(text(&kv, "live.input"), "4 file(s), 331.9 s");
        assert_eq!(text(&kv, "x"), "a=b");
        assert_eq!(kv.len(), 2);
    }

    #[test]
    fn realtime_reads_the_callback_priority() {
        assert!(realtime(&parse_kv("callback.realtime_priority=true\n")));
        assert!(!realtime(&parse_kv("callback.realtime_priority=false\n")));
        assert!(!realtime(&Kv::new()));
    }

    #[test]
    fn median_skips_non_finite_values() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, f64::NAN, 2.0, 3.0]), 2.5);
        assert!(median(vec![f64::NAN]).is_nan());
    }

    #[test]
    fn load_averages_come_from_the_loadavg_line() {
        let line = "0.17 0.40 0.55 1/321 4242\n";
        assert_eq!(load1(line), 0.17);
        assert_eq!(load3(line), "0.17 0.40 0.55");
        assert!(load1("").is_nan());
    }

    #[test]
    fn timing_takes_medians_the_best_wall_and_the_peak_rss() {
        let runs: Vec<Kv> = [
            "wall_s=0.170\ncpu_s=0.150\nmaxrss_kb=41000\n",
            "wall_s=0.160\ncpu_s=0.140\nmaxrss_kb=40000\nvmhwm_kb=42000\n",
            "wall_s=0.190\ncpu_s=0.145\nmaxrss_kb=40500\n",
        ]
        .iter()
        .map(|t| parse_kv(t))
        .collect();
        let t = Timing::from_runs(&runs, vec![0.17, 0.37, 0.2]);
        assert_eq!(t.wall, 0.17);
        assert_eq!(t.wall_min, 0.16);
        assert_eq!(t.cpu, 0.145);
        assert_eq!(t.rss_mb, 42000.0 / 1024.0);
        assert_eq!(t.max_load(), 0.37);
    }

    #[test]
    fn criterion_estimates_give_id_median_and_mean() {
        let bench = r#"{"group_id":"dsp","function_id":"mel_frames","value_str":"1s_audio","full_id":"dsp/mel_frames/1s_audio","directory_name":"dsp/mel_frames/1s_audio","title":"dsp/mel_frames/1s_audio"}"#;
        let est = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":103301.2,"upper_bound":103712.9},"point_estimate":103498.7,"standard_error":105.1},"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":103250.0,"upper_bound":103560.3},"point_estimate":103412.5,"standard_error":80.2}}"#;
        let r = criterion_result(bench, est);
        assert_eq!(r.id, "dsp/mel_frames/1s_audio");
        assert_eq!(r.median_ns, 103412.5);
        assert_eq!(r.mean_ns, 103498.7);
        let broken = criterion_result("{", "");
        assert_eq!(broken.id, "?");
        assert!(broken.median_ns.is_nan() && broken.mean_ns.is_nan());
    }

    #[test]
    fn split_tracks_reads_one_split() {
        let split = "{\n \"train\": [\"a/x\"],\n \"test\": [\n  \"generated/gen0001\",\n  \"lmms/Oglsdl-PpTrip\"\n ]\n}";
        assert_eq!(
            split_tracks(split, "test"),
            ["generated/gen0001", "lmms/Oglsdl-PpTrip"]
        );
        assert!(split_tracks(split, "valid").is_empty());
        assert!(split_tracks("", "test").is_empty());
    }

    #[test]
    fn machine_fields_come_from_proc_files() {
        let cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2 fma avx512f avx512_vnni\n";
        assert_eq!(
            cpu_summary(cpuinfo),
            "AMD EPYC (avx2, fma, avx512f, avx512_vnni)"
        );
        assert_eq!(cpu_summary(""), "? ()");
        assert_eq!(mem_total("MemTotal:       24641536 kB\n"), "23.5 GiB");
        assert_eq!(mem_total(""), "?");
    }

    #[test]
    fn peer_files_are_the_numbered_file_keys() {
        let kv = parse_kv(
            "files=2\ntagging_s=6.820\nfile0=gen0001.wav 27.2s 2.243s top=slow|guitar|solo\n\
             file1=main_theme.wav 104.6s 1.462s top=drums|fast|beat\nfiles_note=x\n",
        );
        assert_eq!(
            peer_files(&kv),
            [
                "gen0001.wav 27.2s 2.243s top=slow|guitar|solo",
                "main_theme.wav 104.6s 1.462s top=drums|fast|beat"
            ]
        );
    }
}
