//! Native extension of Brutor: plain-Rust cores (`eventstream`, `jwt`, `pii`, `sse`, `translate`) and
//! thin PyO3 wrappers (`py`).

pub mod embed;
pub mod eventstream;
pub mod jwt;
pub mod pii;
pub mod sse;
pub mod translate;
pub mod vindex;

#[cfg(feature = "python")]
mod py;

#[cfg(feature = "python")]
use pyo3::prelude::*;

/// The `brutor._native` module.
#[cfg(feature = "python")]
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("SseError", m.py().get_type::<py::SseError>())?;
    m.add_class::<py::SseEvent>()?;
    m.add_class::<py::SseDecoder>()?;
    m.add_class::<py::ChatStreamRelay>()?;
    m.add("JwtError", m.py().get_type::<py::JwtError>())?;
    m.add_class::<py::JwtKeySet>()?;
    m.add_class::<py::JwtIssuer>()?;
    m.add_class::<py::VerifiedToken>()?;
    m.add_class::<py::JwtVerifier>()?;
    m.add("PiiError", m.py().get_type::<py::PiiError>())?;
    m.add_class::<py::PiiScanner>()?;
    m.add_class::<py::PiiSpan>()?;
    m.add_class::<py::RedactResult>()?;
    m.add_class::<py::StreamRedactor>()?;
    m.add_class::<py::ChatChunkRedactor>()?;
    m.add("TranslateError", m.py().get_type::<py::TranslateError>())?;
    m.add_class::<py::AnthropicStreamTranslator>()?;
    m.add_class::<py::BedrockStreamTranslator>()?;
    m.add(
        "EventStreamError",
        m.py().get_type::<py::EventStreamError>(),
    )?;
    m.add_class::<py::EventStreamMessage>()?;
    m.add_class::<py::EventStreamDecoder>()?;
    m.add("EmbedError", m.py().get_type::<py::EmbedError>())?;
    m.add_function(wrap_pyfunction!(py::normalize_l2, m)?)?;
    m.add(
        "VectorIndexError",
        m.py().get_type::<py::VectorIndexError>(),
    )?;
    m.add_class::<py::VectorIndex>()?;
    Ok(())
}
