//! NumPy arrays of samples into the interleaved `f32` the library takes.

use numpy::{PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// Most channels the pipeline takes (`mstag::dsp`: more is refused).
pub const MAX_CHANNELS: usize = 64;

/// Samples taken from an array: interleaved frames, `channels` values each.
pub struct Samples {
    /// Interleaved samples in `[-1, 1]` (integers scaled as the file decoder scales them).
    pub interleaved: Vec<f32>,
    /// Values per frame.
    pub channels: usize,
}

/// Reads `obj`, a NumPy array of shape `[frames]` (mono) or `[frames, channels]`, of
/// dtype float32, float64 or int16 (scaled by 1/32768, as the decoder scales 16-bit files).
/// Any memory layout (strided, Fortran order) is read in logical order.
///
/// # Errors
/// `TypeError` when `obj` is not an array or has another dtype; `ValueError` for other
/// shapes, for more than 64 channels (with a hint when the array looks transposed), or for
/// non-finite values.
pub fn samples(obj: &Bound<'_, PyAny>) -> PyResult<Samples> {
    let arr = obj.cast::<PyUntypedArray>().map_err(|_| {
        let ty = obj
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "?".into());
        PyTypeError::new_err(format!(
            "samples must be a numpy.ndarray of float32, float64 or int16, not {ty}"
        ))
    })?;
    let shape = arr.shape().to_vec();
    let channels = match shape.as_slice() {
        [_] => 1,
        [frames, c] => {
            if *c == 0 || *c > MAX_CHANNELS {
                let hint = if *frames >= 1 && *frames <= MAX_CHANNELS {
                    " (is it [channels, frames]? pass samples.T)"
                } else {
                    ""
                };
                return Err(PyValueError::new_err(format!(
                    "samples of shape {shape:?}: expected [frames, channels] with 1 to \
                     {MAX_CHANNELS} channels{hint}"
                )));
            }
            *c
        }
        _ => {
            return Err(PyValueError::new_err(format!(
                "samples must have shape [frames] (mono) or [frames, channels], not {shape:?}"
            )))
        }
    };
    let interleaved = if let Ok(a) = obj.cast::<PyArrayDyn<f32>>() {
        let a = a.try_readonly()?;
        a.as_array().iter().copied().collect::<Vec<f32>>()
    } else if let Ok(a) = obj.cast::<PyArrayDyn<f64>>() {
        let a = a.try_readonly()?;
        a.as_array().iter().map(|&x| x as f32).collect()
    } else if let Ok(a) = obj.cast::<PyArrayDyn<i16>>() {
        let a = a.try_readonly()?;
        a.as_array()
            .iter()
            .map(|&x| f32::from(x) / 32768.0)
            .collect()
    } else {
        let dtype = arr.dtype().str()?.to_string();
        return Err(PyTypeError::new_err(format!(
            "samples must be float32, float64 or int16, not dtype {dtype}"
        )));
    };
    if let Some(i) = interleaved.iter().position(|x| !x.is_finite()) {
        return Err(PyValueError::new_err(format!(
            "samples must be finite: value {i} (frame {}) is {}",
            i / channels,
            interleaved[i]
        )));
    }
    Ok(Samples {
        interleaved,
        channels,
    })
}

/// A sample rate given from Python: a positive whole number of Hz.
///
/// # Errors
/// `ValueError` unless `rate` is in 1..=u32::MAX.
pub fn sample_rate(rate: i64) -> PyResult<u32> {
    u32::try_from(rate).ok().filter(|&r| r > 0).ok_or_else(|| {
        PyValueError::new_err(format!(
            "sample_rate must be a positive number of Hz, not {rate}"
        ))
    })
}
