//! E-mail addresses: `local@domain.tld` (ASCII; quoted local parts and IP-literal domains are
//! not recognised).

use crate::pii::hay::{class, is, Hay, ALNUM, DOMAIN, LOCAL, LOWER, UPPER};

/// RFC 5321 limits; a longer local part is not an address, a longer domain is cut.
const MAX_LOCAL: usize = 64;
const MAX_DOMAIN: usize = 253;

/// An address whose local part starts at `s` (an ASCII letter, digit or `_`): returns its end.
pub(super) fn email(h: &Hay<'_>, s: usize, prev: u8) -> Option<usize> {
    // Starts where the local part may start: after a non-address char, or after a dot (so that
    // "..name@x.org" still yields "name@x.org"; the outer start wins when it is an address).
    if class(prev) & LOCAL != 0 && prev != b'.' {
        return None;
    }
    if !h.at_sign_within(s, MAX_LOCAL) {
        return None; // the local part would have to be longer than allowed
    }
    let local = h.run(s, LOCAL, MAX_LOCAL + 1);
    if local > MAX_LOCAL || h.get(s + local) != Some(b'@') || h.b[s + local - 1] == b'.' {
        return None;
    }
    let d = s + local + 1;
    let run = h.run(d, DOMAIN, MAX_DOMAIN);
    if run == MAX_DOMAIN {
        // Cut at the bound (see pii/mod.rs): the domain is only checked up to here.
    } else if is(h.next(d + run), ALNUM) || matches!(h.get(d + run), Some(b'_' | b'@')) {
        return None;
    }
    // A sentence may end right after the address: trailing dots and hyphens are not part of it.
    let mut end = d + run;
    while end > d && matches!(h.b[end - 1], b'.' | b'-') {
        end -= 1;
    }
    valid_domain(&h.b[d..end]).then_some(end)
}

/// At least two labels of 1-63 letters, digits and inner hyphens; an alphabetic TLD (2-24) or
/// a punycode one (`xn--`).
fn valid_domain(d: &[u8]) -> bool {
    let mut labels = 0;
    let mut last: &[u8] = &[];
    for label in d.split(|&c| c == b'.') {
        if label.is_empty()
            || label.len() > 63
            || label[0] == b'-'
            || label[label.len() - 1] == b'-'
        {
            return false;
        }
        labels += 1;
        last = label;
    }
    let tld_ok = (2..=24).contains(&last.len())
        && last.iter().all(|&c| class(c) & (UPPER | LOWER) != 0)
        || last.starts_with(b"xn--");
    labels >= 2 && tld_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str, s: usize) -> Option<&str> {
        let h = Hay::new(text.as_bytes(), true);
        email(&h, s, h.prev(s)).map(|e| &text[s..e])
    }

    #[test]
    fn addresses() {
        assert_eq!(
            find("mail john.doe+x@mail.example.com.", 5),
            Some("john.doe+x@mail.example.com")
        );
        assert_eq!(find("a_b@x.io", 0), Some("a_b@x.io"));
        assert_eq!(
            find("x@xn--bcher-kva.xn--p1ai", 0),
            Some("x@xn--bcher-kva.xn--p1ai")
        );
        for no in [
            "john@localhost",
            "john.@x.com",
            "a@b.c",
            "a@-x.com",
            "a@x.com_y",
            "a@x.c0m",
        ] {
            assert_eq!(find(no, 0), None, "{no}");
        }
        // Not a start: inside a local part.
        assert_eq!(find("ab@x.com", 1), None);
        let long = format!("{}@x.com", "a".repeat(65));
        assert_eq!(find(&long, 0), None);
    }

    #[test]
    fn starves_at_the_end_of_a_prefix() {
        let h = Hay::new(b"write to john", false);
        assert_eq!(email(&h, 9, b' '), None);
        assert!(h.take_starved());
        // An answer that read past the end is not final (".community" may follow).
        let h = Hay::new(b"john@x.com", false);
        assert_eq!(email(&h, 0, b' '), Some(10));
        assert!(h.take_starved());
        let h = Hay::new(b"john@x.com ", false);
        assert_eq!(email(&h, 0, b' '), Some(10));
        assert!(!h.take_starved());
    }
}
