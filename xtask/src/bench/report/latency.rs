//! "Latency" of the generated block: the real-time harness's percentiles, the platform's own
//! stalls, the wake-up sweep and the contention during the run.

use super::super::parse::{self, num, text, Kv};
use super::super::Measurements;
use super::Table;

/// The rows of the latency table: label, key in the latency report, unit.
const LATENCY_ROWS: [(&str, &str, &str); 9] = [
    (
        "last audio sample pushed → update received (ms)",
        "latency_push_to_update",
        "ms",
    ),
    (
        "segment released by the resampler → update received (ms)",
        "latency_released_to_update",
        "ms",
    ),
    (
        "engine: block popped → published (`publish_latency_s`, ms)",
        "latency_engine_pop_to_publish",
        "ms",
    ),
    (
        "audio callback in the real-time run, f32 stereo 512 (µs)",
        "callback_in_situ_f32",
        "us",
    ),
    (
        concat!(
            "control in the real-time run: a register-only spin as long as the warm-up's median ",
            "callback, half-way between callbacks (every other one; µs)"
        ),
        "control_in_situ",
        "us",
    ),
    (
        concat!(
            "control in the real-time run: the callback's block copied into a private buffer ",
            "of the ring's size (the other half-way points; µs)"
        ),
        "control_copy_in_situ",
        "us",
    ),
    (
        "audio callback back to back, f32 stereo 512 (µs)",
        "callback_loop_f32",
        "us",
    ),
    (
        "audio callback back to back, i16 stereo 512 (µs)",
        "callback_loop_i16",
        "us",
    ),
    (
        "control: a register-only spin as long as the i16 callback (µs)",
        "callback_loop_control",
        "us",
    ),
];

/// The rows from the back-to-back run at real-time priority: label, key (µs).
const LATENCY_RT_ROWS: [(&str, &str); 3] = [
    (
        "audio callback back to back at SCHED_FIFO 20, f32 (µs)",
        "callback_loop_f32",
    ),
    (
        "audio callback back to back at SCHED_FIFO 20, i16 (µs)",
        "callback_loop_i16",
    ),
    (
        "control at SCHED_FIFO 20: register-only spin as long as the i16 callback (µs)",
        "callback_loop_control",
    ),
];

/// A latency table row: `key`'s median, p90, p99, p99.9 and max in `unit`, as reported.
fn percentile_row(label: &str, kv: &Kv, key: &str, unit: &str) -> Vec<String> {
    let mut row = vec![label.to_string()];
    for p in ["median", "p90", "p99", "p99.9", "max"] {
        row.push(text(kv, &format!("{key}.{p}_{unit}")).to_string());
    }
    row
}

/// What the latency run measured: its input, how a segment's latency is defined, its counts.
fn latency_intro(lat: &Kv) -> String {
    let g = |k: &str| text(lat, k);
    let rt = if g("live.producer_realtime_priority") == "true" {
        "yes"
    } else {
        "not permitted, normal priority"
    };
    let input = format!(
        "Input: {}, {} Hz, {} ch, pushed with `capture_callback` in 512-frame callbacks at real-time \
         pace by a producer thread (at SCHED_FIFO 20 as an audio thread: {rt}); ",
        g("live.input"), g("live.rate"), g("live.channels")
    );
    let definition = concat!(
        "the engine runs with `EngineConfig::default()` (as `mstag-live`). ",
        "A segment's latency runs from the return of the callback that pushed the last audio sample ",
        "its last mel frame reads (found by a pipeline at the models' rate, without a resampler) ",
        "to the arrival of the first update that includes it on `Engine::updates()`: ",
        "what the resampler holds back (its ~1 ms chunks and 1.3 ms filter delay, ",
        "so about one segment in ten waits for the next callback) is included. ",
        "The second row starts instead at the callback after which the pipeline could complete the segment. "
    );
    let counts = format!(
        "{} segments measured (first 2 s left out), {} updates, {} frames dropped, {} updates skipped.\n\n",
        g("live.segments_measured"), g("live.updates"), g("live.dropped_frames"), g("live.skipped_updates")
    );
    input + definition + &counts
}

/// The platform's own stalls, if the latency run probed them.
fn platform(lat: &Kv) -> String {
    if !lat.contains_key("platform.max_gap_us") {
        return String::new();
    }
    let g = |k: &str| text(lat, &format!("platform.{k}"));
    let prio = if g("realtime_priority") == "true" {
        "SCHED_FIFO 20"
    } else {
        "normal priority"
    };
    let probe = format!(
        "\nThe platform's own stalls (`--platform-seconds`: a thread at {prio} spins reading the clock \
         for {} s, in 200 ms bursts; a gap is time it did not run): ",
        g("seconds")
    );
    let gaps = format!(
        "over 20 µs {} per second, over 50 µs {} per second ({} of them charged to the thread as CPU \
         time: interrupt handling or the hypervisor, not another thread), ",
        g("gaps_over_20us_per_s"), g("gaps_over_50us_per_s"), g("gaps_over_50us_charged_as_cpu_per_s")
    );
    let worst = format!(
        "over 100 µs {} per second; longest {} µs.\n",
        g("gaps_over_100us_per_s"),
        g("max_gap_us")
    );
    probe + &gaps + &worst
}

/// The wake-up sweep: the default run against fixed polling, CPU against latency.
fn sweep(m: &Measurements) -> String {
    if m.sweep.is_empty() {
        return String::new();
    }
    let mut t = Table::new(&[
        "wake-up",
        "inference thread CPU %",
        "latency median ms",
        "p99 ms",
        "max ms",
        "waiting for a CPU %",
        "updates > 20 ms (while the producer also stalled)",
    ]);
    let row = |label: String, kv: &Kv| {
        let k = |key: &str| text(kv, key).to_string();
        let over = format!(
            "{} ({})",
            k("live.latency_outliers_over_20ms"),
            k("live.latency_outliers_while_producer_stalled")
        );
        vec![
            label,
            k("live.inference_thread_cpu_pct"),
            k("latency_push_to_update.median_ms"),
            k("latency_push_to_update.p99_ms"),
            k("latency_push_to_update.max_ms"),
            k("live.inference_thread_runqueue_wait_pct"),
            over,
        ]
    };
    t.row(row(
        format!("{} (default, the run above)", text(&m.lat, "live.wake")),
        &m.lat,
    ));
    for (label, kv) in &m.sweep {
        t.row(row(label.clone(), kv));
    }
    let intro = format!(
        "\nHow the inference thread waits for audio (`EngineConfig::wake`; the default sleeps until \
         ~2 ms before the next segment can complete, then looks every {} ms) ",
        num(&m.lat, "live.poll_ms")
    );
    let against = format!(
        "against its CPU and the latency (same harness; the sweep runs {} s each):\n\n",
        m.opts.sweep_s
    );
    intro + &against + &t.markdown()
}

/// "Latency": the real-time harness's percentiles, the platform, the sweep, contention.
pub(super) fn latency(m: &Measurements) -> String {
    let lat = &m.lat;
    let g = |k: &str| text(lat, k);
    let mut w = format!(
        "\n### Latency (real-time harness `benches/latency.rs`, {} s, load {} at the start)\n\n",
        g("live.seconds"),
        m.lat_load
    );
    w += &latency_intro(lat);
    let mut t = Table::new(&["measure", "median", "p90", "p99", "p99.9", "max"]);
    for (label, key, unit) in LATENCY_ROWS {
        t.row(percentile_row(label, lat, key, unit));
    }
    if parse::realtime(&m.lat_rt) {
        for (label, key) in LATENCY_RT_ROWS {
            t.row(percentile_row(label, &m.lat_rt, key, "us"));
        }
    }
    w += &t.markdown();
    w += &platform(lat);
    w += &sweep(m);
    w += &format!(
        "\nCallback timings include reading the clock twice ({} ns). The back-to-back runs time {} calls \
         each into a ring with room (drained after each call, untimed).\n\n",
        g("callback.clock_overhead_ns"),
        g("callback.calls")
    );
    w += &format!(
        "Contention during the {} s run: the inference thread waited for a CPU (runnable, not running; \
         `schedstat`) {}% of the time; ",
        g("live.seconds"),
        g("live.inference_thread_runqueue_wait_pct")
    );
    w += &format!(
        "{} segments took over 20 ms, {} of them while the producer thread — which only sleeps and \
         copies — also woke more than 5 ms late (a machine-wide stall: other jobs, not the engine); ",
        g("live.latency_outliers_over_20ms"),
        g("live.latency_outliers_while_producer_stalled")
    );
    w + &format!(
        "the producer woke late by {} ms at p99 and {} ms at most.\n\n",
        g("producer_lateness.p99_ms"),
        g("producer_lateness.max_ms")
    )
}
