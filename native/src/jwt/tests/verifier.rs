use super::*;

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
