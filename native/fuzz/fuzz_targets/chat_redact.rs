//! Feeds an arbitrary byte stream to the chat-chunk redactor whole, split at fuzzer-chosen points,
//! and (when short) byte by byte. Invariants: no panic; every split gives the same output and the
//! same counts as one feed; when every event's data in the input is valid JSON (or not JSON at
//! all), so is every event's data in the output (the splices keep JSON valid).
//!
//! Input layout: `[n_cuts, cut (2 bytes) × n_cuts, flags, stream...]`; `flags` picks the actions.
//!
//! Run: `cd native && cargo +nightly fuzz run chat_redact -- -dict=fuzz/sse.dict -max_total_time=60`
#![no_main]

use std::sync::{Arc, OnceLock};

use _native::pii::{Action, Actions, Kind, Scanner};
use _native::sse::{ChatChunkRedactor, Decoder};
use libfuzzer_sys::fuzz_target;

fn scanner() -> &'static Arc<Scanner> {
    static S: OnceLock<Arc<Scanner>> = OnceLock::new();
    S.get_or_init(|| {
        let custom = [("EMPLOYEE_ID".to_string(), r"\bEMP-\d{6}\b".to_string())];
        Arc::new(Scanner::new(&custom, &["darkstar".to_string()]).unwrap())
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
    let (&flags, stream) = rest.split_first().unwrap();
    let s = scanner();
    let mut actions = Actions::new(s);
    let all = [
        Action::Allow,
        Action::Log,
        Action::Redact,
        Action::Mask,
        Action::Block,
    ];
    for (i, kind) in s.kinds().collect::<Vec<Kind>>().into_iter().enumerate() {
        actions.set(kind, all[(usize::from(flags) + i) % all.len()]);
    }

    let mut points: Vec<usize> = cuts
        .chunks(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (stream.len() + 1))
        .collect();
    points.sort_unstable();
    let mut chunks = Vec::new();
    let mut prev = 0;
    for p in points.into_iter().chain([stream.len()]) {
        chunks.push(&stream[prev..p]);
        prev = p;
    }

    let whole = redact(s, &actions, &[stream]);
    assert_eq!(redact(s, &actions, &chunks), whole);
    if stream.len() <= 512 {
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(redact(s, &actions, &bytes), whole);
    }
    if all_json(stream) {
        assert!(all_json(&whole.0), "output events are not valid JSON");
    }
});

fn redact(s: &Arc<Scanner>, actions: &Actions, chunks: &[&[u8]]) -> (Vec<u8>, Vec<(Kind, u64)>) {
    let mut r = ChatChunkRedactor::new(s.clone(), actions.clone(), 1 << 20);
    let mut out = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        out.extend(r.feed(c, i + 1 == chunks.len()).unwrap());
    }
    (out, r.counts())
}

/// Whether the data of every complete event is JSON or does not look like JSON.
fn all_json(stream: &[u8]) -> bool {
    let mut d = Decoder::new(usize::MAX);
    let Ok(events) = d.feed(stream) else {
        return false;
    };
    events.iter().all(|e| {
        e.data.trim_ascii_start().first() != Some(&b'{')
            || serde_json::from_slice::<serde_json::Value>(&e.data).is_ok()
    })
}
