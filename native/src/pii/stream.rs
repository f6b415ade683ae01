//! Redaction of a stream of text chunks (model output), equal to the redaction of the whole.

use std::sync::Arc;

use regex_automata::hybrid::dfa::Cache;

use super::redact::{apply, Actions, Tally};
use super::scanner::{Scanner, Span};

/// Chars before a position that a detector may look at (see `Scanner::scan_from`).
const CONTEXT_CHARS: usize = 6;

/// Redacts a text given in chunks: `push` returns what is final so far, `finish` the rest. The
/// concatenation equals [`Scanner::redact`] of the whole text, whatever the chunking; only the
/// tail that could still become (part of) an entity is held back (bounded, see `pii/mod.rs`).
pub struct StreamRedactor {
    scanner: Arc<Scanner>,
    actions: Actions,
    /// Up to `CONTEXT_CHARS` chars before the held text (context for word boundaries), then
    /// the held text.
    buf: String,
    /// Length of the context at the start of `buf`.
    ctx: usize,
    cache: Option<Cache>,
    spans: Vec<Span>,
    tally: Tally,
}

impl StreamRedactor {
    pub fn new(scanner: Arc<Scanner>, actions: Actions) -> Self {
        let cache = scanner.new_cache();
        Self {
            scanner,
            actions,
            buf: String::new(),
            ctx: 0,
            cache,
            spans: Vec::new(),
            tally: Tally::default(),
        }
    }

    /// Adds a chunk; appends the text that is now final (redacted) to `out`.
    pub fn push_into(&mut self, chunk: &str, out: &mut String) {
        self.buf.push_str(chunk);
        self.emit(false, out);
    }

    /// Adds a chunk; returns the text that is now final (redacted).
    pub fn push(&mut self, chunk: &str) -> String {
        let mut out = String::new();
        self.push_into(chunk, &mut out);
        out
    }

    /// End of the text: returns the held tail (redacted). The redactor then starts a new text
    /// (the counts carry on).
    pub fn finish(&mut self) -> String {
        let mut out = String::new();
        self.emit(true, &mut out);
        self.buf.clear();
        self.ctx = 0;
        out
    }

    /// The scanner this redactor uses.
    pub fn scanner(&self) -> &Scanner {
        &self.scanner
    }

    /// Entities seen so far (see [`Tally`]).
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Bytes received but not yet returned.
    pub fn held(&self) -> usize {
        self.buf.len() - self.ctx
    }

    fn emit(&mut self, eof: bool, out: &mut String) {
        self.spans.clear();
        let bytes = self.buf.as_bytes();
        let stop =
            self.scanner
                .scan_from(bytes, self.ctx, eof, self.cache.as_mut(), &mut self.spans);
        apply(
            &self.scanner,
            &self.actions,
            &self.buf,
            (self.ctx, stop),
            &self.spans,
            out,
            &mut self.tally,
        );
        // Keep the chars before `stop` that the next scan may look at.
        let mut keep = stop;
        for _ in 0..CONTEXT_CHARS {
            if keep > 0 {
                keep -= 1;
                while keep > 0 && bytes[keep] & 0xC0 == 0x80 {
                    keep -= 1;
                }
            }
        }
        self.buf.drain(..keep);
        self.ctx = stop - keep;
    }
}
