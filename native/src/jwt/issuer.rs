//! The policy for one issuer: its keys, allowed algorithms and claim rules.

use std::sync::Arc;

use super::alg::{AlgSet, Algorithm};
use super::key::KeySet;
use super::{JwtError, DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_BYTES};

/// Claim rules of an issuer, as configured.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Exact `iss` value.
    pub issuer: String,
    /// Accepted `aud` values; empty means only tokens without an `aud` are accepted.
    pub audiences: Vec<String>,
    /// Algorithms a token may use (never `none`); keys narrow this further.
    pub algorithms: AlgSet,
    /// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
    pub leeway: u32,
    /// Claims that must be present and not `null`.
    pub required_claims: Vec<String>,
    pub require_exp: bool,
    pub max_token_bytes: usize,
}

impl Policy {
    /// Defaults: every asymmetric algorithm, 60 s leeway, `exp` required, 8 KiB tokens.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audiences: Vec::new(),
            algorithms: Algorithm::ASYMMETRIC.into_iter().collect(),
            leeway: DEFAULT_LEEWAY,
            required_claims: Vec::new(),
            require_exp: true,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        }
    }
}

/// Parses algorithm names for [`Policy::algorithms`].
pub fn parse_algorithms<S: AsRef<str>>(names: &[S]) -> Result<AlgSet, JwtError> {
    names
        .iter()
        .map(|n| Algorithm::from_name(n.as_ref()).ok_or(JwtError::Unsupported("algorithm name")))
        .collect()
}

/// An immutable issuer: [`Policy`] plus [`KeySet`].
#[derive(Debug)]
pub struct Issuer {
    pub(crate) name: Arc<str>,
    pub(crate) policy: Policy,
    pub(crate) keys: KeySet,
}

impl Issuer {
    pub fn new(policy: Policy, keys: KeySet) -> Result<Self, JwtError> {
        if policy.issuer.is_empty() {
            return Err(JwtError::BadConfig("issuer must not be empty"));
        }
        if policy.algorithms.is_empty() {
            return Err(JwtError::BadConfig("algorithms must not be empty"));
        }
        if policy.audiences.iter().any(String::is_empty)
            || policy.required_claims.iter().any(String::is_empty)
        {
            return Err(JwtError::BadConfig(
                "audiences and required claims must not be empty strings",
            ));
        }
        if policy.max_token_bytes == 0 {
            return Err(JwtError::BadConfig("max_token_bytes must be positive"));
        }
        if !keys
            .keys()
            .iter()
            .any(|k| policy.algorithms.iter().any(|a| k.accepts(a)))
        {
            return Err(JwtError::BadConfig(
                "no key of the issuer serves an allowed algorithm",
            ));
        }
        Ok(Self {
            name: policy.issuer.as_str().into(),
            policy,
            keys,
        })
    }

    /// The same policy with other keys (after a JWKS refresh).
    pub fn with_keys(&self, keys: KeySet) -> Result<Self, JwtError> {
        Self::new(self.policy.clone(), keys)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn keys(&self) -> &KeySet {
        &self.keys
    }
}
