//! Anthropic Messages stream (SSE) → OpenAI chunks.
//!
//! | Anthropic event | OpenAI output |
//! |---|---|
//! | `message_start` | role chunk; message id becomes the chunk id; input/cache usage |
//! | `content_block_start` text / tool_use | content / tool call (index, id, name, `""`) |
//! | `content_block_delta` text_delta / input_json_delta | content / arguments piece |
//! | `message_delta` | chunk with `finish_reason`; usage (cumulative) |
//! | `message_stop` | usage chunk when asked; stream done |
//! | `error` | nothing: recorded as the upstream error, translation stops |
//! | `ping`, `content_block_stop`, thinking and other deltas, unknown events | nothing |

use super::chunks::{Accounting, ChunkWriter};
use super::json::Json;
use super::{read_usage, TranslateError};
use crate::sse::recycle;
use crate::sse::Decoder;

const USAGE_KEYS: [&str; 4] = [
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
];

#[derive(Debug)]
pub struct AnthropicStream {
    decoder: Decoder,
    w: ChunkWriter,
    out: Vec<u8>,
    failed: Option<TranslateError>,
    /// Bytes of a partial event dropped at EOF.
    truncated: usize,
}

impl AnthropicStream {
    /// `id` is used until `message_start` brings the upstream's message id; `model` is the
    /// client-visible model name.
    pub fn new(
        id: &str,
        created: u64,
        model: &str,
        include_usage: bool,
        max_event_bytes: usize,
    ) -> Self {
        Self {
            decoder: Decoder::new(max_event_bytes),
            w: ChunkWriter::new(id, created, model, include_usage),
            out: Vec::new(),
            failed: None,
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
            decoder, w, out, ..
        } = self;
        let mut bad = None;
        let r = decoder.feed_with(chunk, |ev| {
            if bad.is_some() || w.over() {
                return;
            }
            w.acct.events += 1;
            if let Err(e) = handle(w, out, ev.event, ev.data) {
                bad = Some(e);
            }
        });
        let r = r
            .map_err(TranslateError::from)
            .and_then(|()| bad.map_or(Ok(()), Err));
        if let Err(e) = r {
            self.failed = Some(e.clone());
            self.decoder.finish();
            return Err(e);
        }
        Ok(&self.out)
    }

    /// At upstream EOF: drops a partial event (see `truncated`). Returns nothing to forward
    /// (kept for symmetry with the Bedrock translator).
    pub fn finish(&mut self) -> &[u8] {
        self.truncated = self.decoder.buffered();
        self.decoder.finish();
        recycle(&mut self.out);
        &self.out
    }

    pub fn accounting(&self) -> &Accounting {
        &self.w.acct
    }

    /// The OpenAI events of the last `feed` or `finish`.
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    /// Bytes of an incomplete upstream event held back.
    pub fn buffered(&self) -> usize {
        self.decoder.buffered()
    }

    /// Bytes of a partial event dropped by `finish` (0 when the stream ended on an event).
    pub fn truncated(&self) -> usize {
        self.truncated
    }
}

fn handle(
    w: &mut ChunkWriter,
    out: &mut Vec<u8>,
    name: Option<&[u8]>,
    data: &[u8],
) -> Result<(), TranslateError> {
    let v = Json::parse(data).map_err(|e| TranslateError::BadEvent {
        event: String::from_utf8_lossy(name.unwrap_or(b"message")).into_owned(),
        detail: e.to_string(),
    })?;
    let kind = match v.get("type").str() {
        Some(k) => k,
        None => std::str::from_utf8(name.unwrap_or(b"")).unwrap_or(""),
    };
    match kind {
        "message_start" => {
            let message = v.get("message");
            if let Some(id) = message.get("id").str() {
                w.set_id(id);
            }
            read_usage(&mut w.acct.usage, message.get("usage"), USAGE_KEYS);
            w.start(out);
        }
        "content_block_start" => {
            let block = v.get("content_block");
            match block.get("type").str() {
                Some("text") => w.text(out, block.get("text").str().unwrap_or("")),
                Some("tool_use") => {
                    if let Some(index) = v.get("index").u64() {
                        let id = block.get("id").str().unwrap_or("");
                        let name = block.get("name").str().unwrap_or("");
                        w.tool_start(out, index, id, name);
                    }
                }
                _ => {}
            }
        }
        "content_block_delta" => {
            let delta = v.get("delta");
            match delta.get("type").str() {
                Some("text_delta") => w.text(out, delta.get("text").str().unwrap_or("")),
                Some("input_json_delta") => {
                    if let (Some(index), Some(piece)) =
                        (v.get("index").u64(), delta.get("partial_json").str())
                    {
                        w.tool_args(out, index, piece);
                    }
                }
                _ => {}
            }
        }
        "message_delta" => {
            read_usage(&mut w.acct.usage, v.get("usage"), USAGE_KEYS);
            if let Some(reason) = v.get("delta").get("stop_reason").str() {
                w.stop(out, Some(reason));
            }
        }
        "message_stop" => {
            if !w.acct.stopped {
                w.stop(out, None);
            }
            w.acct.done = true;
            w.usage(out);
        }
        "error" => {
            let e = v.get("error");
            w.fail(
                e.get("type").str().unwrap_or("error"),
                e.get("message").str().unwrap_or(""),
            );
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::TokenUsage;

    fn ev(name: &str, data: &str) -> String {
        format!("event: {name}\ndata: {data}\n\n")
    }

    fn text_stream() -> String {
        [
            ev(
                "message_start",
                r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-x","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":10,"output_tokens":1}}}"#,
            ),
            ev(
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            ),
            ev("ping", r#"{"type": "ping"}"#),
            ev(
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
            ),
            ev(
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" w\u00f6rld"}}"#,
            ),
            ev(
                "content_block_stop",
                r#"{"type":"content_block_stop","index":0}"#,
            ),
            ev(
                "message_delta",
                r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}"#,
            ),
            ev("message_stop", r#"{"type":"message_stop"}"#),
        ]
        .concat()
    }

    fn tool_stream() -> String {
        [
            ev(
                "message_start",
                r#"{"type":"message_start","message":{"id":"msg_2","type":"message","role":"assistant","content":[],"model":"claude-x","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":400,"output_tokens":1}}}"#,
            ),
            ev(
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            ),
            ev(
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking."}}"#,
            ),
            ev(
                "content_block_stop",
                r#"{"type":"content_block_stop","index":0}"#,
            ),
            ev(
                "content_block_start",
                r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{}}}"#,
            ),
            ev(
                "content_block_delta",
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}"#,
            ),
            ev(
                "content_block_delta",
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": "}}"#,
            ),
            ev(
                "content_block_delta",
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}}"#,
            ),
            ev(
                "content_block_stop",
                r#"{"type":"content_block_stop","index":1}"#,
            ),
            ev(
                "content_block_start",
                r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_02","name":"get_time","input":{}}}"#,
            ),
            ev(
                "content_block_delta",
                r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{}"}}"#,
            ),
            ev(
                "content_block_stop",
                r#"{"type":"content_block_stop","index":2}"#,
            ),
            ev(
                "message_delta",
                r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}"#,
            ),
            ev("message_stop", r#"{"type":"message_stop"}"#),
        ]
        .concat()
    }

    fn new(include_usage: bool) -> AnthropicStream {
        AnthropicStream::new(
            "chatcmpl-fallback",
            1_700_000_000,
            "claude",
            include_usage,
            1 << 20,
        )
    }

    fn run(t: &mut AnthropicStream, chunks: &[&[u8]]) -> String {
        let mut out = Vec::new();
        for c in chunks {
            out.extend_from_slice(t.feed(c).unwrap());
        }
        out.extend_from_slice(t.finish());
        String::from_utf8(out).unwrap()
    }

    const HEAD: &str = r#"data: {"id":"msg_1","object":"chat.completion.chunk","created":1700000000,"model":"claude","#;

    #[test]
    fn text_stream_golden() {
        let mut t = new(true);
        let out = run(&mut t, &[text_stream().as_bytes()]);
        let want = [
            r#""choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#,
            r#""choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}"#,
            r#""choices":[{"index":0,"delta":{"content":" wörld"},"logprobs":null,"finish_reason":null}]}"#,
            r#""choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}"#,
            r#""choices":[],"usage":{"prompt_tokens":35,"completion_tokens":15,"total_tokens":50,"prompt_tokens_details":{"cached_tokens":10}}}"#,
        ]
        .iter()
        .map(|c| format!("{HEAD}{c}\n\n"))
        .collect::<String>();
        assert_eq!(out, want);
        let a = t.accounting();
        assert!(a.done && a.stopped);
        assert_eq!(
            a.usage,
            TokenUsage {
                input: Some(25),
                output: Some(15),
                cache_read: Some(10),
                cache_write: Some(0)
            }
        );
        assert_eq!(a.stop_reason.as_deref(), Some("end_turn"));
        assert_eq!(a.finish_reason, Some("stop"));
        assert_eq!(a.content_chars, 11);
        assert_eq!(a.events, 8);
        assert_eq!(a.error, None);
    }

    #[test]
    fn without_include_usage_no_usage_chunk_but_usage_is_kept() {
        let mut t = new(false);
        let out = run(&mut t, &[text_stream().as_bytes()]);
        assert!(!out.contains("\"usage\""));
        assert_eq!(out.matches("data: ").count(), 4);
        assert_eq!(t.accounting().usage.output, Some(15));
    }

    #[test]
    fn tool_stream_golden() {
        let mut t = new(false);
        let out = run(&mut t, &[tool_stream().as_bytes()]);
        let head = HEAD.replace("msg_1", "msg_2");
        let want = [
            r#""choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#,
            r#""choices":[{"index":0,"delta":{"content":"Checking."},"logprobs":null,"finish_reason":null}]}"#,
            r#""choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"toolu_01","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}]}"#,
            r#""choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\": "}}]},"logprobs":null,"finish_reason":null}]}"#,
            r#""choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"logprobs":null,"finish_reason":null}]}"#,
            r#""choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"toolu_02","type":"function","function":{"name":"get_time","arguments":""}}]},"logprobs":null,"finish_reason":null}]}"#,
            r#""choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{}"}}]},"logprobs":null,"finish_reason":null}]}"#,
            r#""choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]}"#,
        ]
        .iter()
        .map(|c| format!("{head}{c}\n\n"))
        .collect::<String>();
        assert_eq!(out, want);
        assert_eq!(t.accounting().tool_calls, 2);
        assert_eq!(t.accounting().usage.prompt_tokens(), Some(400));
    }

    #[test]
    fn any_split_gives_the_same_output() {
        for s in [text_stream(), tool_stream()] {
            let s = s.replace('\n', "\r\n");
            let s = s.as_bytes();
            let mut t = new(true);
            let whole = run(&mut t, &[s]);
            let acct = t.accounting().clone();
            for i in (0..=s.len()).step_by(3) {
                for j in (i..=s.len()).step_by(41) {
                    let mut t = new(true);
                    assert_eq!(run(&mut t, &[&s[..i], &s[i..j], &s[j..]]), whole, "{i},{j}");
                    assert_eq!(t.accounting(), &acct);
                }
            }
        }
    }

    #[test]
    fn error_event_stops_translation() {
        let s = text_stream();
        let cut = s.find("event: content_block_stop").unwrap();
        let err = ev(
            "error",
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        let stream = format!("{}{err}{}", &s[..cut], &s[cut..]);
        let mut t = new(true);
        let out = run(&mut t, &[stream.as_bytes()]);
        assert_eq!(out.matches("data: ").count(), 3, "{out}");
        let a = t.accounting();
        assert!(!a.done && !a.stopped);
        let e = a.error.as_ref().unwrap();
        assert_eq!(
            (e.kind.as_str(), e.message.as_str()),
            ("overloaded_error", "Overloaded")
        );
    }

    #[test]
    fn truncated_stream_is_not_done() {
        let s = text_stream();
        let cut = s.find("event: message_delta").unwrap() + 10;
        let mut t = new(false);
        let out = run(&mut t, &[&s.as_bytes()[..cut]]);
        assert_eq!(out.matches("data: ").count(), 3);
        assert!(!t.accounting().done && !t.accounting().stopped);
        assert_eq!(t.buffered(), 0);
        assert_eq!(t.truncated(), 10);
    }

    #[test]
    fn nothing_after_message_stop() {
        let s = format!("{}{}", text_stream(), text_stream());
        let mut t = new(false);
        let out = run(&mut t, &[s.as_bytes()]);
        assert_eq!(out.matches("data: ").count(), 4);
        assert_eq!(t.accounting().events, 8);
    }

    #[test]
    fn malformed_json_fails_for_good() {
        let mut t = new(false);
        let err = t
            .feed(b"event: content_block_delta\ndata: {\"type\":\n\n")
            .unwrap_err();
        assert!(
            matches!(&err, TranslateError::BadEvent { event, .. } if event == "content_block_delta")
        );
        assert_eq!(t.feed(text_stream().as_bytes()), Err(err));
    }

    #[test]
    fn oversized_event_fails() {
        let mut t = AnthropicStream::new("x", 0, "m", false, 64);
        let err = t.feed(&[b'x'; 100]).unwrap_err();
        assert!(matches!(err, TranslateError::Sse(_)));
    }

    #[test]
    fn odd_but_valid_input_is_tolerated() {
        // No message_start, deltas for unknown blocks, thinking deltas, unknown events, a
        // message_stop without stop reason: content still flows, with a role chunk first.
        let s = [
            ev(
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}"#,
            ),
            ev(
                "content_block_delta",
                r#"{"type":"content_block_delta","index":5,"delta":{"type":"input_json_delta","partial_json":"{}"}}"#,
            ),
            ev("future_event", r#"{"type":"future_event","x":[1,2]}"#),
            ev(
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ok"}}"#,
            ),
            "data: {\"type\":\"message_stop\"}\n\n".to_owned(),
        ]
        .concat();
        let mut t = new(false);
        let out = run(&mut t, &[s.as_bytes()]);
        assert_eq!(out.matches("data: ").count(), 3, "{out}");
        assert!(out.contains(r#""id":"chatcmpl-fallback""#));
        assert!(out.contains(r#""finish_reason":"stop""#));
        assert!(t.accounting().done);
        assert_eq!(t.accounting().stop_reason, None);
    }
}
