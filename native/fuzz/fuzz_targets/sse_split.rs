//! Feeds an arbitrary byte stream to the SSE decoder and the chat-stream relay whole, split at
//! fuzzer-chosen points, and (when short) byte by byte. Invariants: no panic; every split gives
//! the same events, the same forwarded bytes, the same accounting and the same success or
//! `max_event_bytes` failure as one feed.
//!
//! Run: `cd native && cargo +nightly fuzz run sse_split -- -dict=fuzz/sse.dict -max_total_time=60`
#![no_main]

use _native::sse::{Accounting, ChatStreamRelay, Decoder, Event, SseError};
use libfuzzer_sys::fuzz_target;

// Input layout: [n_cuts, cut (2 bytes) × n_cuts, limit, flags, stream...].
fuzz_target!(|input: &[u8]| {
    let Some((&n, rest)) = input.split_first() else {
        return;
    };
    let n = usize::from(n % 9);
    if rest.len() < 2 * n + 2 {
        return;
    }
    let (cuts, rest) = rest.split_at(2 * n);
    let (&limit, rest) = rest.split_first().unwrap();
    let (&flags, stream) = rest.split_first().unwrap();
    let limit = if limit == 0 {
        1 << 20
    } else {
        usize::from(limit) * 3
    };
    let strip = flags & 1 == 1;

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

    let whole_dec = decode(&[stream], limit);
    let whole_rel = relay(&[stream], strip, limit);
    assert_eq!(decode(&chunks, limit), whole_dec);
    assert_eq!(relay(&chunks, strip, limit), whole_rel);
    if stream.len() <= 512 {
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(decode(&bytes, limit), whole_dec);
        assert_eq!(relay(&bytes, strip, limit), whole_rel);
    }
    if let Ok((out, _)) = &whole_rel {
        assert!(out.len() <= stream.len());
    }
});

fn decode(chunks: &[&[u8]], limit: usize) -> Result<Vec<Event>, ()> {
    let mut d = Decoder::new(limit);
    let mut events = Vec::new();
    for c in chunks {
        match d.feed(c) {
            Ok(e) => events.extend(e),
            Err(SseError::EventTooLarge { .. }) => {
                assert_eq!(d.buffered(), 0);
                assert!(d.feed(b"data: x\n\n").is_err(), "failure is sticky");
                return Err(());
            }
        }
    }
    assert!(d.finish().is_empty());
    assert_eq!(d.buffered(), 0);
    Ok(events)
}

fn relay(chunks: &[&[u8]], strip: bool, limit: usize) -> Result<(Vec<u8>, Accounting), ()> {
    let mut r = ChatStreamRelay::new(strip, limit);
    let mut out = Vec::new();
    for c in chunks {
        match r.feed(c) {
            Ok(o) => out.extend(o),
            Err(_) => return Err(()),
        }
    }
    out.extend(r.finish());
    Ok((out, r.accounting().clone()))
}
