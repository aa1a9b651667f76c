//! A host that unloads the plugin after its last instance (here: the CLAP entry dropped, so
//! clack-host calls `deinit` and `dlclose`) must not leave its threads with per-thread
//! destructors whose code is gone. The plugin pins its library at the first instance
//! (`mstag_plugin::pin`), so it stays mapped after the unload, and a host thread that used it
//! ends cleanly. Before the pin, `tests/state.rs` crashed with SIGSEGV in
//! `__nptl_deallocate_tsd` in about 3 runs of 100.

#[path = "../examples/clap_host/mod.rs"]
mod clap_host;

use std::path::{Path, PathBuf};

use clack_host::prelude::*;

/// `target/<profile>/deps/libmstag_plugin.so`, built with this test (see tests/state.rs).
fn plugin_library() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let name = format!(
        "{}mstag_plugin{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let lib = exe.parent().unwrap().join(name);
    assert!(lib.is_file(), "{} missing", lib.display());
    lib
}

/// Whether `lib` is mapped into this process now.
fn mapped(lib: &Path) -> bool {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let lib = lib.canonicalize().unwrap();
    maps.lines()
        .any(|l| l.split_whitespace().nth(5).map(Path::new) == Some(lib.as_path()))
}

#[test]
fn the_library_stays_loaded_after_the_host_unloads_it_and_its_threads_end_cleanly() {
    let lib = plugin_library();
    assert!(!mapped(&lib), "nothing has loaded the plugin yet");
    // A host thread loads the plugin, makes an instance and ends; the host lets go of the
    // entry later, on another thread, when no thread-local destructor of the plugin is
    // pending any more (those keep glibc from unmapping a library): then `dlclose` would
    // unmap it.
    let lib2 = lib.clone();
    let entry = std::thread::spawn(move || {
        let (entry, id, name) = clap_host::load(&lib2).expect("the plugin loads");
        assert_eq!(name, "mstag");
        let host = clap_host::host_info("mstag-unload-test");
        drop(PluginInstance::<()>::new(|_| (), |_| (), &entry, &id, &host).unwrap());
        assert!(mapped(&lib2));
        entry
    })
    .join()
    .expect("the host thread ends without a crash");
    drop(entry);
    assert!(
        mapped(&lib),
        "the plugin was unmapped after its first instance"
    );

    // Loading it again gives the same, still working library.
    let (entry, id, _) = clap_host::load(&lib).expect("the plugin loads again");
    let host = clap_host::host_info("mstag-unload-test");
    drop(PluginInstance::<()>::new(|_| (), |_| (), &entry, &id, &host).unwrap());
}
