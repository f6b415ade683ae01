//! Token verification against a set of issuers, with a cache of verified tokens.
//!
//! Order of checks (each step only runs if the previous ones passed):
//! 1. size against the largest `max_token_bytes` of all issuers, before any decoding;
//! 2. cache: a hit is re-checked against `now` (`exp`, `nbf`, `iat`) and returned;
//! 3. three strictly base64url segments; header a JSON object with a string `alg`, a known
//!    algorithm (never `none`), no `crit`, a well-formed `kid`; payload a JSON object whose
//!    registered claims have the right types;
//! 4. the policy is picked by the *unverified* `iss` (unknown → `bad_issuer`), then the size
//!    against that issuer's limit;
//! 5. `alg` in the issuer's allow-list, then the key: by `kid` (absent → `unknown_kid`; present
//!    but not serving `alg` → `key_mismatch`), or without a `kid` the first
//!    [`MAX_KIDLESS_KEYS`] keys that serve `alg`;
//! 6. the signature;
//! 7. the claims, in PyJWT's order: required claims (and `exp` unless not required), `iat`,
//!    `nbf`, `exp`, `aud`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use ring::digest;

use super::alg::Algorithm;
use super::issuer::Issuer;
use super::key::{valid_kid, Key};
use super::token::{self, Claims};
use super::JwtError;

/// Without a `kid`, at most this many keys are tried.
pub const MAX_KIDLESS_KEYS: usize = 4;

/// A verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub issuer: Arc<str>,
    pub subject: Option<String>,
    pub audiences: Vec<String>,
    pub expires_at: Option<i64>,
    pub not_before: Option<i64>,
    pub issued_at: Option<i64>,
    /// `kid` of the key that verified the signature.
    pub key_id: Option<Arc<str>>,
    pub algorithm: Algorithm,
    /// The payload JSON exactly as signed.
    pub claims_json: Box<[u8]>,
}

/// A refusal, with the issuer whose policy refused it when one was selected (the caller may
/// refresh that issuer's JWKS after `unknown_kid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub error: JwtError,
    pub issuer: Option<Arc<str>>,
}

impl From<JwtError> for Rejection {
    fn from(error: JwtError) -> Self {
        Self {
            error,
            issuer: None,
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for Rejection {}

struct Registry {
    issuers: Vec<Arc<Issuer>>,
    max_token_bytes: usize,
}

impl Registry {
    fn new(issuers: Vec<Arc<Issuer>>) -> Self {
        let max_token_bytes = issuers
            .iter()
            .map(|i| i.policy.max_token_bytes)
            .max()
            .unwrap_or(0);
        Self {
            issuers,
            max_token_bytes,
        }
    }

    fn find(&self, name: &str) -> Option<(usize, &Arc<Issuer>)> {
        self.issuers
            .iter()
            .enumerate()
            .find(|(_, i)| &*i.name == name)
    }
}

struct Entry {
    verified: Arc<Verified>,
    /// The issuer that verified it; the entry is stale once the registry holds another one.
    issuer: Arc<Issuer>,
    index: usize,
}

/// Verifies tokens of several issuers; shareable between threads.
pub struct Verifier {
    registry: Mutex<Arc<Registry>>,
    cache: Mutex<HashMap<[u8; 32], Entry>>,
    cache_size: usize,
}

impl Verifier {
    /// `cache_size` 0 disables the cache.
    pub fn new(issuers: Vec<Arc<Issuer>>, cache_size: usize) -> Result<Self, JwtError> {
        if issuers.is_empty() {
            return Err(JwtError::BadConfig("at least one issuer is needed"));
        }
        for (i, a) in issuers.iter().enumerate() {
            if issuers[..i].iter().any(|b| a.name == b.name) {
                return Err(JwtError::BadConfig("duplicate issuer"));
            }
        }
        Ok(Self {
            registry: Mutex::new(Arc::new(Registry::new(issuers))),
            cache: Mutex::new(HashMap::new()),
            cache_size,
        })
    }

    fn registry(&self) -> Arc<Registry> {
        self.registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the issuer of the same name (e.g. with refreshed keys) and drops its cached
    /// tokens.
    pub fn replace_issuer(&self, issuer: Arc<Issuer>) -> Result<(), JwtError> {
        let mut slot = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        let (index, old) = slot
            .find(&issuer.name)
            .ok_or(JwtError::BadConfig("no issuer of that name"))?;
        let old = old.clone();
        let mut issuers = slot.issuers.clone();
        issuers[index] = issuer;
        *slot = Arc::new(Registry::new(issuers));
        drop(slot);
        self.cache().retain(|_, e| !Arc::ptr_eq(&e.issuer, &old));
        Ok(())
    }

    /// The current issuer of that name.
    pub fn issuer(&self, name: &str) -> Option<Arc<Issuer>> {
        self.registry().find(name).map(|(_, i)| i.clone())
    }

    pub fn cache_len(&self) -> usize {
        self.cache().len()
    }

    /// Largest `max_token_bytes` of the issuers: longer tokens are refused undecoded.
    pub fn max_token_bytes(&self) -> usize {
        self.registry().max_token_bytes
    }

    /// Verifies `token` at `now` (Unix seconds): [`Verifier::cached`], else [`Verifier::verify_fresh`].
    pub fn verify(&self, token: &[u8], now: i64) -> Result<Arc<Verified>, Rejection> {
        match self.cached(token, now) {
            Some(result) => result,
            None => self.verify_fresh(token, now),
        }
    }

    /// The cached outcome for `token` (re-checked against `now`), `None` on a miss. Refuses
    /// oversized tokens without hashing them.
    pub fn cached(&self, token: &[u8], now: i64) -> Option<Result<Arc<Verified>, Rejection>> {
        let registry = self.registry();
        if token.len() > registry.max_token_bytes {
            return Some(Err(JwtError::TooLarge.into()));
        }
        if self.cache_size == 0 {
            return None;
        }
        let hash = cache_key(token);
        let cache = self.cache();
        let entry = cache.get(&hash)?;
        if !registry
            .issuers
            .get(entry.index)
            .is_some_and(|i| Arc::ptr_eq(i, &entry.issuer))
        {
            return None; // replaced meanwhile; `verify_fresh` overwrites the entry
        }
        let v = &entry.verified;
        Some(
            match check_times(v.expires_at, v.not_before, v.issued_at, now, &entry.issuer) {
                Ok(()) => Ok(v.clone()),
                Err(error) => Err(Rejection {
                    error,
                    issuer: Some(entry.issuer.name.clone()),
                }),
            },
        )
    }

    /// Full verification, bypassing the cache lookup; a success with `exp` is cached.
    pub fn verify_fresh(&self, token: &[u8], now: i64) -> Result<Arc<Verified>, Rejection> {
        let registry = self.registry();
        if token.len() > registry.max_token_bytes {
            return Err(JwtError::TooLarge.into());
        }
        let parts = token::split(token)?;
        let header = token::parse_header(&parts.header)?;
        let alg = Algorithm::from_name(&header.alg).ok_or(JwtError::AlgNotAllowed)?;
        if header.crit {
            return Err(JwtError::Unsupported("crit header").into());
        }
        if header.kid.as_deref().is_some_and(|k| !valid_kid(k)) {
            return Err(JwtError::BadKid.into());
        }
        let claims = token::parse_claims(&parts.payload)?;
        let (index, issuer) = claims
            .iss
            .as_deref()
            .and_then(|iss| registry.find(iss))
            .ok_or(JwtError::BadIssuer)?;
        let reject = |error| Rejection {
            error,
            issuer: Some(issuer.name.clone()),
        };
        let policy = &issuer.policy;
        if token.len() > policy.max_token_bytes {
            return Err(reject(JwtError::TooLarge));
        }
        if !policy.algorithms.contains(alg) {
            return Err(reject(JwtError::AlgNotAllowed));
        }
        let key = select_and_verify(issuer, header.kid.as_deref(), alg, &parts).map_err(reject)?;
        check_claims(&claims, now, issuer).map_err(reject)?;
        let verified = Arc::new(Verified {
            issuer: issuer.name.clone(),
            subject: claims.sub.map(Into::into),
            audiences: claims.aud.into_iter().map(Into::into).collect(),
            expires_at: claims.exp,
            not_before: claims.nbf,
            issued_at: claims.iat,
            key_id: key.kid_arc().cloned(),
            algorithm: alg,
            claims_json: parts.payload.into(),
        });
        if self.cache_size > 0 && verified.expires_at.is_some() {
            self.insert(
                cache_key(token),
                verified.clone(),
                issuer.clone(),
                index,
                now,
            );
        }
        Ok(verified)
    }

    fn insert(
        &self,
        hash: [u8; 32],
        verified: Arc<Verified>,
        issuer: Arc<Issuer>,
        index: usize,
        now: i64,
    ) {
        let mut cache = self.cache();
        if cache.len() >= self.cache_size && !cache.contains_key(&hash) {
            // Drop what has expired; if that is not enough, an arbitrary eighth.
            cache.retain(|_, e| {
                let leeway = i64::from(e.issuer.policy.leeway);
                e.verified
                    .expires_at
                    .is_some_and(|exp| exp > now.saturating_sub(leeway))
            });
            if cache.len() >= self.cache_size {
                let excess = self
                    .cache_size
                    .div_ceil(8)
                    .max(cache.len() + 1 - self.cache_size);
                let mut seen = 0;
                cache.retain(|_, _| {
                    seen += 1;
                    seen > excess
                });
            }
        }
        cache.insert(
            hash,
            Entry {
                verified,
                issuer,
                index,
            },
        );
    }
}

fn cache_key(token: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    key.copy_from_slice(digest::digest(&digest::SHA256, token).as_ref());
    key
}

/// Picks the key(s) and verifies the signature; returns the key that verified it.
fn select_and_verify<'i>(
    issuer: &'i Issuer,
    kid: Option<&str>,
    alg: Algorithm,
    parts: &token::Parts<'_>,
) -> Result<&'i Key, JwtError> {
    let keys = issuer.keys.keys();
    let verify = |k: &&Key| k.verify(alg, parts.signing_input, &parts.signature);
    let candidates: Vec<&Key> = match kid {
        Some(kid) => {
            let mut named = keys.iter().filter(|k| k.kid() == Some(kid)).peekable();
            if named.peek().is_none() {
                return Err(JwtError::UnknownKid);
            }
            named.filter(|k| k.accepts(alg)).collect()
        }
        None => keys
            .iter()
            .filter(|k| k.accepts(alg))
            .take(MAX_KIDLESS_KEYS)
            .collect(),
    };
    if candidates.is_empty() {
        return Err(JwtError::KeyMismatch);
    }
    candidates
        .into_iter()
        .find(verify)
        .ok_or(JwtError::BadSignature)
}

fn check_claims(claims: &Claims<'_>, now: i64, issuer: &Issuer) -> Result<(), JwtError> {
    let policy = &issuer.policy;
    if policy.require_exp && claims.exp.is_none() {
        return Err(JwtError::MissingClaim("exp".into()));
    }
    if let Some(missing) = policy.required_claims.iter().find(|c| !claims.has(c)) {
        return Err(JwtError::MissingClaim(missing.as_str().into()));
    }
    check_times(claims.exp, claims.nbf, claims.iat, now, issuer)?;
    // RFC 7519 4.1.3 (and PyJWT): a token naming audiences is refused by an issuer that names none,
    // so a token minted for another service is never accepted here by default.
    let accepted = if policy.audiences.is_empty() {
        claims.aud.is_empty()
    } else {
        claims
            .aud
            .iter()
            .any(|a| policy.audiences.iter().any(|p| p == a))
    };
    if !accepted {
        return Err(JwtError::BadAudience);
    }
    Ok(())
}

/// PyJWT's rules: `iat > now + leeway` and `nbf > now + leeway` are refused, and so is
/// `exp <= now - leeway`.
fn check_times(
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
    now: i64,
    issuer: &Issuer,
) -> Result<(), JwtError> {
    let leeway = i64::from(issuer.policy.leeway);
    let (late, early) = (now.saturating_add(leeway), now.saturating_sub(leeway));
    if iat.is_some_and(|t| t > late) {
        return Err(JwtError::IssuedInFuture);
    }
    if nbf.is_some_and(|t| t > late) {
        return Err(JwtError::NotYetValid);
    }
    if exp.is_some_and(|t| t <= early) {
        return Err(JwtError::Expired);
    }
    Ok(())
}

/// Current Unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
