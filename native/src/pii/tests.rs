//! Whole-scanner tests: entities in sentences, hard negatives, and streamed == whole.

use std::sync::Arc;

use super::*;

fn scanner() -> Scanner {
    Scanner::new(
        &[("EMPLOYEE_ID".into(), r"\bEMP-\d{6}\b".into())],
        &["Project Falcon".into(), "darkstar".into()],
    )
    .unwrap()
}

fn found(s: &Scanner, text: &str) -> Vec<(String, String)> {
    s.scan(text)
        .into_iter()
        .map(|sp| {
            (
                s.kind_name(sp.kind).to_string(),
                text[sp.start..sp.end].to_string(),
            )
        })
        .collect()
}

const SAMPLE: &str = "Hi 😀 jane.doe@example.com, call +1 (415) 555-2671 or 020 7946 0958. \
    Card 4111 1111 1111 1111 exp 12/26, IBAN DE89 3704 0044 0532 0130 00, SSN 123-45-6789. \
    Host 192.168.1.10 / 2001:db8::8a2e:370:7334, MAC 00:1A:2B:3C:4D:5E. Keys: AKIAIOSFODNN7EXAMPLE, \
    sk-proj-Abcdef0123456789abcdEF, Authorization: Bearer abcDEF0123456789xyz. \
    Token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk ok. \
    EMP-123456 works on project  falcon (DarkStar).\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI+/=\n\
    -----END EC PRIVATE KEY-----\nbye";

#[test]
fn finds_every_kind_in_context() {
    let s = scanner();
    let kinds: Vec<String> = found(&s, SAMPLE).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        kinds,
        [
            "EMAIL",
            "PHONE",
            "PHONE",
            "CREDIT_CARD",
            "IBAN",
            "US_SSN",
            "IP_ADDRESS",
            "IP_ADDRESS",
            "MAC_ADDRESS",
            "CLOUD_KEY",
            "CLOUD_KEY",
            "BEARER_TOKEN",
            "JWT",
            "EMPLOYEE_ID",
            "DENY_WORD",
            "DENY_WORD",
            "PRIVATE_KEY"
        ]
    );
}

#[test]
fn hard_negatives_in_context() {
    let s = Scanner::new(&[], &[]).unwrap();
    let text =
        "Order 4111111111111112 shipped 2024-05-01T12:30:00Z (ts 1714567890, v1.2.3, 1.2.3, \
        build 10.0.19045). ISBN 978-3-16-148410-0, id 550e8400-e29b-41d4-a716-446655440000, \
        total $1,234.56, order #98765432101234, at 12:30, ratio 3:4, tracking 1Z999AA10123456784.";
    assert_eq!(found(&s, text), Vec::<(String, String)>::new());
}

#[test]
fn redact_and_mask() {
    let s = scanner();
    let mut actions = Actions::new(&s);
    actions.set(Kind::CreditCard, Action::Mask);
    actions.set(Kind::Email, Action::Mask);
    actions.set(Kind::Phone, Action::Log);
    actions.set(Kind::DenyWord, Action::Block);
    actions.set(Kind::IpAddress, Action::Allow);
    let text = "jane@example.com paid with 4111-1111-1111-1111 from 10.0.0.1, call 555-234-5678 re darkstar";
    let (out, tally) = s.redact(text, &actions);
    assert_eq!(
        out,
        "j***@example.com paid with ****-****-****-1111 from 10.0.0.1, call 555-234-5678 re [DENY_WORD]"
    );
    let counts: Vec<(Kind, u64)> = tally.counts().collect();
    assert_eq!(
        counts,
        [
            (Kind::Email, 1),
            (Kind::Phone, 1),
            (Kind::CreditCard, 1),
            (Kind::DenyWord, 1)
        ]
    );
    assert_eq!(tally.blocked().collect::<Vec<_>>(), [Kind::DenyWord]);
}

#[test]
fn redaction_is_idempotent() {
    let s = Scanner::new(&[], &[]).unwrap();
    for action in [Action::Redact, Action::Mask] {
        let mut actions = Actions::new(&s);
        for k in s.kinds().collect::<Vec<_>>() {
            actions.set(k, action);
        }
        let (once, _) = s.redact(SAMPLE, &actions);
        let (twice, tally) = s.redact(&once, &actions);
        assert_eq!(twice, once);
        assert_eq!(tally.counts().count(), 0, "{once}");
    }
}

/// A small deterministic generator (xorshift) for chunkings.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn streamed(s: &Arc<Scanner>, actions: &Actions, chunks: &[&str]) -> (String, Tally) {
    let mut r = StreamRedactor::new(s.clone(), actions.clone());
    let mut out = String::new();
    for c in chunks {
        r.push_into(c, &mut out);
    }
    out.push_str(&r.finish());
    (out, r.tally().clone())
}

fn chunk_at_random<'a>(text: &'a str, rng: &mut Rng, max: usize) -> Vec<&'a str> {
    let mut chunks = Vec::new();
    let mut at = 0;
    while at < text.len() {
        let mut end = (at + 1 + (rng.next() as usize) % max).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        chunks.push(&text[at..end]);
        at = end;
    }
    chunks
}

#[test]
fn streamed_equals_whole_for_any_chunking() {
    let s = Arc::new(scanner());
    let mut actions = Actions::new(&s);
    actions.set(Kind::Email, Action::Mask);
    let long_pem = format!(
        "x -----BEGIN PRIVATE KEY-----\n{} tail",
        "QUJD".repeat(MAX_PEM_BYTES / 3)
    );
    let long_token = format!("Bearer a1{} end", "b".repeat(MAX_TOKEN_BYTES * 2));
    let custom_long = format!("EMP-{}", "1".repeat(MAX_CUSTOM_BYTES * 2));
    let texts = [
        SAMPLE,
        long_pem.as_str(),
        long_token.as_str(),
        custom_long.as_str(),
        "",
        "a",
        "😀",
        "jane@x.io",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for text in texts {
        let whole = s.redact(text, &actions);
        if text.len() < 2000 {
            let chars: Vec<&str> = text
                .char_indices()
                .map(|(i, c)| &text[i..i + c.len_utf8()])
                .collect();
            assert_eq!(streamed(&s, &actions, &chars), whole, "char by char");
        }
        assert_eq!(streamed(&s, &actions, &[text]), whole, "one chunk");
        for max in [3, 40, 500] {
            for _ in 0..10 {
                let chunks = chunk_at_random(text, &mut rng, max);
                assert_eq!(streamed(&s, &actions, &chunks), whole, "{max}");
            }
        }
    }
}

#[test]
fn stream_holds_back_only_a_possible_entity() {
    let s = Arc::new(scanner());
    let mut r = StreamRedactor::new(s.clone(), Actions::new(&s));
    assert_eq!(r.push("Write to "), "Write to ");
    assert_eq!(r.push("jane"), "");
    assert_eq!(r.push(".doe@exa"), "");
    assert_eq!(r.push("mple.com now, "), "[EMAIL] now, ");
    assert_eq!(r.held(), 0);
    assert_eq!(r.push("thanks"), "");
    assert_eq!(r.finish(), "thanks");
}
