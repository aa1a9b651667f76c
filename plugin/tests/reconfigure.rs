//! Settings changed while the plugin plays, as from the editor: new window and EMA lengths
//! reconfigure the running engine without touching the audio thread (`process()` runs under
//! `assert_no_alloc` meanwhile, which aborts on any allocation) and without losing the session;
//! the OSC settings (prefix, rate, view, smoothing) reach the sender, and a prefix the CLI
//! would refuse is refused with the reason.

mod common;

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use mstag::engine::{Scores, View};
use mstag::synonyms::SynonymGroups;
use mstag_plugin::settings::ViewChoice;
use mstag_plugin::Mstag;

#[global_allocator]
static A: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn view(s: &Scores, v: View) -> &[f32] {
    &s.view(v)[..s.n_tags]
}

#[test]
fn new_window_and_ema_lengths_keep_the_session_and_the_audio_thread_untouched() {
    use_source_tree_data();
    let (l, r) = demo_stereo(48_000);
    let len = l.len();

    // A: lengths changed again and again while it plays, ending at 4 s and 2 s. The audio
    // goes in three parts, each waited for, so that the ring never overflows.
    let (first, second) = (5 * 48_000, 20 * 48_000);
    let mut a = Mstag::default();
    activate(&mut a, 2, 48_000.0, 512);
    play(&mut a, &[&l[..first], &r[..first]], 512, 0);
    wait_for(&a, 5.0);

    // Another thread (as the editor) keeps changing the lengths while 15 s more are played;
    // process() never allocates meanwhile: common::play runs it under assert_no_alloc.
    let changes = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let editor = {
        let shared = a.shared().clone();
        let (changes, stop) = (changes.clone(), stop.clone());
        std::thread::spawn(move || {
            let lengths = [(2.0, 1.0), (30.0, 10.0), (7.5, 0.5), (4.0, 2.0)];
            let mut k = 0;
            while !stop.load(Ordering::Acquire) || k % lengths.len() != 0 {
                let (w, e) = lengths[k % lengths.len()];
                shared.params.settings.update(|s| {
                    s.window_s = w;
                    s.ema_s = e;
                });
                let snap = shared.snapshot();
                assert_eq!((snap.window_s, snap.ema_s), (w, e), "applied at once");
                assert_eq!(snap.lengths_error, None);
                changes.fetch_add(1, Ordering::Release);
                k += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    while changes.load(Ordering::Acquire) == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    play(&mut a, &[&l[first..second], &r[first..second]], 512, 0);
    stop.store(true, Ordering::Release);
    editor.join().expect("the editor thread");
    assert!(changes.load(Ordering::Acquire) >= 4);
    let settings = a.shared().params.settings.get();
    assert_eq!((settings.window_s, settings.ema_s), (4.0, 2.0));
    wait_for(&a, 20.0);
    // The rest with the last lengths (more than 4 s, so the window is all new).
    play(&mut a, &[&l[second..], &r[second..]], 512, 0);
    let sa = wait_for(&a, len as f64 / 48_000.0);

    // B: the same audio with 4 s and 2 s from the start (as restored from a project before
    // the first activation).
    let mut b = Mstag::default();
    b.shared().params.settings.update(|s| {
        s.window_s = 4.0;
        s.ema_s = 2.0;
    });
    activate(&mut b, 2, 48_000.0, 512);
    for part in [0..first, first..second, second..len] {
        let end = part.end;
        play(&mut b, &[&l[part.clone()], &r[part]], 512, 0);
        wait_for(&b, end as f64 / 48_000.0);
    }
    let sb = wait_for(&b, len as f64 / 48_000.0);

    assert_eq!((sa.dropped, sb.dropped), (0, 0));
    assert_eq!(sa.segments, sb.segments);
    // The session went on through every change: the same song-level scores as B's.
    let d = max_diff(view(&sa, View::Session), view(&sb, View::Session));
    assert!(d < 1e-6, "session differs by {d}");
    // And the window now holds the last 4 s, exactly like B's.
    let d = max_diff(view(&sa, View::Window), view(&sb, View::Window));
    assert!(d < 1e-6, "window differs by {d}");
    // A 4 s window is not the session: the change did reach the engine.
    assert!(max_diff(view(&sb, View::Window), view(&sb, View::Session)) > 1e-3);
    // The meters follow the bars' view (the window), synonyms grouped (the default).
    let tags = a.shared().snapshot().tags;
    let groups = SynonymGroups::new(&tags);
    let best = &groups.top(view(&sa, View::Window), 1)[0];
    assert_eq!(a.shared().params.top1_tag.to_string(), best.0);
    assert_eq!(a.shared().params.top1_score.value(), best.1);
}

/// Receives OSC packets on a local port: every message's address and float arguments.
fn receive(socket: &UdpSocket, until: impl Fn(&str, &[f32]) -> bool) -> Vec<(String, Vec<f32>)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while Instant::now() < deadline {
        let Ok(n) = socket.recv(&mut buf) else {
            continue;
        };
        let (_, packet) = rosc::decoder::decode_udp(&buf[..n]).expect("valid OSC");
        let mut stack = vec![packet];
        let mut done = false;
        while let Some(p) = stack.pop() {
            match p {
                rosc::OscPacket::Bundle(b) => stack.extend(b.content),
                rosc::OscPacket::Message(m) => {
                    let v: Vec<f32> = m.args.iter().filter_map(|a| a.clone().float()).collect();
                    done |= until(&m.addr, &v);
                    got.push((m.addr, v));
                }
            }
        }
        if done {
            return got;
        }
    }
    panic!("OSC: nothing matching after 30 s; got {:?}", got.last());
}

#[test]
fn osc_settings_reach_the_sender_and_a_bad_prefix_is_refused() {
    use_source_tree_data();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let port = socket.local_addr().unwrap().port();
    let (l, _) = demo_stereo(48_000);
    let mut p = Mstag::default();
    p.shared().params.settings.update(|s| {
        s.osc_enabled = true;
        s.osc_target = format!("127.0.0.1:{port}");
        s.osc_prefix = "/show".into();
        s.osc_rate_hz = 20;
        s.osc_view = Some(ViewChoice::Session);
        s.osc_smooth_s = 0.0;
        s.view = ViewChoice::Ema; // the bars' view does not decide what OSC sends
    });
    activate(&mut p, 1, 48_000.0, 512);
    let status = p.shared().snapshot().osc;
    assert_eq!(
        status,
        format!("sending to 127.0.0.1:{port} (/show, session view, 20 Hz)")
    );
    play(&mut p, &[&l[..8 * 48_000]], 512, 0);
    let s = wait_for(&p, 8.0);
    // Once the sender has the final scores, /show/tags carries the session view exactly.
    let session = view(&s, View::Session).to_vec();
    let got = receive(&socket, |addr, v| addr == "/show/tags" && v == session);
    assert!(
        got.iter().all(|(a, _)| a.starts_with("/show/")),
        "{:?}",
        got.iter().find(|(a, _)| !a.starts_with("/show/"))
    );

    // Smoothing and another prefix: the sender restarts with them.
    p.shared().params.settings.update(|s| {
        s.osc_prefix = "/".into();
        s.osc_smooth_s = 0.5;
        s.osc_view = Some(ViewChoice::Window);
    });
    assert_eq!(
        p.shared().snapshot().osc,
        format!("sending to 127.0.0.1:{port} (no prefix, window view, 20 Hz, smoothed 0.5 s)")
    );
    let window = view(&s, View::Window).to_vec();
    // Smoothed values approach the window view; without a prefix the address is /tags.
    receive(&socket, |addr, v| {
        addr == "/tags" && v.len() == window.len() && max_diff(v, &window) < 1e-3
    });

    // A prefix mstag-live would refuse (as from a hand-edited project): nothing is sent, and
    // the editor says why.
    p.shared()
        .params
        .settings
        .update(|s| s.osc_prefix = "show".into());
    assert_eq!(
        p.shared().snapshot().osc,
        r#"not sending: OSC prefix "show": must start with '/', e.g. /mstag"#
    );
}
