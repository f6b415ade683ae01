//! The JWS algorithms this verifier implements and how each maps onto `ring`.

use ring::{hmac, signature};

/// A JWS `alg` (RFC 7518 §3, RFC 8037 for `EdDSA`). `none` is deliberately absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
    HS256,
    HS384,
    HS512,
}

/// Key type an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
    Hmac,
}

impl Algorithm {
    pub const ALL: [Self; 12] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
        Self::HS256,
        Self::HS384,
        Self::HS512,
    ];

    /// Default allow-list of an issuer: every asymmetric algorithm.
    pub const ASYMMETRIC: [Self; 9] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
    ];

    /// Parses an exact (case-sensitive) JWS name; `None` for `none` and anything unknown.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
        }
    }

    pub fn family(self) -> Family {
        match self {
            Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256 | Self::PS384 | Self::PS512 => {
                Family::Rsa
            }
            Self::ES256 => Family::EcP256,
            Self::ES384 => Family::EcP384,
            Self::EdDSA => Family::Ed25519,
            Self::HS256 | Self::HS384 | Self::HS512 => Family::Hmac,
        }
    }

    /// Bit of this algorithm in an [`AlgSet`].
    const fn bit(self) -> u16 {
        1 << self as u16
    }

    /// `ring` parameters of an RSA algorithm (moduli of 2048 to 8192 bits).
    pub(crate) fn rsa_params(self) -> Option<&'static signature::RsaParameters> {
        Some(match self {
            Self::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Self::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Self::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Self::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Self::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
            Self::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
            _ => return None,
        })
    }

    /// `ring` HMAC algorithm and minimum secret length (the hash output size, RFC 7518 §3.2).
    pub(crate) fn hmac(self) -> Option<(hmac::Algorithm, usize)> {
        Some(match self {
            Self::HS256 => (hmac::HMAC_SHA256, 32),
            Self::HS384 => (hmac::HMAC_SHA384, 48),
            Self::HS512 => (hmac::HMAC_SHA512, 64),
            _ => return None,
        })
    }
}

/// A small set of algorithms (an issuer's allow-list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AlgSet(u16);

impl AlgSet {
    pub fn contains(self, alg: Algorithm) -> bool {
        self.0 & alg.bit() != 0
    }

    pub fn insert(&mut self, alg: Algorithm) {
        self.0 |= alg.bit();
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Members in [`Algorithm::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL
            .into_iter()
            .filter(move |a| self.contains(*a))
    }
}

impl FromIterator<Algorithm> for AlgSet {
    fn from_iter<I: IntoIterator<Item = Algorithm>>(iter: I) -> Self {
        let mut set = Self::default();
        iter.into_iter().for_each(|a| set.insert(a));
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_none_is_unknown() {
        for a in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(a.name()), Some(a));
        }
        for bad in [
            "none", "None", "NONE", "", "rs256", "HS256 ", "ES512", "Ed25519", "RS1",
        ] {
            assert_eq!(Algorithm::from_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn alg_set() {
        let set: AlgSet = [Algorithm::RS256, Algorithm::EdDSA].into_iter().collect();
        assert!(set.contains(Algorithm::RS256) && set.contains(Algorithm::EdDSA));
        assert!(!set.contains(Algorithm::HS256));
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [Algorithm::RS256, Algorithm::EdDSA]
        );
        assert!(AlgSet::default().is_empty());
        let asym: AlgSet = Algorithm::ASYMMETRIC.into_iter().collect();
        assert!(asym.iter().all(|a| a.family() != Family::Hmac));
        assert_eq!(asym.iter().count(), 9);
    }
}
