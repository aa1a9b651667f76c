//! Where the plugin's models and ONNX Runtime are: in a `mstag-data/` folder found from the
//! plugin binary's own path, wherever the host loaded it from.
//!
//! Layout written by `cargo xtask bundle`:
//!
//! ```text
//! mstag.clap                                   (the plugin binary)
//! mstag-data/models/manifest.json, *.onnx      (beside it)
//! mstag-data/lib/libonnxruntime.so.1.31.1
//!
//! mstag.vst3/Contents/x86_64-linux/mstag.so
//! mstag.vst3/Contents/Resources/mstag-data/…   (the VST3 bundle's resources folder)
//! ```
//!
//! Searched, first found wins: `$MSTAG_PLUGIN_DATA` (a `mstag-data` folder), then
//! `<binary dir>/mstag-data`, then `<binary dir>/../Resources/mstag-data`. `$MSTAG_MODELS`
//! (a models folder) and `$ORT_DYLIB_PATH` (the library file) override either part, as they do
//! for the command-line tools.

use std::ffi::CStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use mstag::model::runtime::ORT_VERSION;

/// Name of the data folder beside the plugin binary.
pub const DATA_DIR: &str = "mstag-data";

/// The files the plugin needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPaths {
    pub manifest: PathBuf,
    pub ort_library: PathBuf,
}

/// File name of the ONNX Runtime library in the bundle.
pub fn ort_library_name() -> String {
    format!("libonnxruntime.so.{ORT_VERSION}")
}

/// Path of the shared object this code lives in (the `.clap` or the VST3 `.so`), from the
/// dynamic loader.
pub fn plugin_binary() -> Option<PathBuf> {
    // Any function of this library will do: dladdr maps its address back to the file.
    let addr = plugin_binary as *const () as *const libc::c_void;
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    // SAFETY: dladdr only writes into `info`; it returns 0 when the address is not in a
    // loaded object.
    let found = unsafe { libc::dladdr(addr, info.as_mut_ptr()) };
    if found == 0 {
        return None;
    }
    // SAFETY: dladdr succeeded, so `info` is initialised.
    let info = unsafe { info.assume_init() };
    if info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dli_fname is a NUL-terminated string owned by the loader.
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    let path = PathBuf::from(std::ffi::OsStr::from_bytes(name.to_bytes()));
    Some(std::fs::canonicalize(&path).unwrap_or(path))
}

/// The data folders to try, in order, for a plugin binary at `binary`.
pub fn data_dir_candidates(binary: Option<&Path>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(d) = std::env::var_os("MSTAG_PLUGIN_DATA").filter(|d| !d.is_empty()) {
        out.push(PathBuf::from(d));
    }
    if let Some(dir) = binary.and_then(Path::parent) {
        out.push(dir.join(DATA_DIR));
        if let Some(contents) = dir.parent() {
            out.push(contents.join("Resources").join(DATA_DIR));
        }
    }
    out
}

/// Finds the models and the ONNX Runtime library, or says where it looked.
pub fn find_data() -> Result<DataPaths, String> {
    let binary = plugin_binary();
    find_data_from(binary.as_deref())
}

/// [`find_data`] for a plugin binary at `binary`.
pub fn find_data_from(binary: Option<&Path>) -> Result<DataPaths, String> {
    let candidates = data_dir_candidates(binary);
    let data = candidates
        .iter()
        .find(|d| d.join("models").join("manifest.json").is_file() || d.join("lib").is_dir())
        .cloned();
    let manifest = match std::env::var_os("MSTAG_MODELS").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("manifest.json"),
        None => match &data {
            Some(d) => d.join("models").join("manifest.json"),
            None => {
                return Err(format!(
                    "the models are missing: no {DATA_DIR} folder with models/manifest.json \
                     (looked in {}; plugin binary: {}). Install the whole bundle made by \
                     `cargo xtask bundle`, with its {DATA_DIR} folder, or set MSTAG_PLUGIN_DATA.",
                    list(&candidates),
                    binary.map_or("unknown".into(), |b| b.display().to_string()),
                ))
            }
        },
    };
    if !manifest.is_file() {
        return Err(format!(
            "the models are missing: {} does not exist. Install the whole bundle made by \
             `cargo xtask bundle`.",
            manifest.display()
        ));
    }
    let ort_library = match std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => match &data {
            Some(d) => d.join("lib").join(ort_library_name()),
            None => PathBuf::from(ort_library_name()),
        },
    };
    if !ort_library.is_file() {
        return Err(format!(
            "ONNX Runtime is missing: {} does not exist. Install the whole bundle made by \
             `cargo xtask bundle` (it copies {} from .ort/lib, see `cargo xtask setup`), or set \
             ORT_DYLIB_PATH.",
            ort_library.display(),
            ort_library_name()
        ));
    }
    Ok(DataPaths {
        manifest,
        ort_library,
    })
}

fn list(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "nowhere: the plugin binary's path is unknown".into();
    }
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_of_this_code_is_found() {
        // In a test this is the test executable itself.
        let p = plugin_binary().expect("dladdr finds this function");
        assert!(p.is_file(), "{}", p.display());
    }

    #[test]
    fn clap_and_vst3_layouts_are_found_and_missing_data_is_explained() {
        let tmp = std::env::temp_dir().join(format!("mstag-locate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        // CLAP: data beside the file.
        let clap = tmp.join("clap").join("mstag.clap");
        let data = tmp.join("clap").join(DATA_DIR);
        std::fs::create_dir_all(data.join("models")).unwrap();
        std::fs::create_dir_all(data.join("lib")).unwrap();
        std::fs::write(data.join("models/manifest.json"), "{}").unwrap();
        std::fs::write(data.join("lib").join(ort_library_name()), "").unwrap();
        if std::env::var_os("MSTAG_MODELS").is_none()
            && std::env::var_os("ORT_DYLIB_PATH").is_none()
            && std::env::var_os("MSTAG_PLUGIN_DATA").is_none()
        {
            let found = find_data_from(Some(&clap)).unwrap();
            assert_eq!(found.manifest, data.join("models/manifest.json"));
            assert_eq!(found.ort_library, data.join("lib").join(ort_library_name()));
            // VST3: Contents/x86_64-linux/mstag.so and Contents/Resources/mstag-data.
            let contents = tmp.join("mstag.vst3").join("Contents");
            let so = contents.join("x86_64-linux").join("mstag.so");
            std::fs::create_dir_all(contents.join("Resources")).unwrap();
            std::fs::rename(&data, contents.join("Resources").join(DATA_DIR)).unwrap();
            let found = find_data_from(Some(&so)).unwrap();
            assert!(found.manifest.starts_with(contents.join("Resources")));
            // Nothing there: a message that says what to do.
            let err = find_data_from(Some(&clap)).unwrap_err();
            assert!(err.contains("models are missing"), "{err}");
            assert!(err.contains("cargo xtask bundle"), "{err}");
        }
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
