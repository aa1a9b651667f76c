use super::*;

#[test]
fn conversions_are_scaled_to_unit_range() {
    assert_eq!(i16::MIN.to_f32(), -1.0);
    assert_eq!(16_384i16.to_f32(), 0.5);
    assert_eq!(i32::MIN.to_f32(), -1.0);
    assert_eq!((1i32 << 30).to_f32(), 0.5);
    assert_eq!(128u8.to_f32(), 0.0);
    assert_eq!(0u8.to_f32(), -1.0);
    assert_eq!(32_768u16.to_f32(), 0.0);
    assert_eq!(0u16.to_f32(), -1.0);
    assert_eq!(i8::MIN.to_f32(), -1.0);
    assert_eq!(0x8000_0000u32.to_f32(), 0.0);
    assert_eq!(0.25f64.to_f32(), 0.25);
}

#[test]
fn callback_pushes_whole_frames_and_counts_drops() {
    let (mut p, mut c) = ring(2, 3);
    let data: [i16; 8] = [0, 16_384, -16_384, i16::MIN, 1, 2, 3, 4];
    assert_eq!(capture_callback(&mut p, &data), 3);
    assert_eq!(p.stats().dropped_frames(), 1);
    let mut out = [0.0f32; 8];
    let n = c.pop_frames(&mut out);
    assert_eq!(
        &out[..n],
        &[0.0, 0.5, -0.5, -1.0, 1.0 / 32_768.0, 2.0 / 32_768.0]
    );
}

fn info(id: &str, name: &str) -> DeviceInfo {
    DeviceInfo {
        id: id.into(),
        name: name.into(),
        is_default: false,
        default_config: None,
    }
}

#[test]
fn selector_matching_rules() {
    let a = info("alsa:hw:CARD=USB,DEV=0", "USB Audio CODEC");
    let b = info("alsa:hw:CARD=PCH,DEV=0", "HDA Intel PCH");
    let c = info("alsa:pulse", "PulseAudio Sound Server");
    let all = [&a, &b, &c];
    assert_eq!(match_device(&all, "alsa:pulse"), Ok(2));
    assert_eq!(match_device(&all, "pulse"), Ok(2)); // id without host prefix
    assert_eq!(match_device(&all, "HDA Intel PCH"), Ok(1));
    assert_eq!(match_device(&all, "hda intel pch"), Ok(1));
    assert_eq!(match_device(&all, "usb"), Ok(0)); // unique substring
    assert_eq!(match_device(&all, "card="), Err(vec![0, 1])); // ambiguous
    assert_eq!(match_device(&all, "nothing"), Err(vec![]));
}

#[test]
fn cards_and_sound_servers_are_capture_devices_the_rest_plugins() {
    let capture = [
        "alsa:default",
        "alsa:sysdefault:CARD=PCH",
        "alsa:hw:CARD=USB,DEV=0",
        "alsa:plughw:CARD=USB,DEV=0",
        "alsa:front:CARD=PCH,DEV=0",
        "alsa:dsnoop:CARD=PCH,DEV=0",
        "alsa:usbstream:CARD=USB",
        "alsa:pulse",
        "alsa:pipewire",
        "alsa:jack",
        "jack:system",
    ];
    let plugins = [
        "alsa:null",
        "alsa:lavrate",
        "alsa:samplerate",
        "alsa:speexrate",
        "alsa:speex",
        "alsa:upmix",
        "alsa:vdownmix",
        "alsa:oss",
    ];
    for id in capture {
        assert_eq!(info(id, "x").kind(), DeviceKind::Capture, "{id}");
    }
    for id in plugins {
        assert_eq!(info(id, "x").kind(), DeviceKind::Plugin, "{id}");
    }
}

#[test]
fn health_records_kinds_and_fatality() {
    let h = StreamHealth::default();
    assert!(!h.failed() && h.errors() == 0 && h.last_error().is_none());
    h.record(ErrorKind::Xrun);
    assert!(!h.failed());
    assert_eq!(h.last_error(), Some(ErrorKind::Xrun));
    h.record(ErrorKind::DeviceNotAvailable);
    assert!(h.failed());
    assert_eq!(h.errors(), 2);
    assert_eq!(h.last_error(), Some(ErrorKind::DeviceNotAvailable));
}

#[test]
fn bad_capacity_is_rejected_before_touching_devices() {
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            open_input("mic", bad),
            Err(Error::InvalidSetting {
                name: "ring_capacity_s",
                ..
            })
        ));
    }
}

/// Works with or without a sound card: an unknown selector is a `Device` error naming it.
#[test]
fn unknown_device_is_a_device_error_naming_the_selector() {
    let sel = "no-such-device-7f3a";
    match open_input(sel, 1.0) {
        Err(Error::Device { reason, .. }) => {
            assert!(
                reason.contains(sel) || reason.contains("cannot list"),
                "{reason}"
            )
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("opened a device for {sel}"),
    }
}

/// Exercises the real cpal path where ALSA's `null` device exists (it captures silence
/// without a sound card); skipped elsewhere.
#[test]
fn alsa_null_device_streams_into_the_ring() {
    let Ok(devs) = list_input_devices() else {
        return;
    };
    if !devs.iter().any(|d| d.id == "alsa:null") {
        return;
    }
    let (stream, consumer) = open_input("alsa:null", 0.5).expect("open alsa:null");
    assert!(stream.sample_rate() > 0 && stream.channels() > 0);
    assert_eq!(consumer.channels(), stream.channels());
    let start = std::time::Instant::now();
    while consumer.occupied_samples() == 0 {
        assert!(start.elapsed().as_secs() < 5, "no audio from alsa:null");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(consumer.producer_alive());
    assert!(!stream.failed());
    drop(stream);
    assert!(
        !consumer.producer_alive(),
        "dropping the stream drops the producer"
    );
}

#[test]
fn listing_devices_does_not_panic() {
    match list_input_devices() {
        Ok(devs) => {
            assert!(devs.iter().filter(|d| d.is_default).count() <= 1);
            assert!(devs.iter().skip(1).all(|d| !d.is_default), "default first");
            let kinds: Vec<_> = devs.iter().skip(1).map(|d| d.kind()).collect();
            assert!(
                kinds.is_sorted(),
                "capture devices before plugins: {devs:?}"
            );
            for d in devs {
                assert!(!d.id.is_empty());
            }
        }
        Err(e) => assert!(matches!(e, Error::Device { .. }), "{e}"),
    }
}
