//! Thin wrappers over `crate::pii`: the scanner, its spans, whole-text and stream redaction.
//!
//! Offsets cross the boundary as Python `str` indices (code points); the core works in UTF-8
//! bytes and the conversion is one forward count per call.

use std::collections::HashMap;
use std::sync::Arc;

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::pii;

create_exception!(
    brutor._native,
    PiiError,
    PyValueError,
    "An invalid custom pattern, pattern name, deny word, kind or action."
);

impl From<pii::PiiError> for PyErr {
    fn from(err: pii::PiiError) -> Self {
        PiiError::new_err(err.to_string())
    }
}

/// Inputs from this size on are scanned without the GIL: scanning 32 KiB takes tens of
/// microseconds, against well under one for releasing and taking back the GIL.
const DETACH_BYTES: usize = 32 << 10;

/// One entity found: `text[start:end]` is it.
#[pyclass(module = "brutor._native", frozen, eq, hash)]
#[derive(PartialEq, Eq, Hash)]
pub(crate) struct PiiSpan {
    #[pyo3(get)]
    kind: String,
    #[pyo3(get)]
    start: usize,
    #[pyo3(get)]
    end: usize,
}

#[pymethods]
impl PiiSpan {
    #[new]
    fn new(kind: String, start: usize, end: usize) -> Self {
        Self { kind, start, end }
    }

    fn __repr__(&self) -> String {
        // Kind names are `[A-Z][A-Z0-9_]*`: nothing to escape.
        format!(
            "PiiSpan(kind='{}', start={}, end={})",
            self.kind, self.start, self.end
        )
    }
}

/// The outcome of `PiiScanner.redact`.
#[pyclass(module = "brutor._native", frozen)]
pub(crate) struct RedactResult {
    #[pyo3(get)]
    text: String,
    counts: Vec<(String, u64)>,
    blocked: Vec<String>,
}

#[pymethods]
impl RedactResult {
    /// Entities per kind (kinds with action allow are not counted).
    #[getter]
    fn counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        counts_dict(py, &self.counts)
    }

    /// Kinds found whose action is block.
    #[getter]
    fn blocked(&self) -> Vec<String> {
        self.blocked.clone()
    }

    /// Counts and blocked kinds; not the text (it may be long).
    fn __repr__(&self) -> String {
        let counts: Vec<String> = self
            .counts
            .iter()
            .map(|(k, n)| format!("'{k}': {n}"))
            .collect();
        let blocked: Vec<String> = self.blocked.iter().map(|k| format!("'{k}'")).collect();
        format!(
            "RedactResult(counts={{{}}}, blocked=[{}])",
            counts.join(", "),
            blocked.join(", ")
        )
    }
}

fn counts_dict<'py>(py: Python<'py>, counts: &[(String, u64)]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, n) in counts {
        d.set_item(k, n)?;
    }
    Ok(d)
}

fn tally_names(scanner: &pii::Scanner, tally: &pii::Tally) -> (Vec<(String, u64)>, Vec<String>) {
    let counts = tally
        .counts()
        .map(|(k, n)| (scanner.kind_name(k).to_owned(), n))
        .collect();
    let blocked = tally
        .blocked()
        .map(|k| scanner.kind_name(k).to_owned())
        .collect();
    (counts, blocked)
}

/// The built-in PII and secret detectors plus one tenant's custom patterns and deny words.
#[pyclass(module = "brutor._native", frozen)]
pub(crate) struct PiiScanner {
    pub(super) inner: Arc<pii::Scanner>,
}

impl PiiScanner {
    pub(super) fn actions(
        &self,
        actions: Option<HashMap<String, String>>,
    ) -> PyResult<pii::Actions> {
        let actions = actions.unwrap_or_default();
        let pairs = actions.iter().map(|(k, a)| (k.as_str(), a.as_str()));
        Ok(pii::Actions::from_names(&self.inner, pairs)?)
    }
}

#[pymethods]
impl PiiScanner {
    #[new]
    #[pyo3(
        signature = (custom_patterns = Vec::new(), deny_words = Vec::new()),
        text_signature = "(custom_patterns=(), deny_words=())"
    )]
    fn new(custom_patterns: Vec<(String, String)>, deny_words: Vec<String>) -> PyResult<Self> {
        Ok(Self {
            inner: Arc::new(pii::Scanner::new(&custom_patterns, &deny_words)?),
        })
    }

    /// Every kind this scanner reports: the built-ins, then the custom pattern names.
    #[getter]
    fn kinds(&self) -> Vec<String> {
        let s = &self.inner;
        s.kinds().map(|k| s.kind_name(k).to_owned()).collect()
    }

    /// The entities of `text`, in order, not overlapping; offsets are `str` indices.
    fn scan(&self, py: Python<'_>, text: &str) -> Vec<PiiSpan> {
        let spans = if text.len() >= DETACH_BYTES {
            py.detach(|| self.inner.scan(text))
        } else {
            self.inner.scan(text)
        };
        let bytes = text.as_bytes();
        let (mut at_byte, mut at_char) = (0, 0);
        let mut to_char = |b: usize| {
            at_char += count_chars(&bytes[at_byte..b]);
            at_byte = b;
            at_char
        };
        spans
            .into_iter()
            .map(|s| PiiSpan {
                kind: self.inner.kind_name(s.kind).to_owned(),
                start: to_char(s.start),
                end: to_char(s.end),
            })
            .collect()
    }

    /// `text` with each entity handled by the action of its kind (`actions` maps kind names to
    /// allow, log, redact, mask or block; kinds not given are redacted).
    #[pyo3(signature = (text, actions = None))]
    fn redact(
        &self,
        py: Python<'_>,
        text: &str,
        actions: Option<HashMap<String, String>>,
    ) -> PyResult<RedactResult> {
        let actions = self.actions(actions)?;
        let (out, tally) = if text.len() >= DETACH_BYTES {
            py.detach(|| self.inner.redact(text, &actions))
        } else {
            self.inner.redact(text, &actions)
        };
        let (counts, blocked) = tally_names(&self.inner, &tally);
        Ok(RedactResult {
            text: out,
            counts,
            blocked,
        })
    }

    /// A redactor for a text that comes in chunks (a model's streamed answer).
    #[pyo3(signature = (actions = None))]
    fn stream(&self, actions: Option<HashMap<String, String>>) -> PyResult<StreamRedactor> {
        Ok(StreamRedactor {
            inner: pii::StreamRedactor::new(self.inner.clone(), self.actions(actions)?),
        })
    }
}

/// Code points in valid UTF-8: the bytes that are not continuation bytes.
fn count_chars(bytes: &[u8]) -> usize {
    // As a sum of 0/1 (vectorised), not `filter().count()`.
    bytes.iter().map(|&b| usize::from((b as i8) >= -0x40)).sum()
}

/// Redacts a streamed text chunk by chunk; see `pii::StreamRedactor`.
#[pyclass(module = "brutor._native")]
pub(crate) struct StreamRedactor {
    inner: pii::StreamRedactor,
}

#[pymethods]
impl StreamRedactor {
    /// Adds a chunk; returns the (redacted) text that is final now.
    fn push(&mut self, text: &str) -> String {
        self.inner.push(text)
    }

    /// End of the text: returns the held tail (redacted). Later pushes start a new text.
    fn finish(&mut self) -> String {
        self.inner.finish()
    }

    /// Entities per kind so far (kinds with action allow are not counted).
    #[getter]
    fn counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        counts_dict(py, &tally_names(self.inner.scanner(), self.inner.tally()).0)
    }

    /// Kinds seen so far whose action is block.
    #[getter]
    fn blocked(&self) -> Vec<String> {
        tally_names(self.inner.scanner(), self.inner.tally()).1
    }

    /// Whether any kind with action block was seen.
    #[getter]
    fn is_blocked(&self) -> bool {
        self.inner.tally().is_blocked()
    }

    /// UTF-8 bytes received but not yet returned.
    #[getter]
    fn held(&self) -> usize {
        self.inner.held()
    }
}
