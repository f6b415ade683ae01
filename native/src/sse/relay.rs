//! Relay of an upstream OpenAI `chat.completion.chunk` stream to a client.
//!
//! Forwards complete events byte-exact and holds back an incomplete trailing one; removes the
//! `data: [DONE]` event (and ignores everything after it) and, on request, the usage-only chunk;
//! accounts usage, content characters, finish reason, model and mid-stream errors on the way.

use super::frame::{for_each_field, recycle, BlockSink, Forward, Framer, Verdict};
use super::scan::{scan_chunk, Usage};
use super::SseError;

/// Stream accounting, readable at any time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accounting {
    /// `data: [DONE]` was seen.
    pub done: bool,
    /// From the last non-null `usage` object seen.
    pub usage: Usage,
    /// Characters of all `content`, `reasoning_content` and `arguments` strings.
    pub content_chars: u64,
    /// Data events seen, excluding `[DONE]`.
    pub events: u64,
    pub finish_reason: Option<String>,
    /// Raw JSON of the last top-level `error` value seen.
    pub error: Option<Vec<u8>>,
    /// The `model` of the first chunk that has one.
    pub model: Option<String>,
}

#[derive(Debug)]
pub struct ChatStreamRelay {
    framer: Framer,
    sink: Sink,
    out: Vec<u8>,
}

#[derive(Debug)]
struct Sink {
    strip_usage_chunk: bool,
    acct: Accounting,
    /// Joined data when an event has several `data` lines.
    scratch: Vec<u8>,
}

impl ChatStreamRelay {
    pub fn new(strip_usage_chunk: bool, max_event_bytes: usize) -> Self {
        Self {
            framer: Framer::new(max_event_bytes),
            sink: Sink {
                strip_usage_chunk,
                acct: Accounting::default(),
                scratch: Vec::new(),
            },
            out: Vec::new(),
        }
    }

    /// Feeds one upstream chunk and calls `emit` with what to forward now: `None` means the
    /// chunk itself, unchanged; otherwise the bytes (possibly empty).
    pub fn feed_with<R>(
        &mut self,
        chunk: &[u8],
        emit: impl FnOnce(Option<&[u8]>) -> R,
    ) -> Result<R, SseError> {
        self.out.clear();
        let fwd = self
            .framer
            .feed(chunk, &mut self.sink, Some(&mut self.out))?;
        let r = emit(match fwd {
            Forward::Chunk => None,
            Forward::Out => Some(&self.out),
        });
        recycle(&mut self.out);
        Ok(r)
    }

    /// Feeds one upstream chunk and returns the bytes to forward now.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<u8>, SseError> {
        self.feed_with(chunk, |o| o.unwrap_or(chunk).to_vec())
    }

    /// At upstream EOF: the held-back bytes that are safe to forward, i.e. the complete comment
    /// lines at their start. A partial event is discarded, as a client would discard it; it must
    /// not be forwarded, since the gateway appends its own `data: [DONE]` event, which it would
    /// corrupt. Normally empty.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut held = self.framer.take_held();
        held.truncate(comment_prefix(&held));
        held
    }

    pub fn accounting(&self) -> &Accounting {
        &self.sink.acct
    }

    /// Bytes held back waiting for the end of their event.
    pub fn buffered(&self) -> usize {
        self.framer.buffered()
    }

    /// True once the stream is over (`[DONE]` seen); later input is ignored.
    pub fn stopped(&self) -> bool {
        self.framer.stopped()
    }
}

/// Length of the run of complete comment lines at the start of `held`.
fn comment_prefix(held: &[u8]) -> usize {
    let mut end = 0;
    while held.get(end) == Some(&b':') {
        let Some(i) = memchr::memchr2(b'\n', b'\r', &held[end..]) else {
            break;
        };
        let t = end + i;
        end = t + 1 + usize::from(held[t] == b'\r' && held.get(t + 1) == Some(&b'\n'));
    }
    end
}

impl BlockSink for Sink {
    fn block(&mut self, block: &[u8]) -> Verdict {
        let mut scratch = std::mem::take(&mut self.scratch);
        let verdict = match event_data(block, &mut scratch) {
            Some(data) => self.account(data),
            None => Verdict::Keep,
        };
        recycle(&mut scratch);
        self.scratch = scratch;
        verdict
    }
}

impl Sink {
    fn account(&mut self, data: &[u8]) -> Verdict {
        let data = data.trim_ascii();
        if data == b"[DONE]" {
            self.acct.done = true;
            return Verdict::Stop;
        }
        let acct = &mut self.acct;
        acct.events += 1;
        if data.first() != Some(&b'{') {
            return Verdict::Keep;
        }
        let s = scan_chunk(data, acct.model.is_none());
        acct.content_chars += s.content_chars;
        if s.finish_reason.is_some() {
            acct.finish_reason = s.finish_reason;
        }
        if s.model.is_some() {
            acct.model = s.model;
        }
        if let Some(usage) = s.usage {
            acct.usage = usage;
        }
        if let Some(error) = s.error {
            acct.error = Some(error.to_vec());
        }
        if self.strip_usage_chunk && s.usage_only {
            Verdict::Drop
        } else {
            Verdict::Keep
        }
    }
}

/// The data of an event block (its `data` lines joined with LF), or `None` if it has none.
fn event_data<'a>(block: &'a [u8], scratch: &'a mut Vec<u8>) -> Option<&'a [u8]> {
    let mut first: Option<&[u8]> = None;
    let mut joined = false;
    scratch.clear();
    for_each_field(block, |name, value| {
        if name != b"data" {
            return;
        }
        match first {
            None => first = Some(value),
            Some(f) => {
                if !joined {
                    scratch.extend_from_slice(f);
                    joined = true;
                }
                scratch.push(b'\n');
                scratch.extend_from_slice(value);
            }
        }
    });
    if joined {
        Some(scratch)
    } else {
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHUNK: &str = r#"{"id":"c","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}],"usage":null}"#;
    const STOP: &str = r#"{"id":"c","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#;
    const USAGE: &str = r#"{"id":"c","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":61,"completion_tokens":43,"total_tokens":104,"prompt_tokens_details":{"cached_tokens":5}}}"#;

    fn ev(json: &str) -> String {
        format!("data: {json}\n\n")
    }

    fn relay_all(r: &mut ChatStreamRelay, chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in chunks {
            out.extend(r.feed(c).unwrap());
        }
        out.extend(r.finish());
        out
    }

    fn stream() -> String {
        [ev(CHUNK), ev(CHUNK), ev(STOP), ev(USAGE), ev("[DONE]")].concat()
    }

    #[test]
    fn forwards_all_but_done_and_accounts() {
        let s = stream();
        let mut r = ChatStreamRelay::new(false, 1 << 20);
        let out = relay_all(&mut r, &[s.as_bytes()]);
        assert_eq!(
            out,
            [ev(CHUNK), ev(CHUNK), ev(STOP), ev(USAGE)]
                .concat()
                .as_bytes()
        );
        let a = r.accounting();
        assert!(a.done);
        assert_eq!(a.events, 4);
        assert_eq!(a.content_chars, 4);
        assert_eq!(a.finish_reason.as_deref(), Some("stop"));
        assert_eq!(a.model.as_deref(), Some("gpt-4o-mini"));
        assert_eq!(
            a.usage,
            Usage {
                prompt_tokens: Some(61),
                completion_tokens: Some(43),
                total_tokens: Some(104),
                cached_tokens: Some(5)
            }
        );
        assert_eq!(a.error, None);
    }

    #[test]
    fn strip_mode_removes_the_usage_chunk_but_accounts_it() {
        let s = stream();
        let mut r = ChatStreamRelay::new(true, 1 << 20);
        let out = relay_all(&mut r, &[s.as_bytes()]);
        assert_eq!(out, [ev(CHUNK), ev(CHUNK), ev(STOP)].concat().as_bytes());
        assert_eq!(r.accounting().usage.total_tokens, Some(104));
        assert_eq!(r.accounting().events, 4);
    }

    #[test]
    fn any_split_gives_the_same_output_and_accounting() {
        let s = format!(
            ": ping\r\n\r\nevent: x\rid: 1\rdata: {CHUNK}\r\r\n{}\r\n{}",
            ev(USAGE),
            ev("[DONE]")
        );
        let s = s.as_bytes();
        for strip in [false, true] {
            let mut r = ChatStreamRelay::new(strip, 1 << 20);
            let whole = relay_all(&mut r, &[s]);
            let acct = r.accounting().clone();
            for i in 0..=s.len() {
                for j in (i..=s.len()).step_by(7) {
                    let mut r = ChatStreamRelay::new(strip, 1 << 20);
                    let out = relay_all(&mut r, &[&s[..i], &s[i..j], &s[j..]]);
                    assert_eq!(out, whole, "split {i},{j}");
                    assert_eq!(r.accounting(), &acct);
                }
            }
        }
    }

    #[test]
    fn identity_when_chunk_is_complete_events_and_nothing_removed() {
        let mut r = ChatStreamRelay::new(true, 1 << 20);
        let e = ev(CHUNK);
        assert!(r.feed_with(e.as_bytes(), |o| o.is_none()).unwrap());
        // held tail: not identity
        let half = &e.as_bytes()[..10];
        assert_eq!(r.feed(half).unwrap(), b"");
        assert_eq!(r.buffered(), 10);
        let rest = &e.as_bytes()[10..];
        assert!(r.feed_with(rest, |o| o == Some(e.as_bytes())).unwrap());
        // removal: not identity
        let u = ev(USAGE);
        assert!(r.feed_with(u.as_bytes(), |o| o == Some(b"")).unwrap());
    }

    #[test]
    fn nothing_after_done() {
        let mut r = ChatStreamRelay::new(false, 1 << 20);
        let s = format!("data: [DONE]\n\n{}", ev(CHUNK));
        assert_eq!(r.feed(s.as_bytes()).unwrap(), b"");
        assert_eq!(r.feed(b"data: x\n\n").unwrap(), b"");
        assert_eq!(r.accounting().events, 0);
        assert!(r.accounting().done);
        assert!(r.stopped());
    }

    #[test]
    fn done_variants() {
        for s in [
            "data:[DONE]\n\n",
            "data: [DONE]\r\n\r\n",
            "data: [DONE] \r\r",
        ] {
            let mut r = ChatStreamRelay::new(false, 1 << 20);
            assert_eq!(r.feed(s.as_bytes()).unwrap(), b"");
            assert!(r.accounting().done, "{s:?}");
        }
    }

    #[test]
    fn error_event_is_recorded_and_forwarded() {
        let e = ev(r#"{"error":{"message":"overloaded","type":"server_error"}}"#);
        let mut r = ChatStreamRelay::new(false, 1 << 20);
        let s = [ev(CHUNK), e.clone()].concat();
        assert_eq!(r.feed(s.as_bytes()).unwrap(), s.as_bytes());
        assert_eq!(
            r.accounting().error.as_deref(),
            Some(&br#"{"message":"overloaded","type":"server_error"}"#[..])
        );
    }

    #[test]
    fn multi_line_data_is_joined_before_scanning() {
        let mut r = ChatStreamRelay::new(false, 1 << 20);
        let s = "data: {\"choices\":[{\"delta\":\ndata: {\"content\":\"abc\"}}]}\n\n";
        assert_eq!(r.feed(s.as_bytes()).unwrap(), s.as_bytes());
        assert_eq!(r.accounting().content_chars, 3);
    }

    #[test]
    fn comments_and_non_json_data_are_forwarded() {
        let mut r = ChatStreamRelay::new(true, 1 << 20);
        let s = ": ping\n\nretry: 5\n\ndata: hello\n\n";
        assert_eq!(r.feed(s.as_bytes()).unwrap(), s.as_bytes());
        assert_eq!(r.accounting().events, 1);
    }

    #[test]
    fn finish_forwards_only_leading_complete_comment_lines() {
        let mut r = ChatStreamRelay::new(false, 1 << 20);
        r.feed(b": a\r\n: b\rdata: {\"x").unwrap();
        assert_eq!(r.finish(), b": a\r\n: b\r");
        let mut r = ChatStreamRelay::new(false, 1 << 20);
        r.feed(b"data: x\n").unwrap();
        assert_eq!(r.finish(), b"");
        let mut r = ChatStreamRelay::new(false, 1 << 20);
        r.feed(b": partial").unwrap();
        assert_eq!(r.finish(), b"");
    }

    #[test]
    fn max_event_bytes_protects_memory() {
        let mut r = ChatStreamRelay::new(false, 64);
        assert!(r.feed(b"data: ").is_ok());
        let err = r.feed(&[b'x'; 100]).unwrap_err();
        assert!(matches!(err, SseError::EventTooLarge { limit: 64, .. }));
        assert_eq!(r.buffered(), 0);
    }
}
