//! The built-in detectors. Each looks at one start position and answers with the end of its
//! entity there, or nothing; [`at`] asks every detector that can start at a byte and keeps the
//! longest answer.
//!
//! Detectors read forward through [`Hay`] only, so a read past the end of a stream prefix is
//! seen (see `hay.rs`), and each reads a bounded distance (see the limits in `pii/mod.rs`), so a
//! stream never holds back more than that.

mod email;
mod network;
mod numeric;
mod secret;

use super::entity::Kind;
use super::hay::{class, is, Hay, ALNUM, DIGIT, HEX, UPPER, WORD};

/// Bytes at which some built-in entity can start.
static START: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 128 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || matches!(b, b'+' | b'(' | b':' | b'_' | b'-');
        c += 1;
    }
    t
};

/// The best built-in entity starting at `i` (a char boundary): the longest, then the lowest
/// [`Kind::rank`]. Every detector that can start here runs, also when an earlier one matched:
/// in a stream, one that read past the end must still make the position wait.
#[inline]
pub(crate) fn at(h: &Hay<'_>, i: usize) -> Option<(usize, Kind)> {
    let c = h.b[i];
    if !START[usize::from(c)] {
        return None;
    }
    let prev = h.prev(i);
    if is(Some(prev), WORD) && c != b'-' {
        // Inside a word: every detector but PEM wants a boundary before its start.
        return None;
    }
    let k = class(c);
    let mut best: Option<(usize, Kind)> = None;
    let mut offer = |cand: Option<(usize, Kind)>| {
        if let Some((e, kind)) = cand {
            let better = match best {
                None => true,
                Some((be, bk)) => e > be || (e == be && kind.rank() < bk.rank()),
            };
            if better {
                best = Some((e, kind));
            }
        }
    };
    if k & DIGIT != 0 || c == b'+' || c == b'(' {
        offer(numeric::grouped(h, i, prev));
    }
    if k & DIGIT != 0 {
        offer(network::ipv4(h, i, prev).map(|e| (e, Kind::IpAddress)));
    }
    if k & HEX != 0 || c == b':' {
        offer(network::ipv6(h, i, prev).map(|e| (e, Kind::IpAddress)));
    }
    if k & HEX != 0 {
        offer(network::mac(h, i, prev).map(|e| (e, Kind::MacAddress)));
    }
    if k & UPPER != 0 {
        offer(numeric::iban(h, i, prev).map(|e| (e, Kind::Iban)));
    }
    if k & ALNUM != 0 || c == b'_' {
        offer(email::email(h, i, prev).map(|e| (e, Kind::Email)));
    }
    if matches!(
        c,
        b'A' | b'g' | b'x' | b's' | b'r' | b'e' | b'B' | b'b' | b'-'
    ) {
        offer(secret::secret(h, i, prev));
    }
    best
}
