//! Thin PyO3 wrappers over the plain-Rust cores.

mod chunk_redactor;
mod decoder;
mod embed;
mod error;
mod eventstream;
mod input;
mod jwt;
mod pii;
mod relay;
mod translate;
mod vindex;

pub(crate) use chunk_redactor::ChatChunkRedactor;
pub(crate) use decoder::{SseDecoder, SseEvent};
pub(crate) use embed::{normalize_l2, EmbedError};
pub(crate) use error::SseError;
pub(crate) use eventstream::{EventStreamDecoder, EventStreamError, EventStreamMessage};
pub(crate) use jwt::{JwtError, JwtIssuer, JwtKeySet, JwtVerifier, VerifiedToken};
pub(crate) use pii::{PiiError, PiiScanner, PiiSpan, RedactResult, StreamRedactor};
pub(crate) use relay::ChatStreamRelay;
pub(crate) use translate::{AnthropicStreamTranslator, BedrockStreamTranslator, TranslateError};
pub(crate) use vindex::{VectorIndex, VectorIndexError};
