//! Strict base64 decoders: unpadded base64url for JWS segments and JWK members (RFC 7515 §2),
//! padded standard base64 for PEM bodies (RFC 7468).
//!
//! Strict means one encoding per byte string: no foreign characters, no padding where there is
//! none, no length of 1 mod 4, and the unused low bits of the last character must be zero.

const INVALID: u8 = 0xff;

const fn table(c62: u8, c63: u8) -> [u8; 256] {
    let mut t = [INVALID; 256];
    let mut i = 0u8;
    while i < 26 {
        t[(b'A' + i) as usize] = i;
        t[(b'a' + i) as usize] = 26 + i;
        i += 1;
    }
    let mut d = 0u8;
    while d < 10 {
        t[(b'0' + d) as usize] = 52 + d;
        d += 1;
    }
    t[c62 as usize] = 62;
    t[c63 as usize] = 63;
    t
}

static URL: [u8; 256] = table(b'-', b'_');
static STD: [u8; 256] = table(b'+', b'/');

/// Decoded length of `n` unpadded characters, `None` if `n % 4 == 1` (never a valid encoding).
fn decoded_len(n: usize) -> Option<usize> {
    match n % 4 {
        1 => None,
        r => Some(n / 4 * 3 + r.saturating_sub(1)),
    }
}

/// Decodes unpadded base64 of `table`'s alphabet; `None` if not the canonical encoding.
fn decode_with(input: &[u8], table: &[u8; 256]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(decoded_len(input.len())?);
    let mut chunks = input.chunks_exact(4);
    for c in &mut chunks {
        let v = [
            table[c[0] as usize],
            table[c[1] as usize],
            table[c[2] as usize],
            table[c[3] as usize],
        ];
        // Valid values are < 64, so the OR is INVALID exactly when one of them is.
        if (v[0] | v[1] | v[2] | v[3]) == INVALID {
            return None;
        }
        let n = (u32::from(v[0]) << 18)
            | (u32::from(v[1]) << 12)
            | (u32::from(v[2]) << 6)
            | u32::from(v[3]);
        out.extend_from_slice(&n.to_be_bytes()[1..]);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut n = 0u32;
        for (i, &ch) in rest.iter().enumerate() {
            let v = table[ch as usize];
            if v == INVALID {
                return None;
            }
            n |= u32::from(v) << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        let keep = rest.len() - 1; // 2 chars -> 1 byte, 3 chars -> 2 bytes
                                   // The bits past the last whole byte must be zero (canonical encoding).
        if bytes[1 + keep] != 0 {
            return None;
        }
        out.extend_from_slice(&bytes[1..1 + keep]);
    }
    Some(out)
}

/// Strict unpadded base64url (`A-Z a-z 0-9 - _`), as in JWS compact serialization and JWKs.
pub fn decode_url(input: &[u8]) -> Option<Vec<u8>> {
    decode_with(input, &URL)
}

/// Standard base64 (`+ /`) of a PEM body: ASCII whitespace between characters is skipped, the
/// total is padded with `=` to a multiple of 4 (padding only at the end), bits canonical.
pub fn decode_pem_body(input: &[u8]) -> Option<Vec<u8>> {
    let chars: Vec<u8> = input
        .iter()
        .copied()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if !chars.len().is_multiple_of(4) {
        return None;
    }
    let pad = chars.iter().rev().take_while(|&&c| c == b'=').count();
    if pad > 2 {
        return None;
    }
    decode_with(&chars[..chars.len() - pad], &STD)
}

/// Unpadded base64url, for building tokens in the unit tests and the fuzz target.
pub fn encode_url(input: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for c in input.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..=c.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_length() {
        let data: Vec<u8> = (0..=255u8).rev().collect();
        for n in 0..70 {
            let enc = encode_url(&data[..n]);
            assert!(!enc.contains('='));
            assert_eq!(
                decode_url(enc.as_bytes()).as_deref(),
                Some(&data[..n]),
                "{n}"
            );
        }
    }

    #[test]
    fn rfc4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(decode_url(enc.as_bytes()).unwrap(), plain.as_bytes());
            assert_eq!(encode_url(plain.as_bytes()), enc);
        }
        assert_eq!(decode_url(b"-_-_").unwrap(), [0xfb, 0xff, 0xbf]);
    }

    #[test]
    fn rejects_non_canonical_input() {
        for bad in [
            &b"Zg=="[..],
            b"Zg=",
            b"Zm8=", // padding
            b"+/+/",
            b"ab/c",
            b"a+bc", // standard alphabet
            b"Zm9v Yg",
            b"Zm9v\nYg",
            b" Zg",
            b"Zg ",
            b"Zm9\t", // whitespace
            b"Z",
            b"Zm9vY", // length 1 mod 4
            b"Zh",
            b"Zm9",
            b"Zm9vYh",
            b"Zm9vYmF", // non-zero trailing bits ("Zh" vs "Zg")
            b"Zm9v.",
            b"\xc3\xa9aa",
            b"Zm\x009",
        ] {
            assert_eq!(decode_url(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn trailing_bits_every_variant() {
        // Of the 64 final characters after "Zm", only those with the low 2 bits zero are canonical.
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for (v, &c) in alphabet.iter().enumerate() {
            let ok = decode_url(&[b'Z', b'm', c]).is_some();
            assert_eq!(ok, v & 3 == 0, "{}", c as char);
            let ok = decode_url(&[b'Z', c]).is_some();
            assert_eq!(ok, v & 15 == 0, "{}", c as char);
        }
    }

    #[test]
    fn pem_body() {
        assert_eq!(decode_pem_body(b"Zm9v\nYmFy\r\n").unwrap(), b"foobar");
        assert_eq!(decode_pem_body(b"Zm9vYg==").unwrap(), b"foob");
        assert_eq!(decode_pem_body(b"Zm9v\nYmE=").unwrap(), b"fooba");
        assert_eq!(decode_pem_body(b"+/+/").unwrap(), [0xfb, 0xff, 0xbf]);
        for bad in [
            &b"Zm9vYg"[..],
            b"Zm9vYg=",
            b"Zm9vY===",
            b"Zg==Zg==",
            b"Zh==",
            b"-_-_",
            b"Zm=v",
        ] {
            assert_eq!(
                decode_pem_body(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
