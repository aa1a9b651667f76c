//! `mstag._mstag`, the extension module of the `mstag` Python package: [`mstag::Tagger`] and
//! [`mstag::StreamTagger`] over NumPy, with mstag's errors as Python exceptions.
//!
//! The Python side (`python/mstag/__init__.py`) finds ONNX Runtime in the installed
//! `onnxruntime` wheel and the models inside the package, then re-exports these classes.

mod audio;
mod errors;
mod stream;
mod tagger;

use std::path::PathBuf;

use pyo3::prelude::*;

/// Makes `path` the ONNX Runtime library to load (`ORT_DYLIB_PATH` still comes first).
/// Returns False when the runtime is already loaded from another file.
#[pyfunction]
fn _set_onnxruntime_library(path: PathBuf) -> bool {
    mstag::model::runtime::set_library_path(path)
}

/// The ONNX Runtime library in use, loading it if need be.
#[pyfunction]
fn onnxruntime_library(py: Python<'_>) -> PyResult<PathBuf> {
    let path = py.detach(|| mstag::model::runtime::library_path().map(|p| p.to_path_buf()));
    errors::IntoPyResult::py_err(path, py)
}

/// The extension module.
#[pymodule]
fn _mstag(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<tagger::PyTagger>()?;
    m.add_class::<stream::PyStream>()?;
    m.add("ORT_VERSION", mstag::model::runtime::ORT_VERSION)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(_set_onnxruntime_library, m)?)?;
    m.add_function(wrap_pyfunction!(onnxruntime_library, m)?)?;
    Ok(())
}
