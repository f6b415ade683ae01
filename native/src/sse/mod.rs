//! Server-sent events: framing, decoding, the OpenAI chat-stream relay and its PII redaction.
//!
//! Plain Rust (no pyo3); the Python wrappers live in `crate::py`.

pub mod decoder;
mod error;
mod frame;
mod redact;
mod relay;
pub mod scan;

pub use decoder::{Decoder, Event, EventRef};
pub use error::SseError;
pub(crate) use frame::recycle;
pub use frame::Forward;
pub use redact::ChatChunkRedactor;
pub use relay::{Accounting, ChatStreamRelay};

/// Default bound on the size of one event (1 MiB).
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1 << 20;
