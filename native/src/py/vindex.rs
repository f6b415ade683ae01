//! Python class of the semantic cache's vector index (`crate::vindex`).

use pyo3::create_exception;
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;

use super::input::with_bytes;
use crate::vindex::{self, FlatIndex, VindexError};

create_exception!(
    brutor._native,
    VectorIndexError,
    PyValueError,
    "A vector or query the index refuses: wrong dimensions, NaN or infinite component, byte length not a multiple of 4, NaN threshold."
);

impl From<VindexError> for PyErr {
    fn from(err: VindexError) -> Self {
        match err {
            VindexError::NoSuchSlot(_) => PyKeyError::new_err(err.to_string()),
            _ => VectorIndexError::new_err(err.to_string()),
        }
    }
}

/// Searches over at least this many floats run without the GIL: about 50 µs of scanning, against
/// well under one for releasing and taking back the GIL.
const DETACH_FLOATS: usize = 256 << 10;

/// Unit vectors in numbered slots; see `crate::vindex`. Not for sharing across threads: a call
/// made while a search runs without the GIL fails with "already borrowed".
#[pyclass(module = "brutor._native")]
pub(crate) struct VectorIndex {
    inner: FlatIndex,
}

#[pymethods]
impl VectorIndex {
    #[new]
    #[pyo3(signature = (dims, *, exact_limit = None, oversample = None))]
    fn new(dims: usize, exact_limit: Option<usize>, oversample: Option<usize>) -> PyResult<Self> {
        let exact_limit = exact_limit.unwrap_or_else(|| FlatIndex::default_exact_limit(dims));
        let oversample = oversample.unwrap_or(vindex::OVERSAMPLE);
        Ok(Self {
            inner: FlatIndex::with_tuning(dims, exact_limit, oversample)?,
        })
    }

    #[getter]
    fn dims(&self) -> usize {
        self.inner.dims()
    }

    /// Live vectors up to which a search is exact.
    #[getter]
    fn exact_limit(&self) -> usize {
        self.inner.exact_limit()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Stores a vector of little-endian float32 components; returns its slot.
    fn insert(&mut self, vector: &Bound<'_, PyAny>) -> PyResult<u32> {
        let v = with_bytes(vector, vindex::decode_le)??;
        Ok(self.inner.insert(&v)?)
    }

    /// Frees `slot` (`KeyError` if it holds no vector); a later `insert` may reuse it.
    fn remove(&mut self, slot: u32) -> PyResult<()> {
        Ok(self.inner.remove(slot)?)
    }

    /// Up to `limit` `(slot, score)` with `score >= threshold`, best first.
    fn search(
        &self,
        py: Python<'_>,
        query: &Bound<'_, PyAny>,
        threshold: f32,
        limit: usize,
    ) -> PyResult<Vec<(u32, f32)>> {
        let q = with_bytes(query, vindex::decode_le)??;
        let hits = if self.inner.len() * self.inner.dims() >= DETACH_FLOATS {
            py.detach(|| self.inner.search(&q, threshold, limit))
        } else {
            self.inner.search(&q, threshold, limit)
        };
        Ok(hits?)
    }

    fn __repr__(&self) -> String {
        format!(
            "VectorIndex(dims={}, len={})",
            self.inner.dims(),
            self.inner.len()
        )
    }
}
