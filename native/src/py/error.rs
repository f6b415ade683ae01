use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::PyErr;

use crate::sse;

create_exception!(
    brutor._native,
    SseError,
    PyValueError,
    "Invalid or oversized server-sent event stream."
);

impl From<sse::SseError> for PyErr {
    fn from(err: sse::SseError) -> Self {
        SseError::new_err(err.to_string())
    }
}
