//! Feeds an arbitrary byte stream to the Anthropic stream translator whole, split at
//! fuzzer-chosen points, and (when short) byte by byte. Invariants: no panic; every split gives
//! the same OpenAI output, the same accounting and the same success or failure as one feed;
//! every output event is `data: <JSON object>` with nothing else.
//!
//! Input layout: `[n_cuts, cut (2 bytes) × n_cuts, stream...]`.
//!
//! Run: `cd native && cargo +nightly fuzz run anthropic_translate -- -dict=fuzz/anthropic.dict -max_total_time=60`
#![no_main]

use _native::translate::{Accounting, AnthropicStream};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&n, rest)) = input.split_first() else {
        return;
    };
    let n = usize::from(n % 9);
    if rest.len() < 2 * n {
        return;
    }
    let (cuts, stream) = rest.split_at(2 * n);
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

    let whole = translate(&[stream]);
    assert_eq!(translate(&chunks), whole);
    if stream.len() <= 512 {
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(translate(&bytes), whole);
    }
    if let Ok((out, _)) = &whole {
        let text = std::str::from_utf8(out).expect("output is UTF-8");
        for event in text.split_terminator("\n\n") {
            let data = event
                .strip_prefix("data: ")
                .expect("one data line per event");
            assert!(!data.contains('\n'));
            let v: serde_json::Value = serde_json::from_str(data).expect("event data is JSON");
            assert!(v.is_object());
        }
    }
});

fn translate(chunks: &[&[u8]]) -> Result<(Vec<u8>, Accounting), ()> {
    let mut t = AnthropicStream::new("id", 1, "model", true, 4096);
    let mut out = Vec::new();
    for c in chunks {
        match t.feed(c) {
            Ok(o) => out.extend_from_slice(o),
            Err(_) => return Err(()),
        }
    }
    out.extend_from_slice(t.finish());
    Ok((out, t.accounting().clone()))
}
