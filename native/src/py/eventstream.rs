//! Python classes of the AWS event-stream decoder (`crate::eventstream`).

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::input::with_bytes;
use crate::eventstream::{self, HeaderValue};

create_exception!(
    brutor._native,
    EventStreamError,
    PyValueError,
    "Malformed or oversized AWS event-stream data (bad lengths, CRC mismatch, bad header)."
);

impl From<eventstream::EventStreamError> for PyErr {
    fn from(err: eventstream::EventStreamError) -> Self {
        EventStreamError::new_err(err.to_string())
    }
}

enum Value {
    Bool(bool),
    Int(i64),
    Bytes(Vec<u8>),
    Str(String),
}

impl From<HeaderValue<'_>> for Value {
    fn from(v: HeaderValue<'_>) -> Self {
        match v {
            HeaderValue::Bool(b) => Self::Bool(b),
            HeaderValue::Byte(n) => Self::Int(n.into()),
            HeaderValue::Short(n) => Self::Int(n.into()),
            HeaderValue::Int(n) => Self::Int(n.into()),
            HeaderValue::Long(n) | HeaderValue::Timestamp(n) => Self::Int(n),
            HeaderValue::Bytes(b) => Self::Bytes(b.to_vec()),
            HeaderValue::String(s) => Self::Str(s.to_owned()),
            HeaderValue::Uuid(u) => Self::Bytes(u.to_vec()),
        }
    }
}

/// Headers and payload, copied out while the input buffer is borrowed.
type OwnedMessage = (Vec<(String, Value)>, Vec<u8>);

/// One event-stream message.
#[pyclass(module = "brutor._native", frozen)]
pub(crate) struct EventStreamMessage {
    headers: Py<PyDict>,
    payload: Py<PyBytes>,
}

#[pymethods]
impl EventStreamMessage {
    /// Header name → value (`bool`, `int` for the integer types and timestamps in ms, `bytes`
    /// for byte arrays and UUIDs, `str`).
    #[getter]
    fn headers(&self, py: Python<'_>) -> Py<PyDict> {
        self.headers.clone_ref(py)
    }

    #[getter]
    fn payload(&self, py: Python<'_>) -> Py<PyBytes> {
        self.payload.clone_ref(py)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "EventStreamMessage(headers={}, payload={})",
            self.headers.bind(py).repr()?,
            self.payload.bind(py).repr()?
        ))
    }
}

/// Incremental AWS event-stream decoder fed whole network chunks.
#[pyclass(module = "brutor._native")]
pub(crate) struct EventStreamDecoder {
    inner: eventstream::Decoder,
}

#[pymethods]
impl EventStreamDecoder {
    #[new]
    #[pyo3(
        signature = (max_message_bytes = eventstream::DEFAULT_MAX_MESSAGE_BYTES),
        text_signature = "(max_message_bytes=1048576)"
    )]
    fn new(max_message_bytes: usize) -> Self {
        Self {
            inner: eventstream::Decoder::new(max_message_bytes),
        }
    }

    /// Decodes one chunk (any split of the stream); returns the messages it completes.
    fn feed(&mut self, chunk: &Bound<'_, PyAny>) -> PyResult<Vec<EventStreamMessage>> {
        let py = chunk.py();
        let inner = &mut self.inner;
        let mut owned: Vec<OwnedMessage> = Vec::new();
        with_bytes(chunk, |data| {
            inner.feed_with(data, |m| {
                let headers = m
                    .headers
                    .iter()
                    .map(|(n, v)| (n.to_owned(), v.into()))
                    .collect();
                owned.push((headers, m.payload.to_vec()));
            })
        })??;
        owned
            .into_iter()
            .map(|(headers, payload)| {
                let dict = PyDict::new(py);
                for (name, value) in headers {
                    match value {
                        Value::Bool(b) => dict.set_item(name, b)?,
                        Value::Int(n) => dict.set_item(name, n)?,
                        Value::Bytes(b) => dict.set_item(name, PyBytes::new(py, &b))?,
                        Value::Str(s) => dict.set_item(name, s)?,
                    }
                }
                Ok(EventStreamMessage {
                    headers: dict.unbind(),
                    payload: PyBytes::new(py, &payload).unbind(),
                })
            })
            .collect()
    }

    /// End of stream: drops an incomplete message; returns how many of its bytes were held.
    fn finish(&mut self) -> usize {
        self.inner.finish()
    }

    #[getter]
    fn buffered(&self) -> usize {
        self.inner.buffered()
    }
}
