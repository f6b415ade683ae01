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

use memchr::{memchr, memchr2};

use super::SseError;
use crate::pii::{Actions, Kind, Scanner, StreamRedactor};

/// Redacts the content deltas of a chat-completion SSE stream; see the module docs.
pub struct ChatChunkRedactor {
    core: Core,
    /// The incomplete trailing event held back, from its first byte.
    held: Vec<u8>,
    /// The last byte framed ended a line (true at stream start).
    at_line_start: bool,
    /// The last chunk ended in a CR: an LF starting the next chunk belongs to that line ending.
    skip_lf: bool,
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
            at_line_start: true,
            skip_lf: false,
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
        if self.skip_lf && !chunk.is_empty() {
            self.skip_lf = false;
            if chunk[0] == b'\n' {
                pos = 1;
                if !self.held.is_empty() {
                    // The rest of a line ending inside the held event.
                    self.held.push(b'\n');
                    emit_from = 1;
                }
            }
        }
        while let Some(end) = self.scan_block(chunk, pos) {
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
            self.at_line_start = true;
            self.skip_lf = false;
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

    /// Scans lines from `pos` to the end of the current event. Returns the end of the event (just
    /// past its blank line), or `None` if the chunk ends first (the line state is then kept).
    fn scan_block(&mut self, chunk: &[u8], mut pos: usize) -> Option<usize> {
        loop {
            let Some(i) = memchr2(b'\n', b'\r', &chunk[pos..]) else {
                if pos < chunk.len() {
                    self.at_line_start = false;
                }
                return None;
            };
            let t = pos + i;
            let blank = i == 0 && self.at_line_start;
            let end = if chunk[t] == b'\n' {
                t + 1
            } else if t + 1 < chunk.len() {
                t + 1 + usize::from(chunk[t + 1] == b'\n')
            } else {
                self.skip_lf = true;
                t + 1
            };
            self.at_line_start = true;
            pos = end;
            if blank {
                return Some(end);
            }
        }
    }
}

/// Empties a scratch buffer, releasing its memory if an unusually large event grew it.
fn recycle(buf: &mut Vec<u8>) {
    if buf.capacity() > 64 << 10 {
        *buf = Vec::new();
    } else {
        buf.clear();
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

// ----------------------------------------------------------------------------------------- walk

/// Walks one chunk object, planning its choices into `w`. `None` if it is not a JSON object;
/// otherwise whether it has a top-level `choices` array (`w.has_choices`: a non-empty one).
fn walk_event(json: &[u8], w: &mut Work) -> Option<bool> {
    let mut c = Cur { b: json, i: 0 };
    let mut choices = false;
    // Where the first top-level `choices` value starts, and the length of `meta` there.
    let mut first_choices: Option<(usize, usize)> = None;
    let mut key = None;
    if !w.prefix.is_empty() && json.starts_with(&w.prefix) {
        // The same bytes, so the same state: in the top-level object, at the `choices` value
        // (whitespace not in the prefix is skipped as the whole walk would).
        c.i = w.prefix.len();
        c.ws();
        w.meta.extend_from_slice(&w.prefix_meta);
        key = Some(Key::Choices);
    } else {
        c.ws();
        c.eat(b'{')?;
        c.ws();
        if c.peek()? == b'}' {
            c.i += 1;
            c.ws();
            return (c.i == json.len()).then_some(false);
        }
    }
    loop {
        let key = match key.take() {
            Some(k) => k,
            None => {
                let (raw, escaped) = c.string()?;
                let k = Key::of(&json[raw], escaped);
                c.ws();
                c.eat(b':')?;
                c.ws();
                k
            }
        };
        let start = c.i;
        if key == Key::Choices && c.peek()? == b'[' {
            choices = true;
            first_choices.get_or_insert((start, w.meta.len()));
            c.elements(|c| {
                w.has_choices = true;
                if c.peek()? == b'{' {
                    let plan = walk_choice(c, w)?;
                    w.plans.push(plan);
                    Some(())
                } else {
                    c.value()
                }
            })?;
        } else {
            c.value()?;
            let name: &[u8] = match key {
                Key::Id => b"\"id\":",
                Key::Object => b"\"object\":",
                Key::Created => b"\"created\":",
                Key::Model => b"\"model\":",
                _ => b"",
            };
            if !name.is_empty() {
                w.meta.extend_from_slice(name);
                w.meta.extend_from_slice(&json[start..c.i]);
                w.meta.push(b',');
            }
        }
        c.ws();
        match c.peek()? {
            b',' => {
                c.i += 1;
                c.ws();
            }
            b'}' => {
                c.i += 1;
                break;
            }
            _ => return None,
        }
    }
    c.ws();
    if c.i != json.len() {
        return None;
    }
    if let Some((at, meta)) = first_choices {
        if w.prefix.len() != at || !json.starts_with(&w.prefix) {
            w.prefix.clear();
            w.prefix.extend_from_slice(&json[..at]);
            w.prefix_meta.clear();
            w.prefix_meta.extend_from_slice(&w.meta[..meta]);
        }
    }
    Some(choices)
}

fn walk_choice(c: &mut Cur<'_>, w: &mut Work) -> Option<ChoicePlan> {
    let first = w.strs.len();
    let mut index = 0;
    let mut finishing = false;
    let mut content_value = None;
    let mut delta = None;
    let (close, members) = c.members(|c, key| {
        let start = c.i;
        if key == Key::Delta && c.peek()? == b'{' {
            let (close, members) = c.members(|c, key| {
                if key == Key::Content {
                    if c.peek()? == b'"' {
                        let (raw, escaped) = c.string()?;
                        let from = w.text.len();
                        unescape(&c.b[raw.clone()], escaped, &mut w.text)?;
                        w.strs.push(StrSpan {
                            raw: raw.start - 1..raw.end + 1,
                            text: from..w.text.len(),
                        });
                    } else {
                        let start = c.i;
                        c.value()?;
                        content_value = Some(start..c.i);
                    }
                    Some(())
                } else {
                    c.value()
                }
            })?;
            delta = Some(Slot::InDelta { close, members });
            return Some(());
        }
        c.value()?;
        let value = &c.b[start..c.i];
        match key {
            Key::Index => index = parse_index(value),
            Key::FinishReason => finishing = value != b"null",
            Key::Delta => delta = Some(Slot::Delta(start..c.i)),
            _ => {}
        }
        Some(())
    })?;
    let slot = match (content_value, delta) {
        (Some(at), _) => Slot::Value(at),
        (None, Some(slot)) => slot,
        (None, None) => Slot::InChoice { close, members },
    };
    Some(ChoicePlan {
        index,
        finishing,
        strs: first..w.strs.len(),
        slot,
    })
}

/// A JSON integer, else 0 (as a choice without a usable `index` is choice 0).
fn parse_index(v: &[u8]) -> i64 {
    let (neg, digits) = match v.strip_prefix(b"-") {
        Some(d) => (true, d),
        None => (false, v),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return 0;
    }
    let n = digits.iter().try_fold(0i64, |n, &d| {
        n.checked_mul(10)?.checked_add(i64::from(d - b'0'))
    });
    match n {
        Some(n) if neg => -n,
        Some(n) => n,
        None => 0,
    }
}

/// The object keys the walk looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Choices,
    Index,
    Delta,
    Content,
    FinishReason,
    Id,
    Object,
    Created,
    Model,
    Other,
}

impl Key {
    /// The key whose raw contents (escaped if `escaped`) are `raw`.
    fn of(raw: &[u8], escaped: bool) -> Key {
        if escaped {
            let mut s = String::new();
            return match unescape(raw, true, &mut s) {
                Some(()) => Key::of(s.as_bytes(), false),
                None => Key::Other,
            };
        }
        match raw {
            b"choices" => Key::Choices,
            b"index" => Key::Index,
            b"delta" => Key::Delta,
            b"content" => Key::Content,
            b"finish_reason" => Key::FinishReason,
            b"id" => Key::Id,
            b"object" => Key::Object,
            b"created" => Key::Created,
            b"model" => Key::Model,
            _ => Key::Other,
        }
    }
}

/// A cursor over JSON that checks the structure it walks and skips what it does not look into.
struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// At a string: moves past it; returns the range of its raw contents and whether they have
    /// escapes.
    fn string(&mut self) -> Option<(Range<usize>, bool)> {
        self.eat(b'"')?;
        let start = self.i;
        let mut escaped = false;
        loop {
            let k = quote_or_backslash(self.b, self.i)?;
            if self.b[k] == b'"' {
                self.i = k + 1;
                return Some((start..k, escaped));
            }
            escaped = true;
            self.i = k + 2;
        }
    }

    /// Skips any value.
    fn value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' | b'[' => self.nested(),
            _ => {
                let start = self.i;
                while let Some(b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'+' | b'-' | b'.') =
                    self.peek()
                {
                    self.i += 1;
                }
                (self.i > start).then_some(())
            }
        }
    }

    /// Skips an object or array by bracket depth (its contents are not checked).
    fn nested(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match self.peek()? {
                b'"' => {
                    self.string()?;
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        self.i += 1;
                        return Some(());
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
    }

    /// At an object: calls `f` at each member's value (which it must consume) with its key.
    /// Returns the offset of the closing brace and whether there were members.
    fn members(
        &mut self,
        mut f: impl FnMut(&mut Self, Key) -> Option<()>,
    ) -> Option<(usize, bool)> {
        self.eat(b'{')?;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some((self.i - 1, false));
        }
        loop {
            let (raw, escaped) = self.string()?;
            let key = Key::of(&self.b[raw], escaped);
            self.ws();
            self.eat(b':')?;
            self.ws();
            f(self, key)?;
            self.ws();
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    self.ws();
                }
                b'}' => {
                    self.i += 1;
                    return Some((self.i - 1, true));
                }
                _ => return None,
            }
        }
    }

    /// At an array: calls `f` at each element (which it must consume).
    fn elements(&mut self, mut f: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(());
        }
        loop {
            f(self)?;
            self.ws();
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    self.ws();
                }
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

// -------------------------------------------------------------------------------------- strings

/// Offset of the first `"` or `\` in `b` at or after `i`: 16 bytes at a time (strings in chunk
/// JSON are mostly short, where `memchr`'s call and set-up cost more than the search).
#[inline]
fn quote_or_backslash(b: &[u8], mut i: usize) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        };
        while i + 16 <= b.len() {
            // SAFETY: SSE2 is part of the x86_64 baseline; the unaligned load reads b[i..i + 16],
            // which is in bounds.
            let mask = unsafe {
                let v = _mm_loadu_si128(b.as_ptr().add(i).cast());
                let q = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
                let s = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
                _mm_movemask_epi8(_mm_or_si128(q, s))
            };
            if mask != 0 {
                return Some(i + mask.trailing_zeros() as usize);
            }
            i += 16;
        }
    }
    b.get(i..)?
        .iter()
        .position(|&c| c == b'"' || c == b'\\')
        .map(|k| i + k)
}

/// Appends the text of the raw contents of a JSON string. `None` for an invalid escape or UTF-8;
/// a lone surrogate becomes U+FFFD.
fn unescape(raw: &[u8], escaped: bool, out: &mut String) -> Option<()> {
    if !escaped {
        out.push_str(std::str::from_utf8(raw).ok()?);
        return Some(());
    }
    let mut i = 0;
    loop {
        let Some(k) = memchr(b'\\', &raw[i..]) else {
            out.push_str(std::str::from_utf8(&raw[i..]).ok()?);
            return Some(());
        };
        out.push_str(std::str::from_utf8(&raw[i..i + k]).ok()?);
        i += k;
        let c = match *raw.get(i + 1)? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = hex4(raw, i + 2)?;
                i += 4;
                if (0xD800..0xDC00).contains(&hi) {
                    let lo = raw
                        .get(i + 2..i + 4)
                        .filter(|p| p == b"\\u")
                        .and_then(|_| hex4(raw, i + 4))
                        .filter(|lo| (0xDC00..0xE000).contains(lo));
                    match lo {
                        Some(lo) => {
                            i += 6;
                            char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?
                        }
                        None => '\u{FFFD}',
                    }
                } else {
                    char::from_u32(hi).unwrap_or('\u{FFFD}')
                }
            }
            _ => return None,
        };
        out.push(c);
        i += 2;
    }
}

fn hex4(raw: &[u8], i: usize) -> Option<u32> {
    let digits = raw.get(i..i + 4)?;
    digits
        .iter()
        .try_fold(0u32, |acc, &d| Some(acc * 16 + char::from(d).to_digit(16)?))
}

/// Appends `s` as a JSON string: quote, backslash and control chars escaped, the rest as is.
fn push_json_str(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let b = s.as_bytes();
    let mut from = 0;
    for (i, &c) in b.iter().enumerate() {
        let short: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0C => b"\\f",
            0..=0x1F => b"",
            _ => continue,
        };
        out.extend_from_slice(&b[from..i]);
        from = i + 1;
        if short.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(c >> 4)]);
            out.push(HEX[usize::from(c & 15)]);
        } else {
            out.extend_from_slice(short);
        }
    }
    out.extend_from_slice(&b[from..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{json, Value};

    use super::*;
    use crate::pii::Action;

    fn scanner() -> Arc<Scanner> {
        Arc::new(Scanner::new(&[], &["darkstar".into()]).unwrap())
    }

    fn redactor_with(actions: &[(&str, Action)]) -> ChatChunkRedactor {
        let s = scanner();
        let mut a = Actions::new(&s);
        for (name, action) in actions {
            a.set(s.kind_by_name(name).unwrap(), *action);
        }
        ChatChunkRedactor::new(s, a, 1 << 20)
    }

    fn new() -> ChatChunkRedactor {
        redactor_with(&[])
    }

    fn whole(text: &str) -> String {
        let s = scanner();
        let a = Actions::new(&s);
        s.redact(text, &a).0
    }

    fn chunk(doc: &Value) -> String {
        format!("data: {}\n\n", serde_json::to_string(doc).unwrap())
    }

    fn ev(index: i64, content: Option<&str>, finish: Option<&str>) -> String {
        let delta = match content {
            Some(c) => json!({ "content": c }),
            None => json!({}),
        };
        let choices =
            json!([{ "index": index, "delta": delta, "logprobs": null, "finish_reason": finish }]);
        format!(
            "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"m\",\"choices\":{choices}}}\n\n"
        )
    }

    const USAGE: &str =
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"m\",\
                         \"choices\":[],\"usage\":{\"prompt_tokens\":1}}\n\n";

    /// Every data event of `out` as JSON (panics on invalid JSON).
    fn events(out: &[u8]) -> Vec<Value> {
        let text = std::str::from_utf8(out)
            .unwrap()
            .replace("\r\n", "\n")
            .replace('\r', "\n");
        text.split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .filter(|d| d.starts_with('{'))
            .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}")))
            .collect()
    }

    /// The content per choice index of `out`.
    fn contents(out: &[u8]) -> BTreeMap<i64, String> {
        let mut per = BTreeMap::new();
        for doc in events(out) {
            for c in doc["choices"].as_array().into_iter().flatten() {
                let text = c["delta"]["content"].as_str().unwrap_or_default();
                per.entry(c["index"].as_i64().unwrap_or(0))
                    .or_insert_with(String::new)
                    .push_str(text);
            }
        }
        per
    }

    fn feed_all(r: &mut ChatChunkRedactor, chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            out.extend(r.feed(c, i + 1 == chunks.len()).unwrap());
        }
        out
    }

    #[test]
    fn unchanged_events_are_the_chunk_itself() {
        let mut r = new();
        let e = ev(0, Some("Hello there, "), None);
        assert!(r.feed_with(e.as_bytes(), false, |o| o.is_none()).unwrap());
        let other = ": ping\n\ndata: [DONE]\n\nevent: x\ndata: hello\n\n";
        assert!(r
            .feed_with(other.as_bytes(), false, |o| o.is_none())
            .unwrap());
        assert_eq!(r.buffered(), 0);
        assert_eq!(r.entities(), 0);
    }

    #[test]
    fn an_entity_split_over_events_is_redacted() {
        let mut r = new();
        let parts = [
            "Hello there, ",
            "write to jane",
            ".doe@exa",
            "mple.com now",
            "",
        ];
        let mut outs = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let finish = (i + 1 == parts.len()).then_some("stop");
            outs.push(r.feed(ev(0, Some(p), finish).as_bytes(), false).unwrap());
        }
        assert_eq!(contents(&outs[0])[&0], "Hello there, ");
        assert!(!String::from_utf8_lossy(&outs.concat()).contains("jane"));
        assert_eq!(
            contents(&outs.concat())[&0],
            "Hello there, write to [EMAIL] now"
        );
        assert_eq!(r.counts(), vec![(Kind::Email, 1)]);
        assert_eq!(r.entities(), 1);
        // the other fields are untouched
        let last = &events(&outs[3])[0];
        assert_eq!(last["id"], "c1");
        assert_eq!(last["choices"][0]["logprobs"], Value::Null);
    }

    #[test]
    fn escapes_round_trip() {
        let texts = [
            "say \"hi\" \\ back\\slash\n\ttab \u{1} \u{1f} é 😀 \u{2028} / ",
            "mail \"jane.doe@example.com\"\nnext line 😀",
            "\\\"\\\\\" ",
        ];
        for text in texts {
            for ascii in [false, true] {
                let mut r = new();
                let mut out = Vec::new();
                let mut chars = text.chars().peekable();
                while chars.peek().is_some() {
                    let piece: String = chars.by_ref().take(3).collect();
                    let mut doc = serde_json::to_string(&json!({
                        "choices": [{"index": 0, "delta": {"content": piece}}]
                    }))
                    .unwrap();
                    if ascii {
                        doc = ensure_ascii(&doc);
                    }
                    out.extend(
                        r.feed(format!("data: {doc}\n\n").as_bytes(), false)
                            .unwrap(),
                    );
                }
                out.extend(r.feed(b"", true).unwrap());
                assert_eq!(contents(&out)[&0], whole(text), "{text:?} ascii={ascii}");
            }
        }
    }

    /// `\uXXXX` for every non-ASCII char, as Python's `json.dumps(ensure_ascii=True)` writes.
    fn ensure_ascii(s: &str) -> String {
        let mut out = String::new();
        for c in s.chars() {
            if c.is_ascii() {
                out.push(c);
            } else {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
        out
    }

    #[test]
    fn unescaping() {
        let mut s = String::new();
        unescape(
            br#"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00\u0041"#,
            true,
            &mut s,
        )
        .unwrap();
        assert_eq!(s, "a\"b\\c/d\u{8}\u{c}\n\r\té😀A");
        for lone in [&br"\ud83d"[..], br"\ud83dx", br"\ude00", br"\ud83d\u0041"] {
            let mut s = String::new();
            unescape(lone, true, &mut s).unwrap();
            assert!(s.starts_with('\u{FFFD}'), "{lone:?} -> {s:?}");
        }
        for bad in [&br"\x"[..], br"\u12", br"\u12g4", b"\\", b"\xff"] {
            assert!(unescape(bad, true, &mut String::new()).is_none(), "{bad:?}");
        }
        let mut out = Vec::new();
        push_json_str("\"\\\n\r\t\u{8}\u{c}\u{1}\u{1f} é😀\u{7f}", &mut out);
        assert_eq!(
            out,
            "\"\\\"\\\\\\n\\r\\t\\b\\f\\u0001\\u001f é😀\u{7f}\"".as_bytes()
        );
    }

    #[test]
    fn the_tail_goes_into_the_finish_reason_event() {
        let held = ev(0, Some("to jane.doe@example.com"), None);
        let cases = [
            (
                r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
                r#"{"choices":[{"index":0,"delta":{"content":"[EMAIL]"},"finish_reason":"stop"}]}"#,
            ),
            (
                r#"{"choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":"stop"}]}"#,
                r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"[EMAIL]"},"finish_reason":"stop"}]}"#,
            ),
            (
                r#"{"choices":[{"index":0,"delta":{"content":null},"finish_reason":"stop"}]}"#,
                r#"{"choices":[{"index":0,"delta":{"content":"[EMAIL]"},"finish_reason":"stop"}]}"#,
            ),
            (
                r#"{"choices":[{"index":0,"delta":null,"finish_reason":"stop"}]}"#,
                r#"{"choices":[{"index":0,"delta":{"content":"[EMAIL]"},"finish_reason":"stop"}]}"#,
            ),
            (
                r#"{"choices":[{"index":0,"finish_reason":"length"}]}"#,
                r#"{"choices":[{"index":0,"finish_reason":"length","delta":{"content":"[EMAIL]"}}]}"#,
            ),
            (
                r#"{"choices":[{"finish_reason":"stop","index":0,"delta":{"content":"!"}}]}"#,
                r#"{"choices":[{"finish_reason":"stop","index":0,"delta":{"content":"[EMAIL]!"}}]}"#,
            ),
            (
                r#"{ "choices" : [ { "index" : 0 , "delta" : { } , "finish_reason" : "stop" } ] }"#,
                r#"{ "choices" : [ { "index" : 0 , "delta" : { "content":"[EMAIL]"} , "finish_reason" : "stop" } ] }"#,
            ),
        ];
        for (finish, want) in cases {
            let mut r = new();
            let first = r.feed(held.as_bytes(), false).unwrap();
            assert_eq!(contents(&first)[&0], "to ");
            let out = r
                .feed(format!("data: {finish}\n\n").as_bytes(), false)
                .unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), format!("data: {want}\n\n"));
            // nothing left for the end
            assert_eq!(r.finish(), b"");
        }
    }

    #[test]
    fn a_finish_without_a_tail_changes_nothing() {
        let mut r = new();
        r.feed(ev(0, Some("all done. "), None).as_bytes(), false)
            .unwrap();
        let e = ev(0, None, Some("stop"));
        assert!(r.feed_with(e.as_bytes(), false, |o| o.is_none()).unwrap());
    }

    #[test]
    fn several_choices_are_independent() {
        let mut r = new();
        let chunks = [
            ev(0, Some("a jane.doe@"), None) + &ev(1, Some("b 10.0."), None),
            ev(1, Some("0.12 c"), None) + &ev(0, Some("example.com"), None),
            ev(0, None, Some("stop")) + &ev(1, None, Some("stop")),
        ];
        let chunks: Vec<&[u8]> = chunks.iter().map(|c| c.as_bytes()).collect();
        let out = feed_all(&mut r, &chunks);
        let per = contents(&out);
        assert_eq!(per[&0], "a [EMAIL]");
        assert_eq!(per[&1], "b [IP_ADDRESS] c");
        // both choices in one event
        let mut r = new();
        let e = chunk(&json!({"choices": [
            {"index": 0, "delta": {"content": "x jane.doe@example.com"}},
            {"index": 1, "delta": {"content": "y 10.0.0.12"}},
        ]}));
        let out = feed_all(&mut r, &[e.as_bytes()]);
        let per = contents(&out);
        assert_eq!(
            (per[&0].as_str(), per[&1].as_str()),
            ("x [EMAIL]", "y [IP_ADDRESS]")
        );
        assert_eq!(r.counts(), vec![(Kind::Email, 1), (Kind::IpAddress, 1)]);
    }

    #[test]
    fn tails_without_finish_reason_come_in_a_synthetic_event_before_usage() {
        let mut r = new();
        let a = ev(0, Some("ends with jane.doe@example.com"), None);
        let b = ev(1, Some("and 10.0.0.12"), None);
        let last = format!("{b}{USAGE}");
        let out = feed_all(&mut r, &[a.as_bytes(), last.as_bytes()]);
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.ends_with(USAGE), "{text}");
        let docs = events(&out);
        let synthetic = &docs[docs.len() - 2];
        assert_eq!(
            synthetic,
            &json!({"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m",
            "choices": [
                {"index": 0, "delta": {"content": "[EMAIL]"}, "finish_reason": null},
                {"index": 1, "delta": {"content": "[IP_ADDRESS]"}, "finish_reason": null},
            ]})
        );
        assert_eq!(contents(&out)[&0], "ends with [EMAIL]");
        // with finish(): the same event
        let mut r = new();
        r.feed(a.as_bytes(), false).unwrap();
        let tail = r.finish();
        assert!(tail.starts_with(b"data: {\"id\":\"c1\",\"object\""));
        assert_eq!(contents(&tail)[&0], "[EMAIL]");
        assert_eq!(r.finish(), b"");
        // a last chunk with nothing else is just the synthetic event
        let mut r = new();
        r.feed(a.as_bytes(), false).unwrap();
        let out = r.feed(USAGE.as_bytes(), true).unwrap();
        assert!(out.ends_with(USAGE.as_bytes()));
        assert_eq!(contents(&out)[&0], "[EMAIL]");
    }

    #[test]
    fn non_json_events_pass_through() {
        let mut r = new();
        let s = ": keep-alive\n\nevent: ping\ndata: jane.doe@example.com\n\nid: 3\nretry: 10\n\n\
                 data: {\"error\":{\"message\":\"overloaded\"}}\n\ndata: [1,2]\n\ndata: [DONE]\n\n";
        assert!(r.feed_with(s.as_bytes(), false, |o| o.is_none()).unwrap());
        assert_eq!(r.feed(s.as_bytes(), true).unwrap(), s.as_bytes());
    }

    #[test]
    fn malformed_json_passes_through_unchanged() {
        for data in [
            r#"{"choices":[{"delta":{"content":"jane.doe@example.com"}}]"#,
            r#"{"choices":[{"delta":{"content":"jane.doe@example.com"}}]} x"#,
            r#"{"choices":[{"delta":{"content":"jane.doe@example.com\x"}}]}"#,
            r#"{"choices":[{"delta":{"content":"jane.doe@example.com"}},]}"#,
            r#"{"choices":[{"delta":{"content":"jane.doe@example.com" "x":1}}]}"#,
            r#"{"choices":[{"delta":{"content":"jane.doe@example.com"},}]}"#,
            r#"{"choices":[{"delta":{"content":"jane.doe@example.com"}}],"#,
            r#"{"choices":[{"delta":{"content" "jane.doe@example.com"}}]}"#,
            r#"{"choices":[{"delta":{"content":"jane.doe@example.com"}}],"x":}"#,
        ] {
            let mut r = new();
            let e = format!("data: {data}\n\n");
            assert_eq!(r.feed(e.as_bytes(), true).unwrap(), e.as_bytes(), "{data}");
            assert_eq!(r.entities(), 0);
        }
        let mut r = new();
        let e =
            b"data: {\"choices\":[{\"delta\":{\"content\":\"\xff jane.doe@example.com\"}}]}\n\n";
        assert_eq!(r.feed(e, false).unwrap(), e);
    }

    #[test]
    fn escaped_keys_are_recognised() {
        let mut r = new();
        let e = "data: {\"ch\\u006fices\":[{\"delta\":{\"c\\u006fntent\":\"jane.doe@example.com\"},\"finish_reason\":\"stop\"}]}\n\n";
        let out = r.feed(e.as_bytes(), false).unwrap();
        assert_eq!(contents(&out)[&0], "[EMAIL]");
    }

    #[test]
    fn any_split_of_the_input_gives_the_same_output() {
        let s = [
            ev(0, Some("Hi \"x\" 😀 jane"), None),
            ": c\r\n\r\n".to_string(),
            ev(0, Some(".doe@example.com\n 10.0."), None).replace("\n\n", "\r\n\r\n"),
            ev(0, Some("0.12"), None).replace("\n\n", "\r\r"),
            ev(0, None, Some("stop")),
            USAGE.to_string(),
        ]
        .concat();
        let s = s.as_bytes();
        let want = feed_all(&mut new(), &[s]);
        assert_eq!(
            contents(&want.clone())[&0],
            whole("Hi \"x\" 😀 jane.doe@example.com\n 10.0.0.12")
        );
        for i in 0..=s.len() {
            for j in [i, i + 1, i + 7, i + 64, s.len()].map(|j| j.min(s.len())) {
                let got = feed_all(&mut new(), &[&s[..i], &s[i..j], &s[j..]]);
                assert_eq!(got, want, "split {i},{j}");
            }
        }
    }

    #[test]
    fn a_partial_event_is_held_and_dropped_at_the_end() {
        let mut r = new();
        let e = ev(0, Some("jane.doe@example.com"), None);
        assert_eq!(r.feed(&e.as_bytes()[..20], false).unwrap(), b"");
        assert_eq!(r.buffered(), 20);
        let out = r.feed(&e.as_bytes()[20..], false).unwrap();
        assert!(events(&out).len() == 1 && r.buffered() == 0);
        let out = r.feed(b"data: {\"choi", true).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"m\",\
             \"choices\":[{\"index\":0,\"delta\":{\"content\":\"[EMAIL]\"},\"finish_reason\":null}]}\n\n"
        );
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn an_oversized_partial_event_is_an_error() {
        let s = scanner();
        let a = Actions::new(&s);
        let mut r = ChatChunkRedactor::new(s, a, 64);
        assert!(r.feed(&[b'x'; 64], false).is_ok());
        assert!(r.feed(b"x", false).is_err());
        assert_eq!(r.buffered(), 0);
        assert_eq!(r.feed(b"data: x\n\n", false).unwrap(), b"");
    }

    #[test]
    fn several_data_lines_are_redacted_on_their_join() {
        let mut r = new();
        let e = "id: 1\ndata: {\"choices\":[{\"index\":0,\ndata: \"delta\":{\"content\":\"mail jane.doe@example.com\"},\ndata: \"finish_reason\":\"stop\"}]}\n\n";
        let out = String::from_utf8(r.feed(e.as_bytes(), false).unwrap()).unwrap();
        assert_eq!(
            out,
            "id: 1\ndata: {\"choices\":[{\"index\":0,\ndata: \"delta\":{\"content\":\"mail [EMAIL]\"},\ndata: \"finish_reason\":\"stop\"}]}\n\n"
        );
    }

    #[test]
    fn a_blocked_entity_withholds_its_event_and_stops() {
        let mut r = redactor_with(&[("CREDIT_CARD", Action::Block)]);
        let first = ev(0, Some("fine so far. "), None);
        assert_eq!(r.feed(first.as_bytes(), false).unwrap(), first.as_bytes());
        let a = ev(0, Some("more. "), None);
        let b = ev(0, Some("card 4111 1111 1111 1111 ok"), None);
        let c = ev(0, Some("after"), None);
        let out = r.feed(format!("{a}{b}{c}").as_bytes(), false).unwrap();
        assert_eq!(out, a.as_bytes());
        assert!(r.is_blocked());
        assert_eq!(r.blocked(), vec![Kind::CreditCard]);
        assert_eq!(r.counts(), vec![(Kind::CreditCard, 1)]);
        assert_eq!(r.feed(c.as_bytes(), true).unwrap(), b"");
        assert_eq!(r.finish(), b"");
        // blocked in the tails flushed at the end
        let mut r = redactor_with(&[("EMAIL", Action::Block)]);
        let e = ev(0, Some("ok jane.doe@example.com"), None);
        let out = r.feed(format!("{e}{USAGE}").as_bytes(), true).unwrap();
        assert!(r.is_blocked());
        assert!(!String::from_utf8_lossy(&out).contains("EMAIL"));
    }

    #[test]
    fn events_sharing_a_prefix_are_walked_like_the_first() {
        let mut r = new();
        let mut all = Vec::new();
        let head = r#"{"id":"c1","model":"m","choices":"#;
        let a = format!("data: {head}[{{\"delta\":{{\"content\":\"a 10.0.0.1 x \"}}}}]}}\n\n");
        all.extend(r.feed(a.as_bytes(), false).unwrap());
        // same prefix, then whitespace, another layout, later members, a model after choices
        let b = format!(
            "data: {head}  [ {{\"index\":0,\"delta\":{{\"content\":\"b 10.0.0.2 y \"}}}} ] ,\"model\":\"n\"}}\n\n"
        );
        all.extend(r.feed(b.as_bytes(), false).unwrap());
        // same prefix, not an array: passed through; malformed after the prefix too
        for c in [
            format!("data: {head}null}}\n\n"),
            format!("data: {head}[}}\n\n"),
        ] {
            assert_eq!(r.feed(c.as_bytes(), false).unwrap(), c.as_bytes());
        }
        let e =
            format!("data: {head}[{{\"delta\":{{\"content\":\"jane.doe@example.com\"}}}}]}}\n\n");
        let out = r.feed(e.as_bytes(), true).unwrap();
        let docs = events(&out);
        assert_eq!(docs.len(), 2);
        // the synthetic event has the members of the last event (`model` after choices too)
        assert_eq!(docs[1]["model"], "m");
        all.extend(out);
        assert_eq!(
            contents(&all)[&0],
            "a [IP_ADDRESS] x b [IP_ADDRESS] y [EMAIL]"
        );
        assert_eq!(r.counts(), vec![(Kind::Email, 1), (Kind::IpAddress, 2)]);
    }

    #[test]
    fn index_parsing() {
        assert_eq!(parse_index(b"3"), 3);
        assert_eq!(parse_index(b"-2"), -2);
        for v in [
            &b"1.0"[..],
            b"\"1\"",
            b"null",
            b"-",
            b"99999999999999999999",
            b"",
        ] {
            assert_eq!(parse_index(v), 0);
        }
    }

    #[test]
    fn arbitrary_bytes_do_not_panic_and_any_split_gives_the_same_output() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        let words: [&[u8]; 24] = [
            b"{",
            b"}",
            b"[",
            b"]",
            b"\"",
            b":",
            b",",
            b"\\",
            b" ",
            b"\n",
            b"\r",
            b"data: ",
            b"\"choices\":[",
            b"{\"index\":1,",
            b"\"delta\":{",
            b"\"content\":\"",
            b"null",
            b"\"finish_reason\":\"stop\"",
            b"\\u00e9",
            b"\\ud83d",
            b"jane.doe@",
            b"x.io",
            b"0",
            b"\n\n",
        ];
        for _ in 0..3000 {
            let len = next(40);
            let stream: Vec<u8> = (0..len)
                .flat_map(|_| words[next(words.len())])
                .copied()
                .collect();
            let whole = feed_all(&mut new(), &[&stream]);
            let (a, b) = (next(stream.len() + 1), next(stream.len() + 1));
            let (a, b) = (a.min(b), a.max(b));
            let mut r = new();
            let split = feed_all(&mut r, &[&stream[..a], &stream[a..b], &stream[b..]]);
            assert_eq!(
                split,
                whole,
                "{:?} split {a},{b}",
                String::from_utf8_lossy(&stream)
            );
            let _ = r.finish();
        }
    }
}
