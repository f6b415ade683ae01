//! Redaction of an OpenAI `chat.completion.chunk` SSE stream in place, one call per network chunk.
//!
//! Every `choices[*].delta.content` string goes through a [`StreamRedactor`] of its choice
//! `index`; the text it emits replaces the string, spliced into the event bytes. Everything else
//! is forwarded byte-exact: events whose content comes out unchanged, other fields, comments,
//! `[DONE]`, non-JSON data and JSON that does not parse (a client cannot show it either).
//!
//! # Finding the fields
//! The data of an event is walked structurally, not parsed into values: strings are skipped with
//! `memchr` (a quote preceded by a backslash is inside the string), nested values by depth, and
//! only three levels are looked into: the top-level `choices` array, in each choice `index`,
//! `delta` and `finish_reason`, and in the delta `content`. A `content` string is unescaped into
//! text only to be pushed; the emitted text is escaped back (quote, backslash and control chars;
//! non-ASCII stays UTF-8) only when it differs from what was pushed, so an event whose text the
//! redactor passes on as it came is forwarded without any re-encoding.
//!
//! # Tails
//! A choice's non-null `finish_reason` ends its text: the held tail is appended to that event's
//! content (a `"content"` member is added to the delta, or a delta to the choice, when it has
//! none). Tails of choices that never sent one are flushed by [`ChatChunkRedactor::finish`] (or a
//! `last` feed) as one synthetic event with the `id`, `object`, `created` and `model` of the last
//! chunk seen.
//!
//! # Blocking
//! When an event makes a `block` kind appear, that event and everything after it are withheld
//! (the feed returns what came before it) and later input is ignored: the caller ends the stream
//! with an error.
//!
//! # Not redacted
//! Tool-call argument deltas (`delta.tool_calls[*].function.arguments`), `delta.refusal` and
//! `reasoning_content` are forwarded as they are: in streams only `content` is redacted (the
//! whole-answer path also redacts arguments and refusals).
//!
//! # Framing
//! Input is normally complete events (the relay forwards nothing else), but an incomplete trailing
//! event is held back until its end arrives, lines may end in LF, CRLF or CR, and an event with
//! several `data` lines is redacted on their join (and written back split at the same places).

use std::ops::Range;
use std::sync::Arc;

use memchr::memchr2;

use super::frame::{recycle, LineState};
use super::scan::hex4;
use super::SseError;
use crate::pii::{Actions, Kind, Scanner, StreamRedactor};

/// Redacts the content deltas of a chat-completion SSE stream; see the module docs.
pub struct ChatChunkRedactor {
    core: Core,
    /// The incomplete trailing event held back, from its first byte.
    held: Vec<u8>,
    /// Line-ending state, shared with the framer (`super::frame::LineState`).
    lines: LineState,
    max_event_bytes: usize,
    /// A block kind was seen (or the input failed): later input is ignored.
    stopped: bool,
    out: Vec<u8>,
}

/// The per-event work: the redactors and scratch space.
struct Core {
    scanner: Arc<Scanner>,
    actions: Actions,
    /// One redactor per choice index, in first-seen order.
    choices: Vec<(i64, StreamRedactor)>,
    /// The `id`, `object`, `created` and `model` members (`"key":value,` each) of the last event
    /// with a top-level `choices` array, for the synthetic event.
    last_meta: Vec<u8>,
    work: Work,
}

/// Scratch buffers of one event, kept between events.
#[derive(Default)]
struct Work {
    /// The data lines of the event: the range of the value of the first, and how many.
    data: Range<usize>,
    data_lines: usize,
    /// The joined data of an event with several `data` lines.
    joined: Vec<u8>,
    /// The event has a non-empty top-level `choices` array.
    has_choices: bool,
    /// The event's `id`, `object`, `created` and `model` members, `"key":value,` each.
    meta: Vec<u8>,
    /// The data of the last event walked whole, up to the value of its top-level `choices`, and
    /// the members of `meta` before it: an event starting with the same bytes is walked from there
    /// (the id, model, ... of a stream's events are the same, so only the choices are walked).
    prefix: Vec<u8>,
    prefix_meta: Vec<u8>,
    plans: Vec<ChoicePlan>,
    strs: Vec<StrSpan>,
    /// Unescaped `content` strings of the event, one after the other.
    text: String,
    /// What a redactor emitted for the current string.
    emitted: String,
    /// Changes to the event's JSON, in order.
    edits: Vec<Edit>,
    /// Replacement bytes of the edits, one after the other.
    repl: Vec<u8>,
}

/// One choice object of an event, as found by the walk.
struct ChoicePlan {
    index: i64,
    finishing: bool,
    /// Its `delta.content` strings (normally one or none), a range of `Work::strs`.
    strs: Range<usize>,
    /// Where a tail goes when the event has no content string for it.
    slot: Slot,
}

#[derive(Clone)]
enum Slot {
    /// `delta.content` is there but not a string (`null`): the value is replaced.
    Value(Range<usize>),
    /// The delta object has no `content`: one is added before its closing brace.
    InDelta { close: usize, members: bool },
    /// `delta` is not an object (`null`): the value is replaced by one.
    Delta(Range<usize>),
    /// The choice has no `delta`: one is added before its closing brace.
    InChoice { close: usize, members: bool },
}

struct StrSpan {
    /// The string value in the JSON, quotes included.
    raw: Range<usize>,
    /// Its unescaped text in `Work::text`.
    text: Range<usize>,
}

/// Replace `json[at]` with `Work::repl[repl]`.
struct Edit {
    at: Range<usize>,
    repl: Range<usize>,
}

/// What one event came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Forward the event as it is.
    Same,
    /// Forward the event rewritten (`Core::write_event`).
    Edited,
    /// A block kind appeared: withhold this event and stop.
    Blocked,
}

impl ChatChunkRedactor {
    pub fn new(scanner: Arc<Scanner>, actions: Actions, max_event_bytes: usize) -> Self {
        Self {
            core: Core {
                scanner,
                actions,
                choices: Vec::new(),
                last_meta: Vec::new(),
                work: Work::default(),
            },
            held: Vec::new(),
            lines: LineState::new(),
            max_event_bytes,
            stopped: false,
            out: Vec::new(),
        }
    }

    /// Feeds one chunk and calls `emit` with what to forward now: `None` means the chunk itself,
    /// unchanged; otherwise the bytes (possibly empty).
    ///
    /// With `last` (the stream is complete after this chunk), tails still held are flushed in a
    /// synthetic event placed after the last event of this chunk that has choices (so before a
    /// trailing usage-only event), or first if none has, and an incomplete trailing event is
    /// dropped.
    ///
    /// An incomplete event growing beyond `max_event_bytes` is an error; the redactor then stops.
    pub fn feed_with<R>(
        &mut self,
        chunk: &[u8],
        last: bool,
        emit: impl FnOnce(Option<&[u8]>) -> R,
    ) -> Result<R, SseError> {
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        let r = match self.feed_inner(chunk, last, &mut out) {
            Ok(true) => Ok(emit(None)),
            Ok(false) => Ok(emit(Some(&out))),
            Err(err) => {
                self.stopped = true;
                self.held = Vec::new();
                Err(err)
            }
        };
        recycle(&mut out);
        self.out = out;
        r
    }

    /// Feeds one chunk and returns the bytes to forward now (see [`Self::feed_with`]).
    pub fn feed(&mut self, chunk: &[u8], last: bool) -> Result<Vec<u8>, SseError> {
        self.feed_with(chunk, last, |o| o.unwrap_or(chunk).to_vec())
    }

    /// The stream is complete: the synthetic event carrying the tails still held by choices that
    /// did not end with a `finish_reason` (empty if there are none). Their texts start anew.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.stopped {
            self.core.flush_tails(&mut out);
            if self.core.is_blocked() {
                self.stopped = true;
                out.clear();
            }
        }
        out
    }

    /// Entities per kind so far, over all choices, in kind order.
    pub fn counts(&self) -> Vec<(Kind, u64)> {
        let mut per: Vec<u64> = Vec::new();
        for (_, r) in &self.core.choices {
            for (kind, n) in r.tally().counts() {
                let i = kind.index();
                if per.len() <= i {
                    per.resize(i + 1, 0);
                }
                per[i] += n;
            }
        }
        per.iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(i, &n)| (Kind::from_index(i), n))
            .collect()
    }

    /// Entities so far, all kinds (it changes whenever [`Self::counts`] does).
    pub fn entities(&self) -> u64 {
        self.core
            .choices
            .iter()
            .flat_map(|(_, r)| r.tally().counts().map(|(_, n)| n))
            .sum()
    }

    /// Kinds seen so far whose action is block, in kind order.
    pub fn blocked(&self) -> Vec<Kind> {
        let mut kinds: Vec<Kind> = self
            .core
            .choices
            .iter()
            .flat_map(|(_, r)| r.tally().blocked())
            .collect();
        kinds.sort_unstable_by_key(|k| k.index());
        kinds.dedup();
        kinds
    }

    pub fn is_blocked(&self) -> bool {
        self.core.is_blocked()
    }

    /// The scanner (it names the kinds).
    pub fn scanner(&self) -> &Scanner {
        &self.core.scanner
    }

    /// Bytes of an incomplete event held back.
    pub fn buffered(&self) -> usize {
        self.held.len()
    }

    /// Text bytes held back by the redactors (not yet forwarded).
    pub fn held(&self) -> usize {
        self.core.choices.iter().map(|(_, r)| r.held()).sum()
    }

    /// Returns true when the chunk is to be forwarded as it is; otherwise `out` has the bytes.
    fn feed_inner(
        &mut self,
        chunk: &[u8],
        last: bool,
        out: &mut Vec<u8>,
    ) -> Result<bool, SseError> {
        if self.stopped {
            return Ok(false);
        }
        let mut modified = !self.held.is_empty();
        // Chunk bytes before `emit_from` are dealt with; from it on they are not yet in `out`.
        let mut emit_from = 0;
        let mut pos = 0;
        // Where in the output the synthetic event goes.
        let mut split = 0;
        if self.lines.skip_lf && !chunk.is_empty() {
            self.lines.skip_lf = false;
            if chunk[0] == b'\n' {
                pos = 1;
                if !self.held.is_empty() {
                    // The rest of a line ending inside the held event.
                    self.held.push(b'\n');
                    emit_from = 1;
                }
            }
        }
        while let Some(end) = self.lines.scan_block(chunk, pos).map(|(end, _)| end) {
            let start = pos;
            pos = end;
            let from_held = !self.held.is_empty();
            if from_held {
                self.held.extend_from_slice(&chunk[start..end]);
            }
            let event: &[u8] = if from_held {
                &self.held
            } else {
                &chunk[start..end]
            };
            match self.core.event(event) {
                Outcome::Same => {
                    if from_held {
                        out.extend_from_slice(event);
                        emit_from = end;
                    }
                }
                Outcome::Edited => {
                    modified = true;
                    if !from_held {
                        out.extend_from_slice(&chunk[emit_from..start]);
                    }
                    self.core.write_event(event, out);
                    emit_from = end;
                }
                Outcome::Blocked => {
                    if !from_held {
                        out.extend_from_slice(&chunk[emit_from..start]);
                    }
                    self.stopped = true;
                    self.held = Vec::new();
                    return Ok(false);
                }
            }
            if self.core.work.has_choices {
                // Where this event ends in the output once the rest is copied.
                split = out.len() + (end - emit_from);
            }
            if from_held {
                recycle(&mut self.held);
            }
        }
        // `chunk[pos..]` is the start of an incomplete event.
        if pos < chunk.len() {
            modified = true;
            if !last {
                self.held.extend_from_slice(&chunk[pos..]);
                if self.held.len() > self.max_event_bytes {
                    return Err(SseError::EventTooLarge {
                        size: self.held.len(),
                        limit: self.max_event_bytes,
                    });
                }
            }
        }
        let mut tails = Vec::new();
        if last {
            self.held = Vec::new();
            self.lines.at_line_start = true;
            self.lines.skip_lf = false;
            self.core.flush_tails(&mut tails);
            if self.core.is_blocked() {
                // A blocked entity in the tails: withhold them.
                self.stopped = true;
                tails.clear();
            }
            modified |= !tails.is_empty();
        }
        if !modified {
            return Ok(true);
        }
        out.extend_from_slice(&chunk[emit_from..pos]);
        if !tails.is_empty() {
            out.splice(split..split, tails);
        }
        Ok(false)
    }
}

impl Core {
    fn is_blocked(&self) -> bool {
        self.choices.iter().any(|(_, r)| r.tally().is_blocked())
    }

    /// Redacts one complete event (every line up to and including its blank line).
    fn event(&mut self, block: &[u8]) -> Outcome {
        let w = &mut self.work;
        w.has_choices = false;
        find_data(block, w);
        match w.data_lines {
            0 => Outcome::Same,
            1 => {
                let json = &block[w.data.clone()];
                self.json_event(json)
            }
            _ => {
                let mut joined = std::mem::take(&mut self.work.joined);
                joined.clear();
                join_data(block, &mut joined);
                let outcome = self.json_event(&joined);
                self.work.joined = joined;
                outcome
            }
        }
    }

    /// Redacts the data of an event: plans the changes (`Work::edits`) or says there are none.
    fn json_event(&mut self, json: &[u8]) -> Outcome {
        let w = &mut self.work;
        if json.trim_ascii_start().first() != Some(&b'{') {
            return Outcome::Same;
        }
        w.plans.clear();
        w.strs.clear();
        w.text.clear();
        w.edits.clear();
        w.repl.clear();
        w.meta.clear();
        let Some(choices) = walk_event(json, w) else {
            w.has_choices = false;
            return Outcome::Same;
        };
        if !choices {
            return Outcome::Same;
        }
        std::mem::swap(&mut self.last_meta, &mut self.work.meta);
        if self.apply() {
            return Outcome::Blocked;
        }
        if self.work.edits.is_empty() {
            Outcome::Same
        } else {
            Outcome::Edited
        }
    }

    /// Pushes the planned strings through their redactors and records the edits; returns whether
    /// a block kind appeared.
    fn apply(&mut self) -> bool {
        let Work {
            plans,
            strs,
            text,
            emitted,
            edits,
            repl,
            ..
        } = &mut self.work;
        let mut touched = false;
        for p in plans.iter() {
            let r = redactor(&mut self.choices, &self.scanner, &self.actions, p.index);
            let spans = &strs[p.strs.clone()];
            for (k, s) in spans.iter().enumerate() {
                let pushed = &text[s.text.clone()];
                emitted.clear();
                r.push_into(pushed, emitted);
                if p.finishing && k + 1 == spans.len() {
                    emitted.push_str(&r.finish());
                }
                if emitted != pushed {
                    let from = repl.len();
                    push_json_str(emitted, repl);
                    edits.push(Edit {
                        at: s.raw.clone(),
                        repl: from..repl.len(),
                    });
                }
            }
            if p.finishing && spans.is_empty() {
                let tail = r.finish();
                if !tail.is_empty() {
                    let from = repl.len();
                    let at = match p.slot.clone() {
                        Slot::Value(at) => {
                            push_json_str(&tail, repl);
                            at
                        }
                        Slot::InDelta { close, members } => {
                            if members {
                                repl.push(b',');
                            }
                            repl.extend_from_slice(b"\"content\":");
                            push_json_str(&tail, repl);
                            close..close
                        }
                        Slot::Delta(at) => {
                            repl.extend_from_slice(b"{\"content\":");
                            push_json_str(&tail, repl);
                            repl.push(b'}');
                            at
                        }
                        Slot::InChoice { close, members } => {
                            if members {
                                repl.push(b',');
                            }
                            repl.extend_from_slice(b"\"delta\":{\"content\":");
                            push_json_str(&tail, repl);
                            repl.push(b'}');
                            close..close
                        }
                    };
                    edits.push(Edit {
                        at,
                        repl: from..repl.len(),
                    });
                }
            }
            touched = true;
        }
        if !edits.is_sorted_by_key(|e| e.at.start) {
            edits.sort_by_key(|e| e.at.start);
        }
        touched && self.is_blocked()
    }

    /// Writes the event `block` with the planned edits applied to its data.
    fn write_event(&self, block: &[u8], out: &mut Vec<u8>) {
        let w = &self.work;
        if w.data_lines == 1 {
            let data = w.data.clone();
            out.extend_from_slice(&block[..data.start]);
            write_json(&block[data.clone()], w, false, out);
            out.extend_from_slice(&block[data.end..]);
            return;
        }
        // Several data lines: the first becomes the new data, split again where the join put
        // line feeds (the redacted strings have none); the other data lines go.
        let mut first = true;
        for_each_line(block, |line, ending| {
            if !is_data_line(line) {
                out.extend_from_slice(line);
            } else if first {
                first = false;
                out.extend_from_slice(b"data: ");
                write_json(&w.joined, w, true, out);
            } else {
                return;
            }
            out.extend_from_slice(ending);
        });
    }

    /// Appends the synthetic event with the held tails of every choice, if any.
    fn flush_tails(&mut self, out: &mut Vec<u8>) {
        let mut choices = Vec::new();
        for (index, r) in &mut self.choices {
            if r.held() == 0 {
                continue;
            }
            let tail = r.finish();
            if tail.is_empty() {
                continue;
            }
            if !choices.is_empty() {
                choices.push(b',');
            }
            choices.extend_from_slice(
                format!("{{\"index\":{index},\"delta\":{{\"content\":").as_bytes(),
            );
            push_json_str(&tail, &mut choices);
            choices.extend_from_slice(b"},\"finish_reason\":null}");
        }
        if choices.is_empty() {
            return;
        }
        out.extend_from_slice(b"data: {");
        out.extend_from_slice(&self.last_meta);
        out.extend_from_slice(b"\"choices\":[");
        out.extend_from_slice(&choices);
        out.extend_from_slice(b"]}\n\n");
    }
}

fn redactor<'a>(
    choices: &'a mut Vec<(i64, StreamRedactor)>,
    scanner: &Arc<Scanner>,
    actions: &Actions,
    index: i64,
) -> &'a mut StreamRedactor {
    let at = match choices.iter().position(|(i, _)| *i == index) {
        Some(at) => at,
        None => {
            choices.push((index, StreamRedactor::new(scanner.clone(), actions.clone())));
            choices.len() - 1
        }
    };
    &mut choices[at].1
}

/// Writes `json` with the edits of `w` applied; with `split`, a line feed becomes a new data line.
fn write_json(json: &[u8], w: &Work, split: bool, out: &mut Vec<u8>) {
    let copy = |out: &mut Vec<u8>, part: &[u8]| {
        if !split {
            out.extend_from_slice(part);
            return;
        }
        for (i, line) in part.split(|&b| b == b'\n').enumerate() {
            if i > 0 {
                out.extend_from_slice(b"\ndata: ");
            }
            out.extend_from_slice(line);
        }
    };
    let mut at = 0;
    for e in &w.edits {
        copy(out, &json[at..e.at.start]);
        out.extend_from_slice(&w.repl[e.repl.clone()]);
        at = e.at.end;
    }
    copy(out, &json[at..]);
}

// ---------------------------------------------------------------------------------------- lines

/// Calls `f(line, ending)` for each line of a complete event up to and including its blank line.
fn for_each_line<'a>(block: &'a [u8], mut f: impl FnMut(&'a [u8], &'a [u8])) {
    let mut pos = 0;
    while pos < block.len() {
        let (end, next) = match memchr2(b'\n', b'\r', &block[pos..]) {
            Some(i) => {
                let e = pos + i;
                let crlf = block[e] == b'\r' && block.get(e + 1) == Some(&b'\n');
                (e, e + 1 + usize::from(crlf))
            }
            None => (block.len(), block.len()),
        };
        f(&block[pos..end], &block[end..next]);
        pos = next;
    }
}

fn is_data_line(line: &[u8]) -> bool {
    line.starts_with(b"data") && matches!(line.get(4), None | Some(b':'))
}

/// The value of a data line (one leading space removed).
fn data_value(line: &[u8]) -> &[u8] {
    let v = line.get(5..).unwrap_or_default();
    v.strip_prefix(b" ").unwrap_or(v)
}

/// Finds the data lines of an event: how many, and the range of the first one's value.
fn find_data(block: &[u8], w: &mut Work) {
    w.data_lines = 0;
    w.data = 0..0;
    let base = block.as_ptr() as usize;
    for_each_line(block, |line, _| {
        if is_data_line(line) {
            if w.data_lines == 0 {
                let v = data_value(line);
                let start = v.as_ptr() as usize - base;
                w.data = start..start + v.len();
            }
            w.data_lines += 1;
        }
    });
}

/// The data lines of an event joined with line feeds.
fn join_data(block: &[u8], joined: &mut Vec<u8>) {
    let mut first = true;
    for_each_line(block, |line, _| {
        if is_data_line(line) {
            if !first {
                joined.push(b'\n');
            }
            first = false;
            joined.extend_from_slice(data_value(line));
        }
    });
}

mod walk;
use walk::*;

#[cfg(test)]
mod tests;
