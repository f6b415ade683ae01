//! Thin wrapper over `crate::sse::ChatChunkRedactor`: PII redaction of a chat-completion SSE
//! stream, one crossing per network chunk.

use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::input::with_bytes;
use super::pii::PiiScanner;
use crate::sse;

/// Redacts every `choices[*].delta.content` of an OpenAI `chat.completion.chunk` SSE stream
/// through one stream redactor per choice index; see `sse::ChatChunkRedactor`.
#[pyclass(module = "brutor._native")]
pub(crate) struct ChatChunkRedactor {
    inner: sse::ChatChunkRedactor,
}

#[pymethods]
impl ChatChunkRedactor {
    #[new]
    #[pyo3(
        signature = (scanner, actions = None, max_event_bytes = sse::DEFAULT_MAX_EVENT_BYTES),
        text_signature = "(scanner, actions=None, max_event_bytes=1048576)"
    )]
    fn new(
        scanner: &PiiScanner,
        actions: Option<HashMap<String, String>>,
        max_event_bytes: usize,
    ) -> PyResult<Self> {
        let actions = scanner.actions(actions)?;
        Ok(Self {
            inner: sse::ChatChunkRedactor::new(scanner.inner.clone(), actions, max_event_bytes),
        })
    }

    /// Returns the bytes to forward now: the chunk itself when it is a `bytes` that needs no
    /// change, else a new `bytes`. With `last`, the tails still held are flushed into it.
    #[pyo3(signature = (chunk, last = false))]
    fn feed<'py>(
        &mut self,
        chunk: &Bound<'py, PyAny>,
        last: bool,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let py = chunk.py();
        if let Ok(b) = chunk.cast::<PyBytes>() {
            let out = self.inner.feed_with(b.as_bytes(), last, |fwd| match fwd {
                None => b.clone(),
                Some(out) => PyBytes::new(py, out),
            })?;
            return Ok(out);
        }
        let out = with_bytes(chunk, |data| {
            self.inner
                .feed_with(data, last, |fwd| PyBytes::new(py, fwd.unwrap_or(data)))
        })??;
        Ok(out)
    }

    /// The stream is complete: an event with the tails still held (or `b""`).
    fn finish<'py>(&mut self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.finish())
    }

    /// Entities per kind so far, all choices (kinds with action allow are not counted).
    #[getter]
    fn counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let s = self.inner.scanner();
        for (kind, n) in self.inner.counts() {
            d.set_item(s.kind_name(kind), n)?;
        }
        Ok(d)
    }

    /// Entities so far, all kinds: changes whenever `counts` does.
    #[getter]
    fn entities(&self) -> u64 {
        self.inner.entities()
    }

    /// Kinds seen so far whose action is block.
    #[getter]
    fn blocked(&self) -> Vec<String> {
        let s = self.inner.scanner();
        self.inner
            .blocked()
            .into_iter()
            .map(|k| s.kind_name(k).to_owned())
            .collect()
    }

    /// Whether a kind with action block was seen (the stream is then over).
    #[getter]
    fn is_blocked(&self) -> bool {
        self.inner.is_blocked()
    }

    /// UTF-8 bytes of text held back by the redactors.
    #[getter]
    fn held(&self) -> usize {
        self.inner.held()
    }

    /// Bytes of an incomplete event held back.
    #[getter]
    fn buffered(&self) -> usize {
        self.inner.buffered()
    }
}
