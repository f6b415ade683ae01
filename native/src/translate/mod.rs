//! Translation of provider streams into OpenAI `chat.completion.chunk` SSE events.
//!
//! Each translator is fed whole network chunks and returns the complete OpenAI events they
//! produce (one crossing per chunk from Python); usage, stop reason and upstream errors are kept
//! in an [`Accounting`]. Plain Rust (no pyo3); the Python wrappers live in `crate::py`.

mod anthropic;
mod bedrock;
mod chunks;
mod error;
pub mod json;

pub use anthropic::AnthropicStream;
pub use bedrock::BedrockStream;
pub use chunks::{finish_reason, Accounting, TokenUsage, UpstreamError};
pub use error::TranslateError;

/// Reads the usage counters present in `v` into `usage` (absent or non-integer ones are left).
fn read_usage(
    usage: &mut TokenUsage,
    v: &json::Json<'_>,
    [input, output, cache_read, cache_write]: [&str; 4],
) {
    for (slot, key) in [
        (&mut usage.input, input),
        (&mut usage.output, output),
        (&mut usage.cache_read, cache_read),
        (&mut usage.cache_write, cache_write),
    ] {
        if let Some(n) = v.get(key).u64() {
            *slot = Some(n);
        }
    }
}
