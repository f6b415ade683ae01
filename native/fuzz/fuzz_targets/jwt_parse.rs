//! Feeds arbitrary bytes to the JWT verifier (fixed keys: RSA, P-256, Ed25519, HMAC; two issuers;
//! cache on) and to the key loaders. Invariants: no panic; a second verification of the same
//! token (a cache hit when the first succeeded) gives the same outcome; a success respects the
//! policy (size, `alg` allowed and served by the key, `exp` in the future).
//!
//! Input: `[mode, rest...]`. Mode 0-1: `rest` is the token. Mode 2-5: `rest` is
//! `header JSON 0xFF payload JSON 0xFF signature`, base64url-encoded here and, for modes 3/4,
//! signed with the fixture's HS256 secret / Ed25519 key so the fuzzer reaches the claim checks.
//! Mode 6: `rest` is a JWKS document and a PEM.
//!
//! Run: `cd native && cargo +nightly fuzz run jwt_parse -- -max_total_time=60`
#![no_main]

use std::sync::{Arc, OnceLock};

use _native::jwt::{encode_url, Algorithm, Family, Issuer, KeySet, Policy, Verifier};
use libfuzzer_sys::fuzz_target;
use ring::signature::{Ed25519KeyPair, KeyPair};

const NOW: i64 = 1_700_000_000;
const SECRET: &[u8] = b"fuzzing-secret-fuzzing-secret-0123456789";
const ED_SEED: [u8; 32] = [7; 32];
const RSA_PEM: &str = r#"-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAx7px1ZH7NHp3ljpPiwxS
4aoapITIFJ69MdLPerPjBbbcMn9XXUtOAzvVj3X68vexHPSHzK9f5NdGanmst/5s
bVgTFt5ZKYOJnrihnlY8br8Veof0PAU04rGathPxqEUR0KYMpHIiQ19HyT9itFor
LJcEJmLPmtqPk/rW1OrnKbHcWK2kYaMaFz7wNDpHL6ckPGrUfdAYloXGlqPTrZ9v
ggKx/skdHODPMgC6TgmvjRyEb5M4OE5ftKYVCzDgu5ZKitqohQakgIxYAzWdYIsP
ngnI2C33PyDlCEj5vLF0X1lhtntUeQJLBD6w1H8PzPaqIdH9bFRMMLbcKDcjcYFW
awIDAQAB
-----END PUBLIC KEY-----
"#;
const P256_PEM: &str = r#"-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE/5lji/JiO/85+cTpj6dyVMLJfZgQ
EcGfLmYtJ8Pso+PWxl2jp7QOmo507yQFFbPq6+4WyVGIeujJEfB1B6hXnw==
-----END PUBLIC KEY-----
"#;

struct Fixture {
    verifier: Verifier,
    ed: Ed25519KeyPair,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let ed = Ed25519KeyPair::from_seed_unchecked(&ED_SEED).unwrap();
        let jwks = format!(
            r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"ed","x":"{}"}},{{"kty":"oct","kid":"hs","k":"{}"}}]}}"#,
            encode_url(ed.public_key().as_ref()),
            encode_url(SECRET)
        );
        let keys = KeySet::from_jwks(jwks.as_bytes())
            .unwrap()
            .merged(&KeySet::from_pem(RSA_PEM.as_bytes(), Some("rsa"), None).unwrap())
            .merged(&KeySet::from_pem(P256_PEM.as_bytes(), None, None).unwrap());
        let mut a = Policy::new("https://idp.example");
        a.audiences = vec!["brutor".into()];
        a.required_claims = vec!["tenant".into()];
        let mut b = Policy::new("hs");
        b.algorithms = Algorithm::ALL.into_iter().collect();
        b.max_token_bytes = 2048;
        b.leeway = 0;
        let issuers = vec![
            Arc::new(Issuer::new(a, keys.clone()).unwrap()),
            Arc::new(Issuer::new(b, keys).unwrap()),
        ];
        Fixture { verifier: Verifier::new(issuers, 64).unwrap(), ed }
    })
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    let f = fixture();
    let token: Vec<u8> = match mode % 8 {
        0 | 1 => rest.to_vec(),
        6 | 7 => {
            let _ = KeySet::from_jwks(rest);
            let _ = KeySet::from_pem(rest, None, None);
            let _ = KeySet::from_pem(rest, Some("k"), Some(Algorithm::PS256));
            return;
        }
        m => {
            let mut parts = rest.splitn(3, |&b| b == 0xff);
            let (h, p, s) = (
                parts.next().unwrap_or(b""),
                parts.next().unwrap_or(b""),
                parts.next().unwrap_or(b""),
            );
            let input = format!("{}.{}", encode_url(h), encode_url(p));
            let sig = match m {
                3 => ring::hmac::sign(
                    &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET),
                    input.as_bytes(),
                )
                .as_ref()
                .to_vec(),
                4 => f.ed.sign(input.as_bytes()).as_ref().to_vec(),
                _ => s.to_vec(),
            };
            format!("{input}.{}", encode_url(&sig)).into_bytes()
        }
    };
    let first = f.verifier.verify(&token, NOW);
    let second = f.verifier.verify(&token, NOW);
    assert_eq!(first, second);
    if let Ok(v) = first {
        let issuer = f.verifier.issuer(&v.issuer).unwrap();
        let policy = issuer.policy();
        assert!(token.len() <= policy.max_token_bytes);
        assert!(policy.algorithms.contains(v.algorithm));
        assert!(v.expires_at.unwrap() > NOW - i64::from(policy.leeway));
        let key = issuer
            .keys()
            .keys()
            .iter()
            .find(|k| k.kid() == v.key_id.as_deref())
            .unwrap();
        assert!(key.accepts(v.algorithm));
        if v.issuer.as_ref() == "https://idp.example" {
            assert!(
                key.family() != Family::Hmac,
                "HS* is not allowed for this issuer"
            );
            assert!(v.audiences.iter().any(|a| a == "brutor"));
        }
    }
});
