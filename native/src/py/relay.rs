use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::input::with_bytes;
use crate::sse;

/// Relays an upstream OpenAI `chat.completion.chunk` SSE stream to a client, one crossing per
/// network chunk.
#[pyclass(module = "brutor._native")]
pub(crate) struct ChatStreamRelay {
    inner: sse::ChatStreamRelay,
}

#[pymethods]
impl ChatStreamRelay {
    #[new]
    #[pyo3(
        signature = (strip_usage_chunk = false, max_event_bytes = sse::DEFAULT_MAX_EVENT_BYTES),
        text_signature = "(strip_usage_chunk=False, max_event_bytes=1048576)"
    )]
    fn new(strip_usage_chunk: bool, max_event_bytes: usize) -> Self {
        Self {
            inner: sse::ChatStreamRelay::new(strip_usage_chunk, max_event_bytes),
        }
    }

    /// Returns the bytes to forward now: the chunk itself when it is a `bytes` of exactly complete
    /// events and nothing was held back or removed, else a new `bytes`.
    ///
    /// Other buffers (the HTTP client's zero-copy body type) are copied once into a `bytes`:
    /// granian's `send_bytes` takes `bytes` without a copy but walks any other object item by item
    /// (measured: stream relay 7,300 -> 1,100 RPS when handed the client's buffer type directly).
    fn feed<'py>(&mut self, chunk: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        let py = chunk.py();
        if let Ok(b) = chunk.cast::<PyBytes>() {
            let out = self.inner.feed_with(b.as_bytes(), |fwd| match fwd {
                None => b.clone(),
                Some(out) => PyBytes::new(py, out),
            })?;
            return Ok(out);
        }
        let out = with_bytes(chunk, |data| {
            self.inner
                .feed_with(data, |fwd| PyBytes::new(py, fwd.unwrap_or(data)))
        })??;
        Ok(out)
    }

    /// At upstream EOF: leftover bytes that are safe to forward (normally `b""`).
    fn finish<'py>(&mut self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.finish())
    }

    #[getter]
    fn done(&self) -> bool {
        self.inner.accounting().done
    }

    #[getter]
    fn prompt_tokens(&self) -> Option<u64> {
        self.inner.accounting().usage.prompt_tokens
    }

    #[getter]
    fn completion_tokens(&self) -> Option<u64> {
        self.inner.accounting().usage.completion_tokens
    }

    #[getter]
    fn total_tokens(&self) -> Option<u64> {
        self.inner.accounting().usage.total_tokens
    }

    #[getter]
    fn cached_tokens(&self) -> Option<u64> {
        self.inner.accounting().usage.cached_tokens
    }

    #[getter]
    fn content_chars(&self) -> u64 {
        self.inner.accounting().content_chars
    }

    #[getter]
    fn events(&self) -> u64 {
        self.inner.accounting().events
    }

    #[getter]
    fn finish_reason(&self) -> Option<&str> {
        self.inner.accounting().finish_reason.as_deref()
    }

    #[getter]
    fn error<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        let error = self.inner.accounting().error.as_deref()?;
        Some(PyBytes::new(py, error))
    }

    #[getter]
    fn model(&self) -> Option<&str> {
        self.inner.accounting().model.as_deref()
    }
}
