//! Copies the bundled models (`models/manifest.json` and the ONNX files it names) into
//! `$OUT_DIR/models`, from where maturin puts them into the wheel as `mstag/models/`
//! (`[tool.maturin] include`, `from = "out-dir"` in pyproject.toml): the models ship inside
//! the wheel without a second copy in git.

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn Error>> {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let models = crate_dir
        .parent()
        .ok_or("python/ has no parent folder")?
        .join("models");
    let manifest_path = models.join("manifest.json");
    println!("cargo:rerun-if-changed={}", manifest_path.display());
    let text = fs::read_to_string(&manifest_path)
        .map_err(|e| format!("cannot read {}: {e}", manifest_path.display()))?;
    let manifest: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not JSON: {e}", manifest_path.display()))?;

    let mut files = vec!["manifest.json".to_string()];
    let scales = manifest["scales"]
        .as_array()
        .ok_or("manifest.json has no \"scales\" list")?;
    for scale in scales {
        files.push(file_of(scale, "scale")?);
    }
    files.push(file_of(&manifest["classifier"], "classifier")?);

    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("models");
    if out.exists() {
        fs::remove_dir_all(&out)?;
    }
    fs::create_dir_all(&out)?;
    for f in &files {
        copy(&models.join(f), &out.join(f))?;
    }
    Ok(())
}

/// The `"file"` of a manifest entry: a plain file name inside `models/`.
fn file_of(entry: &serde_json::Value, what: &str) -> Result<String, Box<dyn Error>> {
    let f = entry["file"]
        .as_str()
        .ok_or_else(|| format!("manifest.json: a {what} without \"file\""))?;
    if f.is_empty() || f.contains('/') || f.contains('\\') || f.starts_with('.') {
        return Err(format!("manifest.json: {what} file {f:?} is not a plain file name").into());
    }
    Ok(f.to_string())
}

fn copy(from: &Path, to: &Path) -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={}", from.display());
    fs::copy(from, to)
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))?;
    Ok(())
}
