//! Checksums and number-plan rules that turn digit shapes into entities (precision).

/// Luhn (mod 10) check over ASCII digits.
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// A payment card number: a known issuer prefix with one of its lengths, and Luhn-valid. The
/// prefix check keeps Luhn-valid order and account numbers (one in ten of any digits) out.
pub fn card(digits: &[u8]) -> bool {
    let n = digits.len();
    let prefix = |k: usize| -> u32 {
        digits[..k.min(n)]
            .iter()
            .fold(0, |acc, &d| acc * 10 + u32::from(d - b'0'))
    };
    if !(13..=19).contains(&n) {
        return false;
    }
    let (p1, p2, p3, p4) = (prefix(1), prefix(2), prefix(3), prefix(4));
    let issuer = match p1 {
        4 => matches!(n, 13 | 16 | 19),              // Visa
        5 => (51..=55).contains(&p2) && n == 16,     // Mastercard
        2 => (2221..=2720).contains(&p4) && n == 16, // Mastercard 2-series
        3 if p2 == 34 || p2 == 37 => n == 15,        // Amex
        3 if (3528..=3589).contains(&p4) => n >= 16, // JCB
        3 => ((300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39) && n >= 14, // Diners
        6 => (p4 == 6011 || p2 == 65 || (644..=649).contains(&p3) || p2 == 62) && n >= 16, // Discover, UnionPay
        _ => false,
    };
    issuer && luhn(digits)
}

/// A US Social Security Number given as its 9 digits: area not 000, 666 or 900-999, group not
/// 00, serial not 0000 (SSA rules; the area ranges were never issued).
pub fn ssn(digits: &[u8]) -> bool {
    if digits.len() != 9 {
        return false;
    }
    let area = &digits[..3];
    area != b"000"
        && area != b"666"
        && area[0] != b'9'
        && &digits[3..5] != b"00"
        && &digits[5..] != b"0000"
}

/// The IBAN length of a country (ISO 13616 registry), `None` if the country has no IBAN.
pub fn iban_length(country: [u8; 2]) -> Option<usize> {
    #[rustfmt::skip]
    const TABLE: &[(&[u8; 2], u8)] = &[
        (b"AD", 24), (b"AE", 23), (b"AL", 28), (b"AT", 20), (b"AZ", 28), (b"BA", 20), (b"BE", 16),
        (b"BG", 22), (b"BH", 22), (b"BR", 29), (b"BY", 28), (b"CH", 21), (b"CR", 22), (b"CY", 28),
        (b"CZ", 24), (b"DE", 22), (b"DK", 18), (b"DO", 28), (b"EE", 20), (b"EG", 29), (b"ES", 24),
        (b"FI", 18), (b"FO", 18), (b"FR", 27), (b"GB", 22), (b"GE", 22), (b"GI", 23), (b"GL", 18),
        (b"GR", 27), (b"GT", 28), (b"HR", 21), (b"HU", 28), (b"IE", 22), (b"IL", 23), (b"IQ", 23),
        (b"IS", 26), (b"IT", 27), (b"JO", 30), (b"KW", 30), (b"KZ", 20), (b"LB", 28), (b"LC", 32),
        (b"LI", 21), (b"LT", 20), (b"LU", 20), (b"LV", 21), (b"MC", 27), (b"MD", 24), (b"ME", 22),
        (b"MK", 19), (b"MR", 27), (b"MT", 31), (b"MU", 30), (b"NL", 18), (b"NO", 15), (b"PK", 24),
        (b"PL", 28), (b"PS", 29), (b"PT", 25), (b"QA", 29), (b"RO", 24), (b"RS", 22), (b"SA", 24),
        (b"SC", 31), (b"SE", 24), (b"SI", 19), (b"SK", 24), (b"SM", 27), (b"ST", 25), (b"SV", 28),
        (b"TL", 23), (b"TN", 24), (b"TR", 26), (b"UA", 29), (b"VA", 22), (b"VG", 24), (b"XK", 20),
    ];
    TABLE
        .iter()
        .find(|(c, _)| **c == country)
        .map(|&(_, n)| usize::from(n))
}

/// ISO 7064 mod 97-10 over an upper-case alphanumeric IBAN (without spaces): the first four
/// characters moved to the end, letters as 10-35, the number mod 97 must be 1.
pub fn iban_mod97(iban: &[u8]) -> bool {
    if iban.len() < 5 {
        return false;
    }
    let mut rem = 0u32;
    for &c in iban[4..].iter().chain(&iban[..4]) {
        rem = match c {
            b'0'..=b'9' => (rem * 10 + u32::from(c - b'0')) % 97,
            b'A'..=b'Z' => (rem * 100 + u32::from(c - b'A' + 10)) % 97,
            _ => return false,
        };
    }
    rem == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_and_cards() {
        assert!(luhn(b"79927398713"));
        assert!(!luhn(b"79927398710"));
        for ok in [
            &b"4111111111111111"[..],
            b"5555555555554444",
            b"2223003122003222",
            b"378282246310005",
            b"6011111111111117",
            b"3530111333300000",
            b"30569309025904",
            b"6200000000000005",
        ] {
            assert!(card(ok), "{}", String::from_utf8_lossy(ok));
        }
        // Luhn-invalid; Luhn-valid but no issuer prefix; wrong length for the issuer.
        for bad in [
            &b"4111111111111112"[..],
            b"9999999999999995",
            b"41111111111111111",
        ] {
            assert!(!card(bad), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn ssn_ranges() {
        assert!(ssn(b"123456789"));
        assert!(ssn(b"899991234"));
        for bad in [
            b"000123456",
            b"666123456",
            b"900123456",
            b"123001234",
            b"123450000",
        ] {
            assert!(!ssn(bad));
        }
        assert!(!ssn(b"12345678"));
    }

    #[test]
    fn iban_checks() {
        assert!(iban_mod97(b"DE89370400440532013000"));
        assert!(iban_mod97(b"GB82WEST12345698765432"));
        assert!(!iban_mod97(b"DE89370400440532013001"));
        assert_eq!(iban_length(*b"DE"), Some(22));
        assert_eq!(iban_length(*b"US"), None);
    }
}
