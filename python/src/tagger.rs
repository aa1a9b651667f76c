//! `mstag.Tagger`: [`mstag::Tagger`] for Python.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use mstag::model::Device;
use mstag::{Error, SongTags, Tagger, TaggerConfig};
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::audio;
use crate::errors::{to_py, IntoPyResult};
use crate::stream::PyStream;

/// Tags songs with one set of models, loaded once. See `mstag.pyi` for the Python API.
///
/// Calls from several Python threads are safe: they take turns on the models (each call
/// releases the GIL while it decodes and runs the models). For parallel work make one
/// `Tagger` per thread or process.
#[pyclass(name = "Tagger", module = "mstag", frozen)]
pub struct PyTagger {
    inner: Mutex<Tagger>,
    tags: Vec<String>,
    device_arg: String,
    device: &'static str,
    models: PathBuf,
    batch: usize,
    threads: usize,
    feature_dim: usize,
}

impl PyTagger {
    /// The tagger, for a call made while detached from Python (never lock while attached:
    /// another thread holding the lock may be waiting to attach).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Tagger> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn tag_names(&self) -> &[String] {
        &self.tags
    }

    /// Tags `samples`, detached from Python.
    fn tag_samples(
        &self,
        py: Python<'_>,
        s: &audio::Samples,
        rate: u32,
    ) -> mstag::Result<SongTags> {
        py.detach(|| self.lock().tag_samples(&s.interleaved, rate, s.channels))
    }
}

/// The manifest a `models` argument names: the file itself, or `manifest.json` in a folder.
fn manifest_path(py: Python<'_>, models: Option<PathBuf>) -> PyResult<PathBuf> {
    let path = match models {
        Some(p) => p,
        None => py
            .import("mstag")?
            .getattr("_default_models")?
            .call0()?
            .extract::<PathBuf>()?,
    };
    Ok(if path.is_dir() {
        path.join("manifest.json")
    } else {
        path
    })
}

fn parse_device(device: &str) -> Result<Device, Error> {
    match device.to_ascii_lowercase().as_str() {
        "cpu" => Ok(Device::Cpu),
        "cuda" | "gpu" => Ok(Device::Cuda),
        "auto" => Ok(Device::Auto),
        _ => Err(Error::InvalidSetting {
            name: "device",
            value: device.to_string(),
            reason: "choose one of: cpu, cuda, auto".into(),
        }),
    }
}

/// A song's result as the `mstag tag --format json` object: `{"file" (when from a file),
/// "duration_s", "segments", "silent_segments", "looped_scales", "device", "tags": {tag:
/// score}}`, tags in manifest order.
pub(crate) fn song_dict<'py>(
    py: Python<'py>,
    song: &SongTags,
    file: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    if let Some(f) = file {
        d.set_item("file", f)?;
    }
    d.set_item("duration_s", song.duration_s())?;
    d.set_item("segments", song.segments())?;
    d.set_item("silent_segments", song.silent_segments())?;
    d.set_item("looped_scales", song.looped_scales().to_vec())?;
    d.set_item("device", song.device())?;
    d.set_item("tags", tag_dict(py, song.names(), song.scores())?)?;
    Ok(d)
}

/// `{tag: score}` in manifest order.
pub(crate) fn tag_dict<'py>(
    py: Python<'py>,
    names: &[String],
    scores: &[f32],
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (n, s) in names.iter().zip(scores) {
        d.set_item(n, f64::from(*s))?;
    }
    Ok(d)
}

/// A path argument (`str` or `os.PathLike`), or `None` for anything else (an array).
fn as_path(obj: &Bound<'_, PyAny>) -> Option<PathBuf> {
    if obj.is_instance_of::<PyString>() || obj.hasattr("__fspath__").unwrap_or(false) {
        obj.extract::<PathBuf>().ok()
    } else {
        None
    }
}

#[pymethods]
impl PyTagger {
    /// Loads the models (`models`: a `manifest.json` or the folder holding one; default: the
    /// models inside the package, or `$MSTAG_MODELS`).
    #[new]
    #[pyo3(signature = (device = "cpu", models = None, batch = mstag::DEFAULT_BATCH, threads = 1))]
    fn new(
        py: Python<'_>,
        device: &str,
        models: Option<PathBuf>,
        batch: usize,
        threads: usize,
    ) -> PyResult<Self> {
        let dev = parse_device(device).py_err(py)?;
        if threads == 0 {
            return Err(to_py(
                py,
                &Error::InvalidSetting {
                    name: "threads",
                    value: "0".into(),
                    reason: "threads ONNX Runtime may use inside each model, at least 1".into(),
                },
            ));
        }
        let manifest = manifest_path(py, models)?;
        let config = TaggerConfig {
            manifest: manifest.clone(),
            device: dev,
            intra_threads: threads,
            batch,
            ..TaggerConfig::default()
        };
        let tagger = py.detach(|| Tagger::new(config)).py_err(py)?;
        Ok(PyTagger {
            tags: tagger.tags().to_vec(),
            device: tagger.placement().device_name(),
            feature_dim: tagger.feature_dim(),
            inner: Mutex::new(tagger),
            device_arg: device.to_string(),
            models: manifest,
            batch,
            threads,
        })
    }

    /// Tag names, in the order of every score array.
    #[getter]
    fn tags(&self) -> Vec<String> {
        self.tags.clone()
    }

    /// Where the models run: "cpu" or "cuda" (what "auto" resolved to).
    #[getter]
    fn device(&self) -> &'static str {
        self.device
    }

    /// The model manifest loaded.
    #[getter]
    fn models(&self) -> PathBuf {
        self.models.clone()
    }

    /// Segments per model call.
    #[getter]
    fn batch(&self) -> usize {
        self.batch
    }

    /// Length of the song-level feature vector (`embed`).
    #[getter]
    fn feature_dim(&self) -> usize {
        self.feature_dim
    }

    /// Decodes and tags the audio file at `path`.
    fn tag<'py>(&self, py: Python<'py>, path: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        let p: PathBuf = path.extract()?;
        let song = py.detach(|| self.lock().tag_path(&p)).py_err(py)?;
        let file = PyString::new(py, &p.to_string_lossy());
        song_dict(py, &song, Some(file.as_any()))
    }

    /// Tags samples in memory: `[frames]` or `[frames, channels]`, float32, float64 or int16.
    fn tag_array<'py>(
        &self,
        py: Python<'py>,
        samples: &Bound<'py, PyAny>,
        sample_rate: i64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let rate = audio::sample_rate(sample_rate)?;
        let s = audio::samples(samples)?;
        let song = self.tag_samples(py, &s, rate).py_err(py)?;
        song_dict(py, &song, None)
    }

    /// The song-level feature vector (float32, `feature_dim` values) of a file or of samples.
    #[pyo3(signature = (source, sample_rate = None))]
    fn embed<'py>(
        &self,
        py: Python<'py>,
        source: &Bound<'py, PyAny>,
        sample_rate: Option<i64>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let song = match (as_path(source), sample_rate) {
            (Some(p), None) => py.detach(|| self.lock().tag_path(&p)).py_err(py)?,
            (Some(_), Some(_)) => {
                return Err(PyTypeError::new_err(
                    "sample_rate is for arrays of samples; a file says its own",
                ))
            }
            (None, rate) => {
                let rate =
                    rate.ok_or_else(|| PyTypeError::new_err("embed(samples) needs sample_rate="))?;
                let rate = audio::sample_rate(rate)?;
                let s = audio::samples(source)?;
                self.tag_samples(py, &s, rate).py_err(py)?
            }
        };
        Ok(song.features().to_vec().into_pyarray(py))
    }

    /// Tags many files the fastest way for the device: on CUDA the models run over segments
    /// of several files at once, on the CPU file by file. Returns `(scores [n, tags] float32,
    /// durations [n] float64)`, and `features [n, feature_dim] float32` third with
    /// `features=True` (from the same pass: nothing is decoded twice).
    #[pyo3(signature = (paths, on_error = "raise", features = false))]
    fn predict_batch<'py>(
        &self,
        py: Python<'py>,
        paths: &Bound<'py, PyAny>,
        on_error: &str,
        features: bool,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let raise = match on_error {
            "raise" => true,
            "nan" => false,
            other => {
                return Err(PyValueError::new_err(format!(
                    "on_error must be \"raise\" or \"nan\", not {other:?}"
                )))
            }
        };
        if paths.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(
                "predict_batch takes a list of paths; for one file use tag()",
            ));
        }
        let mut list = Vec::new();
        for p in paths.try_iter()? {
            list.push(p?.extract::<PathBuf>()?);
        }
        let results = py.detach(|| self.lock().tag_many(&list, |_| {}));
        let (n_tags, dim) = (self.tags.len(), if features { self.feature_dim } else { 0 });
        let mut scores = Vec::with_capacity(results.len() * n_tags);
        let mut feats = Vec::with_capacity(results.len() * dim);
        let mut durations = Vec::with_capacity(results.len());
        for r in results {
            match r {
                Ok(song) => {
                    scores.extend_from_slice(song.scores());
                    durations.push(song.duration_s());
                    if features {
                        feats.extend_from_slice(song.features());
                    }
                }
                Err(e) if raise => return Err(to_py(py, &e)),
                Err(_) => {
                    scores.extend(std::iter::repeat_n(f32::NAN, n_tags));
                    feats.extend(std::iter::repeat_n(f32::NAN, dim));
                    durations.push(f64::NAN);
                }
            }
        }
        let rows = durations.len();
        let shaped = |v: Vec<f32>, cols: usize| {
            Array2::from_shape_vec((rows, cols), v)
                .map(|a| a.into_pyarray(py).into_any())
                .map_err(|e| PyValueError::new_err(e.to_string()))
        };
        let mut out = vec![
            shaped(scores, n_tags)?,
            durations.into_pyarray(py).into_any(),
        ];
        if features {
            out.push(shaped(feats, dim)?);
        }
        PyTuple::new(py, out)
    }

    /// A `Stream` over this tagger's models (sessions of its own).
    #[pyo3(signature = (sample_rate, channels = 1))]
    fn stream(slf: &Bound<'_, Self>, sample_rate: i64, channels: usize) -> PyResult<PyStream> {
        PyStream::new(slf, sample_rate, channels)
    }

    /// Pickles as its arguments (the models load again where it is unpickled).
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let me = slf.get();
        let args = (
            me.device_arg.clone(),
            me.models.clone(),
            me.batch,
            me.threads,
        );
        PyTuple::new(
            py,
            [
                slf.get_type().into_any(),
                args.into_pyobject(py)?.into_any(),
            ],
        )
    }

    fn __repr__(&self) -> String {
        format!(
            "mstag.Tagger(device={:?}, models={:?}, batch={}, threads={}) on {}, {} tags",
            self.device_arg,
            self.models.display().to_string(),
            self.batch,
            self.threads,
            self.device,
            self.tags.len()
        )
    }
}

/// `PyList` of the tag names (for the stream's getter).
pub(crate) fn names_list<'py>(py: Python<'py>, names: &[String]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, names)
}
