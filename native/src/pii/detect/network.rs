//! IPv4 and IPv6 addresses, MAC addresses.

use std::net::Ipv6Addr;

use crate::pii::hay::{class, is, Hay, DIGIT, HEX, WORD};

/// `a.b.c.d`, each 0-255 without leading zeros. "1.2.3.4" is an address; "v1.2.3.4" (after a
/// letter), "1.2.3" and "1.2.3.4.5" (a version or OID) are not.
pub(super) fn ipv4(h: &Hay<'_>, s: usize, prev: u8) -> Option<usize> {
    if is(Some(prev), WORD) || matches!(prev, b'.' | b'-') {
        return None;
    }
    let mut j = s;
    for k in 0..4 {
        if k > 0 {
            if h.get(j) != Some(b'.') {
                return None;
            }
            j += 1;
        }
        let n = h.run(j, DIGIT, 4);
        let octet = &h.b[j..j + n];
        if n == 0 || n > 3 || (n > 1 && octet[0] == b'0') {
            return None;
        }
        if octet
            .iter()
            .fold(0u32, |v, &d| v * 10 + u32::from(d - b'0'))
            > 255
        {
            return None;
        }
        j += n;
    }
    let continues = h.get(j) == Some(b'.') && is(h.get(j + 1), DIGIT);
    (!continues && !is(h.next(j), WORD)).then_some(j)
}

/// Longest textual IPv6 address (with an embedded IPv4 address).
const MAX_IPV6: usize = 45;

/// Standard text forms, compressed or not, checked by the standard library's parser; at least
/// two groups and four hex digits ("::1" and "a::b" are left alone: too short to be worth it and
/// too often something else, such as a path in code).
pub(super) fn ipv6(h: &Hay<'_>, s: usize, prev: u8) -> Option<usize> {
    if is(Some(prev), WORD) || matches!(prev, b':' | b'.' | b'-') {
        return None;
    }
    // Cheap rejection of words: a colon within the first five chars.
    let lead = h.run(s, HEX, 5);
    if lead > 4 || h.get(s + lead) != Some(b':') {
        return None;
    }
    let addr_class = |c: Option<u8>| is(c, HEX) || matches!(c, Some(b':' | b'.'));
    let mut n = 0;
    while n <= MAX_IPV6 && addr_class(h.get(s + n)) {
        n += 1;
    }
    if n > MAX_IPV6 || is(h.next(s + n), WORD) {
        return None;
    }
    let mut end = s + n;
    while end > s && h.b[end - 1] == b'.' {
        end -= 1;
    }
    if end - s >= 2 && h.b[end - 1] == b':' && h.b[end - 2] != b':' {
        end -= 1;
    }
    let text = std::str::from_utf8(&h.b[s..end]).ok()?;
    text.parse::<Ipv6Addr>().ok()?;
    let groups = text.split(':').filter(|g| !g.is_empty()).count();
    let hex = text.bytes().filter(|&c| class(c) & HEX != 0).count();
    (groups >= 2 && hex >= 4).then_some(end)
}

/// `00:1A:2B:3C:4D:5E`, `00-1a-2b-3c-4d-5e` (one separator throughout) or `001a.2b3c.4d5e`.
pub(super) fn mac(h: &Hay<'_>, s: usize, prev: u8) -> Option<usize> {
    if is(Some(prev), WORD) || matches!(prev, b':' | b'-' | b'.') {
        return None;
    }
    let hex = |j: usize, n: usize| h.run(j, HEX, n + 1) == n;
    let end = if hex(s, 2) && matches!(h.get(s + 2), Some(b':' | b'-')) {
        let sep = h.b[s + 2];
        (1..6)
            .all(|k| h.get(s + 3 * k - 1) == Some(sep) && hex(s + 3 * k, 2))
            .then_some(s + 17)?
    } else if hex(s, 4) && h.get(s + 4) == Some(b'.') {
        (hex(s + 5, 4) && h.get(s + 9) == Some(b'.') && hex(s + 10, 4)).then_some(s + 14)?
    } else {
        return None;
    };
    let sep = h.b[end - 3];
    let continues = matches!(h.get(end), Some(c) if (c == sep || c == b'.' || c == b':') && is(h.get(end + 1), HEX));
    (!continues && !is(h.next(end), WORD)).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at0(f: fn(&Hay<'_>, usize, u8) -> Option<usize>, text: &str) -> Option<&str> {
        let h = Hay::new(text.as_bytes(), true);
        f(&h, 0, b' ').map(|e| &text[..e])
    }

    #[test]
    fn v4() {
        assert_eq!(at0(ipv4, "192.168.1.10:8080"), Some("192.168.1.10"));
        assert_eq!(at0(ipv4, "1.2.3.4."), Some("1.2.3.4"));
        for no in [
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3.4a",
            "1.2.3.1000",
        ] {
            assert_eq!(at0(ipv4, no), None, "{no}");
        }
    }

    #[test]
    fn v6() {
        for ok in [
            "2001:db8::8a2e:370:7334",
            "fe80::1",
            "2001:0db8:0000:0000:0000:ff00:0042:8329",
            "::ffff:192.0.2.1",
        ] {
            assert_eq!(at0(ipv6, ok), Some(ok), "{ok}");
        }
        assert_eq!(at0(ipv6, "fe80::1."), Some("fe80::1"));
        assert_eq!(at0(ipv6, "2001:db8:: x"), Some("2001:db8::"));
        assert_eq!(at0(ipv6, "2001:db8::1: x"), Some("2001:db8::1"));
        for no in [
            "::1",
            "a::b",
            "12:30:00",
            "00:1A:2B:3C:4D:5E",
            "deadbeef",
            "cafe:babe",
            "fe80::1g",
        ] {
            assert_eq!(at0(ipv6, no), None, "{no}");
        }
    }

    #[test]
    fn macs() {
        for ok in ["00:1A:2B:3C:4D:5E", "00-1a-2b-3c-4d-5e", "001a.2b3c.4d5e"] {
            assert_eq!(at0(mac, ok), Some(ok), "{ok}");
        }
        for no in [
            "00:1A:2B:3C:4D",
            "00:1A-2B:3C:4D:5E",
            "00:1A:2B:3C:4D:5E:6F",
            "00:1A:2B:3C:4D:5G",
        ] {
            assert_eq!(at0(mac, no), None, "{no}");
        }
    }
}
