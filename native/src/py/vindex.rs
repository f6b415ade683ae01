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

/// Unit vectors in numbered slots; see `crate::vindex`. Every method runs with the GIL held.
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
        query: &Bound<'_, PyAny>,
        threshold: f32,
        limit: usize,
    ) -> PyResult<Vec<(u32, f32)>> {
        // The GIL stays held: a search is at most ~0.5 ms (100k vectors), and the caller is the event
        // loop, which after releasing it may wait a whole switch interval (5 ms) to get it back from a
        // busy embedding or audit thread (measured: searches of ~0.2 ms took ~1.2 ms in the gateway).
        let q = with_bytes(query, vindex::decode_le)??;
        Ok(self.inner.search(&q, threshold, limit)?)
    }

    fn __repr__(&self) -> String {
        format!(
            "VectorIndex(dims={}, len={})",
            self.inner.dims(),
            self.inner.len()
        )
    }
}
