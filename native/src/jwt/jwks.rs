//! Key sets from a JWKS document (RFC 7517) with RSA, EC (P-256, P-384), OKP (Ed25519) and oct
//! keys (RFC 7518 §6, RFC 8037).
//!
//! A key that is not for signatures (`use` other than `sig`, `key_ops` without `verify`), of a
//! type, curve or `alg` this verifier does not implement, or invalid, is skipped: identity
//! providers publish encryption and future keys next to the signing keys, and one odd key must
//! not take the others down. A document without a single usable key is an error.

use super::alg::{Algorithm, Family};
use super::b64::decode_url;
use super::key::{Key, KeySet};
use super::JwtError;

const NOT_JWKS: JwtError = JwtError::BadKey("not a JWKS document ({\"keys\": [...]})");

/// Parses a JWKS document (`{"keys": [...]}`) into the usable keys.
pub fn parse_jwks(document: &[u8]) -> Result<KeySet, JwtError> {
    let doc: serde_json::Value = serde_json::from_slice(document).map_err(|_| NOT_JWKS)?;
    let keys: Vec<Key> = doc
        .get("keys")
        .and_then(serde_json::Value::as_array)
        .ok_or(NOT_JWKS)?
        .iter()
        .filter_map(|jwk| parse_jwk(jwk.as_object()?).ok())
        .collect();
    if keys.is_empty() {
        return Err(JwtError::BadKey(
            "JWKS has no usable signature verification key",
        ));
    }
    Ok(KeySet::from_keys(keys))
}

/// Parses one JWK; `Err` means "skip".
pub(crate) fn parse_jwk(jwk: &serde_json::Map<String, serde_json::Value>) -> Result<Key, JwtError> {
    const SKIP: JwtError = JwtError::BadKey("unusable JWK");
    let text = |name: &str| -> Result<Option<&str>, JwtError> {
        match jwk.get(name) {
            None => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or(SKIP),
        }
    };
    let bytes = |name: &str| -> Result<Vec<u8>, JwtError> {
        text(name)?
            .and_then(|s| decode_url(s.as_bytes()))
            .ok_or(SKIP)
    };
    if text("use")?.is_some_and(|u| u != "sig") {
        return Err(SKIP);
    }
    if let Some(ops) = jwk.get("key_ops") {
        let ops = ops.as_array().ok_or(SKIP)?;
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return Err(SKIP);
        }
    }
    let kid = text("kid")?;
    let alg = text("alg")?
        .map(|a| Algorithm::from_name(a).ok_or(SKIP))
        .transpose()?;
    match text("kty")?.ok_or(SKIP)? {
        "RSA" => Key::rsa(kid, alg, &bytes("n")?, &bytes("e")?),
        "EC" => {
            let (family, size) = match text("crv")?.ok_or(SKIP)? {
                "P-256" => (Family::EcP256, 32),
                "P-384" => (Family::EcP384, 48),
                _ => return Err(SKIP),
            };
            let (x, y) = (bytes("x")?, bytes("y")?);
            // RFC 7518 §6.2.1.2: the coordinates are the full size of the field.
            if x.len() != size || y.len() != size {
                return Err(SKIP);
            }
            let point: Vec<u8> = [&[4u8][..], &x, &y].concat();
            Key::ec(kid, alg, family, &point)
        }
        "OKP" => match text("crv")?.ok_or(SKIP)? {
            "Ed25519" => Key::ed25519(kid, alg, &bytes("x")?),
            _ => Err(SKIP),
        },
        "oct" => Key::hmac(kid, alg, &bytes("k")?),
        _ => Err(SKIP),
    }
}
