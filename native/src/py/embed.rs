//! Python function of the embedding helpers (`crate::embed`).

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::input::with_bytes;
use crate::embed;

create_exception!(
    brutor._native,
    EmbedError,
    PyValueError,
    "A vector that cannot be normalized: zero, NaN or infinite component, or a byte length not a multiple of 4."
);

impl From<embed::EmbedError> for PyErr {
    fn from(err: embed::EmbedError) -> Self {
        EmbedError::new_err(err.to_string())
    }
}

/// L2-normalizes a vector of little-endian float32 components; returns the unit vector in the
/// same encoding. (A 384-dimension vector takes well under a microsecond: the GIL is kept.)
#[pyfunction]
#[pyo3(signature = (vec, /))]
pub(crate) fn normalize_l2<'py>(
    py: Python<'py>,
    vec: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let out = with_bytes(vec, embed::normalize_l2_le)??;
    Ok(PyBytes::new(py, &out))
}
