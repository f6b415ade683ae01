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
    serde_json::from_str(include_str!("testdata/vectors.json")).unwrap()
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

#[test]
fn every_vector_verifies_from_jwks_and_pem() {
    let v = vectors();
    let jwks = all_jwks(&v);
    assert_eq!(jwks.len(), 5);
    let mut pem_keys = Vec::new();
    for name in ["rsa", "p256", "p384", "ed25519"] {
        let pem = v["keys"][name]["pem"].as_str().unwrap();
        pem_keys.push(KeySet::from_pem(pem.as_bytes(), Some(&format!("{name}-1")), None).unwrap());
    }
    let hmac_secret: Vec<u8> = (0..64).collect();
    pem_keys.push(KeySet::from_secret(&hmac_secret, Some("hmac-1"), Algorithm::HS512).unwrap());
    for t in v["tokens"].as_array().unwrap() {
        let alg = Algorithm::from_name(t["alg"].as_str().unwrap()).unwrap();
        let token = t["token"].as_str().unwrap().as_bytes();
        let mut pem_set = pem_keys.iter().fold(KeySet::default(), |a, b| a.merged(b));
        if alg.family() == Family::Hmac {
            pem_set = KeySet::from_secret(&hmac_secret, Some("hmac-1"), alg).unwrap();
        }
        for keys in [jwks.clone(), pem_set] {
            let ver = verifier(vec![issuer(keys, &Algorithm::ALL, |p| {
                p.audiences = vec!["brutor".into()]
            })]);
            let got = ver
                .verify_fresh(token, now())
                .unwrap_or_else(|e| panic!("{}: {e}", alg.name()));
            assert_eq!(got.algorithm, alg);
            assert_eq!(got.subject.as_deref(), Some("user-1"));
            assert_eq!(got.audiences, ["brutor", "other"]);
            assert_eq!(got.expires_at, Some(now() + 600));
            assert_eq!(got.issued_at, Some(now() - 10));
            assert_eq!(
                got.key_id.as_deref(),
                Some(format!("{}-1", t["key"].as_str().unwrap()).as_str())
            );
            let payload: Value = serde_json::from_slice(&got.claims_json).unwrap();
            assert_eq!(payload, v["claims"]);
        }
    }
}

#[test]
fn every_vector_fails_with_other_keys_and_when_tampered() {
    let v = vectors();
    for t in v["tokens"].as_array().unwrap() {
        let alg = Algorithm::from_name(t["alg"].as_str().unwrap()).unwrap();
        let token = t["token"].as_str().unwrap();
        let own = t["key"].as_str().unwrap();
        // Same kid, another key of the same family where one exists (a second RSA key: the PKCS#1
        // PEM of the same key would verify, so use the P-256/P-384 swap and a different secret).
        let ver = verifier(vec![issuer(all_jwks(&v), &Algorithm::ALL, |_| {})]);
        assert_eq!(code(ver.verify_fresh(token.as_bytes(), now())), "ok");
        // Every single-character change anywhere is refused (and never panics).
        let bytes = token.as_bytes();
        for i in 0..bytes.len() {
            for replacement in [b'A', b'x', b'.', b'=', b'-'] {
                if bytes[i] == replacement {
                    continue;
                }
                let mut bad = bytes.to_vec();
                bad[i] = replacement;
                assert_ne!(
                    code(ver.verify_fresh(&bad, now())),
                    "ok",
                    "{} pos {i}",
                    alg.name()
                );
            }
        }
        // Bit flips of the last signature character (trailing-bit malleability).
        let mut bad = bytes.to_vec();
        let last = bad.len() - 1;
        for bit in 0..6 {
            let mut c = bad[last];
            c ^= 1 << bit;
            if c.is_ascii_alphanumeric() || c == b'-' || c == b'_' {
                bad[last] = c;
                assert_ne!(
                    code(ver.verify_fresh(&bad, now())),
                    "ok",
                    "{} bit {bit}",
                    alg.name()
                );
                bad[last] = bytes[last];
            }
        }
        // The right kid with keys of the other families only.
        let others: Vec<&str> = ["rsa", "p256", "p384", "ed25519", "hmac"]
            .into_iter()
            .filter(|n| *n != own)
            .collect();
        let mut jwks: Value = serde_json::from_slice(&jwks_of(&v, &others)).unwrap();
        for k in jwks["keys"].as_array_mut().unwrap() {
            k["kid"] = json!(format!("{own}-1"));
        }
        let keys = KeySet::from_jwks(&serde_json::to_vec(&jwks).unwrap()).unwrap();
        let ver = verifier(vec![issuer(keys, &Algorithm::ALL, |_| {})]);
        assert_eq!(
            code(ver.verify_fresh(token.as_bytes(), now())),
            "key_mismatch",
            "{}",
            alg.name()
        );
        // Not in the allow-list.
        let rest: Vec<Algorithm> = Algorithm::ALL.into_iter().filter(|a| *a != alg).collect();
        let ver = verifier(vec![issuer(all_jwks(&v), &rest, |_| {})]);
        assert_eq!(
            code(ver.verify_fresh(token.as_bytes(), now())),
            "alg_not_allowed"
        );
    }
}

#[test]
fn same_family_wrong_key_is_bad_signature() {
    let v = vectors();
    let token = v["tokens"][0]["token"].as_str().unwrap(); // RS256 by the "rsa" key
    let other = KeySet::from_secret(&[7u8; 32], Some("rsa-1"), Algorithm::HS256).unwrap();
    let hs = verifier(vec![issuer(
        other,
        &[Algorithm::RS256, Algorithm::HS256],
        |_| {},
    )]);
    assert_eq!(
        code(hs.verify_fresh(token.as_bytes(), now())),
        "key_mismatch"
    );
    let hs_token = hs256(
        r#"{"alg":"HS256","kid":"k1"}"#,
        &claims(json!({})),
        b"another secret of at least 32 bytes!!",
    );
    assert_eq!(
        code(hs_verifier(|_| {}).verify_fresh(hs_token.as_bytes(), now())),
        "bad_signature"
    );
}

#[test]
fn pkcs1_pem_and_pinned_alg() {
    let v = vectors();
    let pkcs1 = v["keys"]["rsa"]["pkcs1_pem"].as_str().unwrap().as_bytes();
    let rs256 = v["tokens"][0]["token"].as_str().unwrap().as_bytes();
    let ps256 = v["tokens"][3]["token"].as_str().unwrap().as_bytes();
    let keys = KeySet::from_pem(pkcs1, None, None).unwrap();
    let ver = verifier(vec![issuer(keys, &Algorithm::ALL, |_| {})]);
    assert_eq!(code(ver.verify_fresh(rs256, now())), "unknown_kid"); // the token has kid "rsa-1"
    let keys = KeySet::from_pem(pkcs1, Some("rsa-1"), Some(Algorithm::PS256)).unwrap();
    let ver = verifier(vec![issuer(keys, &Algorithm::ALL, |_| {})]);
    assert_eq!(code(ver.verify_fresh(ps256, now())), "ok");
    assert_eq!(code(ver.verify_fresh(rs256, now())), "key_mismatch"); // pinned to PS256
}

#[test]
fn pem_rejections() {
    let v = vectors();
    let rsa = v["keys"]["rsa"]["pem"].as_str().unwrap();
    let e = |pem: &str, alg| {
        KeySet::from_pem(pem.as_bytes(), None, alg)
            .unwrap_err()
            .code()
    };
    assert_eq!(
        e(v["keys"]["rsa1024"]["pem"].as_str().unwrap(), None),
        "bad_key"
    );
    assert_eq!(
        e(v["keys"]["secp256k1"]["pem"].as_str().unwrap(), None),
        "unsupported"
    );
    assert_eq!(e(rsa, Some(Algorithm::ES256)), "bad_key");
    assert_eq!(e(rsa, Some(Algorithm::HS256)), "bad_key");
    assert_eq!(
        e(
            v["keys"]["p256"]["pem"].as_str().unwrap(),
            Some(Algorithm::ES384)
        ),
        "bad_key"
    );
    assert_eq!(
        e(&rsa.replace("PUBLIC KEY", "PRIVATE KEY"), None),
        "bad_key"
    );
    assert_eq!(
        e(&rsa.replace("PUBLIC KEY", "CERTIFICATE"), None),
        "unsupported"
    );
    assert_eq!(
        e(
            &rsa.replace("-----END PUBLIC KEY-----", "-----END RSA PUBLIC KEY-----"),
            None
        ),
        "bad_key"
    );
    assert_eq!(e(&format!("{rsa}{rsa}"), None), "bad_key");
    assert_eq!(e(&rsa.replace("AQAB", "AQA*"), None), "bad_key");
    assert_eq!(e(&rsa[..rsa.len() - 40], None), "bad_key");
    assert_eq!(e(&format!("junk\n{rsa}"), None), "bad_key");
    // Surrounding whitespace and CRLF line ends are fine.
    assert!(KeySet::from_pem(
        format!("\n  {}\n", rsa.replace('\n', "\r\n")).as_bytes(),
        None,
        None
    )
    .is_ok());
}

#[test]
fn jwks_skips_unusable_keys() {
    let v = vectors();
    let rsa = v["keys"]["rsa"]["jwk"].clone();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut k = rsa.clone();
        f(&mut k);
        serde_json::to_vec(&json!({ "keys": [k, v["keys"]["ed25519"]["jwk"]] })).unwrap()
    };
    let count = |doc: Vec<u8>| KeySet::from_jwks(&doc).map_or(0, |k| k.len());
    assert_eq!(count(with(&|_| {})), 2);
    assert_eq!(count(with(&|k| k["use"] = json!("sig"))), 2);
    assert_eq!(count(with(&|k| k["alg"] = json!("PS384"))), 2);
    for skip in [
        &(|k: &mut Value| k["use"] = json!("enc")) as &dyn Fn(&mut Value),
        &|k| k["key_ops"] = json!(["encrypt"]),
        &|k| k["key_ops"] = json!("verify"),
        &|k| k["alg"] = json!("RSA-OAEP"),
        &|k| k["alg"] = json!("ES256"),
        &|k| k["alg"] = json!("none"),
        &|k| k["kid"] = json!("../../etc/passwd"),
        &|k| k["kid"] = json!(7),
        &|k| k["kid"] = json!("x".repeat(257)),
        &|k| k["kty"] = json!("rsa"),
        &|k| k["n"] = json!(format!("{}=", k["n"].as_str().unwrap())),
        &|k| k["e"] = json!("AAE"),
        &|k| k["n"] = json!("AQAB"),
        &|k| k["n"] = json!("AAAA"),
        &|k| k["n"] = json!(""),
        &|k| k["e"] = json!(""),
        &|k| k["e"] = json!("AAAAAAAAAAAB"),
        &|k| {
            k.as_object_mut().unwrap().remove("e");
        },
    ] {
        assert_eq!(count(with(skip)), 1);
    }
    assert_eq!(
        KeySet::from_jwks(b"{\"keys\":[]}").unwrap_err().code(),
        "bad_key"
    );
    assert_eq!(KeySet::from_jwks(b"[]").unwrap_err().code(), "bad_key");
    assert_eq!(
        KeySet::from_jwks(b"{\"keys\":{}}").unwrap_err().code(),
        "bad_key"
    );
    // EC: coordinates of the wrong size or curve; OKP: another curve; oct: too short.
    let mut p256 = v["keys"]["p256"]["jwk"].clone();
    p256["crv"] = json!("P-384");
    let short = json!({"kty": "oct", "k": encode_url(&[1u8; 31])});
    let x448 = json!({"kty": "OKP", "crv": "Ed448", "x": encode_url(&[1u8; 57])});
    let doc = serde_json::to_vec(&json!({ "keys": [p256, short, x448] })).unwrap();
    assert_eq!(KeySet::from_jwks(&doc).unwrap_err().code(), "bad_key");
    // Leading zero bytes in n and e are tolerated.
    let mut padded = rsa.clone();
    let n = b64::decode_url(rsa["n"].as_str().unwrap().as_bytes()).unwrap();
    padded["n"] = json!(encode_url(&[&[0u8][..], &n].concat()));
    padded["e"] = json!("AAEAAQ");
    assert_eq!(
        count(serde_json::to_vec(&json!({ "keys": [padded] })).unwrap()),
        1
    );
}

#[test]
fn secrets() {
    assert_eq!(
        KeySet::from_secret(&[1; 31], None, Algorithm::HS256)
            .unwrap_err()
            .code(),
        "bad_key"
    );
    assert_eq!(
        KeySet::from_secret(&[1; 47], None, Algorithm::HS384)
            .unwrap_err()
            .code(),
        "bad_key"
    );
    assert_eq!(
        KeySet::from_secret(&[1; 64], None, Algorithm::RS256)
            .unwrap_err()
            .code(),
        "bad_key"
    );
    assert_eq!(
        KeySet::from_secret(&[1; 32], Some("a/b"), Algorithm::HS256)
            .unwrap_err()
            .code(),
        "bad_key"
    );
    let keys = KeySet::from_secret(&[1; 64], Some("k"), Algorithm::HS512).unwrap();
    assert!(keys.keys()[0].accepts(Algorithm::HS512) && !keys.keys()[0].accepts(Algorithm::HS256));
    // An unpinned JWK secret serves each HS algorithm it is long enough for.
    let doc = json!({"keys": [{"kty": "oct", "k": encode_url(&[1u8; 48])}]}).to_string();
    let k = &KeySet::from_jwks(doc.as_bytes()).unwrap().keys()[0].clone();
    assert!(
        k.accepts(Algorithm::HS256) && k.accepts(Algorithm::HS384) && !k.accepts(Algorithm::HS512)
    );
    assert!(!k.accepts(Algorithm::RS256));
}

#[test]
fn debug_never_shows_key_material() {
    let v = vectors();
    let keys = all_jwks(&v);
    let shown = format!("{keys:?}");
    assert!(
        shown.starts_with("KeySet(5 keys: RSA-2048 kid=\"rsa-1\""),
        "{shown}"
    );
    for name in ["rsa", "p256", "ed25519"] {
        let x = v["keys"][name]["jwk"]
            .get("n")
            .or(v["keys"][name]["jwk"].get("x"))
            .unwrap();
        assert!(!shown.contains(&x.as_str().unwrap()[..8]));
    }
    let secret = KeySet::from_secret(
        b"super-secret-super-secret-super-secret",
        None,
        Algorithm::HS256,
    )
    .unwrap();
    assert_eq!(format!("{secret:?}"), "KeySet(1 key: oct alg=HS256)");
    let i = issuer(secret, &[Algorithm::HS256], |_| {});
    assert!(!format!("{i:?}").contains("super"));
}

#[test]
fn kid_rules() {
    for ok in [
        "a",
        "rsa-1",
        "A.b_c~d-e",
        "abc+/=".trim_end_matches(['/', '=']),
        "YWJj+ZGVm=",
        &"k".repeat(256),
    ] {
        assert!(valid_kid(ok), "{ok}");
    }
    for bad in [
        "",
        "../../etc/passwd",
        "/dev/null",
        "a/b",
        "..",
        "a..b",
        "a b",
        "a\\b",
        "%2e",
        "é",
        "a\0",
        &"k".repeat(257),
    ] {
        assert!(!valid_kid(bad), "{bad}");
    }
    let ver = hs_verifier(|_| {});
    for kid in ["../../etc/passwd", "/dev/null", &"k".repeat(1000), ""] {
        let t = hs256(
            &json!({"alg": "HS256", "kid": kid}).to_string(),
            &claims(json!({})),
            SECRET,
        );
        assert_eq!(
            code(ver.verify_fresh(t.as_bytes(), now())),
            "bad_kid",
            "{kid}"
        );
    }
    let t = hs256(r#"{"alg":"HS256","kid":"k2"}"#, &claims(json!({})), SECRET);
    let r = ver.verify_fresh(t.as_bytes(), now()).unwrap_err();
    assert_eq!(
        (r.error.code(), r.issuer.as_deref()),
        ("unknown_kid", Some(ISS))
    );
    let t = hs256(r#"{"alg":"HS256","kid":7}"#, &claims(json!({})), SECRET);
    assert_eq!(code(ver.verify_fresh(t.as_bytes(), now())), "malformed");
    // Without a kid the compatible keys are tried.
    let t = hs256(r#"{"alg":"HS256"}"#, &claims(json!({})), SECRET);
    let got = ver.verify_fresh(t.as_bytes(), now()).unwrap();
    assert_eq!(got.key_id.as_deref(), Some("k1"));
}

#[test]
fn kidless_tries_at_most_a_handful_of_keys() {
    let mut set = KeySet::default();
    for i in 0..6u8 {
        set = set.merged(&KeySet::from_secret(&[i; 32], None, Algorithm::HS256).unwrap());
    }
    let ver = verifier(vec![issuer(set, &[Algorithm::HS256], |_| {})]);
    for i in 0..6u8 {
        let t = hs256(r#"{"alg":"HS256"}"#, &claims(json!({})), &[i; 32]);
        let expect = if usize::from(i) < MAX_KIDLESS_KEYS {
            "ok"
        } else {
            "bad_signature"
        };
        assert_eq!(code(ver.verify_fresh(t.as_bytes(), now())), expect, "{i}");
    }
}

#[test]
fn attacks() {
    let v = vectors();
    let rsa_pem = v["keys"]["rsa"]["pem"].as_str().unwrap();
    let rsa = KeySet::from_pem(rsa_pem.as_bytes(), Some("k1"), None).unwrap();
    let strict = verifier(vec![issuer(rsa.clone(), &Algorithm::ASYMMETRIC, |_| {})]);
    let lax = verifier(vec![issuer(
        rsa.merged(&KeySet::from_secret(SECRET, Some("h"), Algorithm::HS256).unwrap()),
        &Algorithm::ALL,
        |_| {},
    )]);
    let body = claims(json!({}));
    // HS256 keyed with the RSA public key's PEM (and DER) bytes: the classic confusion.
    for secret in [rsa_pem.as_bytes(), rsa_pem.trim_end().as_bytes()] {
        let t = hs256(HDR, &body, secret);
        assert_eq!(
            code(strict.verify_fresh(t.as_bytes(), now())),
            "alg_not_allowed"
        );
        assert_eq!(code(lax.verify_fresh(t.as_bytes(), now())), "key_mismatch");
    }
    // alg none, with and without a signature, any spelling.
    for alg in ["none", "None", "NONE", "nOnE", ""] {
        let h = json!({"alg": alg, "kid": "k1"}).to_string();
        let unsigned = format!(
            "{}.{}.",
            encode_url(h.as_bytes()),
            encode_url(body.as_bytes())
        );
        let signed = hs256(&h, &body, SECRET);
        for t in [unsigned, signed] {
            assert_eq!(
                code(lax.verify_fresh(t.as_bytes(), now())),
                "alg_not_allowed",
                "{alg}"
            );
        }
    }
    // An embedded jwk / jku / x5u is never used.
    let t = hs256(&json!({"alg": "HS256", "kid": "k1", "jwk": {"kty": "oct", "k": encode_url(SECRET)}, "jku": "https://evil"}).to_string(), &body, SECRET);
    assert_eq!(
        code(strict.verify_fresh(t.as_bytes(), now())),
        "alg_not_allowed"
    );
    let hs = hs_verifier(|_| {});
    assert_eq!(code(hs.verify_fresh(t.as_bytes(), now())), "ok"); // same secret: header extras ignored
                                                                  // crit.
    for crit in [json!(["exp"]), json!([]), json!(null), json!("b64")] {
        let t = hs256(
            &json!({"alg": "HS256", "kid": "k1", "crit": crit}).to_string(),
            &body,
            SECRET,
        );
        assert_eq!(code(hs.verify_fresh(t.as_bytes(), now())), "unsupported");
    }
    // RS256 header with an HMAC tag against a secret-only issuer.
    let t = hs256(r#"{"alg":"RS256","kid":"k1"}"#, &body, SECRET);
    assert_eq!(
        code(hs.verify_fresh(t.as_bytes(), now())),
        "alg_not_allowed"
    );
    let hs_all = verifier(vec![issuer(
        KeySet::from_secret(SECRET, Some("k1"), Algorithm::HS256).unwrap(),
        &Algorithm::ALL,
        |_| {},
    )]);
    assert_eq!(
        code(hs_all.verify_fresh(t.as_bytes(), now())),
        "key_mismatch"
    );
}

#[test]
fn malformed_tokens() {
    let ver = hs_verifier(|p| p.max_token_bytes = 1000);
    let good = hs256(HDR, &claims(json!({})), SECRET);
    assert_eq!(code(ver.verify_fresh(good.as_bytes(), now())), "ok");
    let (h, rest) = good.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "malformed"),
        (format!("{h}.{p}"), "malformed"),
        (format!("{h}.{p}.{s}.{s}"), "malformed"),
        (format!("{h}.{p}.{s}."), "malformed"),
        (format!("{h}..{s}"), "malformed"),
        (format!(".{p}.{s}"), "malformed"),
        (format!("{h}.{p}."), "bad_signature"),
        (format!("{h}=.{p}.{s}"), "malformed"),
        (format!("{h}.{p}.{s}="), "malformed"),
        (format!("{h}.{p}.{s}=="), "malformed"),
        (format!(" {h}.{p}.{s}"), "malformed"),
        (format!("{h}.{p}.{s}\n"), "malformed"),
        (format!("{h}.{p} .{s}"), "malformed"),
        (
            format!("{h}.{p}.{}", s.replace('-', "+").replace('_', "/")),
            if s.contains(['-', '_']) {
                "malformed"
            } else {
                "ok"
            },
        ),
        ("a".repeat(1001), "too_large"),
        (format!("{h}.{p}.{s}{}", "A".repeat(1000)), "too_large"),
    ];
    for (t, expect) in cases {
        assert_eq!(code(ver.verify_fresh(t.as_bytes(), now())), expect, "{t:?}");
        assert_eq!(code(ver.verify(t.as_bytes(), now())), expect, "{t:?}");
    }
    // Header and payload must be JSON objects; alg a string; no duplicate members.
    for (header, payload, expect) in [
        ("[]", claims(json!({})), "malformed"),
        ("\"HS256\"", claims(json!({})), "malformed"),
        ("{}", claims(json!({})), "malformed"),
        (r#"{"alg":null}"#, claims(json!({})), "malformed"),
        (r#"{"alg":["HS256"]}"#, claims(json!({})), "malformed"),
        (
            r#"{"alg":"HS256","alg":"HS256"}"#,
            claims(json!({})),
            "malformed",
        ),
        (r#"{"alg":"HS256"} x"#, claims(json!({})), "malformed"),
        (r#"{"alg":"HS256"}"#, "[1]".into(), "malformed"),
        (r#"{"alg":"HS256"}"#, "null".into(), "malformed"),
        (r#"{"alg":"HS256"}"#, "\"x\"".into(), "malformed"),
        (
            r#"{"alg":"HS256"}"#,
            format!(r#"{{"iss":"{ISS}","iss":"{ISS}","exp":2000000000}}"#),
            "malformed",
        ),
        (
            r#"{"alg":"HS256"}"#,
            format!(r#"{{"iss":"{ISS}","x":null,"x":1,"exp":2000000000}}"#),
            "malformed",
        ),
        (
            r#"{"alg":"HS256"}"#,
            format!(r#"{{"iss":"{ISS}","exp":2000000000}}"#),
            "ok",
        ),
        (
            r#"  {"alg" : "HS\u0032\u0035\u0036"}  "#,
            r#"{"iss":"https:\/\/idp.example","exp":2000000000}"#.to_string(),
            "ok",
        ),
        (
            r#"{"alg":"HS256"}"#,
            format!(r#"{{"iss":"{ISS}","exp":2000000000,"n":NaN}}"#),
            "malformed",
        ),
        (
            r#"{"alg":"HS256"}"#,
            "{\"iss\":\"\u{0}\"}".into(),
            "malformed",
        ),
    ] {
        let t = hs256(header, &payload, SECRET);
        assert_eq!(
            code(ver.verify_fresh(t.as_bytes(), now())),
            expect,
            "{header} {payload}"
        );
    }
    // Not UTF-8 JSON.
    let t = format!("{}.{}.{s}", encode_url(b"\xff\xfe{"), p);
    assert_eq!(code(ver.verify_fresh(t.as_bytes(), now())), "malformed");
}

#[test]
fn claim_types() {
    let ver = hs_verifier(|_| {});
    for (extra, expect) in [
        (json!({"exp": "2000000000"}), "malformed"),
        (json!({"exp": null}), "malformed"),
        (json!({"exp": true}), "malformed"),
        (json!({"exp": [1]}), "malformed"),
        (json!({"nbf": "0"}), "malformed"),
        (json!({"iat": {}}), "malformed"),
        (json!({"sub": 1}), "malformed"),
        (json!({"sub": null}), "malformed"),
        (json!({"jti": 1}), "malformed"),
        (json!({"iss": 1}), "malformed"),
        (json!({"iss": null}), "malformed"),
        (json!({"aud": 1}), "malformed"),
        (json!({"aud": ["a", 1]}), "malformed"),
        (json!({"aud": {"a": 1}}), "malformed"),
        (json!({"exp": 2_000_000_000.75}), "ok"),
        (json!({"exp": 1e300}), "ok"),
        (
            json!({"exp": 99_999_999_999_999_999_999u128.to_string().parse::<f64>().unwrap()}),
            "ok",
        ),
        (json!({"iss": "https://other.example"}), "bad_issuer"),
        (json!({"iss": "https://idp.example/"}), "bad_issuer"),
        (json!({"aud": null}), "ok"),
        (json!({"jti": "x", "sub": "s"}), "ok"),
    ] {
        let t = hs256(HDR, &claims(extra.clone()), SECRET);
        assert_eq!(
            code(ver.verify_fresh(t.as_bytes(), now())),
            expect,
            "{extra}"
        );
    }
    let no_iss = hs256(HDR, r#"{"sub":"u","exp":2000000000}"#, SECRET);
    assert_eq!(
        code(ver.verify_fresh(no_iss.as_bytes(), now())),
        "bad_issuer"
    );
    let big = hs256(
        HDR,
        &format!(r#"{{"iss":"{ISS}","exp":100000000000000000000000}}"#),
        SECRET,
    );
    assert_eq!(
        ver.verify_fresh(big.as_bytes(), now()).unwrap().expires_at,
        Some(i64::MAX)
    );
    let float = hs256(
        HDR,
        &format!(r#"{{"iss":"{ISS}","exp":1700000000.9}}"#),
        SECRET,
    );
    let strict = hs_verifier(|p| p.leeway = 0);
    assert_eq!(
        code(strict.verify_fresh(float.as_bytes(), 1_699_999_999)),
        "ok"
    );
    assert_eq!(
        code(strict.verify_fresh(float.as_bytes(), 1_700_000_000)),
        "expired"
    ); // truncated to ...000
}

#[test]
fn time_claims_with_leeway_edges() {
    let n = now();
    let ver = hs_verifier(|p| p.leeway = 30);
    for (extra, expect) in [
        (json!({"exp": n - 30}), "expired"),
        (json!({"exp": n - 29}), "ok"),
        (json!({"nbf": n + 30}), "ok"),
        (json!({"nbf": n + 31}), "not_yet_valid"),
        (json!({"iat": n + 30}), "ok"),
        (json!({"iat": n + 31}), "issued_in_future"),
        (
            json!({"iat": n + 31, "nbf": n + 31, "exp": n - 31}),
            "issued_in_future",
        ),
        (json!({"nbf": n + 31, "exp": n - 31}), "not_yet_valid"),
        (json!({"exp": i64::MIN}), "expired"),
    ] {
        let t = hs256(HDR, &claims(extra.clone()), SECRET);
        assert_eq!(code(ver.verify_fresh(t.as_bytes(), n)), expect, "{extra}");
    }
    let no_exp = hs256(HDR, &format!(r#"{{"iss":"{ISS}"}}"#), SECRET);
    let r = ver.verify_fresh(no_exp.as_bytes(), n).unwrap_err();
    assert_eq!(r.error, JwtError::MissingClaim("exp".into()));
    assert_eq!(
        code(hs_verifier(|p| p.require_exp = false).verify(no_exp.as_bytes(), n)),
        "ok"
    );
}

#[test]
fn audiences_and_required_claims() {
    let ver = hs_verifier(|p| {
        p.audiences = vec!["brutor".into(), "api".into()];
        p.required_claims = vec!["tenant".into(), "sub".into()];
    });
    for (extra, expect) in [
        (json!({"aud": "brutor", "tenant": "t"}), "ok"),
        (json!({"aud": ["x", "api"], "tenant": "t"}), "ok"),
        (json!({"aud": ["x", "y"], "tenant": "t"}), "bad_audience"),
        (json!({"aud": "Brutor", "tenant": "t"}), "bad_audience"),
        (json!({"aud": [], "tenant": "t"}), "bad_audience"),
        (json!({"aud": "", "tenant": "t"}), "bad_audience"),
        (json!({"aud": null, "tenant": "t"}), "bad_audience"),
        (json!({"tenant": "t"}), "bad_audience"),
        (json!({"aud": "brutor"}), "missing_claim"),
        (json!({"aud": "brutor", "tenant": null}), "missing_claim"),
        (json!({"aud": "brutor", "tenant": 0}), "ok"),
        (json!({"aud": "brutor", "tenant": false}), "ok"),
        (json!({"aud": "brutor", "tenant": {}}), "ok"),
    ] {
        let t = hs256(HDR, &claims(extra.clone()), SECRET);
        assert_eq!(
            code(ver.verify_fresh(t.as_bytes(), now())),
            expect,
            "{extra}"
        );
    }
    // Not configured: any aud (or none) passes.
    let t = hs256(HDR, &claims(json!({"aud": "anything"})), SECRET);
    let got = hs_verifier(|_| {}).verify(t.as_bytes(), now()).unwrap();
    assert_eq!(got.audiences, ["anything"]);
}

#[test]
fn issuer_selection_and_sizes() {
    let a = issuer(
        KeySet::from_secret(SECRET, Some("k1"), Algorithm::HS256).unwrap(),
        &[Algorithm::HS256],
        |p| p.max_token_bytes = 4000,
    );
    let mut pb = Policy::new("https://b.example");
    pb.algorithms = [Algorithm::HS256].into_iter().collect();
    pb.max_token_bytes = 300;
    let other_secret = [9u8; 40];
    let b = Arc::new(
        Issuer::new(
            pb,
            KeySet::from_secret(&other_secret, Some("k1"), Algorithm::HS256).unwrap(),
        )
        .unwrap(),
    );
    let ver = verifier(vec![a.clone(), b.clone()]);
    assert_eq!(ver.max_token_bytes(), 4000);
    let pad = "p".repeat(300);
    let ta = hs256(HDR, &claims(json!({ "pad": pad })), SECRET);
    assert_eq!(code(ver.verify(ta.as_bytes(), now())), "ok");
    let tb = hs256(
        HDR,
        &json!({"iss": "https://b.example", "exp": 2_000_000_000i64, "pad": pad}).to_string(),
        &other_secret,
    );
    assert_eq!(code(ver.verify(tb.as_bytes(), now())), "too_large");
    let tb = hs256(
        HDR,
        &json!({"iss": "https://b.example", "exp": 2_000_000_000i64}).to_string(),
        &other_secret,
    );
    assert_eq!(
        ver.verify(tb.as_bytes(), now()).unwrap().issuer.as_ref(),
        "https://b.example"
    );
    // Issuer b's token signed with issuer a's secret, and the reverse.
    let cross = hs256(
        HDR,
        &json!({"iss": "https://b.example", "exp": 2_000_000_000i64}).to_string(),
        SECRET,
    );
    assert_eq!(code(ver.verify(cross.as_bytes(), now())), "bad_signature");
    assert!(Verifier::new(vec![a.clone(), a.clone()], 10).is_err());
    assert!(Verifier::new(vec![], 10).is_err());
}

#[test]
fn policy_validation() {
    let keys = KeySet::from_secret(SECRET, None, Algorithm::HS256).unwrap();
    let bad = |f: &dyn Fn(&mut Policy)| {
        let mut p = Policy::new(ISS);
        p.algorithms = [Algorithm::HS256].into_iter().collect();
        f(&mut p);
        Issuer::new(p, keys.clone())
            .map(|_| ())
            .map_err(|e| e.code())
    };
    assert_eq!(bad(&|_| {}), Ok(()));
    assert_eq!(bad(&|p| p.issuer.clear()), Err("bad_config"));
    assert_eq!(
        bad(&|p| p.algorithms = AlgSet::default()),
        Err("bad_config")
    );
    assert_eq!(
        bad(&|p| p.algorithms = Algorithm::ASYMMETRIC.into_iter().collect()),
        Err("bad_config")
    );
    assert_eq!(
        bad(&|p| p.audiences = vec![String::new()]),
        Err("bad_config")
    );
    assert_eq!(bad(&|p| p.max_token_bytes = 0), Err("bad_config"));
    assert_eq!(
        parse_algorithms(&["RS256", "none"]).unwrap_err().code(),
        "unsupported"
    );
    assert_eq!(
        parse_algorithms(&["EdDSA"])
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        [Algorithm::EdDSA]
    );
}

#[test]
fn cache_hits_recheck_time_and_follow_replacements() {
    let ver = hs_verifier(|p| p.leeway = 0);
    let n = now();
    let t = hs256(HDR, &claims(json!({"exp": n + 100, "nbf": n - 5})), SECRET);
    assert!(ver.cached(t.as_bytes(), n).is_none());
    let first = ver.verify(t.as_bytes(), n).unwrap();
    assert_eq!(ver.cache_len(), 1);
    let hit = ver.cached(t.as_bytes(), n + 1).unwrap().unwrap();
    assert!(Arc::ptr_eq(&first, &hit));
    assert_eq!(code(ver.verify(t.as_bytes(), n + 100)), "expired");
    assert_eq!(code(ver.verify(t.as_bytes(), n - 6)), "not_yet_valid");
    assert_eq!(code(ver.verify(t.as_bytes(), n + 99)), "ok");
    // Failures are not cached; tokens without exp are not cached.
    let bad = hs256(HDR, &claims(json!({"exp": n - 1})), SECRET);
    assert_eq!(code(ver.verify(bad.as_bytes(), n)), "expired");
    let no_exp_ver = hs_verifier(|p| p.require_exp = false);
    let no_exp = hs256(HDR, &format!(r#"{{"iss":"{ISS}"}}"#), SECRET);
    assert_eq!(code(no_exp_ver.verify(no_exp.as_bytes(), n)), "ok");
    assert_eq!(no_exp_ver.cache_len(), 0);
    assert_eq!(ver.cache_len(), 1);
    // Replacing the issuer with other keys: the cached token is dropped and now fails.
    let old = ver.issuer(ISS).unwrap();
    let new = Arc::new(
        old.with_keys(KeySet::from_secret(&[3u8; 32], Some("k1"), Algorithm::HS256).unwrap())
            .unwrap(),
    );
    ver.replace_issuer(new).unwrap();
    assert_eq!(ver.cache_len(), 0);
    assert_eq!(code(ver.verify(t.as_bytes(), n)), "bad_signature");
    let unknown = issuer(
        KeySet::from_secret(SECRET, None, Algorithm::HS256).unwrap(),
        &[Algorithm::HS256],
        |p| p.issuer = "x".into(),
    );
    assert_eq!(
        ver.replace_issuer(unknown).unwrap_err().code(),
        "bad_config"
    );
}

#[test]
fn cache_is_bounded() {
    let keys = KeySet::from_secret(SECRET, Some("k1"), Algorithm::HS256).unwrap();
    let ver = Verifier::new(
        vec![issuer(keys, &[Algorithm::HS256], |p| p.leeway = 0)],
        16,
    )
    .unwrap();
    let n = now();
    for i in 0..100 {
        let t = hs256(HDR, &claims(json!({ "exp": n + 10 + i, "i": i })), SECRET);
        assert_eq!(code(ver.verify(t.as_bytes(), n)), "ok");
        assert!(ver.cache_len() <= 16);
    }
    // Expired entries go first.
    for i in 0..5 {
        let t = hs256(HDR, &claims(json!({ "exp": n + 1000 + i })), SECRET);
        assert_eq!(code(ver.verify(t.as_bytes(), n + 500)), "ok");
    }
    assert_eq!(ver.cache_len(), 5);
    let off = Verifier::new(
        vec![issuer(
            KeySet::from_secret(SECRET, Some("k1"), Algorithm::HS256).unwrap(),
            &[Algorithm::HS256],
            |_| {},
        )],
        0,
    )
    .unwrap();
    let t = hs256(HDR, &claims(json!({})), SECRET);
    assert_eq!(code(off.verify(t.as_bytes(), n)), "ok");
    assert_eq!(off.cache_len(), 0);
}

#[test]
fn errors_never_echo_input() {
    let ver = hs_verifier(|_| {});
    let marker = "SECRETMARKER";
    let tokens = [
        hs256(
            &json!({"alg": marker}).to_string(),
            &claims(json!({})),
            SECRET,
        ),
        hs256(
            &json!({"alg": "HS256", "kid": format!("../{marker}")}).to_string(),
            &claims(json!({})),
            SECRET,
        ),
        hs256(HDR, &claims(json!({"iss": marker})), SECRET),
        hs256(HDR, &claims(json!({"exp": marker})), SECRET),
        format!("{marker}.{marker}.{marker}"),
    ];
    for t in tokens {
        let e = ver.verify(t.as_bytes(), now()).unwrap_err();
        assert!(
            !e.to_string().contains(marker)
                && !e.to_string().contains(&encode_url(marker.as_bytes())[..8])
        );
    }
}
