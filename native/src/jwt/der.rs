//! A minimal, strict DER reader for public keys: X.509 `SubjectPublicKeyInfo` (RFC 5280 §4.1)
//! holding RSA (RFC 3279), EC P-256/P-384 (RFC 5480) or Ed25519 (RFC 8410) keys, and PKCS#1
//! `RSAPublicKey` (RFC 8017 §A.1.1).
//!
//! Strict: low tag numbers only, definite minimal lengths, no trailing bytes at any level,
//! minimal positive INTEGERs, BIT STRINGs without unused bits, exact algorithm parameters.

use super::JwtError;

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const NULL: u8 = 0x05;
const OID: u8 = 0x06;

const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const PRIME256V1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const SECP384R1: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const ED25519: &[u8] = &[0x2b, 0x65, 0x70];

const BAD: JwtError = JwtError::BadKey("invalid DER");

/// A public key as found in DER, before the key-type checks of [`super::key`].
#[derive(Debug, PartialEq, Eq)]
pub enum PublicKey<'a> {
    /// Big-endian modulus and exponent, leading zero bytes removed.
    Rsa {
        n: &'a [u8],
        e: &'a [u8],
    },
    /// Uncompressed SEC1 point (`04 || x || y`) on P-256.
    EcP256(&'a [u8]),
    /// Uncompressed SEC1 point on P-384.
    EcP384(&'a [u8]),
    Ed25519(&'a [u8]),
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Reads one element of tag `tag`, returning its contents.
    fn read(&mut self, tag: u8) -> Result<&'a [u8], JwtError> {
        let (&t, rest) = self.0.split_first().ok_or(BAD)?;
        if t != tag {
            return Err(BAD);
        }
        let (&first, rest) = rest.split_first().ok_or(BAD)?;
        let (len, rest) = match first {
            0..=0x7f => (usize::from(first), rest),
            0x81 => match rest.split_first() {
                Some((&l, rest)) if l >= 0x80 => (usize::from(l), rest),
                _ => return Err(BAD),
            },
            0x82 => match rest {
                [hi, lo, rest @ ..] if *hi != 0 => {
                    ((usize::from(*hi) << 8) | usize::from(*lo), rest)
                }
                _ => return Err(BAD),
            },
            // Indefinite (0x80) or longer than 64 KiB: no public key we accept is that large.
            _ => return Err(BAD),
        };
        if rest.len() < len {
            return Err(BAD);
        }
        let (value, rest) = rest.split_at(len);
        self.0 = rest;
        Ok(value)
    }

    /// Reads a whole element of tag `tag` and requires that nothing follows it.
    fn read_last(mut self, tag: u8) -> Result<&'a [u8], JwtError> {
        let v = self.read(tag)?;
        if self.is_empty() {
            Ok(v)
        } else {
            Err(BAD)
        }
    }

    /// A minimal non-negative INTEGER, returned without its sign byte.
    fn read_unsigned(&mut self) -> Result<&'a [u8], JwtError> {
        match self.read(INTEGER)? {
            [] => Err(BAD),
            [0] => Ok(&[]),
            [0, next, ..] if *next < 0x80 => Err(BAD), // not minimal
            [0, rest @ ..] => Ok(rest),
            [first, ..] if *first >= 0x80 => Err(BAD), // negative
            all => Ok(all),
        }
    }
}

/// Parses a PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
pub fn parse_pkcs1(der: &[u8]) -> Result<PublicKey<'_>, JwtError> {
    let mut seq = Reader(Reader(der).read_last(SEQUENCE)?);
    let n = seq.read_unsigned()?;
    let e = seq.read_unsigned()?;
    if !seq.is_empty() {
        return Err(BAD);
    }
    Ok(PublicKey::Rsa { n, e })
}

/// Parses a `SubjectPublicKeyInfo`.
pub fn parse_spki(der: &[u8]) -> Result<PublicKey<'_>, JwtError> {
    let mut spki = Reader(Reader(der).read_last(SEQUENCE)?);
    let mut alg_id = Reader(spki.read(SEQUENCE)?);
    let bits = spki.read(BIT_STRING)?;
    if !spki.is_empty() {
        return Err(BAD);
    }
    let key = match bits.split_first() {
        Some((0, key)) => key,
        _ => return Err(BAD), // unused bits are meaningless for a key
    };
    let oid = alg_id.read(OID)?;
    match oid {
        RSA_ENCRYPTION => {
            if !alg_id.read_last(NULL)?.is_empty() {
                return Err(BAD);
            }
            parse_pkcs1(key)
        }
        EC_PUBLIC_KEY => {
            let curve = alg_id.read_last(OID)?;
            let (public, len) = match curve {
                PRIME256V1 => (PublicKey::EcP256(key), 65),
                SECP384R1 => (PublicKey::EcP384(key), 97),
                _ => return Err(JwtError::Unsupported("EC curve (only P-256 and P-384)")),
            };
            match key.first() {
                Some(0x04) if key.len() == len => Ok(public),
                Some(0x02 | 0x03) => Err(JwtError::Unsupported("compressed EC point")),
                _ => Err(BAD),
            }
        }
        ED25519 => {
            if !alg_id.is_empty() || key.len() != 32 {
                return Err(BAD); // RFC 8410: parameters absent
            }
            Ok(PublicKey::Ed25519(key))
        }
        RSASSA_PSS => Err(JwtError::Unsupported("RSASSA-PSS key (use rsaEncryption)")),
        _ => Err(JwtError::Unsupported("public key algorithm")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // Ed25519 public key of RFC 8410 §10.1.
    const ED_SPKI: &str =
        "302a300506032b6570032100 19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1";

    #[test]
    fn ed25519_rfc8410() {
        let der = hex(ED_SPKI);
        assert_eq!(parse_spki(&der), Ok(PublicKey::Ed25519(&der[12..])));
        // Trailing byte, parameters present, wrong length, unused bits.
        let mut trailing = der.clone();
        trailing.push(0);
        assert_eq!(parse_spki(&trailing), Err(BAD));
        let params = hex("302c300706032b65700500032100 19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1");
        assert_eq!(parse_spki(&params), Err(BAD));
        let short = hex(
            "3029300506032b6570032000 19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad7031",
        );
        assert_eq!(parse_spki(&short), Err(BAD));
        let mut unused = der.clone();
        unused[11] = 1;
        assert_eq!(parse_spki(&unused), Err(BAD));
    }

    #[test]
    fn every_truncation_and_length_corruption_is_rejected() {
        let der = hex(ED_SPKI);
        for n in 0..der.len() {
            assert!(parse_spki(&der[..n]).is_err(), "{n}");
        }
        for i in [1, 3, 11] {
            for delta in [1u8, 0x80, 0xff] {
                let mut bad = der.clone();
                bad[i] = bad[i].wrapping_add(delta);
                assert!(parse_spki(&bad).is_err(), "{i} {delta}");
            }
        }
    }

    #[test]
    fn lengths_must_be_minimal_and_definite() {
        // The same Ed25519 SPKI with the outer length in long form (0x81 0x2a): not DER.
        let mut long = hex("30812a");
        long.extend_from_slice(&hex(ED_SPKI)[2..]);
        assert_eq!(parse_spki(&long), Err(BAD));
        let mut indefinite = hex("3080");
        indefinite.extend_from_slice(&hex(ED_SPKI)[2..]);
        indefinite.extend_from_slice(&[0, 0]);
        assert_eq!(parse_spki(&indefinite), Err(BAD));
    }

    #[test]
    fn pkcs1_integers() {
        // n = 0x00c5 (positive, needs its sign byte), e = 3.
        assert_eq!(
            parse_pkcs1(&hex("3008 020300c5ff 020103")),
            Ok(PublicKey::Rsa {
                n: &[0xc5, 0xff],
                e: &[3]
            })
        );
        assert_eq!(parse_pkcs1(&hex("3007 0202c5ff 020103")), Err(BAD)); // negative n
        assert_eq!(parse_pkcs1(&hex("3009 02040000c5ff 020103")), Err(BAD)); // not minimal
        assert_eq!(parse_pkcs1(&hex("3008 0203007fff 020103")), Err(BAD)); // not minimal
        assert_eq!(parse_pkcs1(&hex("3005 0200 020103")), Err(BAD)); // empty INTEGER
        assert_eq!(parse_pkcs1(&hex("300b 020300c5ff 020103 020101")), Err(BAD)); // extra field
        assert_eq!(parse_pkcs1(&hex("3008 020300c5ff 020103 00")), Err(BAD)); // trailing
        assert_eq!(parse_pkcs1(&hex("3108 020300c5ff 020103")), Err(BAD)); // SET, not SEQUENCE
    }

    #[test]
    fn ec_points() {
        let mut der = hex("3059301306072a8648ce3d020106082a8648ce3d030107034200 04");
        der.extend_from_slice(&[7u8; 64]);
        assert_eq!(parse_spki(&der), Ok(PublicKey::EcP256(&der[26..])));
        let mut compressed = hex("3039301306072a8648ce3d020106082a8648ce3d030107032200 02");
        compressed.extend_from_slice(&[7u8; 32]);
        assert_eq!(
            parse_spki(&compressed),
            Err(JwtError::Unsupported("compressed EC point"))
        );
        // secp256k1 (1.3.132.0.10): not supported.
        let mut k1 = hex("3056301006072a8648ce3d020106052b8104000a034200 04");
        k1.extend_from_slice(&[7u8; 64]);
        assert!(matches!(parse_spki(&k1), Err(JwtError::Unsupported(_))));
    }
}
