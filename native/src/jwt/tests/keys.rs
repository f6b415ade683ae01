use super::*;

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
        let ver = verifier(vec![issuer(all_jwks(&v), &Algorithm::ALL, |p| {
            p.audiences = vec!["brutor".into()]
        })]);
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
    let ver = verifier(vec![issuer(keys, &Algorithm::ALL, |p| {
        p.audiences = vec!["other".into()]
    })]);
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
