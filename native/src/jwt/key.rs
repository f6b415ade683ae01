//! Verification keys and key sets.
//!
//! Every key knows its family (RSA, EC P-256, EC P-384, Ed25519, HMAC secret) and may be pinned to
//! one algorithm; [`Key::accepts`] is the single place that decides whether a token's `alg` may be
//! verified with a key, so algorithm confusion (HS256 against an RSA key's bytes, RS256 against a
//! secret, ...) cannot happen.

use std::fmt;
use std::sync::Arc;

use ring::{hmac, signature};

use super::alg::{Algorithm, Family};
use super::JwtError;

/// Longest accepted `kid`.
pub const MAX_KID_LEN: usize = 256;

/// Whether `kid` may name a key: 1 to [`MAX_KID_LEN`] bytes of `[A-Za-z0-9._~+=-]`, not
/// containing `..` (nothing path-like: no `/`, `\`, `%`, whitespace or control characters).
///
/// `+` and `=` are allowed because some issuers use standard-base64 kids; `/` is not (so such
/// kids are unusable here).
pub fn valid_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= MAX_KID_LEN
        && kid.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'+' | b'=' | b'-')
        })
        && !kid.contains("..")
}

#[derive(Clone)]
pub(crate) enum Material {
    /// Big-endian modulus and exponent without leading zeros.
    Rsa {
        n: Box<[u8]>,
        e: Box<[u8]>,
    },
    /// Uncompressed SEC1 point.
    EcP256(Box<[u8]>),
    EcP384(Box<[u8]>),
    Ed25519([u8; 32]),
    /// One precomputed `ring` key per HS algorithm the secret is long enough for (and pinned to).
    Hmac(Box<[Option<hmac::Key>; 3]>),
}

/// One verification key.
#[derive(Clone)]
pub struct Key {
    kid: Option<Arc<str>>,
    alg: Option<Algorithm>,
    material: Material,
}

impl Key {
    pub(crate) fn new(
        kid: Option<&str>,
        alg: Option<Algorithm>,
        material: Material,
    ) -> Result<Self, JwtError> {
        if kid.is_some_and(|k| !valid_kid(k)) {
            return Err(JwtError::BadKey(
                "kid must be 1-256 characters of [A-Za-z0-9._~+=-]",
            ));
        }
        let key = Self {
            kid: kid.map(Arc::from),
            alg,
            material,
        };
        if let Some(alg) = alg {
            if key.family() != alg.family() {
                return Err(JwtError::BadKey("alg does not fit the key type"));
            }
        }
        Ok(key)
    }

    /// An RSA key from big-endian `n` and `e` (leading zeros allowed): 2048 to 8192 bits, odd
    /// `e` from 3 to 2^33 - 1 (what `ring` verifies).
    pub(crate) fn rsa(
        kid: Option<&str>,
        alg: Option<Algorithm>,
        n: &[u8],
        e: &[u8],
    ) -> Result<Self, JwtError> {
        let strip =
            |v: &[u8]| -> Box<[u8]> { v[v.iter().take_while(|&&b| b == 0).count()..].into() };
        let (n, e) = (strip(n), strip(e));
        let bits = n
            .first()
            .map_or(0, |b| n.len() * 8 - b.leading_zeros() as usize);
        if !(2048..=8192).contains(&bits) {
            return Err(JwtError::BadKey("RSA modulus must have 2048 to 8192 bits"));
        }
        let e_value = e.iter().try_fold(0u64, |acc, &b| {
            (acc < 1 << 56).then(|| acc << 8 | u64::from(b))
        });
        if !e_value.is_some_and(|v| (3..1 << 33).contains(&v) && v & 1 == 1) {
            return Err(JwtError::BadKey("unsupported RSA public exponent"));
        }
        Self::new(kid, alg, Material::Rsa { n, e })
    }

    pub(crate) fn ec(
        kid: Option<&str>,
        alg: Option<Algorithm>,
        family: Family,
        point: &[u8],
    ) -> Result<Self, JwtError> {
        let (len, material) = match family {
            Family::EcP256 => (65, Material::EcP256(point.into())),
            Family::EcP384 => (97, Material::EcP384(point.into())),
            _ => return Err(JwtError::BadKey("not an EC curve")),
        };
        if point.len() != len || point[0] != 4 {
            return Err(JwtError::BadKey(
                "EC point must be uncompressed and of the curve's size",
            ));
        }
        Self::new(kid, alg, material)
    }

    pub(crate) fn ed25519(
        kid: Option<&str>,
        alg: Option<Algorithm>,
        public: &[u8],
    ) -> Result<Self, JwtError> {
        let public = public
            .try_into()
            .map_err(|_| JwtError::BadKey("Ed25519 key must be 32 bytes"))?;
        Self::new(kid, alg, Material::Ed25519(public))
    }

    /// An HMAC secret. Unpinned, it serves every HS algorithm whose hash output it is at least
    /// as long as (RFC 7518 §3.2); pinned, it must be long enough for its algorithm.
    pub(crate) fn hmac(
        kid: Option<&str>,
        alg: Option<Algorithm>,
        secret: &[u8],
    ) -> Result<Self, JwtError> {
        let make = |a: Algorithm| {
            let (ring_alg, min) = a.hmac()?;
            (alg.is_none_or(|pin| pin == a) && secret.len() >= min)
                .then(|| hmac::Key::new(ring_alg, secret))
        };
        let keys = [
            make(Algorithm::HS256),
            make(Algorithm::HS384),
            make(Algorithm::HS512),
        ];
        if alg.is_some_and(|a| a.family() == Family::Hmac) && keys.iter().all(Option::is_none) {
            return Err(JwtError::BadKey(
                "HMAC secret shorter than the hash output of its alg",
            ));
        }
        if keys.iter().all(Option::is_none) && alg.is_none() {
            return Err(JwtError::BadKey("HMAC secret must be at least 32 bytes"));
        }
        Self::new(kid, alg, Material::Hmac(Box::new(keys)))
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub(crate) fn kid_arc(&self) -> Option<&Arc<str>> {
        self.kid.as_ref()
    }

    /// The algorithm this key is pinned to, if any.
    pub fn alg(&self) -> Option<Algorithm> {
        self.alg
    }

    pub fn family(&self) -> Family {
        match self.material {
            Material::Rsa { .. } => Family::Rsa,
            Material::EcP256(_) => Family::EcP256,
            Material::EcP384(_) => Family::EcP384,
            Material::Ed25519(_) => Family::Ed25519,
            Material::Hmac(_) => Family::Hmac,
        }
    }

    /// Whether a token signed with `alg` may be verified with this key: same family, same
    /// algorithm if pinned, and for HMAC a secret long enough for the hash.
    pub fn accepts(&self, alg: Algorithm) -> bool {
        self.family() == alg.family()
            && self.alg.is_none_or(|pin| pin == alg)
            && match &self.material {
                Material::Hmac(keys) => hmac_slot(alg).is_some_and(|i| keys[i].is_some()),
                _ => true,
            }
    }

    /// Verifies `signature` over `message` with `alg`; false also when [`Key::accepts`] is false.
    pub fn verify(&self, alg: Algorithm, message: &[u8], sig: &[u8]) -> bool {
        if !self.accepts(alg) {
            return false;
        }
        let ok = match (&self.material, alg) {
            (Material::Rsa { n, e }, _) => alg.rsa_params().is_some_and(|p| {
                signature::RsaPublicKeyComponents { n, e }
                    .verify(p, message, sig)
                    .is_ok()
            }),
            (Material::EcP256(point), Algorithm::ES256) => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, sig)
                    .is_ok()
            }
            (Material::EcP384(point), Algorithm::ES384) => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, point)
                    .verify(message, sig)
                    .is_ok()
            }
            (Material::Ed25519(public), Algorithm::EdDSA) => {
                signature::UnparsedPublicKey::new(&signature::ED25519, public)
                    .verify(message, sig)
                    .is_ok()
            }
            (Material::Hmac(keys), _) => hmac_slot(alg)
                .and_then(|i| keys[i].as_ref())
                .is_some_and(|k| hmac::verify(k, message, sig).is_ok()),
            _ => false,
        };
        ok
    }

    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.material {
            Material::Rsa { n, .. } => {
                format!("RSA-{}", n.len() * 8 - n[0].leading_zeros() as usize)
            }
            Material::EcP256(_) => "EC P-256".into(),
            Material::EcP384(_) => "EC P-384".into(),
            Material::Ed25519(_) => "OKP Ed25519".into(),
            Material::Hmac(_) => "oct".into(),
        };
        f.write_str(&kind)?;
        if let Some(kid) = &self.kid {
            write!(f, " kid={kid:?}")?;
        }
        if let Some(alg) = self.alg {
            write!(f, " alg={}", alg.name())?;
        }
        Ok(())
    }
}

fn hmac_slot(alg: Algorithm) -> Option<usize> {
    match alg {
        Algorithm::HS256 => Some(0),
        Algorithm::HS384 => Some(1),
        Algorithm::HS512 => Some(2),
        _ => None,
    }
}

/// Key type, `kid` and `alg` only: never key material.
impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(")?;
        self.describe(f)?;
        f.write_str(")")
    }
}

/// An immutable, cheaply cloned set of keys.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Arc<[Key]>,
}

impl KeySet {
    pub fn from_keys(keys: Vec<Key>) -> Self {
        Self { keys: keys.into() }
    }

    /// A set with the keys of `self` then those of `other`.
    pub fn merged(&self, other: &Self) -> Self {
        Self {
            keys: self.keys.iter().chain(other.keys.iter()).cloned().collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The kids of the keys that have one, in order (duplicates kept).
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().filter_map(Key::kid)
    }
}

/// `KeySet(n keys: ...)` with types and kids, never key material.
impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "KeySet({} key{}",
            self.keys.len(),
            if self.keys.len() == 1 { "" } else { "s" }
        )?;
        for (i, k) in self.keys.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { ", " })?;
            k.describe(f)?;
        }
        f.write_str(")")
    }
}
