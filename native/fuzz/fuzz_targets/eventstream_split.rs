//! Feeds an arbitrary byte stream to the AWS event-stream decoder and to the Bedrock stream
//! translator whole, split at fuzzer-chosen points, and (when short) byte by byte. Invariants: no
//! panic; every split gives the same messages (or the same error), the same OpenAI output and
//! the same accounting as one feed; every output event is `data: <JSON object>`.
//!
//! Input layout: `[n_cuts, cut (2 bytes) × n_cuts, flags, stream...]`; with `flags & 1` the
//! stream is first rewrapped as valid frames (each 64-byte piece a message payload, with the
//! event type picked by `flags`), so the translator's JSON handling is reached, not only CRCs.
//!
//! Run: `cd native && cargo +nightly fuzz run eventstream_split -- -max_total_time=60`
#![no_main]

use _native::eventstream::{encode, Decoder, EventStreamError, HeaderValue};
use _native::translate::{Accounting, BedrockStream};
use libfuzzer_sys::fuzz_target;

const EVENTS: [&str; 7] = [
    "messageStart",
    "contentBlockStart",
    "contentBlockDelta",
    "contentBlockStop",
    "messageStop",
    "metadata",
    "other",
];

fuzz_target!(|input: &[u8]| {
    let Some((&n, rest)) = input.split_first() else {
        return;
    };
    let n = usize::from(n % 9);
    if rest.len() < 2 * n + 1 {
        return;
    }
    let (cuts, rest) = rest.split_at(2 * n);
    let (&flags, raw) = rest.split_first().unwrap();
    let framed;
    let stream: &[u8] = if flags & 1 == 1 {
        framed = raw
            .chunks(64)
            .enumerate()
            .flat_map(|(i, payload)| {
                let kind = EVENTS[(usize::from(flags >> 1) + i) % EVENTS.len()];
                let message_type = if flags & 0x80 != 0 && i == 2 {
                    "exception"
                } else {
                    "event"
                };
                encode(
                    &[
                        (":event-type", HeaderValue::String(kind)),
                        (":message-type", HeaderValue::String(message_type)),
                    ],
                    payload,
                )
            })
            .collect::<Vec<u8>>();
        &framed
    } else {
        raw
    };

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

    let whole_dec = decode(&[stream]);
    let whole_tr = translate(&[stream]);
    assert_eq!(decode(&chunks), whole_dec);
    assert_eq!(translate(&chunks), whole_tr);
    if stream.len() <= 512 {
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(decode(&bytes), whole_dec);
        assert_eq!(translate(&bytes), whole_tr);
    }
    if let Ok((out, _)) = &whole_tr {
        check_events(out);
    }
});

type Messages = Vec<(Vec<String>, Vec<u8>)>;

fn decode(chunks: &[&[u8]]) -> Result<Messages, EventStreamError> {
    let mut d = Decoder::new(4096);
    let mut all = Vec::new();
    for c in chunks {
        d.feed_with(c, |m| {
            let headers = m
                .headers
                .iter()
                .map(|(n, v)| format!("{n}={v:?}"))
                .collect();
            all.push((headers, m.payload.to_vec()));
        })?;
    }
    Ok(all)
}

fn translate(chunks: &[&[u8]]) -> Result<(Vec<u8>, Accounting), ()> {
    let mut t = BedrockStream::new("id", 1, "model", true, 4096);
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

fn check_events(out: &[u8]) {
    let text = std::str::from_utf8(out).expect("output is UTF-8");
    for event in text.split_terminator("\n\n") {
        let data = event
            .strip_prefix("data: ")
            .expect("one data line per event");
        let v: serde_json::Value = serde_json::from_str(data).expect("event data is JSON");
        assert!(v.is_object());
    }
}
