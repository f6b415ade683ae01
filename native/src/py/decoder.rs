use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::input::with_bytes;
use crate::sse;

/// One server-sent event.
#[pyclass(module = "brutor._native", frozen)]
pub(crate) struct SseEvent {
    event: Option<String>,
    data: Py<PyBytes>,
    id: Option<String>,
    retry: Option<u64>,
}

#[pymethods]
impl SseEvent {
    /// Value of the `event` field, `None` if absent or empty.
    #[getter]
    fn event(&self) -> Option<&str> {
        self.event.as_deref()
    }

    /// The `data` lines joined with `b"\n"`.
    #[getter]
    fn data(&self, py: Python<'_>) -> Py<PyBytes> {
        self.data.clone_ref(py)
    }

    /// The last event ID at dispatch (it carries over from earlier events), `None` if never set.
    #[getter]
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The `retry` field of this event, if valid.
    #[getter]
    fn retry(&self) -> Option<u64> {
        self.retry
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "SseEvent(event={}, data={}, id={}, retry={})",
            self.event.as_deref().into_pyobject(py)?.repr()?,
            self.data.bind(py).repr()?,
            self.id.as_deref().into_pyobject(py)?.repr()?,
            self.retry
                .map_or_else(|| "None".to_owned(), |r| r.to_string()),
        ))
    }
}

/// Incremental WHATWG server-sent-events decoder fed whole network chunks.
#[pyclass(module = "brutor._native")]
pub(crate) struct SseDecoder {
    inner: sse::Decoder,
}

#[pymethods]
impl SseDecoder {
    #[new]
    #[pyo3(
        signature = (max_event_bytes = sse::DEFAULT_MAX_EVENT_BYTES),
        text_signature = "(max_event_bytes=1048576)"
    )]
    fn new(max_event_bytes: usize) -> Self {
        Self {
            inner: sse::Decoder::new(max_event_bytes),
        }
    }

    /// Decodes one chunk; returns the events it completes.
    fn feed<'py>(&mut self, chunk: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let py = chunk.py();
        let mut events = Vec::new();
        let mut failed = None;
        let mut push = |e: sse::EventRef<'_>| {
            if failed.is_none() {
                match new_event(py, e) {
                    Ok(obj) => events.push(obj),
                    Err(err) => failed = Some(err),
                }
            }
        };
        // Building the events allocates Python objects, so only immutable `bytes` is borrowed.
        match chunk.cast::<PyBytes>() {
            Ok(b) => self.inner.feed_with(b.as_bytes(), &mut push)?,
            Err(_) => {
                let owned = with_bytes(chunk, <[u8]>::to_vec)?;
                self.inner.feed_with(&owned, &mut push)?;
            }
        }
        if let Some(err) = failed {
            return Err(err);
        }
        PyList::new(py, events)
    }

    /// End of stream: an unterminated final event is discarded (WHATWG), so this returns `[]`.
    fn finish<'py>(&mut self, py: Python<'py>) -> Bound<'py, PyList> {
        drop(self.inner.finish());
        PyList::empty(py)
    }

    /// Bytes held waiting for the end of their event.
    #[getter]
    fn buffered(&self) -> usize {
        self.inner.buffered()
    }
}

fn new_event(py: Python<'_>, e: sse::EventRef<'_>) -> PyResult<Py<SseEvent>> {
    Py::new(
        py,
        SseEvent {
            event: e.event.map(|v| String::from_utf8_lossy(v).into_owned()),
            data: PyBytes::new(py, e.data).unbind(),
            id: e.id.map(str::to_owned),
            retry: e.retry,
        },
    )
}
