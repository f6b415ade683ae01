use std::fmt;

/// Errors of the SSE core; mapped to the Python `SseError` (a `ValueError`) at the boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseError {
    /// An event (complete or still pending) is larger than `max_event_bytes`.
    /// `size` is a lower bound when the event is still incomplete.
    EventTooLarge { size: usize, limit: usize },
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EventTooLarge { size, limit } => write!(
                f,
                "SSE event of at least {size} bytes exceeds max_event_bytes={limit}; stream abandoned"
            ),
        }
    }
}

impl std::error::Error for SseError {}
