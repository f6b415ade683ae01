//! Thin PyO3 wrappers over the plain-Rust cores.

mod decoder;
mod error;
mod input;
mod jwt;
mod pii;
mod relay;

pub(crate) use decoder::{SseDecoder, SseEvent};
pub(crate) use error::SseError;
pub(crate) use jwt::{JwtError, JwtIssuer, JwtKeySet, JwtVerifier, VerifiedToken};
pub(crate) use pii::{PiiError, PiiScanner, PiiSpan, RedactResult, StreamRedactor};
pub(crate) use relay::ChatStreamRelay;
