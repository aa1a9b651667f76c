//! The editor's pieces without a window.

use super::*;

#[test]
fn seconds_and_view_labels_read_well() {
    assert_eq!(view_label(ViewChoice::Window, 10.0, 5.0), "Last 10 s");
    assert_eq!(view_label(ViewChoice::Ema, 10.0, 2.5), "EMA 2.5 s");
    assert_eq!(view_label(ViewChoice::Session, 10.0, 5.0), "Whole song");
    assert_eq!(VIEW_ORDER[0], Settings::default().view);
    assert_eq!(capitalized("off"), "Off");
}

#[test]
fn the_editor_is_resizable_down_to_its_minimum() {
    let hint = resize_hint();
    assert!(hint.can_resize && hint.can_resize_horizontally && hint.can_resize_vertically);
    let min = match hint.size_constraints {
        nice_plug::editor::SizeConstraints::Logical { min_size, .. } => min_size,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        min,
        Some(LogicalSize::new(
            MIN_EDITOR_SIZE.width as f32,
            MIN_EDITOR_SIZE.height as f32
        ))
    );
}

#[test]
fn a_resized_window_is_what_the_host_is_told_and_what_is_saved() {
    use nice_plug_egui::baseview::dpi::PhysicalSize;
    use nice_plug_egui::baseview::WindowSize;
    let (shared, _midi) = Shared::new();
    let editor = create(shared.clone()).unwrap();
    assert_eq!(
        shared.params.editor_size(),
        crate::settings::DEFAULT_EDITOR_SIZE
    );
    let mut app = MstagApp::new(shared.clone(), editor.scale.clone());
    // A window of 900 x 700 logical pixels on a display scaled by 2.
    app.resized(WindowSize::from_physical(
        PhysicalSize::new(1800, 1400),
        2.0,
    ));
    assert_eq!(
        shared.params.editor_size(),
        EditorSize {
            width: 900,
            height: 700
        }
    );
    // Linux and Windows hosts get physical pixels.
    #[cfg(not(target_os = "macos"))]
    assert_eq!(editor.size(), NativeSize::new(1800, 1400));
    // Smaller than the editor allows: the minimum is kept.
    app.resized(WindowSize::from_physical(PhysicalSize::new(100, 100), 1.0));
    assert_eq!(shared.params.editor_size(), MIN_EDITOR_SIZE);
}

#[test]
fn a_restored_project_replaces_the_osc_text_being_shown() {
    let (shared, _midi) = Shared::new();
    let mut app = MstagApp::new(shared.clone(), Arc::new(AtomicU64::new(1.0f64.to_bits())));
    app.osc_prefix_edit = "bad prefix".into();
    app.apply_osc_text(false);
    assert!(app
        .prefix_error
        .as_deref()
        .unwrap_or("")
        .starts_with("OSC prefix"));
    // Typed text that was not applied stays while nothing else changes...
    let s = shared.params.settings.get();
    app.follow_saved_osc_text(&s);
    assert_eq!(app.osc_prefix_edit, "bad prefix");
    // ...and gives way to a restored project's values.
    nice_plug::params::persist::PersistentField::set(
        &shared.params.settings,
        Settings {
            osc_target: "10.0.0.9:9000".into(),
            osc_prefix: "/show".into(),
            ..Settings::default()
        },
    );
    app.follow_saved_osc_text(&shared.params.settings.get());
    assert_eq!(
        (app.osc_target_edit.as_str(), app.osc_prefix_edit.as_str()),
        ("10.0.0.9:9000", "/show")
    );
    assert_eq!(app.prefix_error, None);
}
