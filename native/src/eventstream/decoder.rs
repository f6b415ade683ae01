//! Incremental event-stream decoder: whole messages out of arbitrarily split network chunks.
//!
//! Complete messages inside a chunk are decoded in place (no copy); only a message split across
//! chunks is assembled in a buffer, which is sized from its prelude once that has arrived.

use super::crc32::{crc32, update};
use super::EventStreamError;

/// Total length, headers length and prelude CRC.
pub const PRELUDE_BYTES: usize = 12;
const CRC_BYTES: usize = 4;
const MIN_MESSAGE: usize = PRELUDE_BYTES + CRC_BYTES;

/// A header value. Timestamps are milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderValue<'a> {
    Bool(bool),
    Byte(i8),
    Short(i16),
    Int(i32),
    Long(i64),
    Bytes(&'a [u8]),
    String(&'a str),
    Timestamp(i64),
    Uuid([u8; 16]),
}

impl<'a> HeaderValue<'a> {
    /// The value if it is a string.
    pub fn as_str(&self) -> Option<&'a str> {
        match *self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }
}

/// The headers of a decoded message (already validated), in wire order.
#[derive(Debug, Clone, Copy)]
pub struct Headers<'a> {
    raw: &'a [u8],
}

impl<'a> Headers<'a> {
    /// The value of the first header called `name`.
    pub fn get(&self, name: &str) -> Option<HeaderValue<'a>> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The string value of the first header called `name`.
    pub fn str(&self, name: &str) -> Option<&'a str> {
        self.get(name)?.as_str()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'a str, HeaderValue<'a>)> + 'a {
        let mut rest = self.raw;
        std::iter::from_fn(move || {
            let (name, value, tail) = parse_header(rest).ok()??;
            rest = tail;
            Some((name, value))
        })
    }
}

/// One decoded message, borrowing from the chunk or the decoder's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub headers: Headers<'a>,
    pub payload: &'a [u8],
}

#[derive(Debug)]
pub struct Decoder {
    /// A message split across chunks, from its first byte.
    held: Vec<u8>,
    /// Its total length once its prelude is in `held` and valid.
    held_total: Option<usize>,
    max_message_bytes: usize,
    failed: Option<EventStreamError>,
}

impl Decoder {
    pub fn new(max_message_bytes: usize) -> Self {
        Self {
            held: Vec::new(),
            held_total: None,
            max_message_bytes,
            failed: None,
        }
    }

    /// Feeds one chunk and calls `f` for each message it completes, in order. After an error the
    /// decoder holds nothing and every later call returns the same error.
    pub fn feed_with(
        &mut self,
        chunk: &[u8],
        mut f: impl FnMut(Message<'_>),
    ) -> Result<(), EventStreamError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let r = self.feed_inner(chunk, &mut f);
        if let Err(err) = &r {
            self.failed = Some(err.clone());
            self.held = Vec::new();
            self.held_total = None;
        }
        r
    }

    /// Bytes of an incomplete message held back.
    pub fn buffered(&self) -> usize {
        self.held.len()
    }

    /// End of stream: drops an incomplete message and returns how many of its bytes were held
    /// (0 when the stream ended on a message boundary).
    pub fn finish(&mut self) -> usize {
        let n = self.held.len();
        self.held = Vec::new();
        self.held_total = None;
        n
    }

    fn feed_inner(
        &mut self,
        mut chunk: &[u8],
        f: &mut impl FnMut(Message<'_>),
    ) -> Result<(), EventStreamError> {
        if !self.held.is_empty() {
            if self.held_total.is_none() {
                let take = (PRELUDE_BYTES - self.held.len()).min(chunk.len());
                self.held.extend_from_slice(&chunk[..take]);
                chunk = &chunk[take..];
                if self.held.len() < PRELUDE_BYTES {
                    return Ok(());
                }
                let total = self.prelude(&self.held)?;
                self.held.reserve_exact(total - PRELUDE_BYTES);
                self.held_total = Some(total);
            }
            let total = self.held_total.unwrap_or(0);
            let take = (total - self.held.len()).min(chunk.len());
            self.held.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.held.len() < total {
                return Ok(());
            }
            f(parse_message(&self.held)?);
            self.held.clear();
            if self.held.capacity() > 4 * self.max_message_bytes.min(1 << 20) {
                self.held = Vec::new();
            }
            self.held_total = None;
        }
        while !chunk.is_empty() {
            if chunk.len() < PRELUDE_BYTES {
                self.held.extend_from_slice(chunk);
                return Ok(());
            }
            let total = self.prelude(chunk)?;
            if chunk.len() < total {
                self.held.reserve_exact(total);
                self.held.extend_from_slice(chunk);
                self.held_total = Some(total);
                return Ok(());
            }
            f(parse_message(&chunk[..total])?);
            chunk = &chunk[total..];
        }
        Ok(())
    }

    /// Validates a prelude (the first 12 bytes of `bytes`) and returns the message's length.
    fn prelude(&self, bytes: &[u8]) -> Result<usize, EventStreamError> {
        let total = be_u32(bytes, 0);
        let headers = be_u32(bytes, 4);
        let expected = be_u32(bytes, 8);
        let actual = crc32(&bytes[..8]);
        if expected != actual {
            return Err(EventStreamError::PreludeCrc { expected, actual });
        }
        let total_len = total as usize;
        if total_len < MIN_MESSAGE || headers as usize > total_len - MIN_MESSAGE {
            return Err(EventStreamError::BadLengths { total, headers });
        }
        if total_len > self.max_message_bytes {
            return Err(EventStreamError::TooLarge {
                size: total,
                limit: self.max_message_bytes,
            });
        }
        Ok(total_len)
    }
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses a whole message whose prelude was validated (`bytes.len()` is its total length).
fn parse_message(bytes: &[u8]) -> Result<Message<'_>, EventStreamError> {
    let total = bytes.len();
    let headers_len = be_u32(bytes, 4) as usize;
    let expected = be_u32(bytes, total - CRC_BYTES);
    let actual = update(
        crc32(&bytes[..PRELUDE_BYTES]),
        &bytes[PRELUDE_BYTES..total - CRC_BYTES],
    );
    if expected != actual {
        return Err(EventStreamError::MessageCrc { expected, actual });
    }
    let raw = &bytes[PRELUDE_BYTES..PRELUDE_BYTES + headers_len];
    let mut rest = raw;
    while let Some((_, _, tail)) = parse_header(rest)? {
        rest = tail;
    }
    Ok(Message {
        headers: Headers { raw },
        payload: &bytes[PRELUDE_BYTES + headers_len..total - CRC_BYTES],
    })
}

type Parsed<'a> = Option<(&'a str, HeaderValue<'a>, &'a [u8])>;

/// The first header of `b` and what follows it; `None` when `b` is empty.
fn parse_header(b: &[u8]) -> Result<Parsed<'_>, EventStreamError> {
    let Some((&name_len, rest)) = b.split_first() else {
        return Ok(None);
    };
    let name_len = usize::from(name_len);
    if name_len == 0 {
        return Err(EventStreamError::BadHeader("empty name"));
    }
    let (name, rest) = take(rest, name_len)?;
    let name =
        std::str::from_utf8(name).map_err(|_| EventStreamError::BadHeader("name is not UTF-8"))?;
    let (&kind, rest) = rest
        .split_first()
        .ok_or(EventStreamError::BadHeader("cut short"))?;
    let (value, rest) = match kind {
        0 => (HeaderValue::Bool(true), rest),
        1 => (HeaderValue::Bool(false), rest),
        2 => {
            let (v, rest) = take(rest, 1)?;
            (HeaderValue::Byte(v[0] as i8), rest)
        }
        3 => {
            let (v, rest) = take(rest, 2)?;
            (HeaderValue::Short(i16::from_be_bytes([v[0], v[1]])), rest)
        }
        4 => {
            let (v, rest) = take(rest, 4)?;
            (HeaderValue::Int(be_u32(v, 0) as i32), rest)
        }
        5 | 8 => {
            let (v, rest) = take(rest, 8)?;
            let n = i64::from_be_bytes([v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]]);
            let value = if kind == 5 {
                HeaderValue::Long(n)
            } else {
                HeaderValue::Timestamp(n)
            };
            (value, rest)
        }
        6 | 7 => {
            let (len, rest) = take(rest, 2)?;
            let (v, rest) = take(rest, usize::from(u16::from_be_bytes([len[0], len[1]])))?;
            let value = if kind == 6 {
                HeaderValue::Bytes(v)
            } else {
                HeaderValue::String(
                    std::str::from_utf8(v)
                        .map_err(|_| EventStreamError::BadHeader("string value is not UTF-8"))?,
                )
            };
            (value, rest)
        }
        9 => {
            let (v, rest) = take(rest, 16)?;
            let mut uuid = [0u8; 16];
            uuid.copy_from_slice(v);
            (HeaderValue::Uuid(uuid), rest)
        }
        _ => return Err(EventStreamError::BadHeader("unknown value type")),
    };
    Ok(Some((name, value, rest)))
}

fn take(b: &[u8], n: usize) -> Result<(&[u8], &[u8]), EventStreamError> {
    if b.len() < n {
        return Err(EventStreamError::BadHeader("cut short"));
    }
    Ok(b.split_at(n))
}

/// Encodes one message (tests, fuzzing, benchmarks; the gateway only decodes).
///
/// # Panics
/// If a header name is empty or longer than 255 bytes, a string or bytes value is longer than
/// 65,535 bytes, or the message is longer than `u32::MAX` bytes.
pub fn encode(headers: &[(&str, HeaderValue<'_>)], payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    for (name, value) in headers {
        assert!(!name.is_empty(), "empty header name");
        h.push(u8::try_from(name.len()).expect("header name too long"));
        h.extend_from_slice(name.as_bytes());
        match *value {
            HeaderValue::Bool(b) => h.push(if b { 0 } else { 1 }),
            HeaderValue::Byte(v) => {
                h.push(2);
                h.push(v as u8);
            }
            HeaderValue::Short(v) => {
                h.push(3);
                h.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Int(v) => {
                h.push(4);
                h.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Long(v) => {
                h.push(5);
                h.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Bytes(v) => {
                h.push(6);
                h.extend_from_slice(
                    &u16::try_from(v.len())
                        .expect("value too long")
                        .to_be_bytes(),
                );
                h.extend_from_slice(v);
            }
            HeaderValue::String(v) => {
                h.push(7);
                h.extend_from_slice(
                    &u16::try_from(v.len())
                        .expect("value too long")
                        .to_be_bytes(),
                );
                h.extend_from_slice(v.as_bytes());
            }
            HeaderValue::Timestamp(v) => {
                h.push(8);
                h.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Uuid(v) => {
                h.push(9);
                h.extend_from_slice(&v);
            }
        }
    }
    let total = u32::try_from(MIN_MESSAGE + h.len() + payload.len()).expect("message too long");
    let mut m = Vec::with_capacity(total as usize);
    m.extend_from_slice(&total.to_be_bytes());
    m.extend_from_slice(
        &u32::try_from(h.len())
            .expect("headers too long")
            .to_be_bytes(),
    );
    m.extend_from_slice(&crc32(&m).to_be_bytes());
    m.extend_from_slice(&h);
    m.extend_from_slice(payload);
    m.extend_from_slice(&crc32(&m).to_be_bytes());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Owned {
        headers: Vec<(String, String)>,
        payload: Vec<u8>,
    }

    fn owned(m: Message<'_>) -> Owned {
        Owned {
            headers: m
                .headers
                .iter()
                .map(|(n, v)| (n.to_owned(), format!("{v:?}")))
                .collect(),
            payload: m.payload.to_vec(),
        }
    }

    fn decode(chunks: &[&[u8]], limit: usize) -> Result<Vec<Owned>, EventStreamError> {
        let mut d = Decoder::new(limit);
        let mut all = Vec::new();
        for c in chunks {
            d.feed_with(c, |m| all.push(owned(m)))?;
        }
        Ok(all)
    }

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

    #[test]
    fn known_vector() {
        // Prelude CRC computed independently: zlib.crc32(struct.pack(">II", 45, 16)).
        let m = encode(
            &[("event-type", HeaderValue::Int(0x0000_A00C))],
            b"{'foo':'bar'}",
        );
        assert_eq!(m.len(), 45);
        assert_eq!(
            &m[..12],
            &[0, 0, 0, 45, 0, 0, 0, 16, 0x41, 0xC4, 0x24, 0xB8][..]
        );
        let mut d = Decoder::new(1 << 20);
        let mut seen = 0;
        d.feed_with(&m, |msg| {
            seen += 1;
            assert_eq!(msg.headers.get("event-type"), Some(HeaderValue::Int(40972)));
            assert_eq!(msg.payload, b"{'foo':'bar'}");
        })
        .unwrap();
        assert_eq!(seen, 1);
    }

    #[test]
    fn every_header_type_round_trips() {
        let uuid = [7u8; 16];
        let headers = [
            ("t", HeaderValue::Bool(true)),
            ("f", HeaderValue::Bool(false)),
            ("b", HeaderValue::Byte(-2)),
            ("s", HeaderValue::Short(-300)),
            ("i", HeaderValue::Int(-70_000)),
            ("l", HeaderValue::Long(-5_000_000_000)),
            ("y", HeaderValue::Bytes(b"\x00\xff")),
            ("str", HeaderValue::String("h\u{e9}llo")),
            ("ts", HeaderValue::Timestamp(1_700_000_000_123)),
            ("u", HeaderValue::Uuid(uuid)),
        ];
        let m = encode(&headers, b"");
        let mut d = Decoder::new(1 << 20);
        d.feed_with(&m, |msg| {
            let got: Vec<_> = msg.headers.iter().collect();
            assert_eq!(got, headers.to_vec());
            assert_eq!(msg.headers.str("str"), Some("h\u{e9}llo"));
            assert_eq!(msg.headers.str("i"), None);
            assert!(msg.payload.is_empty());
        })
        .unwrap();
    }

    #[test]
    fn every_split_gives_the_same_messages() {
        let stream = [
            event("messageStart", r#"{"role":"assistant"}"#),
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"text":"Hi"}}"#,
            ),
            encode(&[], b""),
            event("messageStop", r#"{"stopReason":"end_turn"}"#),
        ]
        .concat();
        let whole = decode(&[&stream], 1 << 20).unwrap();
        assert_eq!(whole.len(), 4);
        for i in 0..=stream.len() {
            for j in (i..=stream.len()).step_by(5) {
                let parts = [&stream[..i], &stream[i..j], &stream[j..]];
                assert_eq!(decode(&parts, 1 << 20).unwrap(), whole, "split {i},{j}");
            }
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(decode(&bytes, 1 << 20).unwrap(), whole);
    }

    #[test]
    fn partial_message_is_held_and_dropped_at_finish() {
        let m = event("messageStart", r#"{"role":"assistant"}"#);
        let mut d = Decoder::new(1 << 20);
        d.feed_with(&m[..20], |_| panic!("no message yet")).unwrap();
        assert_eq!(d.buffered(), 20);
        assert_eq!(d.finish(), 20);
        assert_eq!(d.buffered(), 0);
        let mut n = 0;
        d.feed_with(&m, |_| n += 1).unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn corrupted_crcs_are_refused_and_failure_is_sticky() {
        let m = event("messageStart", r#"{"role":"assistant"}"#);
        let mut bad = m.clone();
        bad[9] ^= 1;
        assert!(matches!(
            decode(&[&bad], 1 << 20),
            Err(EventStreamError::PreludeCrc { .. })
        ));
        let mut bad = m.clone();
        let at = bad.len() - 6;
        bad[at] ^= 0x20;
        let mut d = Decoder::new(1 << 20);
        let err = d.feed_with(&bad, |_| {}).unwrap_err();
        assert!(matches!(err, EventStreamError::MessageCrc { .. }));
        assert_eq!(d.feed_with(&m, |_| {}), Err(err));
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn bad_lengths_and_oversize() {
        let mut prelude = Vec::new();
        prelude.extend_from_slice(&15u32.to_be_bytes());
        prelude.extend_from_slice(&0u32.to_be_bytes());
        let crc = crc32(&prelude);
        prelude.extend_from_slice(&crc.to_be_bytes());
        assert_eq!(
            decode(&[&prelude], 1 << 20),
            Err(EventStreamError::BadLengths {
                total: 15,
                headers: 0
            })
        );
        let mut prelude = Vec::new();
        prelude.extend_from_slice(&20u32.to_be_bytes());
        prelude.extend_from_slice(&5u32.to_be_bytes());
        let crc = crc32(&prelude);
        prelude.extend_from_slice(&crc.to_be_bytes());
        assert!(matches!(
            decode(&[&prelude[..5], &prelude[5..]], 1 << 20),
            Err(EventStreamError::BadLengths { .. })
        ));
        let m = event("x", &"y".repeat(100));
        assert_eq!(
            decode(&[&m], 64),
            Err(EventStreamError::TooLarge {
                size: m.len() as u32,
                limit: 64
            })
        );
    }

    #[test]
    fn bad_headers_are_refused() {
        // A valid frame around header bytes that do not parse.
        fn frame(headers: &[u8]) -> Vec<u8> {
            let total = (16 + headers.len()) as u32;
            let mut m = Vec::new();
            m.extend_from_slice(&total.to_be_bytes());
            m.extend_from_slice(&(headers.len() as u32).to_be_bytes());
            let crc = crc32(&m);
            m.extend_from_slice(&crc.to_be_bytes());
            m.extend_from_slice(headers);
            let crc = crc32(&m);
            m.extend_from_slice(&crc.to_be_bytes());
            m
        }
        for (headers, why) in [
            (&b"\x00"[..], "empty name"),
            (b"\x05ab", "cut short"),
            (b"\x01a", "cut short"),
            (b"\x01a\x0a", "unknown value type"),
            (b"\x01a\x07\x00\x05ab", "cut short"),
            (b"\x01a\x07\x00\x01\xff", "string value is not UTF-8"),
            (b"\x01\xff\x00", "name is not UTF-8"),
        ] {
            assert_eq!(
                decode(&[&frame(headers)], 1 << 20),
                Err(EventStreamError::BadHeader(why)),
                "{headers:?}"
            );
        }
    }
}
