//! `mstag.Stream`: [`mstag::StreamTagger`] for Python.

use std::sync::{Mutex, MutexGuard};

use mstag::scores::{Scores, View};
use mstag::StreamTagger;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::audio;
use crate::errors::{new_error, IntoPyResult};
use crate::tagger::{names_list, song_dict, tag_dict, PyTagger};

/// Audio pushed in pieces, scores after every segment. See `mstag.pyi`.
#[pyclass(name = "Stream", module = "mstag", frozen)]
pub struct PyStream {
    /// `None` once finished.
    inner: Mutex<Option<StreamTagger>>,
    tags: Vec<String>,
    sample_rate: u32,
    channels: usize,
}

impl PyStream {
    /// A stream of `channels`-channel audio at `sample_rate` Hz over `tagger`'s models.
    pub(crate) fn new(
        tagger: &Bound<'_, PyTagger>,
        sample_rate: i64,
        channels: usize,
    ) -> PyResult<Self> {
        let py = tagger.py();
        let rate = audio::sample_rate(sample_rate)?;
        if channels == 0 || channels > audio::MAX_CHANNELS {
            return Err(PyValueError::new_err(format!(
                "channels must be 1 to {}, not {channels}",
                audio::MAX_CHANNELS
            )));
        }
        let t = tagger.get();
        let stream = py.detach(|| t.lock().stream(rate, channels)).py_err(py)?;
        Ok(PyStream {
            inner: Mutex::new(Some(stream)),
            tags: t.tag_names().to_vec(),
            sample_rate: rate,
            channels,
        })
    }

    /// The stream, for a call made while detached from Python.
    fn lock(&self) -> MutexGuard<'_, Option<StreamTagger>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An update as a dict: `{"t", "segments", "silent", "looped", "session", "window",
    /// "ema"}`, each view `{tag: score}` (the keys of `mstag-live --json` lines).
    fn update_dict<'py>(&self, py: Python<'py>, s: &Scores) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("t", s.t)?;
        d.set_item("segments", s.segments)?;
        d.set_item("silent", s.silent)?;
        d.set_item("looped", s.looped)?;
        for v in View::ALL {
            d.set_item(v.name(), tag_dict(py, &self.tags, s.view(v))?)?;
        }
        Ok(d)
    }
}

fn finished(py: Python<'_>) -> PyErr {
    new_error(py, "Error", "the stream is finished")
}

#[pymethods]
impl PyStream {
    /// A stream over `tagger`'s models: audio at `sample_rate` Hz with `channels` channels.
    #[new]
    #[pyo3(signature = (tagger, sample_rate, channels = 1))]
    fn py_new(tagger: &Bound<'_, PyTagger>, sample_rate: i64, channels: usize) -> PyResult<Self> {
        PyStream::new(tagger, sample_rate, channels)
    }

    /// Feeds samples (`[frames]` when mono, else `[frames, channels]`); returns the new scores
    /// when this piece completed a segment, else `None`.
    fn push<'py>(
        &self,
        py: Python<'py>,
        samples: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let s = audio::samples(samples)?;
        if s.channels != self.channels {
            return Err(PyValueError::new_err(format!(
                "samples with {} channel(s) pushed into a stream of {}",
                s.channels, self.channels
            )));
        }
        let pushed = py.detach(|| self.lock().as_mut().map(|st| st.push(&s.interleaved)));
        match pushed {
            None => Err(finished(py)),
            Some(r) => match r.py_err(py)? {
                Some(scores) => Ok(Some(self.update_dict(py, &scores)?)),
                None => Ok(None),
            },
        }
    }

    /// The last scores made (as `push` returned them), or `None` before the first.
    #[getter]
    fn latest<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let latest = py.detach(|| self.lock().as_ref().map(|st| st.latest().copied()));
        match latest {
            None => Err(finished(py)),
            Some(None) => Ok(None),
            Some(Some(s)) => Ok(Some(self.update_dict(py, &s)?)),
        }
    }

    /// Seconds of audio pushed so far.
    #[getter]
    fn time_s(&self, py: Python<'_>) -> PyResult<f64> {
        py.detach(|| self.lock().as_ref().map(StreamTagger::time_s))
            .ok_or_else(|| finished(py))
    }

    /// Tag names, in the order of every view.
    #[getter]
    fn tags<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        names_list(py, &self.tags)
    }

    /// The input's sample rate, Hz.
    #[getter]
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The input's channel count.
    #[getter]
    fn channels(&self) -> usize {
        self.channels
    }

    /// Starts a new session: the averages forget everything pushed so far.
    fn reset(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.lock().as_mut().map(StreamTagger::reset))
            .ok_or_else(|| finished(py))
    }

    /// Ends the stream and returns the song-level result (as `Tagger.tag_array` gives).
    fn finish<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let song = py.detach(|| self.lock().take().map(StreamTagger::finish));
        match song {
            None => Err(finished(py)),
            Some(r) => song_dict(py, &r.py_err(py)?, None),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "mstag.Stream(sample_rate={}, channels={})",
            self.sample_rate, self.channels
        )
    }
}
