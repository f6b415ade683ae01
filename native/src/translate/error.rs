use std::fmt;

use crate::eventstream::EventStreamError;
use crate::sse::SseError;

/// A malformed upstream stream; mapped to the Python `TranslateError` (a `ValueError`) at the
/// boundary. Errors the upstream *reports* (an `error` event, an exception message) are not
/// this: they end the translation normally and are read from the accounting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TranslateError {
    Sse(SseError),
    EventStream(EventStreamError),
    /// An event whose payload is not JSON.
    BadEvent {
        event: String,
        detail: String,
    },
}

impl fmt::Display for TranslateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sse(e) => e.fmt(f),
            Self::EventStream(e) => e.fmt(f),
            Self::BadEvent { event, detail } => {
                write!(f, "upstream event '{event}' is not valid JSON: {detail}")
            }
        }
    }
}

impl std::error::Error for TranslateError {}

impl From<SseError> for TranslateError {
    fn from(e: SseError) -> Self {
        Self::Sse(e)
    }
}

impl From<EventStreamError> for TranslateError {
    fn from(e: EventStreamError) -> Self {
        Self::EventStream(e)
    }
}
