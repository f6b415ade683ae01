//! Borrowing `bytes | bytearray | memoryview` arguments as `&[u8]`.

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Calls `f` with the bytes of `obj`: `bytes` (borrowed) or any C-contiguous byte buffer such as
/// `bytearray` or `memoryview` (borrowed while exported; copied if not contiguous).
///
/// `f` must not run Python code nor allocate garbage-collected Python objects (which may run a
/// collection and so finalizers): only the buffer export keeps a `bytearray` from being resized,
/// and nothing else keeps Python code from writing into it while `f` reads it.
pub(crate) fn with_bytes<R>(obj: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> R) -> PyResult<R> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(f(b.as_bytes()));
    }
    let buf = PyBuffer::<u8>::get(obj).map_err(|_| {
        let name = obj
            .get_type()
            .name()
            .map_or_else(|_| "?".into(), |n| n.to_string());
        PyTypeError::new_err(format!(
            "expected bytes, bytearray or memoryview, not {name}"
        ))
    })?;
    if !buf.is_c_contiguous() {
        return Ok(f(&buf.to_vec(obj.py())?));
    }
    // SAFETY: the buffer is C-contiguous with `len_bytes` bytes of `u8` items and stays
    // exported, so alive and not resized, until `buf` is dropped after `f` returns.
    let bytes = unsafe { std::slice::from_raw_parts(buf.buf_ptr() as *const u8, buf.len_bytes()) };
    Ok(f(bytes))
}
