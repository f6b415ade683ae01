//! JWT (JWS compact) verification: RS256/384/512, PS256/384/512, ES256, ES384, EdDSA (Ed25519)
//! and HS256/384/512 with `ring`.
//!
//! Plain Rust (no pyo3); the Python wrappers live in `crate::py::jwt`. The algorithm is taken
//! from the issuer's policy and key, never from the token alone: the header `alg` must be in the
//! issuer's allow-list *and* served by the selected key (see [`Key::accepts`]).

mod alg;
mod b64;
mod der;
mod error;
mod issuer;
mod jwks;
mod key;
mod pem;
mod token;
mod verifier;

#[cfg(test)]
mod tests;

pub use alg::{AlgSet, Algorithm, Family};
pub use b64::encode_url;
pub use error::JwtError;
pub use issuer::{parse_algorithms, Issuer, Policy};
pub use jwks::parse_jwks;
pub use key::{valid_kid, Key, KeySet, MAX_KID_LEN};
pub use pem::parse_pem;
pub use verifier::{unix_now, Rejection, Verified, Verifier, MAX_KIDLESS_KEYS};

/// Default bound on a token's length (8 KiB).
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8192;
/// Default clock skew allowed on `exp`, `nbf` and `iat` (seconds).
pub const DEFAULT_LEEWAY: u32 = 60;
/// Default number of verified tokens kept.
pub const DEFAULT_CACHE_SIZE: usize = 10_000;

impl KeySet {
    /// The usable keys of a JWKS document (see [`parse_jwks`]).
    pub fn from_jwks(document: &[u8]) -> Result<Self, JwtError> {
        parse_jwks(document)
    }

    /// One public key from PEM, optionally with a `kid` and pinned to `alg`.
    pub fn from_pem(
        pem: &[u8],
        kid: Option<&str>,
        alg: Option<Algorithm>,
    ) -> Result<Self, JwtError> {
        Ok(Self::from_keys(vec![parse_pem(pem, kid, alg)?]))
    }

    /// One HMAC secret pinned to `alg` (HS256, HS384 or HS512), at least as long as its hash.
    pub fn from_secret(secret: &[u8], kid: Option<&str>, alg: Algorithm) -> Result<Self, JwtError> {
        if alg.family() != Family::Hmac {
            return Err(JwtError::BadKey(
                "a secret serves HS256, HS384 or HS512 only",
            ));
        }
        Ok(Self::from_keys(vec![Key::hmac(kid, Some(alg), secret)?]))
    }
}
