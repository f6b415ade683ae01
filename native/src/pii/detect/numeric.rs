//! Grouped digits: payment cards, US SSNs and phone numbers share one tokenizer.
//!
//! From a start, digit groups separated by one space, `-` or `.` (or a parenthesised group such
//! as an area code) are read once; then the longest prefix of groups that forms a valid entity
//! wins. A prefix may stop before the end only at a space ("4111 1111 1111 1111 12/26" is a card
//! and an expiry date), never inside `-`/`.` joined digits, so "555-123-4567-89" is nothing.
//! Bare digit runs are cards only (13-19 digits, issuer prefix, Luhn): a bare 10-digit run is
//! far more often an id or a Unix time than a phone number.

use crate::pii::entity::Kind;
use crate::pii::hay::{is, Hay, DIGIT, UPPER, WORD};
use crate::pii::validate;

const MAX_GROUPS: usize = 8;
/// More digits than any entity here has (cards: 19).
const MAX_DIGITS: usize = 20;

#[derive(Clone, Copy, Default)]
struct Group {
    /// Digits `[start, start + len)`; `end` is after the closing parenthesis, if any.
    start: usize,
    len: usize,
    end: usize,
    paren: bool,
    /// The separator before the group: ` `, `-`, `.`, or 0 (none, or first group).
    sep: u8,
}

struct Groups {
    g: [Group; MAX_GROUPS],
    n: usize,
    plus: bool,
    digits: [u8; MAX_DIGITS],
    /// The separator before a further group that was not read (limits), if any.
    more: Option<u8>,
}

/// Reads the groups from `s` (a digit, `+` or `(`) into `t` (fresh); false if there is none.
/// Filled in place: returned by value, the groups cost a memcpy per number.
#[inline(always)]
fn tokenize(h: &Hay<'_>, s: usize, t: &mut Groups) -> bool {
    let plus = t.plus;
    let mut j = s + usize::from(plus);
    let mut nd = 0;
    let mut sep = 0;
    loop {
        let paren = h.get(j) == Some(b'(');
        let ds = j + usize::from(paren);
        let len = h.run(ds, DIGIT, MAX_DIGITS + 1);
        let mut end = ds + len;
        let closed = !paren || h.get(end) == Some(b')');
        if len == 0 || !closed {
            if t.n == 0 {
                return false;
            }
            break;
        }
        if t.n == MAX_GROUPS || nd + len > MAX_DIGITS {
            if t.n == 0 {
                return false;
            }
            t.more = Some(sep);
            break;
        }
        end += usize::from(paren);
        nd += len;
        t.g[t.n] = Group {
            start: ds,
            len,
            end,
            paren,
            sep,
        };
        t.n += 1;
        match h.get(end) {
            Some(c @ (b' ' | b'-' | b'.'))
                if is(h.get(end + 1), DIGIT) || h.get(end + 1) == Some(b'(') =>
            {
                sep = c;
                j = end + 1;
            }
            Some(b'0'..=b'9') if paren => {
                sep = 0;
                j = end;
            }
            _ => break,
        }
    }
    true
}

/// A card, SSN or phone number starting at `s`: its end and kind.
pub(super) fn grouped(h: &Hay<'_>, s: usize, prev: u8) -> Option<(usize, Kind)> {
    let c = h.b[s];
    // Not inside a word, a dotted or dashed number, a path or an address.
    if is(Some(prev), WORD) || matches!(prev, b'.' | b'-' | b'+' | b'/' | b'\\' | b'@' | b'&') {
        return None;
    }
    if c == b'+' && !is(h.get(s + 1), DIGIT) {
        return None;
    }
    if after_four_group(h.b, s) {
        return None;
    }
    let mut t = Groups {
        g: [Group::default(); MAX_GROUPS],
        n: 0,
        plus: c == b'+',
        digits: [0; MAX_DIGITS],
        more: None,
    };
    if !tokenize(h, s, &mut t) {
        return None;
    }
    let mut nd = t.g[..t.n].iter().map(|g| g.len).sum::<usize>();
    if nd < 8 {
        return None; // fewer digits than any entity here (most numbers in prose)
    }
    let mut k = 0;
    for g in &t.g[..t.n] {
        for &d in &h.b[g.start..g.start + g.len] {
            t.digits[k] = d;
            k += 1;
        }
    }
    // The whole run must end at a boundary; a prefix only before a space.
    let tail_ok = match t.more {
        Some(sep) => sep == b' ',
        None => !is(h.next(t.g[t.n - 1].end), WORD),
    };
    for m in (1..=t.n).rev() {
        let boundary = if m == t.n {
            tail_ok
        } else {
            t.g[m].sep == b' '
        };
        if boundary {
            if let Some(kind) = classify(&t, m, nd) {
                return Some((t.g[m - 1].end, kind));
            }
        }
        nd -= t.g[m - 1].len;
    }
    None
}

/// An IBAN: a country with IBANs, two check digits and the country's length of upper-case
/// letters and digits, compact or in groups of four separated by single spaces; mod-97 valid.
pub(super) fn iban(h: &Hay<'_>, s: usize, prev: u8) -> Option<usize> {
    if is(Some(prev), WORD) {
        return None;
    }
    let country = [h.b[s], h.get(s + 1)?];
    if !is(Some(country[1]), UPPER) {
        return None;
    }
    let len = validate::iban_length(country)?;
    let mut buf = [0u8; 34];
    // Grouped or not is decided after the first four chars; then a space after every four.
    let grouped = h.get(s + 4) == Some(b' ');
    let (mut j, mut k) = (s, 0);
    while k < len {
        if grouped && k > 0 && k.is_multiple_of(4) {
            if h.get(j) != Some(b' ') {
                return None;
            }
            j += 1;
        }
        let c = h.get(j)?;
        if !is(Some(c), UPPER | DIGIT) {
            return None;
        }
        buf[k] = c;
        k += 1;
        j += 1;
    }
    let compact = &buf[..len];
    let check_digits = compact[2].is_ascii_digit() && compact[3].is_ascii_digit();
    (check_digits && !is(h.next(j), WORD) && validate::iban_mod97(compact)).then_some(j)
}

/// Whether `s` follows a space and a group of four upper-case letters or digits (with a digit)
/// that starts a word: the middle of an IBAN-like run that was not an entity ("DE75 4674 7577
/// 9604 4453 63", an invalid IBAN, holds a Luhn-valid "4674 7577 9604 4453" and phone-like
/// "9604 4453 63"). Looks back six bytes. The price: a number right after a phone or card that
/// ends in such a group ("020 7946 0958 4111...") is not found until that one is redacted.
fn after_four_group(b: &[u8], s: usize) -> bool {
    if s < 5 || b[s - 1] != b' ' {
        return false;
    }
    let group = &b[s - 5..s - 1];
    group
        .iter()
        .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        && group.iter().any(u8::is_ascii_digit)
        && (s == 5 || !b[s - 6].is_ascii_alphanumeric())
}

fn classify(t: &Groups, m: usize, nd: usize) -> Option<Kind> {
    let g = &t.g[..m];
    let digits = &t.digits[..nd];
    let lens = |i: usize| g[i].len;
    let seps_same = g
        .iter()
        .skip(2)
        .all(|x| x.sep == g.get(1).map_or(0, |y| y.sep));
    let plain = !t.plus && g.iter().all(|x| !x.paren);
    if plain && seps_same && card_shape(g) && validate::card(digits) {
        return Some(Kind::CreditCard);
    }
    if plain
        && seps_same
        && m == 3
        && (lens(0), lens(1), lens(2)) == (3, 2, 4)
        && matches!(g[1].sep, b'-' | b' ')
        && validate::ssn(digits)
    {
        return Some(Kind::UsSsn);
    }
    phone(t, g, digits).then_some(Kind::Phone)
}

/// Groups of four (the last 1-4), or the 4-6-5 / 4-6-4 layouts of Amex and Diners; one bare run.
fn card_shape(g: &[Group]) -> bool {
    let m = g.len();
    if m == 1 {
        return true;
    }
    if !matches!(g[1].sep, b' ' | b'-') {
        return false;
    }
    let fours = g[..m - 1].iter().all(|x| x.len == 4) && (1..=4).contains(&g[m - 1].len);
    let amex = m == 3 && g[0].len == 4 && g[1].len == 6 && matches!(g[2].len, 4 | 5);
    fours || amex
}

fn phone(t: &Groups, g: &[Group], digits: &[u8]) -> bool {
    let m = g.len();
    let nd = digits.len();
    if t.plus {
        // E.164: a country code (1-3 digits, not 0) and at most 15 digits in all.
        return (8..=15).contains(&nd)
            && digits[0] != b'0'
            && (m == 1 || (!g[0].paren && g[0].len <= 3));
    }
    nanp(g, digits) || national(g, digits)
}

/// North American numbers: `(NXX) NXX-XXXX`, `NXX-NXX-XXXX`, `NXX.NXX.XXXX`, `NXX NXX XXXX`,
/// optionally after `1 `/`1-`; area code and exchange start with 2-9.
fn nanp(g: &[Group], digits: &[u8]) -> bool {
    let off = usize::from(g.len() == 4 && g[0].len == 1 && digits[0] == b'1' && !g[0].paren);
    let g = &g[off..];
    let d = &digits[off..];
    if g.len() != 3 || (g[0].len, g[1].len, g[2].len) != (3, 3, 4) || g[1].paren || g[2].paren {
        return false;
    }
    if !(b'2'..=b'9').contains(&d[0]) || !(b'2'..=b'9').contains(&d[3]) {
        return false;
    }
    let seps = if g[0].paren {
        matches!(g[1].sep, b' ' | 0) && matches!(g[2].sep, b' ' | b'-' | b'.')
    } else {
        g[1].sep == g[2].sep
    };
    seps && (off == 0 || !g[0].paren && matches!(g[0].sep, b' ' | b'-' | b'.'))
}

/// National numbers with a trunk 0 (UK, FR, DE, ...): `020 7946 0958`, `01 23 45 67 89`,
/// `(030) 1234567`: 10-11 digits, one kind of separator, a 2-5 digit area code, then groups of
/// at least 3 digits, or pairs only (French style).
fn national(g: &[Group], digits: &[u8]) -> bool {
    let m = g.len();
    if m < 2 || !(10..=11).contains(&digits.len()) || digits[0] != b'0' {
        return false;
    }
    let pairs = g.iter().all(|x| x.len == 2);
    if !(2..=5).contains(&g[0].len) || g[1..].iter().any(|x| x.paren || x.len < 3 && !pairs) {
        return false;
    }
    let sep = g.get(2).map_or(g[1].sep, |x| x.sep);
    let first_ok = if g[0].paren {
        matches!(g[1].sep, b' ' | 0)
    } else {
        g[1].sep == sep
    };
    first_ok && sep != 0 && g[2..].iter().all(|x| x.sep == sep)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Option<(&str, Kind)> {
        let h = Hay::new(text.as_bytes(), true);
        grouped(&h, 0, b' ').map(|(e, k)| (&text[..e], k))
    }

    #[test]
    fn entities() {
        use Kind::*;
        let cases = [
            (
                "4111 1111 1111 1111 12/26",
                Some(("4111 1111 1111 1111", CreditCard)),
            ),
            (
                "4111-1111-1111-1111",
                Some(("4111-1111-1111-1111", CreditCard)),
            ),
            ("378282246310005.", Some(("378282246310005", CreditCard))),
            ("3782 822463 10005", Some(("3782 822463 10005", CreditCard))),
            ("123-45-6789", Some(("123-45-6789", UsSsn))),
            ("(555) 234-5678", Some(("(555) 234-5678", Phone))),
            ("555.234.5678", Some(("555.234.5678", Phone))),
            ("1-800-555-0199", Some(("1-800-555-0199", Phone))),
            ("+44 (0)20 7946 0958", Some(("+44 (0)20 7946 0958", Phone))),
            ("+14155552671", Some(("+14155552671", Phone))),
            ("020 7946 0958", Some(("020 7946 0958", Phone))),
            ("01 23 45 67 89", Some(("01 23 45 67 89", Phone))),
            ("555-234-5678 2 times", Some(("555-234-5678", Phone))),
        ];
        for (text, want) in cases {
            assert_eq!(find(text), want, "{text}");
        }
    }

    #[test]
    fn ibans() {
        for (text, want) in [
            (
                "DE89 3704 0044 0532 0130 00 ok",
                Some("DE89 3704 0044 0532 0130 00"),
            ),
            ("GB82WEST12345698765432.", Some("GB82WEST12345698765432")),
            ("DE89370400440532013001", None),   // check digits
            ("DE8937040044053201300", None),    // length
            ("US89370400440532013000", None),   // no IBAN country
            ("DE89 37040044 0532013000", None), // spaces not in fours
        ] {
            let h = Hay::new(text.as_bytes(), true);
            assert_eq!(iban(&h, 0, b' ').map(|e| &text[..e]), want, "{text}");
        }
    }

    #[test]
    fn hard_negatives() {
        for text in [
            "4111111111111112",    // Luhn-invalid
            "4111 1111 1111 1112", // Luhn-invalid, grouped
            "9999999999999995",    // Luhn-valid, no issuer
            "666-12-3456",         // SSN area 666
            "900-12-3456",         // SSN area 9xx
            "123-00-4567",         // SSN group 00
            "123-45-0000",         // SSN serial 0000
            "2024-05-01",          // date
            "1714567890",          // Unix time
            "978-3-16-148410-0",   // ISBN-13
            "0-306-40615-2",       // ISBN-10
            "555-234-5678-90",     // continues
            "123-456-7890",        // area code 1xx
            "192.168.100.200",     // IPv4
            "12345abc",
            "0699 1335 62", // not a national layout
        ] {
            assert_eq!(find(text), None, "{text}");
        }
    }
}
