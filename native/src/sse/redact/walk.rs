//! The structural walk of one chat-chunk event and the JSON string helpers it needs: fields are
//! found by scanning (strings skipped with `memchr`, nested values by depth), never by parsing
//! the event into values.

use memchr::memchr;

use super::*;

/// Walks one chunk object, planning its choices into `w`. `None` if it is not a JSON object;
/// otherwise whether it has a top-level `choices` array (`w.has_choices`: a non-empty one).
pub(super) fn walk_event(json: &[u8], w: &mut Work) -> Option<bool> {
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

pub(super) fn walk_choice(c: &mut Cur<'_>, w: &mut Work) -> Option<ChoicePlan> {
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
pub(super) fn parse_index(v: &[u8]) -> i64 {
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
pub(super) enum Key {
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
pub(super) struct Cur<'a> {
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
pub(super) fn quote_or_backslash(b: &[u8], mut i: usize) -> Option<usize> {
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
pub(super) fn unescape(raw: &[u8], escaped: bool, out: &mut String) -> Option<()> {
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

/// Appends `s` as a JSON string: quote, backslash and control chars escaped, the rest as is.
pub(super) fn push_json_str(s: &str, out: &mut Vec<u8>) {
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
