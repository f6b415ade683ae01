use std::fmt;

/// Invalid scanner configuration or actions; mapped to the Python `PiiError` (a `ValueError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PiiError {
    /// A custom pattern that does not compile (the message is the regex parser's).
    BadPattern { name: String, message: String },
    /// A custom pattern name that is not `[A-Z][A-Z0-9_]*` (at most 40), is a built-in kind's
    /// name, or is used twice.
    BadName(String),
    /// An empty deny word, or one longer than `MAX_DENY_WORD_CHARS`.
    BadDenyWord(String),
    /// More than 1,000 custom patterns.
    TooManyPatterns,
    /// An action given for a kind the scanner does not know.
    UnknownKind(String),
    /// An action other than allow, log, redact, mask, block.
    UnknownAction(String),
}

impl fmt::Display for PiiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadPattern { name, message } => {
                write!(f, "custom PII pattern {name:?} does not compile: {message}")
            }
            Self::BadName(name) => write!(
                f,
                "invalid custom PII pattern name {name:?}: expected [A-Z][A-Z0-9_]* (at most 40 \
                 chars), unique and not a built-in kind"
            ),
            Self::BadDenyWord(word) => write!(f, "invalid deny word {word:?}: empty or too long"),
            Self::TooManyPatterns => f.write_str("too many custom PII patterns (at most 1000)"),
            Self::UnknownKind(kind) => write!(f, "unknown PII kind {kind:?}"),
            Self::UnknownAction(action) => write!(
                f,
                "unknown PII action {action:?}: expected allow, log, redact, mask or block"
            ),
        }
    }
}

impl std::error::Error for PiiError {}
