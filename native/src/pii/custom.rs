//! Per-tenant patterns and deny words: one multi-pattern regex (leftmost-first), and its lazy
//! DFA, walked anchored from each position of a stream's tail to tell whether a match starting
//! there could still change with more text.

use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::meta::Regex;
use regex_automata::util::start;
use regex_automata::{Anchored, Input, MatchKind};

use super::entity::Kind;
use super::error::PiiError;
use super::hay::utf8_width;
use super::{MAX_CUSTOM_BYTES, MAX_DENY_WORD_CHARS};

/// Bytes after a capped match that its look-ahead (`\b`, `$`) may read: one char.
const LOOKAHEAD: usize = 4;

pub(crate) struct Custom {
    regex: Regex,
    /// `None` when the lazy DFA cannot be built (size limits): streams then hold back the last
    /// `MAX_CUSTOM_BYTES` whole.
    dfa: Option<DFA>,
    /// Pattern index of the deny-word alternation (the last pattern), if any.
    deny: Option<usize>,
}

impl Custom {
    /// `None` when there is nothing to search for.
    pub(crate) fn new(
        patterns: &[(String, String)],
        deny_words: &[String],
    ) -> Result<Option<Self>, PiiError> {
        let mut all: Vec<String> = Vec::with_capacity(patterns.len() + 1);
        for (name, pattern) in patterns {
            // Compiled alone first, for an error that names the pattern.
            let alone = Regex::new(pattern).map_err(|e| PiiError::BadPattern {
                name: name.clone(),
                message: build_error(&e),
            })?;
            // At the same start the first pattern wins, even with an empty match: one that
            // matches nothing would hide the others.
            if alone.is_match("") {
                return Err(PiiError::BadPattern {
                    name: name.clone(),
                    message: "matches the empty string".into(),
                });
            }
            all.push(ascii_word_boundaries(pattern));
        }
        let deny = if deny_words.is_empty() {
            None
        } else {
            let words = deny_words
                .iter()
                .map(|w| deny_pattern(w))
                .collect::<Result<Vec<_>, _>>()?;
            all.push(words.join("|"));
            Some(all.len() - 1)
        };
        if all.is_empty() {
            return Ok(None);
        }
        let regex = Regex::new_many(&all).map_err(|e| PiiError::BadPattern {
            name: "(all patterns)".into(),
            message: build_error(&e),
        })?;
        let dfa = DFA::builder()
            .configure(
                DFA::config()
                    .match_kind(MatchKind::LeftmostFirst)
                    .unicode_word_boundary(true),
            )
            .build_many(&all)
            .ok();
        Ok(Some(Self { regex, dfa, deny }))
    }

    fn kind(&self, pattern: usize) -> Kind {
        if Some(pattern) == self.deny {
            Kind::DenyWord
        } else {
            Kind::Custom(pattern as u16)
        }
    }

    /// A cache for [`Custom::pending`] (one per stream).
    pub(crate) fn new_cache(&self) -> Option<Cache> {
        self.dfa.as_ref().map(DFA::create_cache)
    }

    /// The non-empty match with the leftmost start `s >= from`, as `(start, end, kind)`: the
    /// leftmost-first match there, searched within `MAX_CUSTOM_BYTES` of `s` when longer.
    pub(crate) fn next(&self, hay: &[u8], mut from: usize) -> Option<(usize, usize, Kind)> {
        while from <= hay.len() {
            let m = self.regex.search(&Input::new(hay).range(from..))?;
            let s = m.start();
            let m = if m.len() > MAX_CUSTOM_BYTES {
                let cap = floor_char_boundary(hay, s + MAX_CUSTOM_BYTES);
                let input = Input::new(hay).range(s..cap).anchored(Anchored::Yes);
                self.regex.search(&input)
            } else {
                Some(m)
            };
            match m {
                Some(m) if !m.is_empty() => {
                    return Some((s, m.end(), self.kind(m.pattern().as_usize())))
                }
                _ if s < hay.len() => from = s + utf8_width(hay[s]),
                _ => return None,
            }
        }
        None
    }

    /// In a stream prefix `hay` (more text may follow): the first start `s >= from` whose match
    /// could still change with more text, i.e. where the anchored DFA is still alive at the end.
    /// Starts more than `MAX_CUSTOM_BYTES + LOOKAHEAD` before the end are final whatever follows.
    pub(crate) fn pending(
        &self,
        hay: &[u8],
        from: usize,
        cache: Option<&mut Cache>,
    ) -> Option<usize> {
        let n = hay.len();
        let mut s = from.max(n.saturating_sub(MAX_CUSTOM_BYTES + LOOKAHEAD));
        while s < n && hay[s] & 0xC0 == 0x80 {
            s += 1;
        }
        let (Some(dfa), Some(cache)) = (&self.dfa, cache) else {
            return (s < n).then_some(s);
        };
        while s < n {
            if !dead_before_end(dfa, cache, hay, s) {
                return Some(s);
            }
            s += utf8_width(hay[s]);
        }
        None
    }
}

/// Whether the anchored search from `s` is over before the end of `hay` (its outcome cannot
/// change). A DFA that gives up (a non-ASCII byte with a Unicode `\b`, a full cache) counts as
/// not over: holding back is always safe.
fn dead_before_end(dfa: &DFA, cache: &mut Cache, hay: &[u8], s: usize) -> bool {
    let config = start::Config::new()
        .anchored(Anchored::Yes)
        .look_behind(s.checked_sub(1).map(|j| hay[j]));
    let Ok(mut sid) = dfa.start_state(cache, &config) else {
        return false;
    };
    for &b in &hay[s..] {
        match dfa.next_state(cache, sid, b) {
            Ok(next) if next.is_dead() => return true,
            Ok(next) if !next.is_quit() => sid = next,
            _ => return false,
        }
    }
    // A match that no byte can extend is over too (the DFA itself would only go dead one byte
    // later): "darkstar!" need not wait for the char after "!".
    sid.is_match()
        && dfa
            .byte_classes()
            .representatives(..)
            .filter_map(|unit| unit.as_u8())
            .all(|b| {
                dfa.next_state(cache, sid, b)
                    .is_ok_and(|next| next.is_dead())
            })
}

/// `pattern` with its word boundaries (`\b`, `\b{start}`, ...) made ASCII: `(?-u:\b)`. A
/// Unicode boundary makes the lazy DFA give up at every non-ASCII byte, and then a stream over
/// non-ASCII text would hold back `MAX_CUSTOM_BYTES` after every such char. Letters and digits
/// of other scripts still match `\w` and friends; only the boundary test next to them is ASCII
/// (so "EMP-123456é" matches `\bEMP-\d{6}\b`). `\B` stays Unicode (an ASCII `\B` may split a
/// char). Unchanged if the rewrite does not parse back.
fn ascii_word_boundaries(pattern: &str) -> String {
    use regex_syntax::ast::{self, Ast};

    fn walk(node: &mut Ast) {
        match node {
            Ast::Assertion(a)
                if a.kind != ast::AssertionKind::NotWordBoundary
                    && !matches!(
                        a.kind,
                        ast::AssertionKind::StartLine
                            | ast::AssertionKind::EndLine
                            | ast::AssertionKind::StartText
                            | ast::AssertionKind::EndText
                    ) =>
            {
                let span = a.span;
                let item = |kind| ast::FlagsItem { span, kind };
                let flags = ast::Flags {
                    span,
                    items: vec![
                        item(ast::FlagsItemKind::Negation),
                        item(ast::FlagsItemKind::Flag(ast::Flag::Unicode)),
                    ],
                };
                let inner = std::mem::replace(node, Ast::empty(span));
                *node = Ast::group(ast::Group {
                    span,
                    kind: ast::GroupKind::NonCapturing(flags),
                    ast: Box::new(inner),
                });
            }
            Ast::Repetition(r) => walk(&mut r.ast),
            Ast::Group(g) => walk(&mut g.ast),
            Ast::Alternation(a) => a.asts.iter_mut().for_each(walk),
            Ast::Concat(c) => c.asts.iter_mut().for_each(walk),
            _ => {}
        }
    }

    let Ok(mut tree) = ast::parse::Parser::new().parse(pattern) else {
        return pattern.to_owned();
    };
    walk(&mut tree);
    let mut out = String::new();
    if ast::print::Printer::new().print(&tree, &mut out).is_err() || Regex::new(&out).is_err() {
        return pattern.to_owned();
    }
    out
}

/// The parser's message (with the position) rather than the builder's "error parsing pattern 0".
fn build_error(e: &regex_automata::meta::BuildError) -> String {
    match e.syntax_error() {
        Some(syntax) => syntax.to_string(),
        None => e.to_string(),
    }
}

fn floor_char_boundary(hay: &[u8], mut i: usize) -> usize {
    i = i.min(hay.len());
    while i < hay.len() && i > 0 && hay[i] & 0xC0 == 0x80 {
        i -= 1;
    }
    i
}

/// One deny word as a case-insensitive regex: literal text, runs of whitespace matching any
/// whitespace, and a word boundary at each end that is a word character. ASCII words get ASCII
/// boundaries (so that streams over non-ASCII text need not hold back for them).
fn deny_pattern(word: &str) -> Result<String, PiiError> {
    let word = word.trim();
    let chars = word.chars().count();
    if chars == 0 || chars > MAX_DENY_WORD_CHARS {
        return Err(PiiError::BadDenyWord(word.into()));
    }
    let boundary = if word.is_ascii() { r"(?-u:\b)" } else { r"\b" };
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let mut p = String::from("(?i:");
    if is_word(word.chars().next()) {
        p.push_str(boundary);
    }
    let mut in_space = false;
    for c in word.chars() {
        if c.is_whitespace() {
            if !in_space {
                p.push_str(r"\s+");
            }
            in_space = true;
            continue;
        }
        in_space = false;
        if r"\.+*?()|[]{}^$#&-~".contains(c) {
            p.push('\\');
        }
        p.push(c);
    }
    if is_word(word.chars().last()) {
        p.push_str(boundary);
    }
    p.push(')');
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(patterns: &[(&str, &str)], deny: &[&str]) -> Custom {
        let p: Vec<(String, String)> = patterns
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let d: Vec<String> = deny.iter().map(|w| w.to_string()).collect();
        Custom::new(&p, &d).unwrap().unwrap()
    }

    #[test]
    fn deny_words_are_whole_words_any_case() {
        let c = custom(&[], &["Falcon", "project  x", "c++"]);
        let hay = b"falcons FALCON project\tX c++!";
        assert_eq!(c.next(hay, 0), Some((8, 14, Kind::DenyWord)));
        assert_eq!(c.next(hay, 14), Some((15, 24, Kind::DenyWord)));
        assert_eq!(c.next(hay, 24), Some((25, 28, Kind::DenyWord)));
        assert_eq!(c.next(hay, 28), None);
    }

    #[test]
    fn custom_patterns_and_caps() {
        let c = custom(&[("EMPLOYEE_ID", r"EMP-\d{6}"), ("ANY", r"x+|\bb*")], &[]);
        assert_eq!(c.next(b"id EMP-123456.", 0), Some((3, 13, Kind::Custom(0))));
        // Empty matches are skipped; a long match is searched again within the cap.
        let long = "x".repeat(MAX_CUSTOM_BYTES * 2);
        assert_eq!(
            c.next(long.as_bytes(), 0),
            Some((0, MAX_CUSTOM_BYTES, Kind::Custom(1)))
        );
        assert_eq!(c.next(b"b", 0), Some((0, 1, Kind::Custom(1))));
        assert_eq!(c.next(b" ", 0), None);
        for bad in ["(", "a*"] {
            assert!(matches!(
                Custom::new(&[("BAD".into(), bad.into())], &[]),
                Err(PiiError::BadPattern { .. })
            ));
        }
    }

    #[test]
    fn word_boundaries_become_ascii() {
        assert_eq!(
            ascii_word_boundaries(r"\bEMP-\d{6}\b"),
            r"(?-u:\b)EMP-\d{6}(?-u:\b)"
        );
        assert_eq!(
            ascii_word_boundaries(r"(a|\b{start}x)+\B\\b"),
            r"(a|(?-u:\b{start})x)+\B\\b"
        );
        let c = custom(&[("ID", r"\bEMP-\d{6}\b")], &[]);
        let mut cache = c.new_cache();
        // Non-ASCII text does not make the stream wait.
        assert_eq!(
            c.pending("日本語 EMP-123456 é".as_bytes(), 0, cache.as_mut()),
            None
        );
        assert_eq!(
            c.next("éEMP-123456é".as_bytes(), 0),
            Some((2, 12, Kind::Custom(0)))
        );
    }

    #[test]
    fn pending_tails() {
        let c = custom(&[("EMPLOYEE_ID", r"EMP-\d{6}")], &["falcon"]);
        let mut cache = c.new_cache();
        assert_eq!(c.pending(b"see EMP-12", 0, cache.as_mut()), Some(4));
        assert_eq!(c.pending(b"see fal", 0, cache.as_mut()), Some(4));
        assert_eq!(c.pending(b"see falcon", 0, cache.as_mut()), Some(4));
        assert_eq!(c.pending(b"see falcon ", 0, cache.as_mut()), None);
        assert_eq!(c.pending(b"see falcons", 0, cache.as_mut()), None);
        assert_eq!(c.pending(b"see EMP-123456 and", 0, cache.as_mut()), None);
    }
}
