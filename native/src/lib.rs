//! Native extension of Brutor: plain-Rust cores (`sse`) and thin PyO3 wrappers (`py`).

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
    Ok(())
}
