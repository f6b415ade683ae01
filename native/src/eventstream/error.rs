use std::fmt;

/// A malformed or oversized event-stream message; mapped to the Python `EventStreamError` (a
/// `ValueError`) at the boundary. Once returned, the decoder is failed for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventStreamError {
    /// The prelude's total length is below the 16-byte minimum, or its headers length does not
    /// fit in the message.
    BadLengths {
        total: u32,
        headers: u32,
    },
    /// The message is larger than `max_message_bytes`.
    TooLarge {
        size: u32,
        limit: usize,
    },
    PreludeCrc {
        expected: u32,
        actual: u32,
    },
    MessageCrc {
        expected: u32,
        actual: u32,
    },
    /// A header is cut short, has an empty or non-UTF-8 name, an unknown value type or a string
    /// value that is not UTF-8.
    BadHeader(&'static str),
}

impl fmt::Display for EventStreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadLengths { total, headers } => write!(
                f,
                "event-stream prelude has total length {total} and headers length {headers}"
            ),
            Self::TooLarge { size, limit } => write!(
                f,
                "event-stream message of {size} bytes exceeds max_message_bytes={limit}"
            ),
            Self::PreludeCrc { expected, actual } => write!(
                f,
                "event-stream prelude CRC mismatch (expected {expected:#010x}, computed {actual:#010x})"
            ),
            Self::MessageCrc { expected, actual } => write!(
                f,
                "event-stream message CRC mismatch (expected {expected:#010x}, computed {actual:#010x})"
            ),
            Self::BadHeader(why) => write!(f, "event-stream header: {why}"),
        }
    }
}

impl std::error::Error for EventStreamError {}
