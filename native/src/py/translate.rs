//! Python classes of the stream translators (`crate::translate`).

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::input::with_bytes;
use crate::{eventstream, sse, translate};

create_exception!(
    brutor._native,
    TranslateError,
    PyValueError,
    "A malformed upstream stream: an event that is not JSON, an oversized event, or broken \
     event-stream framing."
);

impl From<translate::TranslateError> for PyErr {
    fn from(err: translate::TranslateError) -> Self {
        TranslateError::new_err(err.to_string())
    }
}

/// One class per upstream format; same constructor, `feed`/`finish` and accounting properties.
macro_rules! translator_class {
    ($name:ident, $inner:ty, $limit:ident, $default:expr, $sig:literal, $doc:literal) => {
        #[doc = $doc]
        #[pyclass(module = "brutor._native")]
        pub(crate) struct $name {
            inner: $inner,
        }

        #[pymethods]
        impl $name {
            #[new]
            #[pyo3(signature = (id, model, created, include_usage = false, $limit = $default))]
            #[pyo3(text_signature = $sig)]
            fn new(
                id: &str,
                model: &str,
                created: u64,
                include_usage: bool,
                $limit: usize,
            ) -> Self {
                Self {
                    inner: <$inner>::new(id, created, model, include_usage, $limit),
                }
            }

            /// Translates one upstream chunk; returns the complete OpenAI SSE events it yields.
            fn feed<'py>(&mut self, chunk: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
                let inner = &mut self.inner;
                with_bytes(chunk, |data| inner.feed(data).map(|_| ()))??;
                Ok(PyBytes::new(chunk.py(), inner.output()))
            }

            /// At upstream EOF: the last events to forward (normally `b""`).
            fn finish<'py>(&mut self, py: Python<'py>) -> Bound<'py, PyBytes> {
                PyBytes::new(py, self.inner.finish())
            }

            #[getter]
            fn done(&self) -> bool {
                self.inner.accounting().done
            }

            #[getter]
            fn stopped(&self) -> bool {
                self.inner.accounting().stopped
            }

            #[getter]
            fn prompt_tokens(&self) -> Option<u64> {
                self.inner.accounting().usage.prompt_tokens()
            }

            #[getter]
            fn completion_tokens(&self) -> Option<u64> {
                self.inner.accounting().usage.completion_tokens()
            }

            #[getter]
            fn cached_tokens(&self) -> Option<u64> {
                self.inner.accounting().usage.cached_tokens()
            }

            #[getter]
            fn stop_reason(&self) -> Option<&str> {
                self.inner.accounting().stop_reason.as_deref()
            }

            #[getter]
            fn finish_reason(&self) -> Option<&str> {
                self.inner.accounting().finish_reason
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
            fn tool_calls(&self) -> u32 {
                self.inner.accounting().tool_calls
            }

            #[getter]
            fn error_type(&self) -> Option<&str> {
                Some(self.inner.accounting().error.as_ref()?.kind.as_str())
            }

            #[getter]
            fn error_message(&self) -> Option<&str> {
                Some(self.inner.accounting().error.as_ref()?.message.as_str())
            }

            #[getter]
            fn buffered(&self) -> usize {
                self.inner.buffered()
            }

            #[getter]
            fn truncated(&self) -> usize {
                self.inner.truncated()
            }
        }
    };
}

translator_class!(
    AnthropicStreamTranslator,
    translate::AnthropicStream,
    max_event_bytes,
    sse::DEFAULT_MAX_EVENT_BYTES,
    "(id, model, created, include_usage=False, max_event_bytes=1048576)",
    "Translates an Anthropic Messages SSE stream into OpenAI chat-completion chunks."
);

translator_class!(
    BedrockStreamTranslator,
    translate::BedrockStream,
    max_message_bytes,
    eventstream::DEFAULT_MAX_MESSAGE_BYTES,
    "(id, model, created, include_usage=False, max_message_bytes=1048576)",
    "Translates a Bedrock ConverseStream event stream into OpenAI chat-completion chunks."
);
