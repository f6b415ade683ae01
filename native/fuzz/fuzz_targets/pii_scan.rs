//! Scans and redacts arbitrary text whole, split at fuzzer-chosen points, and (when short) char
//! by char. Invariants: no panic; spans are in order, not overlapping, non-empty and on char
//! boundaries; the streamed redaction (text and counts) equals the whole-text redaction.
//!
//! Input: `[n_cuts, cut (2 bytes) × n_cuts, flags, text...]`; the text is made valid UTF-8
//! (lossily), cuts are moved to char boundaries, `flags` picks the actions.
//!
//! Run: `cd native && cargo +nightly fuzz run pii_scan -- -max_total_time=60`
#![no_main]

use std::sync::{Arc, OnceLock};

use _native::pii::{Action, Actions, Kind, Scanner, StreamRedactor};
use libfuzzer_sys::fuzz_target;

fn scanner() -> &'static Arc<Scanner> {
    static S: OnceLock<Arc<Scanner>> = OnceLock::new();
    S.get_or_init(|| {
        let custom = [
            ("EMPLOYEE_ID".to_string(), r"\bEMP-\d{6}\b".to_string()),
            ("LONG".to_string(), r"<<[^>]*>>".to_string()),
        ];
        let deny = ["darkstar".to_string(), "Project Falcon".to_string(), "é€".to_string()];
        Arc::new(Scanner::new(&custom, &deny).unwrap())
    })
}

fuzz_target!(|input: &[u8]| {
    let Some((&n, rest)) = input.split_first() else {
        return;
    };
    let n = usize::from(n % 9);
    if rest.len() < 2 * n + 1 {
        return;
    }
    let (cuts, rest) = rest.split_at(2 * n);
    let (&flags, text) = rest.split_first().unwrap();
    let text = String::from_utf8_lossy(text);
    let s = scanner();

    let spans = s.scan(&text);
    let mut prev = 0;
    for sp in &spans {
        assert!(prev <= sp.start && sp.start < sp.end && sp.end <= text.len());
        assert!(text.is_char_boundary(sp.start) && text.is_char_boundary(sp.end));
        prev = sp.end;
    }

    let mut actions = Actions::new(s);
    let all = [Action::Allow, Action::Log, Action::Redact, Action::Mask, Action::Block];
    for (i, kind) in s.kinds().collect::<Vec<Kind>>().into_iter().enumerate() {
        actions.set(kind, all[(usize::from(flags) + i) % all.len()]);
    }
    let whole = s.redact(&text, &actions);

    let mut points: Vec<usize> = cuts
        .chunks(2)
        .map(|c| {
            let mut p = usize::from(u16::from_le_bytes([c[0], c[1]])) % (text.len() + 1);
            while !text.is_char_boundary(p) {
                p += 1;
            }
            p
        })
        .collect();
    points.sort_unstable();
    let mut chunks = Vec::new();
    let mut at = 0;
    for p in points.into_iter().chain([text.len()]) {
        chunks.push(&text[at..p]);
        at = p;
    }
    assert_eq!(streamed(s, &actions, &chunks), whole);
    if text.len() <= 512 {
        let chars: Vec<&str> = text
            .char_indices()
            .map(|(i, c)| &text[i..i + c.len_utf8()])
            .collect();
        assert_eq!(streamed(s, &actions, &chars), whole);
    }
});

fn streamed(s: &Arc<Scanner>, actions: &Actions, chunks: &[&str]) -> (String, _native::pii::Tally) {
    let mut r = StreamRedactor::new(s.clone(), actions.clone());
    let mut out = String::new();
    for c in chunks {
        r.push_into(c, &mut out);
    }
    out.push_str(&r.finish());
    (out, r.tally().clone())
}
