//! Splits a byte stream, fed in arbitrary chunks, into SSE event blocks.
//!
//! An event block is every line up to and including the blank line that ends it. Lines end in
//! CRLF, LF or CR; a CR at the very end of a chunk ends its line at once, and an LF at the start of
//! the next chunk is then taken as the rest of that line ending (never as a blank line).
//! A UTF-8 BOM at stream start is removed, even if it is split across chunks.
//!
//! The framer holds back an incomplete trailing block, hands every complete block (as one
//! contiguous slice) to a [`BlockSink`], and, when asked to, builds the bytes to forward: all
//! complete blocks the sink keeps, byte-exact. When nothing is held back, removed or left over it
//! says so ([`Forward::Chunk`]) so the caller can forward the chunk itself without a copy.

use memchr::memchr2;

use super::SseError;

/// What a sink wants done with a complete block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Forward the block.
    Keep,
    /// Remove the block from the output.
    Drop,
    /// Remove the block and ignore the rest of the stream.
    Stop,
}

pub(crate) trait BlockSink {
    /// Called once per complete block, in stream order.
    fn block(&mut self, block: &[u8]) -> Verdict;
}

/// The result of [`Framer::feed`] when forwarding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    /// Forward the fed chunk unchanged (it is exactly the bytes to forward).
    Chunk,
    /// Forward the contents of the output buffer (possibly empty).
    Out,
}

const BOM: &[u8; 3] = b"\xEF\xBB\xBF";
const BOM_DONE: u8 = u8::MAX;

#[derive(Debug)]
pub(crate) struct Framer {
    /// The incomplete block held back, from its first byte.
    held: Vec<u8>,
    lines: LineState,
    /// The block that ended with that CR was removed, so its LF must be removed too.
    prev_dropped: bool,
    /// Number of BOM bytes matched so far at stream start, or `BOM_DONE`.
    bom: u8,
    /// A sink said `Stop`: everything after is ignored.
    stopped: bool,
    failed: Option<SseError>,
    max_event_bytes: usize,
}

impl Framer {
    pub(crate) fn new(max_event_bytes: usize) -> Self {
        Self {
            held: Vec::new(),
            lines: LineState::new(),
            prev_dropped: false,
            bom: 0,
            stopped: false,
            failed: None,
            max_event_bytes,
        }
    }

    /// Bytes held back waiting for the end of their event (including a pending partial BOM).
    pub(crate) fn buffered(&self) -> usize {
        self.held.len()
            + if self.bom == BOM_DONE {
                0
            } else {
                usize::from(self.bom)
            }
    }

    pub(crate) fn stopped(&self) -> bool {
        self.stopped
    }

    /// Feeds one chunk: every block it completes goes to `sink`. With `out`, the bytes to forward
    /// are appended to it unless the result is [`Forward::Chunk`].
    ///
    /// Once an error has been returned the framer is failed: it holds nothing and every later
    /// call returns the same error.
    pub(crate) fn feed(
        &mut self,
        chunk: &[u8],
        sink: &mut impl BlockSink,
        mut out: Option<&mut Vec<u8>>,
    ) -> Result<Forward, SseError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if self.stopped {
            return Ok(Forward::Out);
        }
        let r = self.feed_inner(chunk, sink, &mut out);
        if let Err(err) = &r {
            self.failed = Some(err.clone());
            self.held = Vec::new();
        }
        r
    }

    fn feed_inner(
        &mut self,
        chunk: &[u8],
        sink: &mut impl BlockSink,
        out: &mut Option<&mut Vec<u8>>,
    ) -> Result<Forward, SseError> {
        let Some((chunk, mut modified)) = self.strip_bom(chunk) else {
            return Ok(Forward::Out);
        };
        modified |= !self.held.is_empty();
        let mut pos = 0;
        // Start of the run of chunk bytes to forward that is not yet copied to `out`.
        let mut emit_from = 0;
        if self.lines.skip_lf && !chunk.is_empty() {
            self.lines.skip_lf = false;
            if chunk[0] == b'\n' {
                pos = 1;
                // With nothing held this LF ends the previous (complete) block and shares its
                // fate; otherwise it ends a line of the held block and is appended with it.
                if self.held.is_empty() && self.prev_dropped {
                    emit_from = 1;
                    modified = true;
                }
            }
        }

        if !self.held.is_empty() {
            let Some((end, blank)) = self.lines.scan_block(chunk, pos) else {
                self.hold(chunk)?;
                return Ok(Forward::Out);
            };
            self.check_size(self.held.len() + blank)?;
            self.held.extend_from_slice(&chunk[..end]);
            let verdict = sink.block(&self.held);
            self.prev_dropped = verdict != Verdict::Keep;
            match verdict {
                Verdict::Keep => {
                    if let Some(o) = out.as_deref_mut() {
                        o.extend_from_slice(&self.held);
                    }
                }
                Verdict::Drop => {}
                Verdict::Stop => return Ok(self.stop()),
            }
            recycle(&mut self.held);
            pos = end;
            emit_from = end;
        }

        loop {
            let start = pos;
            let Some((end, blank)) = self.lines.scan_block(chunk, pos) else {
                break;
            };
            self.check_size(blank - start)?;
            pos = end;
            let verdict = sink.block(&chunk[start..end]);
            self.prev_dropped = verdict != Verdict::Keep;
            if verdict == Verdict::Keep {
                continue;
            }
            modified = true;
            if let Some(o) = out.as_deref_mut() {
                o.extend_from_slice(&chunk[emit_from..start]);
            }
            emit_from = end;
            if verdict == Verdict::Stop {
                return Ok(self.stop());
            }
        }

        // `pos` is the start of the incomplete trailing block (if any).
        self.hold(&chunk[pos..])?;
        if !modified && pos == chunk.len() {
            return Ok(Forward::Chunk);
        }
        if let Some(o) = out.as_deref_mut() {
            o.extend_from_slice(&chunk[emit_from..pos]);
        }
        Ok(Forward::Out)
    }

    /// At end of stream: takes the held-back incomplete block out of the framer.
    /// The line state is reset, so a later feed starts on a fresh line.
    pub(crate) fn take_held(&mut self) -> Vec<u8> {
        self.lines.at_line_start = true;
        self.lines.skip_lf = false;
        if self.bom != BOM_DONE && self.bom > 0 {
            // A lone BOM prefix at EOF is data, not a BOM.
            self.held.extend_from_slice(&BOM[..usize::from(self.bom)]);
            self.bom = BOM_DONE;
        }
        std::mem::take(&mut self.held)
    }

    fn stop(&mut self) -> Forward {
        self.stopped = true;
        self.held = Vec::new();
        Forward::Out
    }

    fn check_size(&self, size: usize) -> Result<(), SseError> {
        if size > self.max_event_bytes {
            return Err(SseError::EventTooLarge {
                size,
                limit: self.max_event_bytes,
            });
        }
        Ok(())
    }

    fn hold(&mut self, rest: &[u8]) -> Result<(), SseError> {
        if !rest.is_empty() {
            self.check_size(self.held.len() + rest.len())?;
            self.held.extend_from_slice(rest);
        }
        Ok(())
    }

    /// Removes a BOM at stream start. Returns `None` while the chunk is still a BOM prefix;
    /// otherwise the chunk to frame and whether bytes were removed from it.
    fn strip_bom<'c>(&mut self, chunk: &'c [u8]) -> Option<(&'c [u8], bool)> {
        if self.bom == BOM_DONE {
            return Some((chunk, false));
        }
        let matched = usize::from(self.bom);
        let need = &BOM[matched..];
        let n = need.len().min(chunk.len());
        if chunk[..n] == need[..n] {
            if n == need.len() {
                self.bom = BOM_DONE;
                return Some((&chunk[n..], true));
            }
            // The whole chunk continues the BOM; `matched + n < 3`.
            self.bom = (matched + n) as u8;
            return None;
        }
        self.bom = BOM_DONE;
        if matched > 0 {
            // Not a BOM after all: the bytes matched so far start the first block.
            self.held.extend_from_slice(&BOM[..matched]);
            self.lines.at_line_start = false;
        }
        Some((chunk, false))
    }
}

/// Where a byte stream stands in its line structure: shared by the framer and the chat-chunk redactor,
/// which both split SSE blocks (LF, CRLF or CR line ends, a CRLF possibly split across chunks).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LineState {
    /// The last byte scanned ended a line (true at stream start).
    pub(crate) at_line_start: bool,
    /// The last byte scanned was a CR ending a chunk: an LF starting the next chunk is part of it.
    pub(crate) skip_lf: bool,
}

impl LineState {
    pub(crate) const fn new() -> Self {
        Self {
            at_line_start: true,
            skip_lf: false,
        }
    }

    /// Scans lines from `pos` to the end of the current block. Returns the end of the block
    /// (just past its blank line) and the start of that blank line, or `None` if the chunk ends
    /// first (the line state is then kept for the next chunk).
    pub(crate) fn scan_block(&mut self, chunk: &[u8], mut pos: usize) -> Option<(usize, usize)> {
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
                return Some((end, t));
            }
        }
    }
}

/// Empties a scratch buffer, releasing its memory if an unusually large event grew it, so that
/// a long-lived stream does not keep its largest event's worth of memory.
pub(crate) fn recycle(buf: &mut Vec<u8>) {
    const KEEP_CAPACITY: usize = 64 * 1024;
    if buf.capacity() > KEEP_CAPACITY {
        *buf = Vec::new();
    } else {
        buf.clear();
    }
}

/// Calls `f(name, value)` for each field line of a complete block, in order, up to its blank
/// line. Comment lines are skipped; the value loses one leading space; a line without a colon is
/// a field with an empty value.
pub(crate) fn for_each_field<'a>(block: &'a [u8], mut f: impl FnMut(&'a [u8], &'a [u8])) {
    let mut pos = 0;
    while pos < block.len() {
        let (line_end, next) = match memchr2(b'\n', b'\r', &block[pos..]) {
            Some(i) => {
                let e = pos + i;
                let crlf = block[e] == b'\r' && block.get(e + 1) == Some(&b'\n');
                (e, e + 1 + usize::from(crlf))
            }
            None => (block.len(), block.len()),
        };
        let line = &block[pos..line_end];
        pos = next;
        match line.first() {
            None => break,
            Some(b':') => continue,
            Some(_) => {}
        }
        match memchr::memchr(b':', line) {
            Some(c) => {
                let v = &line[c + 1..];
                f(&line[..c], v.strip_prefix(b" ").unwrap_or(v));
            }
            None => f(line, b""),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect {
        blocks: Vec<Vec<u8>>,
        drop_if: Option<&'static [u8]>,
        stop_if: Option<&'static [u8]>,
    }

    impl BlockSink for Collect {
        fn block(&mut self, block: &[u8]) -> Verdict {
            self.blocks.push(block.to_vec());
            let has = |n: &[u8]| block.windows(n.len()).any(|w| w == n);
            if self.stop_if.is_some_and(has) {
                Verdict::Stop
            } else if self.drop_if.is_some_and(has) {
                Verdict::Drop
            } else {
                Verdict::Keep
            }
        }
    }

    fn run(chunks: &[&[u8]], sink: &mut Collect) -> Vec<u8> {
        let mut f = Framer::new(1 << 20);
        let mut all = Vec::new();
        for c in chunks {
            let mut out = Vec::new();
            match f.feed(c, sink, Some(&mut out)).unwrap() {
                Forward::Chunk => all.extend_from_slice(c),
                Forward::Out => all.extend_from_slice(&out),
            }
        }
        all
    }

    #[test]
    fn splits_blocks_on_every_line_ending() {
        let mut s = Collect::default();
        run(&[b"a: 1\n\nb: 2\r\n\r\nc: 3\r\rd\re\n\r\n"], &mut s);
        let want: Vec<&[u8]> = vec![b"a: 1\n\n", b"b: 2\r\n\r\n", b"c: 3\r\r", b"d\re\n\r\n"];
        assert_eq!(s.blocks, want);
    }

    #[test]
    fn cr_at_chunk_end_then_lf_is_one_line_ending() {
        let mut s = Collect::default();
        let out = run(&[b"a: 1\r", b"\n", b"\r", b"\nb: 2\n\n"], &mut s);
        let want: Vec<&[u8]> = vec![b"a: 1\r\n\r", b"b: 2\n\n"];
        assert_eq!(s.blocks, want);
        assert_eq!(out, b"a: 1\r\n\r\nb: 2\n\n");
    }

    #[test]
    fn lf_after_dropped_block_is_dropped_too() {
        let mut s = Collect {
            drop_if: Some(b"x"),
            ..Default::default()
        };
        let out = run(&[b"x\r\r", b"\ny\n\n"], &mut s);
        assert_eq!(out, b"y\n\n");
        let mut s = Collect {
            drop_if: Some(b"x"),
            ..Default::default()
        };
        assert_eq!(run(&[b"x\r\r\ny\n\n"], &mut s), b"y\n\n");
    }

    #[test]
    fn identity_only_when_chunk_is_exactly_complete_blocks() {
        let mut f = Framer::new(100);
        let mut s = Collect::default();
        let mut out = Vec::new();
        assert_eq!(f.feed(b"a\n\n", &mut s, Some(&mut out)), Ok(Forward::Chunk));
        assert_eq!(f.feed(b"a\n\nb", &mut s, Some(&mut out)), Ok(Forward::Out));
        assert_eq!(out, b"a\n\n");
        assert_eq!(f.buffered(), 1);
        out.clear();
        assert_eq!(f.feed(b"\n\n", &mut s, Some(&mut out)), Ok(Forward::Out));
        assert_eq!(out, b"b\n\n");
    }

    #[test]
    fn bom_split_across_chunks_is_removed() {
        let mut s = Collect::default();
        let out = run(&[b"\xEF", b"\xBB", b"\xBFa\n\n"], &mut s);
        assert_eq!(out, b"a\n\n");
        let mut s = Collect::default();
        let out = run(&[b"\xEF\xBB", b"xa\n\n"], &mut s);
        assert_eq!(out, b"\xEF\xBBxa\n\n");
        assert_eq!(s.blocks, vec![b"\xEF\xBBxa\n\n".to_vec()]);
    }

    #[test]
    fn only_one_bom_is_removed() {
        let mut s = Collect::default();
        let out = run(&[b"\xEF\xBB\xBF\xEF\xBB\xBFa\n\n"], &mut s);
        assert_eq!(out, b"\xEF\xBB\xBFa\n\n");
    }

    #[test]
    fn stop_ignores_the_rest() {
        let mut s = Collect {
            stop_if: Some(b"STOP"),
            ..Default::default()
        };
        let out = run(&[b"a\n\nSTOP\n\nb\n\n", b"c\n\n"], &mut s);
        assert_eq!(out, b"a\n\n");
        assert_eq!(s.blocks.len(), 2);
    }

    #[test]
    fn oversized_events_fail_whatever_the_split() {
        let mut s = Collect::default();
        // the size counts the event's lines with their line endings, not the blank line
        let mut f = Framer::new(9);
        assert!(f.feed(b"data: 12\n\n", &mut s, None).is_ok());
        assert!(f.feed(b"data: 123\n\n", &mut s, None).is_err());
        let mut f = Framer::new(9);
        assert!(f.feed(b"data: ", &mut s, None).is_ok());
        assert!(f.feed(b"123", &mut s, None).is_ok());
        assert!(f.feed(b"4", &mut s, None).is_err());
        assert_eq!(f.buffered(), 0);
        assert!(f.feed(b"\n\n", &mut s, None).is_err(), "failure is sticky");
    }

    #[test]
    fn memory_of_a_large_event_is_released_once_it_completes() {
        let mut f = Framer::new(1 << 20);
        let mut s = Collect::default();
        f.feed(&[b'x'; 100_000], &mut s, None).unwrap();
        assert_eq!(f.buffered(), 100_000);
        f.feed(b"\n\n", &mut s, None).unwrap();
        assert_eq!((f.buffered(), f.held.capacity()), (0, 0));
        assert_eq!(s.blocks[0].len(), 100_002);
    }

    #[test]
    fn fields() {
        let mut got = Vec::new();
        for_each_field(
            b": c\ndata:x\r\ndata\rid:  y\nevent: e:f\n\nnot: seen\n",
            |n, v| {
                got.push((n.to_vec(), v.to_vec()));
            },
        );
        let want: Vec<(Vec<u8>, Vec<u8>)> =
            [("data", "x"), ("data", ""), ("id", " y"), ("event", "e:f")]
                .iter()
                .map(|(a, b)| (a.as_bytes().to_vec(), b.as_bytes().to_vec()))
                .collect();
        assert_eq!(got, want);
    }
}
