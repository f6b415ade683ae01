//! Tests across the JWT core with fixed vectors signed by PyJWT (`testdata/vectors.json`, made by
//! `testdata/generate.py`) and HS256 tokens built here.

use std::sync::Arc;

use ring::hmac;
use serde_json::{json, Value};

use super::b64::encode_url;
use super::*;

const ISS: &str = "https://idp.example";
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-secret";

fn vectors() -> Value {
    serde_json::from_str(include_str!("../testdata/vectors.json")).unwrap()
}

fn now() -> i64 {
    vectors()["now"].as_i64().unwrap()
}

fn jwks_of(v: &Value, names: &[&str]) -> Vec<u8> {
    let keys: Vec<Value> = names.iter().map(|n| v["keys"][n]["jwk"].clone()).collect();
    serde_json::to_vec(&json!({ "keys": keys })).unwrap()
}

fn all_jwks(v: &Value) -> KeySet {
    KeySet::from_jwks(&jwks_of(v, &["rsa", "p256", "p384", "ed25519", "hmac"])).unwrap()
}

fn issuer(keys: KeySet, algs: &[Algorithm], f: impl FnOnce(&mut Policy)) -> Arc<Issuer> {
    let mut p = Policy::new(ISS);
    p.algorithms = algs.iter().copied().collect();
    f(&mut p);
    Arc::new(Issuer::new(p, keys).unwrap())
}

fn verifier(issuers: Vec<Arc<Issuer>>) -> Verifier {
    Verifier::new(issuers, 100).unwrap()
}

fn code(r: Result<Arc<Verified>, Rejection>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.error.code(),
    }
}

/// A compact JWS over raw header/payload JSON, signed with HMAC-SHA256 (or not at all).
fn hs256(header: &str, payload: &str, secret: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        encode_url(header.as_bytes()),
        encode_url(payload.as_bytes())
    );
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
    format!("{input}.{}", encode_url(tag.as_ref()))
}

fn hs_verifier(f: impl FnOnce(&mut Policy)) -> Verifier {
    let keys = KeySet::from_secret(SECRET, Some("k1"), Algorithm::HS256).unwrap();
    verifier(vec![issuer(keys, &[Algorithm::HS256], f)])
}

fn claims(extra: Value) -> String {
    let mut c = json!({ "iss": ISS, "sub": "u", "exp": 2_000_000_000i64 });
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c.to_string()
}

const HDR: &str = r#"{"alg":"HS256","kid":"k1"}"#;

// Split by area: keys and key sets; tokens and claims; the verifier (issuers, cache, errors).
mod keys;
mod tokens;
mod verifier;
