//! [`WaitPlan`]'s decisions from given input, times and frames still needed: no threads,
//! no clocks (every `Instant` is a fixed start plus an offset).

use super::*;

const RATE: u32 = 48_000;
const CB: u64 = 512;
const POLL: Duration = Duration::from_millis(1);
const EARLY: Duration = Duration::from_millis(2);

fn scheduled() -> WaitPlan {
    WaitPlan::new(EngineConfig {
        poll: POLL,
        wake: Wake::Scheduled { early: EARLY },
        ..EngineConfig::default()
    })
}

fn ms(x: f64) -> Duration {
    Duration::from_secs_f64(x / 1000.0)
}

/// Callbacks of `CB` frames every `period`, each found by a short look right after it
/// arrived, `count` times from `t0`; returns the time of the last look and its sleep.
fn callbacks(
    plan: &mut WaitPlan,
    t0: Instant,
    period: Duration,
    count: u32,
    need: u64,
) -> (Instant, Duration) {
    let mut last = (t0, Duration::ZERO);
    for k in 0..count {
        let now = t0 + period * k;
        plan.popped(CB, now);
        last = (now, plan.next_sleep(now, RATE, need));
    }
    last
}

/// The sleep planned for `need` frames at `speed` times real time: whole callbacks, less
/// `EARLY`.
fn planned(need: u64, speed: f64) -> Duration {
    let frames = need.div_ceil(CB) * CB;
    Duration::from_secs_f64(frames as f64 / (f64::from(RATE) * speed)) - EARLY
}

fn assert_near(got: Duration, want: Duration) {
    let diff = got.abs_diff(want);
    assert!(diff < Duration::from_micros(2), "{got:?} vs {want:?}");
}

#[test]
fn polling_always_sleeps_one_poll() {
    let mut plan = WaitPlan::new(EngineConfig {
        poll: ms(3.0),
        wake: Wake::Poll,
        ..EngineConfig::default()
    });
    let t0 = Instant::now();
    for k in 0..100u32 {
        let now = t0 + ms(10.0) * k;
        plan.popped(CB, now);
        assert_eq!(plan.next_sleep(now, RATE, 100_000), ms(3.0));
    }
    assert_eq!(
        plan.next_sleep(t0 + Duration::from_secs(5), RATE, 0),
        ms(3.0)
    );
}

#[test]
fn an_idle_ring_backs_off_to_the_idle_maximum_and_input_resets_it() {
    let mut plan = scheduled();
    let t0 = Instant::now();
    plan.popped(CB, t0);
    assert_eq!(plan.next_sleep(t0, RATE, 1_000), POLL);
    // Nothing new: one poll until IDLE_AFTER has passed, then doubling up to IDLE_POLL_MAX.
    assert_eq!(plan.next_sleep(t0 + ms(1.0), RATE, 1_000), POLL);
    assert_eq!(plan.next_sleep(t0 + ms(50.0), RATE, 1_000), POLL);
    let idle: Vec<Duration> = (0..6)
        .map(|k| plan.next_sleep(t0 + IDLE_AFTER + ms(f64::from(k)), RATE, 1_000))
        .collect();
    let want: Vec<Duration> = [2.0, 4.0, 8.0, 10.0, 10.0, 10.0].map(ms).to_vec();
    assert_eq!(idle, want);
    assert_eq!(IDLE_POLL_MAX, ms(10.0));
    // Input again (with the segment complete, so nothing to schedule): back to one poll,
    // and the idle clock starts over.
    let t1 = t0 + Duration::from_secs(1);
    plan.popped(CB, t1);
    assert_eq!(plan.next_sleep(t1, RATE, 0), POLL);
    assert_eq!(plan.next_sleep(t1 + ms(1.0), RATE, 1_000), POLL);
    assert_eq!(plan.next_sleep(t1 + ms(50.0), RATE, 1_000), POLL);
}

#[test]
fn no_long_sleep_before_the_input_speed_is_measured() {
    let mut plan = scheduled();
    let period = Duration::from_secs_f64(CB as f64 / f64::from(RATE));
    // 23 callbacks span less than the quarter second the speed is measured over.
    for k in 0..23u32 {
        let now = Instant::now() + period * k;
        plan.popped(CB, now);
        assert_eq!(plan.next_sleep(now, RATE, 10_000), POLL, "look {k}");
    }
}

#[test]
fn real_time_input_sleeps_until_early_before_the_segment_in_whole_callbacks() {
    let mut plan = scheduled();
    let t0 = Instant::now();
    let period = Duration::from_secs_f64(CB as f64 / f64::from(RATE));
    // The 25th callback (index 24) is 256 ms after the first: the speed is measured then
    // (25 callbacks in 256 ms, a little faster than real time).
    let (_, sleep) = callbacks(&mut plan, t0, period, 25, 4_800);
    let speed = (25 * CB) as f64 / ((period * 24).as_secs_f64() * f64::from(RATE));
    assert!(speed > 1.0 && speed < 1.05, "{speed}");
    assert_near(sleep, planned(4_800, speed));
}

#[test]
fn a_long_sleep_is_capped_and_a_near_segment_is_polled() {
    let t0 = Instant::now();
    let period = Duration::from_secs_f64(CB as f64 / f64::from(RATE));
    let mut plan = scheduled();
    let (_, sleep) = callbacks(&mut plan, t0, period, 25, 10 * u64::from(RATE));
    assert_eq!(sleep, SCHEDULED_SLEEP_MAX);
    // Under one callback (10.7 ms) away, but more than early + poll: it sleeps.
    let mut plan = scheduled();
    let (_, sleep) = callbacks(&mut plan, t0, period, 25, 100);
    assert!(sleep > Duration::ZERO && sleep < period, "{sleep:?}");
    // A segment complete already (0 frames needed): only polls.
    let mut plan = scheduled();
    let (_, sleep) = callbacks(&mut plan, t0, period, 25, 0);
    assert_eq!(sleep, POLL);
}

#[test]
fn faster_than_real_time_input_shortens_the_sleep_by_its_speed() {
    let mut plan = scheduled();
    let t0 = Instant::now();
    let real_time = Duration::from_secs_f64(CB as f64 / f64::from(RATE));
    let period = real_time / 4;
    // 4x real time: the speed window of 250 ms needs 94 callbacks.
    let (_, sleep) = callbacks(&mut plan, t0, period, 95, 48_000);
    let speed = (95 * CB) as f64 / ((period * 94).as_secs_f64() * f64::from(RATE));
    assert!((speed - 4.0).abs() < 0.1, "{speed}");
    assert_near(sleep, planned(48_000, speed));
}

#[test]
fn after_a_long_sleep_only_a_fresh_look_plans_the_next_and_a_flood_stops_them() {
    let mut plan = scheduled();
    let t0 = Instant::now();
    let period = Duration::from_secs_f64(CB as f64 / f64::from(RATE));
    let (t, sleep) = callbacks(&mut plan, t0, period, 25, 4_800);
    assert!(sleep > POLL);
    // The sleep ends with about the planned input (10 callbacks): not fresh (its phase is
    // unknown), so a short look follows; the look after that is fresh and plans again.
    let t = t + sleep;
    plan.popped(10 * CB, t);
    assert_eq!(plan.next_sleep(t, RATE, 4_800), POLL);
    let t = t + period;
    plan.popped(CB, t);
    assert!(plan.next_sleep(t, RATE, 4_800) > POLL);
    // A sleep that finds far more than planned: the input is faster than measured, so no
    // long sleep until it has been measured again.
    let t = t + sleep;
    plan.popped(40 * CB, t);
    assert_eq!(plan.next_sleep(t, RATE, 4_800), POLL);
    for k in 1..=5u32 {
        let now = t + period * k;
        plan.popped(CB, now);
        assert_eq!(
            plan.next_sleep(now, RATE, 4_800),
            POLL,
            "look {k} after the flood"
        );
    }
}

#[test]
fn the_callback_size_is_the_smallest_recent_fresh_batch() {
    let mut plan = scheduled();
    let t0 = Instant::now();
    let period = Duration::from_secs_f64(CB as f64 / f64::from(RATE));
    // Batches of two callbacks, then one of a single callback: sleeps round to 512 frames
    // (5,200 frames are 11 callbacks of 512, 6 of 1,024).
    for k in 0..12u32 {
        let now = t0 + period * (2 * k);
        plan.popped(2 * CB, now);
        assert_eq!(plan.next_sleep(now, RATE, 5_200), POLL);
    }
    let now = t0 + period * 24;
    plan.popped(CB, now);
    let sleep = plan.next_sleep(now, RATE, 5_200);
    let speed = (25 * CB) as f64 / ((period * 24).as_secs_f64() * f64::from(RATE));
    assert_near(sleep, planned(5_200, speed));
}
