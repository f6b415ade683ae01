//! The text as the detectors see it: bytes that may be only a prefix of the final text (a
//! stream), and byte classes.
//!
//! Every forward read goes through [`Hay::get`]. A read past the end of a prefix marks the hay
//! *starved*: the detector's answer at that position could change with more text, so the stream
//! holds that position back. This is what makes streamed redaction equal whole-text redaction
//! without each detector having its own "could this still grow" logic.

use std::cell::Cell;

pub(crate) const DIGIT: u16 = 1;
pub(crate) const UPPER: u16 = 1 << 1;
pub(crate) const LOWER: u16 = 1 << 2;
pub(crate) const HEX: u16 = 1 << 3;
/// `[A-Za-z0-9._%+-]`: e-mail local part.
pub(crate) const LOCAL: u16 = 1 << 4;
/// `[A-Za-z0-9.-]`: domain names.
pub(crate) const DOMAIN: u16 = 1 << 5;
/// `[A-Za-z0-9_-]`: API keys, base64url.
pub(crate) const TOKEN: u16 = 1 << 6;
/// `[A-Za-z0-9+/=]`, whitespace, `:`, `,`, `-`: PEM bodies (with encrypted-key headers).
pub(crate) const PEM: u16 = 1 << 7;
/// `[A-Za-z0-9._~+/=-]`: bearer token characters (RFC 6750 b64token).
pub(crate) const B64TOKEN: u16 = 1 << 8;
/// ASCII letters, digits and `_`: the word characters of boundaries.
pub(crate) const WORD: u16 = 1 << 9;
/// The space character (PEM labels).
pub(crate) const SPACE: u16 = 1 << 10;
pub(crate) const ALNUM: u16 = DIGIT | UPPER | LOWER;

static CLASS: [u16; 256] = build_classes();

const fn build_classes() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut c = 0;
    while c < 128 {
        let b = c as u8;
        let mut k = 0;
        if b.is_ascii_digit() {
            k |= DIGIT | HEX;
        }
        if b.is_ascii_uppercase() {
            k |= UPPER;
        }
        if b.is_ascii_lowercase() {
            k |= LOWER;
        }
        if matches!(b, b'a'..=b'f' | b'A'..=b'F') {
            k |= HEX;
        }
        let alnum = b.is_ascii_alphanumeric();
        if alnum || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-') {
            k |= LOCAL;
        }
        if alnum || matches!(b, b'.' | b'-') {
            k |= DOMAIN;
        }
        if alnum || matches!(b, b'_' | b'-') {
            k |= TOKEN;
        }
        if alnum
            || matches!(
                b,
                b'+' | b'/' | b'=' | b' ' | b'\t' | b'\r' | b'\n' | b':' | b',' | b'-'
            )
        {
            k |= PEM;
        }
        if alnum || matches!(b, b'.' | b'_' | b'~' | b'+' | b'/' | b'=' | b'-') {
            k |= B64TOKEN;
        }
        if alnum || b == b'_' {
            k |= WORD;
        }
        if b == b' ' {
            k |= SPACE;
        }
        t[c] = k;
        c += 1;
    }
    t
}

#[inline]
pub(crate) fn class(b: u8) -> u16 {
    CLASS[usize::from(b)]
}

#[inline]
pub(crate) fn is(b: Option<u8>, k: u16) -> bool {
    b.is_some_and(|b| class(b) & k != 0)
}

/// Length of the UTF-8 sequence led by `b` (1 for ASCII and for stray continuation bytes).
#[inline]
pub(crate) fn utf8_width(b: u8) -> usize {
    match b {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// Decodes the char of valid UTF-8 `bytes` that starts at `i`.
fn char_at(bytes: &[u8], i: usize) -> Option<char> {
    let end = (i + utf8_width(bytes[i])).min(bytes.len());
    std::str::from_utf8(&bytes[i..end]).ok()?.chars().next()
}

/// Stands for a non-ASCII char in the ASCII class tests of the detectors: a letter or digit
/// (any script) is a word character (`a`), anything else (emoji, punctuation) is not (space).
fn ascii_stand_in(c: Option<char>) -> u8 {
    match c {
        Some(c) if c.is_alphanumeric() => b'a',
        _ => b' ',
    }
}

pub(crate) struct Hay<'a> {
    pub(crate) b: &'a [u8],
    /// The text ends at `b.len()` (else more may follow).
    pub(crate) eof: bool,
    starved: Cell<bool>,
    /// The first `@` at or after the position it was last looked up from (`b.len()` if none).
    next_at_sign: Cell<usize>,
}

impl<'a> Hay<'a> {
    pub(crate) fn new(b: &'a [u8], eof: bool) -> Self {
        Self {
            b,
            eof,
            starved: Cell::new(false),
            next_at_sign: Cell::new(0),
        }
    }

    /// Whether an `@` may be at most `within` bytes after `s` (or the text ends before that, so
    /// that a detector reading on must see the end). One `memchr` per `@`, not per word.
    #[inline]
    pub(crate) fn at_sign_within(&self, s: usize, within: usize) -> bool {
        if self.next_at_sign.get() < s {
            let next = memchr::memchr(b'@', &self.b[s..]).map_or(self.b.len(), |k| s + k);
            self.next_at_sign.set(next);
        }
        self.next_at_sign.get() <= s + within
    }

    /// The byte at `j`, `None` past the end (and then, before the end of a stream, starved).
    #[inline]
    pub(crate) fn get(&self, j: usize) -> Option<u8> {
        match self.b.get(j) {
            Some(&c) => Some(c),
            None => {
                if !self.eof {
                    self.starved.set(true);
                }
                None
            }
        }
    }

    /// Whether a read since the last call went past the end of an unfinished text.
    #[inline]
    pub(crate) fn take_starved(&self) -> bool {
        self.starved.replace(false)
    }

    /// The char before `i` as one ASCII byte (non-ASCII through [`ascii_stand_in`]); a space at
    /// the start of the text.
    #[inline]
    pub(crate) fn prev(&self, i: usize) -> u8 {
        match i.checked_sub(1).map(|j| self.b[j]) {
            None => b' ',
            Some(c) if c < 0x80 => c,
            Some(_) => {
                let mut j = i - 1;
                while j > 0 && self.b[j] & 0xC0 == 0x80 {
                    j -= 1;
                }
                ascii_stand_in(char_at(self.b, j))
            }
        }
    }

    /// The char at `j` as one ASCII byte like [`Hay::prev`]; `None` past the end.
    #[inline]
    pub(crate) fn next(&self, j: usize) -> Option<u8> {
        let c = self.get(j)?;
        if c < 0x80 {
            return Some(c);
        }
        Some(ascii_stand_in(char_at(self.b, j)))
    }

    /// Counts the bytes of class `k` from `j`, at most `max` (reads one more to see the end).
    #[inline]
    pub(crate) fn run(&self, j: usize, k: u16, max: usize) -> usize {
        let mut n = 0;
        while n < max && is(self.get(j + n), k) {
            n += 1;
        }
        n
    }

    /// Whether the bytes from `j` are `lit` (reads only as far as they agree).
    #[inline]
    pub(crate) fn lit(&self, j: usize, lit: &[u8]) -> bool {
        lit.iter()
            .enumerate()
            .all(|(k, &c)| self.get(j + k) == Some(c))
    }

    /// Like [`Hay::lit`], ignoring ASCII case.
    pub(crate) fn lit_nocase(&self, j: usize, lit: &[u8]) -> bool {
        lit.iter()
            .enumerate()
            .all(|(k, &c)| self.get(j + k).is_some_and(|b| b.eq_ignore_ascii_case(&c)))
    }
}
