//! Native extension of Brutor: plain-Rust cores (`jwt`, `pii`, `sse`) and thin PyO3 wrappers (`py`).

pub mod jwt;
pub mod pii;
pub mod sse;

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
    Ok(())
}
