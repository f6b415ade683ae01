//! Incremental SSE decoder following the WHATWG event-stream interpretation rules.
//!
//! Choices where the spec leaves room or the API differs from a browser:
//! * an event is dispatched only if its block has at least one `data` field (spec);
//! * `event` is `None` when absent or empty (a browser would report "message");
//! * `id` is the last-event-ID buffer at dispatch, so it carries over to later events (spec);
//!   an `id` value containing NUL is ignored (spec);
//! * `retry` is reported on the event whose block set it; a value that is empty, not all ASCII
//!   digits, or beyond `u64` is ignored;
//! * `data` stays raw bytes (not UTF-8 decoded); `event` and `id` are decoded lossily;
//! * at end of stream an unterminated final event is discarded (spec), see [`Decoder::finish`].

use super::frame::{for_each_field, recycle, BlockSink, Framer, Verdict};
use super::SseError;

/// A decoded event, borrowing from the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef<'a> {
    /// Raw value of the last non-empty `event` field.
    pub event: Option<&'a [u8]>,
    pub data: &'a [u8],
    pub id: Option<&'a str>,
    pub retry: Option<u64>,
}

/// An owned decoded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub event: Option<String>,
    pub data: Vec<u8>,
    pub id: Option<String>,
    pub retry: Option<u64>,
}

impl From<EventRef<'_>> for Event {
    fn from(e: EventRef<'_>) -> Self {
        Self {
            event: e.event.map(|v| String::from_utf8_lossy(v).into_owned()),
            data: e.data.to_vec(),
            id: e.id.map(str::to_owned),
            retry: e.retry,
        }
    }
}

#[derive(Debug)]
pub struct Decoder {
    framer: Framer,
    fields: Fields,
}

#[derive(Debug, Default)]
struct Fields {
    last_id: Option<String>,
    /// Joined data when an event has several `data` lines.
    scratch: Vec<u8>,
}

impl Decoder {
    pub fn new(max_event_bytes: usize) -> Self {
        Self {
            framer: Framer::new(max_event_bytes),
            fields: Fields::default(),
        }
    }

    /// Feeds one chunk and calls `f` for each event it completes, in order.
    pub fn feed_with(&mut self, chunk: &[u8], f: impl FnMut(EventRef<'_>)) -> Result<(), SseError> {
        let mut sink = Dispatch {
            fields: &mut self.fields,
            f,
        };
        let r = self.framer.feed(chunk, &mut sink, None).map(|_| ());
        recycle(&mut self.fields.scratch);
        r
    }

    /// Feeds one chunk and returns the events it completes.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Event>, SseError> {
        let mut events = Vec::new();
        self.feed_with(chunk, |e| events.push(e.into()))?;
        Ok(events)
    }

    /// End of stream. An unterminated final event is discarded, as the WHATWG spec requires
    /// (a browser would never see it), so this returns nothing; it exists so that callers mark
    /// EOF explicitly and the pending bytes are released. Later feeds start on a fresh line.
    pub fn finish(&mut self) -> Vec<Event> {
        drop(self.framer.take_held());
        Vec::new()
    }

    /// Bytes held waiting for the end of their event.
    pub fn buffered(&self) -> usize {
        self.framer.buffered()
    }
}

struct Dispatch<'s, F> {
    fields: &'s mut Fields,
    f: F,
}

impl<F: FnMut(EventRef<'_>)> BlockSink for Dispatch<'_, F> {
    fn block(&mut self, block: &[u8]) -> Verdict {
        if let Some(e) = self.fields.parse(block) {
            (self.f)(e);
        }
        Verdict::Keep
    }
}

impl Fields {
    fn parse<'a>(&'a mut self, block: &'a [u8]) -> Option<EventRef<'a>> {
        let mut data: Option<&[u8]> = None;
        let mut joined = false;
        let mut event: Option<&[u8]> = None;
        let mut retry = None;
        let scratch = &mut self.scratch;
        let last_id = &mut self.last_id;
        scratch.clear();
        for_each_field(block, |name, value| match name {
            b"data" => match data {
                None => data = Some(value),
                Some(first) => {
                    if !joined {
                        scratch.extend_from_slice(first);
                        joined = true;
                    }
                    scratch.push(b'\n');
                    scratch.extend_from_slice(value);
                }
            },
            b"event" => event = Some(value),
            b"id" if memchr::memchr(0, value).is_none() => {
                *last_id = Some(String::from_utf8_lossy(value).into_owned());
            }
            b"retry" => retry = parse_retry(value).or(retry),
            _ => {}
        });
        let data = if joined { &self.scratch[..] } else { data? };
        Some(EventRef {
            event: event.filter(|e| !e.is_empty()),
            data,
            id: self.last_id.as_deref(),
            retry,
        })
    }
}

fn parse_retry(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    value.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: Option<&str>, data: &str, id: Option<&str>, retry: Option<u64>) -> Event {
        Event {
            event: event.map(Into::into),
            data: data.into(),
            id: id.map(Into::into),
            retry,
        }
    }

    fn data(d: &str) -> Event {
        ev(None, d, None, None)
    }

    fn decode(chunks: &[&[u8]]) -> Vec<Event> {
        let mut d = Decoder::new(1 << 20);
        let mut all = Vec::new();
        for c in chunks {
            all.extend(d.feed(c).unwrap());
        }
        all.extend(d.finish());
        all
    }

    #[test]
    fn line_endings_lf_crlf_cr_mixed() {
        let want = vec![data("a"), data("b"), data("c"), data("d")];
        assert_eq!(
            decode(&[b"data: a\n\ndata: b\r\n\r\ndata: c\r\rdata: d\r\n\n"]),
            want
        );
    }

    #[test]
    fn cr_lf_split_across_chunks_is_one_line_ending() {
        let want = vec![data("a"), data("b")];
        assert_eq!(
            decode(&[b"data: a\r", b"\n", b"\r", b"\ndata: b\r\n\r\n"]),
            want
        );
        assert_eq!(
            decode(&[b"data: a\r", b"\r", b"data: b\r", b"\n\r\n"]),
            want
        );
        // an LF completing a CR is not a blank line
        assert_eq!(
            decode(&[b"data: a\r", b"\ndata: b\n\n"]),
            vec![data("a\nb")]
        );
    }

    #[test]
    fn every_split_gives_the_same_events() {
        let stream: &[u8] =
            b"\xEF\xBB\xBF: hi\r\ndata: a\r\ndata\r\n\r\nevent: e\rid: 7\rretry: 5\rdata:b\r\r\ndata: c\n\n";
        let whole = decode(&[stream]);
        assert_eq!(whole.len(), 3);
        for i in 0..=stream.len() {
            for j in i..=stream.len() {
                let parts = [&stream[..i], &stream[i..j], &stream[j..]];
                assert_eq!(decode(&parts), whole, "split at {i},{j}");
            }
        }
    }

    #[test]
    fn bom_at_stream_start_only() {
        assert_eq!(decode(&[b"\xEF\xBB\xBFdata: a\n\n"]), vec![data("a")]);
        assert_eq!(
            decode(&[b"\xEF", b"\xBB", b"\xBFdata: a\n\n"]),
            vec![data("a")]
        );
        // a second BOM is part of the field name, so the line is an unknown field
        assert_eq!(decode(&[b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\n"]), vec![]);
    }

    #[test]
    fn comments_and_unknown_fields_are_ignored() {
        assert_eq!(
            decode(&[b": ping\n\n:\nfoo: bar\ndata: x\n\n"]),
            vec![data("x")]
        );
    }

    #[test]
    fn multi_line_data_and_empty_data() {
        assert_eq!(
            decode(&[b"data: a\ndata:\ndata:  b\n\n"]),
            vec![data("a\n\n b")]
        );
        assert_eq!(decode(&[b"data\n\n"]), vec![data("")]);
        assert_eq!(decode(&[b"data:\n\n"]), vec![data("")]);
    }

    #[test]
    fn only_one_space_after_colon_is_removed() {
        assert_eq!(
            decode(&[b"data:x\n\ndata:  y\n\n"]),
            vec![data("x"), data(" y")]
        );
    }

    #[test]
    fn blocks_without_data_are_not_dispatched() {
        assert_eq!(decode(&[b"event: e\nid: 1\nretry: 9\n\n"]), vec![]);
    }

    #[test]
    fn event_type_id_and_retry() {
        let got = decode(&[
            b"event: a\nevent: b\ndata: 1\n\n",
            b"event:\ndata: 2\n\n",
            b"id: x\ndata: 3\n\n",
            b"data: 4\n\n",
            b"id: y\0z\ndata: 5\n\n",
            b"id\ndata: 6\n\n",
            b"retry: 10\ndata: 7\n\n",
            b"retry: 1x\ndata: 8\n\n",
            b"retry: 99999999999999999999999\ndata: 9\n\n",
            b"retry:\ndata: 10\n\n",
        ]);
        let want = vec![
            ev(Some("b"), "1", None, None),
            ev(None, "2", None, None),
            ev(None, "3", Some("x"), None),
            ev(None, "4", Some("x"), None),
            ev(None, "5", Some("x"), None),
            ev(None, "6", Some(""), None),
            ev(None, "7", Some(""), Some(10)),
            ev(None, "8", Some(""), None),
            ev(None, "9", Some(""), None),
            ev(None, "10", Some(""), None),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn unterminated_final_event_is_discarded() {
        let mut d = Decoder::new(100);
        assert_eq!(d.feed(b"data: a\n\ndata: b\n").unwrap(), vec![data("a")]);
        assert_eq!(d.buffered(), 8);
        assert_eq!(d.finish(), vec![]);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn done_is_plain_data_for_the_decoder() {
        assert_eq!(decode(&[b"data: [DONE]\n\n"]), vec![data("[DONE]")]);
    }

    #[test]
    fn max_event_bytes() {
        // the size counts the event's lines with their line endings, not the blank line
        let mut d = Decoder::new(11);
        assert_eq!(d.feed(b"data: 1234\n\n").unwrap(), vec![data("1234")]);
        let err = d.feed(b"data: 12345\n\n").unwrap_err();
        assert_eq!(
            err,
            SseError::EventTooLarge {
                size: 12,
                limit: 11
            }
        );
        let mut d = Decoder::new(10);
        d.feed(b"data: 12").unwrap();
        assert!(d.feed(b"34567").is_err());
        assert_eq!(d.buffered(), 0);
        assert!(d.feed(b"\n\n").is_err());
    }
}
