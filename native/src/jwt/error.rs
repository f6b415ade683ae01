use std::fmt;

/// Why a token, a key or a policy was refused; mapped to the Python `JwtError` (a `ValueError`)
/// with [`JwtError::code`] as its stable `.code`.
///
/// Messages name the failed check only: never the token, a claim value, a `kid` or key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url segments of a JSON-object header and payload, or a registered claim
    /// (`iss`, `sub`, `aud`, `exp`, `nbf`, `iat`, `jti`) of the wrong type.
    Malformed(&'static str),
    /// Longer than the verifier's (or the issuer's) `max_token_bytes`.
    TooLarge,
    /// The signature does not verify with the selected key(s).
    BadSignature,
    /// The header `alg` is unknown, `none`, or not in the issuer's allowed list.
    AlgNotAllowed,
    /// No key of the issuer (with the token's `kid`, if any) can verify the header `alg`.
    KeyMismatch,
    /// The token's `kid` is not in the issuer's key set (the caller may refresh the JWKS).
    UnknownKid,
    /// The token's `kid` is empty, too long or has characters outside `[A-Za-z0-9._~+=-]`.
    BadKid,
    Expired,
    NotYetValid,
    IssuedInFuture,
    /// `iss` missing or not one of the verifier's issuers.
    BadIssuer,
    /// `aud` missing or not intersecting the issuer's audiences.
    BadAudience,
    /// A required claim (named from the policy, never from the token) is absent or `null`.
    MissingClaim(Box<str>),
    /// A feature this verifier does not implement (`crit` header, compressed EC point, ...).
    Unsupported(&'static str),
    /// Unusable key material (JWKS, PEM, secret).
    BadKey(&'static str),
    /// Invalid issuer or verifier configuration.
    BadConfig(&'static str),
}

impl JwtError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::TooLarge => "too_large",
            Self::BadSignature => "bad_signature",
            Self::AlgNotAllowed => "alg_not_allowed",
            Self::KeyMismatch => "key_mismatch",
            Self::UnknownKid => "unknown_kid",
            Self::BadKid => "bad_kid",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::IssuedInFuture => "issued_in_future",
            Self::BadIssuer => "bad_issuer",
            Self::BadAudience => "bad_audience",
            Self::MissingClaim(_) => "missing_claim",
            Self::Unsupported(_) => "unsupported",
            Self::BadKey(_) => "bad_key",
            Self::BadConfig(_) => "bad_config",
        }
    }
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(what) => write!(f, "malformed token: {what}"),
            Self::TooLarge => f.write_str("token exceeds max_token_bytes"),
            Self::BadSignature => f.write_str("signature verification failed"),
            Self::AlgNotAllowed => f.write_str("token algorithm not allowed for this issuer"),
            Self::KeyMismatch => f.write_str("no key of the issuer matches the token algorithm"),
            Self::UnknownKid => f.write_str("token key id not in the issuer's key set"),
            Self::BadKid => f.write_str("invalid token key id"),
            Self::Expired => f.write_str("token expired"),
            Self::NotYetValid => f.write_str("token not yet valid (nbf)"),
            Self::IssuedInFuture => f.write_str("token issued in the future (iat)"),
            Self::BadIssuer => f.write_str("token issuer missing or unknown"),
            Self::BadAudience => f.write_str("token audience missing or not accepted"),
            Self::MissingClaim(name) => write!(f, "token lacks the required claim {name:?}"),
            Self::Unsupported(what) => write!(f, "unsupported: {what}"),
            Self::BadKey(what) => write!(f, "unusable key: {what}"),
            Self::BadConfig(what) => write!(f, "invalid JWT policy: {what}"),
        }
    }
}

impl std::error::Error for JwtError {}
