//! The scanner: built-in detectors and custom patterns in one left-to-right pass.

use regex_automata::hybrid::dfa::Cache;

use super::custom::Custom;
use super::detect;
use super::entity::Kind;
use super::error::PiiError;
use super::hay::{class, utf8_width, Hay, WORD};

/// One entity found: UTF-8 byte offsets into the scanned text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
}

/// An immutable scanner: the built-in detectors plus one tenant's custom patterns and deny
/// words. Shared by all the streams of that tenant.
pub struct Scanner {
    custom: Option<Custom>,
    custom_names: Vec<String>,
}

const MAX_PATTERNS: usize = 1000;

impl Scanner {
    /// `custom_patterns` are `(NAME, regex)` pairs (Rust `regex` syntax, leftmost-first; the
    /// first listed wins at the same start); `deny_words` are matched as whole words (or
    /// phrases), case-insensitively.
    pub fn new(
        custom_patterns: &[(String, String)],
        deny_words: &[String],
    ) -> Result<Self, PiiError> {
        if custom_patterns.len() > MAX_PATTERNS {
            return Err(PiiError::TooManyPatterns);
        }
        let mut custom_names: Vec<String> = Vec::with_capacity(custom_patterns.len());
        for (name, _) in custom_patterns {
            let valid = name.len() <= 40
                && name.bytes().next().is_some_and(|c| c.is_ascii_uppercase())
                && name
                    .bytes()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
                && !Kind::BUILTIN.iter().any(|k| k.builtin_name() == Some(name))
                && !custom_names.contains(name);
            if !valid {
                return Err(PiiError::BadName(name.clone()));
            }
            custom_names.push(name.clone());
        }
        Ok(Self {
            custom: Custom::new(custom_patterns, deny_words)?,
            custom_names,
        })
    }

    /// The stable name of a kind: built-in (`EMAIL`, ...) or custom pattern name.
    pub fn kind_name(&self, kind: Kind) -> &str {
        match kind {
            Kind::Custom(i) => &self.custom_names[usize::from(i)],
            k => k.builtin_name().unwrap_or_default(),
        }
    }

    /// The kind of a name given by [`Scanner::kind_name`].
    pub fn kind_by_name(&self, name: &str) -> Option<Kind> {
        self.kinds().find(|&k| self.kind_name(k) == name)
    }

    /// Every kind this scanner can report (built-ins, then custom patterns), in index order.
    pub fn kinds(&self) -> impl Iterator<Item = Kind> + '_ {
        (0..Kind::BUILTIN.len() + self.custom_names.len()).map(Kind::from_index)
    }

    /// Number of kinds (the length of per-kind tables).
    pub fn kind_count(&self) -> usize {
        Kind::BUILTIN.len() + self.custom_names.len()
    }

    /// The entities of a whole text, in order, not overlapping.
    pub fn scan(&self, text: &str) -> Vec<Span> {
        let mut spans = Vec::new();
        self.scan_from(text.as_bytes(), 0, true, None, &mut spans);
        spans
    }

    /// A cache for the stream tail checks of custom patterns (`None` without them).
    pub(crate) fn new_cache(&self) -> Option<Cache> {
        self.custom.as_ref().and_then(Custom::new_cache)
    }

    /// Appends the entities starting at or after `from` to `out`; `text[..from]` is context only
    /// (detectors look back at most six bytes from a start: the char before for word boundaries,
    /// six ASCII bytes before grouped numbers). `text` is the whole text when `eof`,
    /// else a prefix of it: then the scan stops at the first position whose answer could change
    /// with more text. Returns where it stopped (`text.len()` when nothing is pending): every
    /// span before it is final and ends at or before it.
    pub(crate) fn scan_from(
        &self,
        text: &[u8],
        from: usize,
        eof: bool,
        cache: Option<&mut Cache>,
        out: &mut Vec<Span>,
    ) -> usize {
        let n = text.len();
        let h = Hay::new(text, eof);
        let custom = self.custom.as_ref();
        let limit = match custom {
            Some(c) if !eof => c.pending(text, from, cache).unwrap_or(n),
            _ => n,
        };
        let mut next_custom = custom.and_then(|c| c.next(text, from));
        let mut i = from;
        while i < n {
            if i >= limit {
                return i;
            }
            let c = text[i];
            let mut best = if c < 0x80 { detect::at(&h, i) } else { None };
            if h.take_starved() {
                return i;
            }
            if let Some((cs, ce, ck)) = next_custom {
                if cs == i
                    && best.is_none_or(|(be, bk)| ce > be || (ce == be && ck.rank() < bk.rank()))
                {
                    best = Some((ce, ck));
                }
            }
            match best {
                Some((end, kind)) => {
                    out.push(Span {
                        start: i,
                        end,
                        kind,
                    });
                    i = end;
                    if next_custom.is_some_and(|(cs, _, _)| cs < i) {
                        next_custom = custom.and_then(|c| c.next(text, i));
                    }
                }
                None => {
                    let mut next = i + utf8_width(c);
                    // The rest of an ASCII word: no built-in entity starts inside one (each wants
                    // a boundary before it, but PEM's "-" is not a word byte).
                    if class(c) & WORD != 0 {
                        let stop = next_custom.map_or(n, |(cs, _, _)| cs.max(next)).min(n);
                        while next < stop && class(text[next]) & WORD != 0 {
                            next += 1;
                        }
                    }
                    i = next;
                }
            }
        }
        n
    }
}
