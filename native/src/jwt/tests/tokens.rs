use super::*;

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
    // Not configured: a token naming an audience is refused (RFC 7519 4.1.3); one without passes.
    let t = hs256(HDR, &claims(json!({"aud": "anything"})), SECRET);
    assert_eq!(
        code(hs_verifier(|_| {}).verify_fresh(t.as_bytes(), now())),
        "bad_audience"
    );
    let t = hs256(HDR, &claims(json!({"aud": []})), SECRET);
    assert_eq!(
        code(hs_verifier(|_| {}).verify_fresh(t.as_bytes(), now())),
        "ok"
    );
    let t = hs256(HDR, &claims(json!({})), SECRET);
    let got = hs_verifier(|_| {}).verify(t.as_bytes(), now()).unwrap();
    assert!(got.audiences.is_empty());
}
