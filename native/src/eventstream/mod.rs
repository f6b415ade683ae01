//! AWS event-stream framing (`application/vnd.amazon.eventstream`), as Bedrock's
//! `ConverseStream` and `InvokeModelWithResponseStream` answer.
//!
//! A message is a 12-byte prelude (total length, headers length, both big-endian `u32`, and the
//! CRC-32 of those 8 bytes), the headers, the payload and the CRC-32 of everything before it.
//! A header is a 1-byte name length, the name, a 1-byte value type and the value. Plain Rust (no
//! pyo3); the Python wrapper lives in `crate::py`.

pub mod crc32;
mod decoder;
mod error;

pub use decoder::{encode, Decoder, HeaderValue, Headers, Message, PRELUDE_BYTES};
pub use error::EventStreamError;

/// Default bound on the size of one message (1 MiB). The format allows 16 MiB; Bedrock's events
/// are small deltas.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1 << 20;
