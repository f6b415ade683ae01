//! PII and secret detection and redaction, whole texts and streams.
//!
//! Plain Rust (no pyo3); the Python wrappers live in `crate::py::pii`.
//!
//! # Model
//! Every detector answers one question: is there an entity *starting* at byte `i`, and where
//! does it end? The built-in detectors (`detect/`) are hand-written and run in one pass over the
//! text: a byte-class table says which detectors can start at a byte, and a detector only runs
//! at a word boundary. Per-tenant patterns and deny words are one multi-pattern regex
//! (`custom.rs`) searched alongside. Spans are then chosen left to right: at the first position
//! with any candidate, the longest wins (ties by [`Kind`] rank), and the scan resumes at its end.
//!
//! Offsets are UTF-8 byte offsets into the `&str`; the Python wrapper converts them to `str`
//! indices.
//!
//! # Streams
//! Because each answer depends only on the text from six bytes before `i` to a bounded distance
//! after it, a stream can emit everything before the first position whose answer still depends
//! on text not yet received (a detector read past the end, see `hay.rs`), and scan again from
//! there when more arrives. That yields exactly the spans of the whole text, whatever the
//! chunking, while holding back only the tail that could still become (part of) an entity.
//!
//! # Bounds
//! To keep the hold-back bounded, entities have a maximum length, applied the same way whole
//! and streamed: a PEM block is cut after [`MAX_PEM_BYTES`], a JWT, bearer or long API token
//! after [`MAX_TOKEN_BYTES`], an e-mail domain after 253 bytes, and a custom pattern or deny
//! word match after [`MAX_CUSTOM_BYTES`] (a custom pattern is matched within that window from
//! its start). The rest of such an over-long entity is left as it is.

mod custom;
mod detect;
mod entity;
mod error;
mod hay;
mod redact;
mod scanner;
mod stream;
mod validate;

#[cfg(test)]
mod tests;

pub use entity::Kind;
pub use error::PiiError;
pub use redact::{Action, Actions, Tally};
pub use scanner::{Scanner, Span};
pub use stream::StreamRedactor;
pub use validate::{iban_mod97, luhn};

/// Longest PEM private-key block (an RSA-8192 key in PKCS#8 is about 6.4 KiB).
pub const MAX_PEM_BYTES: usize = 8 << 10;
/// Longest JWT, bearer token or variable-length API key.
pub const MAX_TOKEN_BYTES: usize = 4 << 10;
/// Longest custom-pattern or deny-word match.
pub const MAX_CUSTOM_BYTES: usize = 512;
/// Longest deny word or phrase, in chars.
pub const MAX_DENY_WORD_CHARS: usize = 128;
