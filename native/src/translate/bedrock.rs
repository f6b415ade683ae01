//! Bedrock `ConverseStream` (AWS event-stream framing) → OpenAI chunks.
//!
//! | Bedrock message | OpenAI output |
//! |---|---|
//! | event `messageStart` | role chunk |
//! | event `contentBlockStart` with `start.toolUse` | tool call (index, id, name, `""`) |
//! | event `contentBlockDelta` `delta.text` / `delta.toolUse.input` | content / arguments piece |
//! | event `messageStop` | chunk with `finish_reason` |
//! | event `metadata` | usage; after `messageStop`: usage chunk when asked, stream done |
//! | exception (`:exception-type`) or error (`:error-code`) | nothing: recorded as the upstream error, translation stops |
//! | `contentBlockStop`, reasoning deltas, unknown events | nothing |
//!
//! Bedrock sends `metadata` after `messageStop`, so the stream is done when both have arrived
//! (in either order).

use super::chunks::{Accounting, ChunkWriter};
use super::json::Json;
use super::{read_usage, TranslateError};
use crate::eventstream::{Decoder, Message};
use crate::sse::recycle;

const USAGE_KEYS: [&str; 4] = [
    "inputTokens",
    "outputTokens",
    "cacheReadInputTokens",
    "cacheWriteInputTokens",
];

#[derive(Debug)]
pub struct BedrockStream {
    decoder: Decoder,
    w: ChunkWriter,
    out: Vec<u8>,
    failed: Option<TranslateError>,
    metadata_seen: bool,
    /// Bytes of a partial message dropped at EOF.
    truncated: usize,
}

impl BedrockStream {
    /// `id` and `model` are the OpenAI chunk id and the client-visible model name.
    pub fn new(
        id: &str,
        created: u64,
        model: &str,
        include_usage: bool,
        max_message_bytes: usize,
    ) -> Self {
        Self {
            decoder: Decoder::new(max_message_bytes),
            w: ChunkWriter::new(id, created, model, include_usage),
            out: Vec::new(),
            failed: None,
            metadata_seen: false,
            truncated: 0,
        }
    }

    /// Feeds one upstream chunk; returns the OpenAI events it completes. After an error every
    /// later call returns it again.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<&[u8], TranslateError> {
        recycle(&mut self.out);
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let Self {
            decoder,
            w,
            out,
            metadata_seen,
            ..
        } = self;
        let mut bad = None;
        let r = decoder.feed_with(chunk, |m| {
            if bad.is_some() || w.over() {
                return;
            }
            w.acct.events += 1;
            if let Err(e) = handle(w, out, metadata_seen, m) {
                bad = Some(e);
            }
        });
        let r = r
            .map_err(TranslateError::from)
            .and_then(|()| bad.map_or(Ok(()), Err));
        if let Err(e) = r {
            self.failed = Some(e.clone());
            return Err(e);
        }
        Ok(&self.out)
    }

    /// At upstream EOF: a stream that stopped but sent no `metadata` still gets its usage chunk
    /// (when asked and any usage is known). A partial message is dropped (see `truncated`).
    pub fn finish(&mut self) -> &[u8] {
        recycle(&mut self.out);
        self.truncated = self.decoder.finish();
        let w = &mut self.w;
        if self.failed.is_none() && w.acct.stopped && !w.over() && !w.acct.usage.is_empty() {
            w.usage(&mut self.out);
        }
        &self.out
    }

    pub fn accounting(&self) -> &Accounting {
        &self.w.acct
    }

    /// The OpenAI events of the last `feed` or `finish`.
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    /// Bytes of an incomplete message held back.
    pub fn buffered(&self) -> usize {
        self.decoder.buffered()
    }

    /// Bytes of a partial message dropped by `finish` (0 when the stream ended cleanly).
    pub fn truncated(&self) -> usize {
        self.truncated
    }
}

fn handle(
    w: &mut ChunkWriter,
    out: &mut Vec<u8>,
    metadata_seen: &mut bool,
    m: Message<'_>,
) -> Result<(), TranslateError> {
    match m.headers.str(":message-type").unwrap_or("event") {
        "event" => {}
        "exception" => {
            let kind = m.headers.str(":exception-type").unwrap_or("exception");
            let payload = Json::parse(m.payload).unwrap_or(Json::Null);
            let message = payload
                .get("message")
                .str()
                .or_else(|| payload.get("Message").str())
                .unwrap_or("");
            w.fail(kind, message);
            return Ok(());
        }
        "error" => {
            w.fail(
                m.headers.str(":error-code").unwrap_or("error"),
                m.headers.str(":error-message").unwrap_or(""),
            );
            return Ok(());
        }
        _ => return Ok(()),
    }
    let kind = m.headers.str(":event-type").unwrap_or("");
    let v = Json::parse(m.payload).map_err(|e| TranslateError::BadEvent {
        event: kind.to_owned(),
        detail: e.to_string(),
    })?;
    match kind {
        "messageStart" => w.start(out),
        "contentBlockStart" => {
            let tool = v.get("start").get("toolUse");
            if let (Some(index), false) = (v.get("contentBlockIndex").u64(), tool.is_null()) {
                let id = tool.get("toolUseId").str().unwrap_or("");
                let name = tool.get("name").str().unwrap_or("");
                w.tool_start(out, index, id, name);
            }
        }
        "contentBlockDelta" => {
            let delta = v.get("delta");
            if let Some(text) = delta.get("text").str() {
                w.text(out, text);
            } else if let (Some(index), Some(piece)) = (
                v.get("contentBlockIndex").u64(),
                delta.get("toolUse").get("input").str(),
            ) {
                w.tool_args(out, index, piece);
            }
        }
        "messageStop" => {
            w.stop(out, v.get("stopReason").str());
            if *metadata_seen {
                w.acct.done = true;
                w.usage(out);
            }
        }
        "metadata" => {
            *metadata_seen = true;
            read_usage(&mut w.acct.usage, v.get("usage"), USAGE_KEYS);
            if w.acct.stopped {
                w.acct.done = true;
                w.usage(out);
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eventstream::{encode, HeaderValue};
    use crate::translate::TokenUsage;

    fn event(kind: &str, payload: &str) -> Vec<u8> {
        encode(
            &[
                (":event-type", HeaderValue::String(kind)),
                (":content-type", HeaderValue::String("application/json")),
                (":message-type", HeaderValue::String("event")),
            ],
            payload.as_bytes(),
        )
    }

    fn exception(kind: &str, payload: &str) -> Vec<u8> {
        encode(
            &[
                (":exception-type", HeaderValue::String(kind)),
                (":content-type", HeaderValue::String("application/json")),
                (":message-type", HeaderValue::String("exception")),
            ],
            payload.as_bytes(),
        )
    }

    fn text_stream() -> Vec<u8> {
        [
            event("messageStart", r#"{"p":"abcdefghijkl","role":"assistant"}"#),
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"text":"Hello"},"p":"abcd"}"#,
            ),
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"text":" there"},"p":"abcdefg"}"#,
            ),
            event("contentBlockStop", r#"{"contentBlockIndex":0,"p":"ab"}"#),
            event("messageStop", r#"{"p":"abcdef","stopReason":"max_tokens"}"#),
            event(
                "metadata",
                r#"{"metrics":{"latencyMs":312},"p":"abc","usage":{"inputTokens":12,"outputTokens":5,"totalTokens":29,"cacheReadInputTokens":8,"cacheWriteInputTokens":4}}"#,
            ),
        ]
        .concat()
    }

    fn tool_stream() -> Vec<u8> {
        [
            event("messageStart", r#"{"role":"assistant"}"#),
            event(
                "contentBlockStart",
                r#"{"contentBlockIndex":0,"start":{"toolUse":{"name":"get_weather","toolUseId":"tooluse_a1"}}}"#,
            ),
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"toolUse":{"input":"{\"city\":"}}}"#,
            ),
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"toolUse":{"input":"\"Paris\"}"}}}"#,
            ),
            event("contentBlockStop", r#"{"contentBlockIndex":0}"#),
            event("messageStop", r#"{"stopReason":"tool_use"}"#),
            event(
                "metadata",
                r#"{"metrics":{"latencyMs":100},"usage":{"inputTokens":50,"outputTokens":20,"totalTokens":70}}"#,
            ),
        ]
        .concat()
    }

    fn new(include_usage: bool) -> BedrockStream {
        BedrockStream::new("chatcmpl-b1", 1_700_000_000, "nova", include_usage, 1 << 20)
    }

    fn run(t: &mut BedrockStream, chunks: &[&[u8]]) -> String {
        let mut out = Vec::new();
        for c in chunks {
            out.extend_from_slice(t.feed(c).unwrap());
        }
        out.extend_from_slice(t.finish());
        String::from_utf8(out).unwrap()
    }

    const HEAD: &str = r#"data: {"id":"chatcmpl-b1","object":"chat.completion.chunk","created":1700000000,"model":"nova","#;

    fn golden(parts: &[&str]) -> String {
        parts.iter().map(|c| format!("{HEAD}{c}\n\n")).collect()
    }

    #[test]
    fn text_stream_golden() {
        let mut t = new(true);
        let out = run(&mut t, &[&text_stream()]);
        assert_eq!(
            out,
            golden(&[
                r#""choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#,
                r#""choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}"#,
                r#""choices":[{"index":0,"delta":{"content":" there"},"logprobs":null,"finish_reason":null}]}"#,
                r#""choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"length"}]}"#,
                r#""choices":[],"usage":{"prompt_tokens":24,"completion_tokens":5,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":8}}}"#,
            ])
        );
        let a = t.accounting();
        assert!(a.done && a.stopped && a.error.is_none());
        assert_eq!(
            a.usage,
            TokenUsage {
                input: Some(12),
                output: Some(5),
                cache_read: Some(8),
                cache_write: Some(4)
            }
        );
        assert_eq!(a.stop_reason.as_deref(), Some("max_tokens"));
        assert_eq!(a.events, 6);
        assert_eq!(t.truncated(), 0);
    }

    #[test]
    fn tool_stream_golden() {
        let mut t = new(false);
        let out = run(&mut t, &[&tool_stream()]);
        assert_eq!(
            out,
            golden(&[
                r#""choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#,
                r#""choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"tooluse_a1","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}]}"#,
                r#""choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"logprobs":null,"finish_reason":null}]}"#,
                r#""choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"logprobs":null,"finish_reason":null}]}"#,
                r#""choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]}"#,
            ])
        );
        assert!(t.accounting().done);
        assert_eq!(t.accounting().usage.prompt_tokens(), Some(50));
    }

    #[test]
    fn any_split_gives_the_same_output() {
        for s in [text_stream(), tool_stream()] {
            let mut t = new(true);
            let whole = run(&mut t, &[&s]);
            let acct = t.accounting().clone();
            for i in (0..=s.len()).step_by(2) {
                for j in (i..=s.len()).step_by(37) {
                    let mut t = new(true);
                    assert_eq!(run(&mut t, &[&s[..i], &s[i..j], &s[j..]]), whole, "{i},{j}");
                    assert_eq!(t.accounting(), &acct);
                }
            }
        }
    }

    #[test]
    fn exception_mid_stream_stops_translation() {
        let s = text_stream();
        let ok = event(
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"Hi"}}"#,
        );
        let boom = exception(
            "modelStreamErrorException",
            r#"{"message":"Model failed","originalStatusCode":500}"#,
        );
        let stream = [ok.clone(), boom, s].concat();
        let mut t = new(true);
        let out = run(&mut t, &[&stream]);
        assert_eq!(out.matches("data: ").count(), 2);
        let a = t.accounting();
        assert!(!a.done && !a.stopped);
        let e = a.error.as_ref().unwrap();
        assert_eq!(e.kind, "modelStreamErrorException");
        assert_eq!(e.message, "Model failed");
    }

    #[test]
    fn error_message_type_uses_headers() {
        let m = encode(
            &[
                (":message-type", HeaderValue::String("error")),
                (":error-code", HeaderValue::String("InternalFailure")),
                (":error-message", HeaderValue::String("boom")),
            ],
            b"",
        );
        let mut t = new(false);
        run(&mut t, &[&m]);
        let e = t.accounting().error.clone().unwrap();
        assert_eq!(
            (e.kind.as_str(), e.message.as_str()),
            ("InternalFailure", "boom")
        );
    }

    #[test]
    fn stop_without_metadata_gets_usage_chunk_only_when_usage_known() {
        let s = text_stream();
        let metadata_len = event(
            "metadata",
            r#"{"metrics":{"latencyMs":312},"p":"abc","usage":{"inputTokens":12,"outputTokens":5,"totalTokens":29,"cacheReadInputTokens":8,"cacheWriteInputTokens":4}}"#,
        )
        .len();
        let cut = s.len() - metadata_len;
        let mut t = new(true);
        let out = run(&mut t, &[&s[..cut]]);
        assert!(t.accounting().stopped && !t.accounting().done);
        assert!(!out.contains("usage"));
        // Metadata first, then stop: done at messageStop.
        let reordered = [
            event("messageStart", r#"{"role":"assistant"}"#),
            event(
                "metadata",
                r#"{"usage":{"inputTokens":1,"outputTokens":2}}"#,
            ),
            event("messageStop", r#"{"stopReason":"end_turn"}"#),
        ]
        .concat();
        let mut t = new(true);
        let out = run(&mut t, &[&reordered]);
        assert!(t.accounting().done);
        assert!(out
            .ends_with("\"total_tokens\":3,\"prompt_tokens_details\":{\"cached_tokens\":0}}}\n\n"));
    }

    #[test]
    fn truncated_message_is_reported() {
        let s = text_stream();
        let mut t = new(false);
        run(&mut t, &[&s[..s.len() - 3]]);
        assert!(t.accounting().stopped && !t.accounting().done);
        assert!(t.truncated() > 0);
    }

    #[test]
    fn framing_and_json_errors_fail_for_good() {
        let mut bad = text_stream();
        bad[20] ^= 1;
        let mut t = new(false);
        let err = t.feed(&bad).unwrap_err();
        assert!(matches!(err, TranslateError::EventStream(_)));
        assert_eq!(t.feed(&text_stream()), Err(err));
        let mut t = new(false);
        let err = t.feed(&event("contentBlockDelta", "{nope")).unwrap_err();
        assert!(
            matches!(err, TranslateError::BadEvent { ref event, .. } if event == "contentBlockDelta")
        );
    }
}
