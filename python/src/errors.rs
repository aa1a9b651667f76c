//! mstag's [`Error`] as Python exceptions.
//!
//! The classes live in `mstag/_errors.py` (some have two bases, e.g. `ReadError` is also an
//! `OSError`, which PyO3's `create_exception!` cannot make). Each exception's message is
//! [`mstag::error::report`]: the Rust error's `Display`, then its sources, `: `-separated (what
//! the `mstag` program prints). `path` names the file when the error has one.

use std::path::Path;

use mstag::Error;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// The `mstag._errors` class an error becomes.
fn class_name(e: &Error) -> &'static str {
    match e {
        Error::Io { .. } => "ReadError",
        Error::Decode { .. } => "DecodeError",
        Error::AudioFormat { .. } => "AudioFormatError",
        Error::NoScores { .. } => "NoScoresError",
        Error::Manifest { .. } | Error::Model { .. } => "ModelError",
        Error::Runtime { .. } => "OnnxRuntimeError",
        Error::ExecutionProvider { .. } | Error::Device { .. } => "DeviceError",
        Error::Inference { .. } | Error::Resample { .. } => "InferenceError",
        Error::InvalidSetting { .. } => "InvalidSettingError",
        // A failure while tagging a file: the class of what failed, the file in the message.
        Error::File { source, .. } => class_name(source),
        _ => "Error",
    }
}

/// The file an error is about, if it names one.
fn path_of(e: &Error) -> Option<&Path> {
    match e {
        Error::Io { path, .. }
        | Error::Decode { path, .. }
        | Error::Manifest { path, .. }
        | Error::Model { path, .. }
        | Error::File { path, .. } => Some(path),
        Error::NoScores { path, .. } => path.as_deref(),
        _ => None,
    }
}

/// The operating system's error number behind an unreadable file (`errno` of the
/// `ReadError`, an `OSError`).
fn errno_of(e: &Error) -> Option<i32> {
    match e {
        Error::Io { source, .. } => source.raw_os_error(),
        Error::File { source, .. } => errno_of(source),
        _ => None,
    }
}

/// `e` as an instance of its `mstag` exception class, with `path` (and `errno` for
/// unreadable files) set.
pub fn to_py(py: Python<'_>, e: &Error) -> PyErr {
    let message = mstag::error::report(e);
    match instance(py, e, &message) {
        Ok(err) => err,
        // Only when mstag/_errors.py itself is broken: the message still reaches the user.
        Err(_) => PyRuntimeError::new_err(message),
    }
}

fn instance(py: Python<'_>, e: &Error, message: &str) -> PyResult<PyErr> {
    let module = py.import("mstag._errors")?;
    let class = module.getattr(class_name(e))?;
    let value = class.call1((message,))?;
    let path = path_of(e).map(|p| p.display().to_string());
    value.setattr("path", path)?;
    if let Some(n) = errno_of(e) {
        value.setattr("errno", n)?;
    }
    Ok(PyErr::from_value(value))
}

/// `mstag::Result` into `PyResult`, for use with `?`.
pub trait IntoPyResult<T> {
    /// The error as its `mstag` exception.
    fn py_err(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for mstag::Result<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, &e))
    }
}

/// An exception of class `class` (a name in `mstag._errors`) with `message` and no path.
pub fn new_error(py: Python<'_>, class: &str, message: &str) -> PyErr {
    let made = || -> PyResult<PyErr> {
        let value = py
            .import("mstag._errors")?
            .getattr(class)?
            .call1((message,))?;
        value.setattr("path", py.None())?;
        Ok(PyErr::from_value(value))
    };
    made().unwrap_or_else(|_| PyRuntimeError::new_err(message.to_string()))
}
