//! The OpenAI side of a translated stream: writes `chat.completion.chunk` SSE events and keeps
//! the stream's accounting. Both upstream translators drive it with the same few operations.

use super::json::write_str;

/// Token counts as upstreams report them (Anthropic and Bedrock agree on the meaning: input
/// tokens exclude the tokens read from or written to the prompt cache).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    pub input: Option<u64>,
    pub output: Option<u64>,
    pub cache_read: Option<u64>,
    pub cache_write: Option<u64>,
}

impl TokenUsage {
    /// OpenAI's `prompt_tokens`: every input token, cached or not.
    pub fn prompt_tokens(&self) -> Option<u64> {
        if self.input.is_none() && self.cache_read.is_none() && self.cache_write.is_none() {
            return None;
        }
        Some(
            self.input
                .unwrap_or(0)
                .saturating_add(self.cache_read.unwrap_or(0))
                .saturating_add(self.cache_write.unwrap_or(0)),
        )
    }

    pub fn completion_tokens(&self) -> Option<u64> {
        self.output
    }

    /// OpenAI's `prompt_tokens_details.cached_tokens`.
    pub fn cached_tokens(&self) -> Option<u64> {
        self.cache_read
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// An error the upstream reported in the stream (its type or exception name, and message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamError {
    pub kind: String,
    pub message: String,
}

/// Stream accounting, readable at any time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accounting {
    /// The answer is complete: the upstream sent its stop reason.
    pub stopped: bool,
    /// The upstream's last event arrived; later input is ignored.
    pub done: bool,
    pub usage: TokenUsage,
    /// The upstream's stop reason, as sent.
    pub stop_reason: Option<String>,
    /// The OpenAI `finish_reason` sent to the client.
    pub finish_reason: Option<&'static str>,
    /// Unicode characters of the text and tool-argument pieces forwarded.
    pub content_chars: u64,
    /// Upstream events (or messages) seen.
    pub events: u64,
    pub tool_calls: u32,
    /// Set when the upstream reported an error; later input is ignored.
    pub error: Option<UpstreamError>,
}

/// OpenAI's `finish_reason` for an Anthropic or Bedrock stop reason.
pub fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" | "guardrail_intervened" | "content_filtered" => "content_filter",
        // end_turn, stop_sequence, pause_turn, malformed_* and reasons added later.
        _ => "stop",
    }
}

#[derive(Debug)]
pub struct ChunkWriter {
    /// `data: {"id":…,"object":"chat.completion.chunk","created":…,"model":…,`
    head: Vec<u8>,
    model: String,
    created: u64,
    include_usage: bool,
    started: bool,
    finish_sent: bool,
    usage_sent: bool,
    /// Upstream content-block index → OpenAI tool-call index, for tool blocks.
    tools: Vec<(u64, u32)>,
    pub acct: Accounting,
}

impl ChunkWriter {
    pub fn new(id: &str, created: u64, model: &str, include_usage: bool) -> Self {
        let mut w = Self {
            head: Vec::new(),
            model: model.to_owned(),
            created,
            include_usage,
            started: false,
            finish_sent: false,
            usage_sent: false,
            tools: Vec::new(),
            acct: Accounting::default(),
        };
        w.set_id(id);
        w
    }

    /// Uses the upstream's message id; ignored once a chunk was written (ids never change
    /// within a stream).
    pub fn set_id(&mut self, id: &str) {
        if self.started {
            return;
        }
        self.head.clear();
        self.head.extend_from_slice(b"data: {\"id\":");
        write_str(&mut self.head, id);
        self.head
            .extend_from_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
        self.head
            .extend_from_slice(self.created.to_string().as_bytes());
        self.head.extend_from_slice(b",\"model\":");
        write_str(&mut self.head, &self.model);
        self.head.push(b',');
    }

    /// The first chunk (`role`), once, before anything else.
    pub fn start(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            self.delta(out, br#"{"role":"assistant","content":""}"#, None);
        }
    }

    pub fn text(&mut self, out: &mut Vec<u8>, text: &str) {
        if text.is_empty() {
            return;
        }
        self.start(out);
        self.acct.content_chars += text.chars().count() as u64;
        self.open(out);
        out.extend_from_slice(b"{\"content\":");
        write_str(out, text);
        out.push(b'}');
        self.close(out, None);
    }

    /// A tool call begins in upstream content block `block`.
    pub fn tool_start(&mut self, out: &mut Vec<u8>, block: u64, id: &str, name: &str) {
        if self.tools.iter().any(|&(b, _)| b == block) {
            return;
        }
        self.start(out);
        let index = self.acct.tool_calls;
        self.acct.tool_calls += 1;
        self.tools.push((block, index));
        self.open(out);
        out.extend_from_slice(b"{\"tool_calls\":[{\"index\":");
        out.extend_from_slice(index.to_string().as_bytes());
        out.extend_from_slice(b",\"id\":");
        write_str(out, id);
        out.extend_from_slice(b",\"type\":\"function\",\"function\":{\"name\":");
        write_str(out, name);
        out.extend_from_slice(b",\"arguments\":\"\"}}]}");
        self.close(out, None);
    }

    /// A piece of the arguments of the tool call of content block `block` (ignored when that
    /// block did not start a tool call).
    pub fn tool_args(&mut self, out: &mut Vec<u8>, block: u64, args: &str) {
        if args.is_empty() {
            return;
        }
        let Some(&(_, index)) = self.tools.iter().find(|&&(b, _)| b == block) else {
            return;
        };
        self.acct.content_chars += args.chars().count() as u64;
        self.open(out);
        out.extend_from_slice(b"{\"tool_calls\":[{\"index\":");
        out.extend_from_slice(index.to_string().as_bytes());
        out.extend_from_slice(b",\"function\":{\"arguments\":");
        write_str(out, args);
        out.extend_from_slice(b"}}]}");
        self.close(out, None);
    }

    /// The upstream's stop reason: the chunk with `finish_reason` (once).
    pub fn stop(&mut self, out: &mut Vec<u8>, stop_reason: Option<&str>) {
        self.acct.stopped = true;
        if let Some(r) = stop_reason {
            self.acct.stop_reason = Some(r.to_owned());
        }
        if self.finish_sent {
            return;
        }
        self.start(out);
        self.finish_sent = true;
        let reason = finish_reason(stop_reason.unwrap_or("end_turn"));
        self.acct.finish_reason = Some(reason);
        self.delta(out, b"{}", Some(reason));
    }

    /// The usage-only chunk (`choices: []`), once, when the client asked for it.
    pub fn usage(&mut self, out: &mut Vec<u8>) {
        if !self.include_usage || self.usage_sent {
            return;
        }
        self.usage_sent = true;
        let u = &self.acct.usage;
        let prompt = u.prompt_tokens().unwrap_or(0);
        let completion = u.completion_tokens().unwrap_or(0);
        out.extend_from_slice(&self.head);
        out.extend_from_slice(b"\"choices\":[],\"usage\":{\"prompt_tokens\":");
        out.extend_from_slice(prompt.to_string().as_bytes());
        out.extend_from_slice(b",\"completion_tokens\":");
        out.extend_from_slice(completion.to_string().as_bytes());
        out.extend_from_slice(b",\"total_tokens\":");
        out.extend_from_slice(prompt.saturating_add(completion).to_string().as_bytes());
        out.extend_from_slice(b",\"prompt_tokens_details\":{\"cached_tokens\":");
        out.extend_from_slice(u.cached_tokens().unwrap_or(0).to_string().as_bytes());
        out.extend_from_slice(b"}}}\n\n");
    }

    pub fn fail(&mut self, kind: &str, message: &str) {
        self.acct.error = Some(UpstreamError {
            kind: kind.to_owned(),
            message: message.to_owned(),
        });
    }

    /// True once nothing more is translated (last event seen, or an upstream error).
    pub fn over(&self) -> bool {
        self.acct.done || self.acct.error.is_some()
    }

    /// A chunk whose delta is `delta` (already JSON).
    fn delta(&self, out: &mut Vec<u8>, delta: &[u8], finish: Option<&str>) {
        self.open(out);
        out.extend_from_slice(delta);
        self.close(out, finish);
    }

    /// Writes a chunk up to its delta, which the caller writes next, then calls `close`.
    fn open(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.head);
        out.extend_from_slice(b"\"choices\":[{\"index\":0,\"delta\":");
    }

    fn close(&self, out: &mut Vec<u8>, finish: Option<&str>) {
        out.extend_from_slice(b",\"logprobs\":null,\"finish_reason\":");
        match finish {
            Some(r) => write_str(out, r),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b"}]}\n\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(out: &[u8]) -> Vec<serde_json::Value> {
        std::str::from_utf8(out)
            .unwrap()
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn chunks_are_json_with_escaped_strings() {
        let mut w = ChunkWriter::new("id\"1", 7, "m\\x", true);
        let mut out = Vec::new();
        w.text(&mut out, "a\n\u{2028}\"");
        w.tool_start(&mut out, 3, "t1", "f");
        w.tool_args(&mut out, 3, "{\"a\":");
        w.tool_args(&mut out, 9, "ignored");
        w.stop(&mut out, Some("tool_use"));
        w.stop(&mut out, Some("end_turn"));
        w.acct.usage = TokenUsage {
            input: Some(3),
            output: Some(4),
            cache_read: Some(5),
            cache_write: None,
        };
        w.usage(&mut out);
        w.usage(&mut out);
        let ev = events(&out);
        assert_eq!(ev.len(), 6);
        assert_eq!(ev[0]["id"], "id\"1");
        assert_eq!(ev[0]["model"], "m\\x");
        assert_eq!(ev[0]["created"], 7);
        assert_eq!(ev[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(ev[1]["choices"][0]["delta"]["content"], "a\n\u{2028}\"");
        assert_eq!(
            ev[2]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"],
            "f"
        );
        assert_eq!(
            ev[3]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"],
            "{\"a\":"
        );
        assert_eq!(ev[4]["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(ev[5]["usage"]["prompt_tokens"], 8);
        assert_eq!(ev[5]["usage"]["total_tokens"], 12);
        assert_eq!(ev[5]["usage"]["prompt_tokens_details"]["cached_tokens"], 5);
        assert_eq!(w.acct.content_chars, 4 + 5);
        assert_eq!(w.acct.stop_reason.as_deref(), Some("end_turn"));
        assert_eq!(w.acct.finish_reason, Some("tool_calls"));
    }

    #[test]
    fn id_is_fixed_after_the_first_chunk() {
        let mut w = ChunkWriter::new("a", 1, "m", false);
        w.set_id("b");
        let mut out = Vec::new();
        w.start(&mut out);
        w.set_id("c");
        w.text(&mut out, "x");
        w.usage(&mut out);
        let ev = events(&out);
        assert_eq!(ev.len(), 2);
        assert!(ev.iter().all(|e| e["id"] == "b"));
    }

    #[test]
    fn stop_reasons() {
        for (r, f) in [
            ("end_turn", "stop"),
            ("stop_sequence", "stop"),
            ("pause_turn", "stop"),
            ("max_tokens", "length"),
            ("model_context_window_exceeded", "length"),
            ("tool_use", "tool_calls"),
            ("refusal", "content_filter"),
            ("guardrail_intervened", "content_filter"),
            ("content_filtered", "content_filter"),
            ("malformed_tool_use", "stop"),
            ("something_new", "stop"),
        ] {
            assert_eq!(finish_reason(r), f, "{r}");
        }
    }

    #[test]
    fn prompt_tokens_include_cache() {
        let u = TokenUsage::default();
        assert_eq!(u.prompt_tokens(), None);
        let u = TokenUsage {
            cache_write: Some(2),
            ..TokenUsage::default()
        };
        assert_eq!(u.prompt_tokens(), Some(2));
        let u = TokenUsage {
            input: Some(u64::MAX),
            cache_read: Some(1),
            ..TokenUsage::default()
        };
        assert_eq!(u.prompt_tokens(), Some(u64::MAX));
    }
}
