//! A tiny CLAP host that opens mstag's editor in an X11 window, plays the demo clip through the
//! plugin and saves a PNG of the window once bars are showing. `cargo xtask screenshot` runs
//! it under Xvfb:
//!
//! ```sh
//! screenshot PATH/TO/mstag.clap PATH/TO/demo.wav OUT.png
//! ```
//!
//! The editor opens at its default size; with `MSTAG_SCREENSHOT_SIZE=WIDTHxHEIGHT` the host
//! then resizes it (`gui.set_size`, as when the user drags the host's window edge) and checks
//! that the project saves the new size.

mod clap_host;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clack_extensions::gui::{
    GuiApiType, GuiConfiguration, GuiSize, HostGui, HostGuiImpl, PluginGui, Window,
};
use clack_extensions::state::PluginState;
use clack_host::prelude::*;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    ConfigureWindowAux, ConnectionExt as _, CreateWindowAux, ImageFormat, WindowClass,
};

const RATE: u32 = 48_000;
/// Seconds of the clip played before the picture is taken.
const PLAY_S: f64 = 12.0;
/// Played this many times faster than real time.
const SPEED: f64 = 4.0;

struct Shot;

struct Shared {
    callback: AtomicBool,
}

impl SharedHandler<'_> for Shared {
    fn request_restart(&self) {}
    fn request_process(&self) {}
    fn request_callback(&self) {
        self.callback.store(true, Ordering::Release);
    }
}

impl HostGuiImpl for Shared {
    fn resize_hints_changed(&self) {}
    fn request_resize(&self, _new_size: GuiSize) -> Result<(), HostError> {
        Ok(())
    }
    fn request_show(&self) -> Result<(), HostError> {
        Ok(())
    }
    fn request_hide(&self) -> Result<(), HostError> {
        Ok(())
    }
    fn closed(&self, _was_destroyed: bool) {}
}

impl HostHandlers for Shot {
    type Shared<'a> = Shared;
    type MainThread<'a> = ();
    type AudioProcessor<'a> = ();

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        builder.register::<HostGui>();
    }
}

fn demo(path: &Path) -> Vec<f32> {
    let (samples, sr, ch) = mstag::decode::decode_all(path).expect("demo clip");
    let mono: Vec<f32> = samples
        .chunks(ch)
        .map(|f| f.iter().sum::<f32>() / ch as f32)
        .collect();
    let mut r = mstag::dsp::StreamResampler::new(sr, RATE).unwrap();
    let mut out = Vec::new();
    r.push(&mono, &mut out).unwrap();
    r.finish(&mut out).unwrap();
    out
}

fn play(
    mut p: StartedPluginAudioProcessor<Shot>,
    audio: &[f32],
) -> StoppedPluginAudioProcessor<Shot> {
    const BLOCK: usize = 512;
    let started = Instant::now();
    let mut player = clap_host::Player::new(BLOCK);
    let end = audio.len().min((PLAY_S * RATE as f64) as usize);
    let mut pos = 0;
    while pos < end {
        let n = BLOCK.min(end - pos);
        let block = &audio[pos..pos + n];
        player
            .process(&mut p, block, block, pos as u64)
            .expect("process");
        pos += n;
        let ahead = pos as f64 / RATE as f64 / SPEED - started.elapsed().as_secs_f64();
        if ahead > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(ahead));
        }
    }
    p.stop_processing()
}

fn save_png(path: &Path, w: u16, h: u16, bgrx: &[u8]) {
    let rgb: Vec<u8> = bgrx.chunks(4).flat_map(|p| [p[2], p[1], p[0]]).collect();
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut enc = png::Encoder::new(file, w as u32, h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header().unwrap().write_image_data(&rgb).unwrap();
}

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [clap, clip, out] = &args[..] else {
        eprintln!("usage: screenshot PATH/TO/mstag.clap PATH/TO/clip.wav OUT.png");
        std::process::exit(2);
    };
    let audio = demo(clip);

    let (entry, id, _) = clap_host::load(clap).unwrap_or_else(|e| panic!("{e}"));
    let host = clap_host::host_info("mstag-screenshot");
    let mut instance = PluginInstance::<Shot>::new(
        |_| Shared {
            callback: AtomicBool::new(false),
        },
        |_| (),
        &entry,
        &id,
        &host,
    )
    .expect("instance");

    // A new instance: the editor as a new user sees it (default settings).
    let state: PluginState = instance.plugin_handle().get_extension().expect("state");
    let resize_to = std::env::var("MSTAG_SCREENSHOT_SIZE").ok().map(|v| {
        let (w, h) = v
            .split_once('x')
            .and_then(|(w, h)| Some((w.parse::<u16>().ok()?, h.parse::<u16>().ok()?)))
            .unwrap_or_else(|| panic!("MSTAG_SCREENSHOT_SIZE={v}: expected WIDTHxHEIGHT"));
        (w, h)
    });

    // The editor, embedded in a window of ours.
    let gui: PluginGui = instance
        .plugin_handle()
        .get_extension()
        .expect("gui extension");
    let config = GuiConfiguration {
        api_type: GuiApiType::X11,
        is_floating: false,
    };
    gui.create(&instance.plugin_handle(), config)
        .expect("editor created");
    let size = gui
        .get_size(&instance.plugin_handle())
        .expect("editor size");
    let (mut w, mut h) = (size.width as u16, size.height as u16);
    let (conn, screen_num) = x11rb::connect(None).expect("an X server (DISPLAY)");
    let screen = &conn.setup().roots[screen_num];
    let win = conn.generate_id().unwrap();
    conn.create_window(
        x11rb::COPY_DEPTH_FROM_PARENT,
        win,
        screen.root,
        0,
        0,
        w,
        h,
        0,
        WindowClass::INPUT_OUTPUT,
        0,
        &CreateWindowAux::new().background_pixel(screen.black_pixel),
    )
    .unwrap();
    conn.map_window(win).unwrap();
    conn.flush().unwrap();
    // SAFETY: `win` is a live X11 window that outlives the editor.
    unsafe {
        gui.set_parent(&instance.plugin_handle(), Window::from_x11_handle(win as _))
            .expect("set_parent");
    }
    gui.show(&instance.plugin_handle()).expect("show");
    if let Some((rw, rh)) = resize_to {
        // What a host does when the user drags its window's edge.
        assert!(gui.can_resize(&instance.plugin_handle()), "resizable");
        gui.set_size(
            &instance.plugin_handle(),
            GuiSize {
                width: rw as u32,
                height: rh as u32,
            },
        )
        .expect("set_size");
        conn.configure_window(
            win,
            &ConfigureWindowAux::new().width(rw as u32).height(rh as u32),
        )
        .unwrap();
        conn.flush().unwrap();
        (w, h) = (rw, rh);
    }

    let stopped = instance
        .activate(
            |_, _| (),
            PluginAudioConfiguration {
                sample_rate: RATE as f64,
                min_frames_count: 1,
                max_frames_count: 512,
            },
        )
        .expect("activates");
    let started = stopped.start_processing().expect("starts");
    let audio_thread = std::thread::spawn(move || play(started, &audio));

    // The main thread serves the plugin's main-thread callbacks while the audio plays, then
    // waits a little for the last scores to be drawn.
    let until = Instant::now() + Duration::from_secs_f64(PLAY_S / SPEED + 3.0);
    while Instant::now() < until {
        if instance.access_shared_handler(|s| s.callback.swap(false, Ordering::AcqRel)) {
            instance.call_on_main_thread_callback();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let image = conn
        .get_image(ImageFormat::Z_PIXMAP, win, 0, 0, w, h, !0)
        .unwrap()
        .reply()
        .expect("window contents");
    save_png(out, w, h, &image.data);
    eprintln!("screenshot: {} ({w}x{h})", out.display());

    // The size the project saves is the window's.
    let mut saved = Vec::new();
    state.save(&instance.plugin_handle(), &mut saved).unwrap();
    let len = u64::from_le_bytes(saved[..8].try_into().unwrap()) as usize;
    let project: serde_json::Value = serde_json::from_slice(&saved[8..8 + len]).unwrap();
    let size: serde_json::Value = serde_json::from_str(
        project["fields"]["editor-size"]
            .as_str()
            .expect("editor-size"),
    )
    .unwrap();
    eprintln!("screenshot: the project saves the editor size {size}");
    assert_eq!(size, serde_json::json!({"width": w, "height": h}));

    let stopped = audio_thread.join().expect("audio thread");
    gui.destroy(&instance.plugin_handle());
    instance.deactivate(stopped);
}
