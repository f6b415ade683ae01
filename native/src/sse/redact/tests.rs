use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::*;
use crate::pii::Action;

fn scanner() -> Arc<Scanner> {
    Arc::new(Scanner::new(&[], &["darkstar".into()]).unwrap())
}

fn redactor_with(actions: &[(&str, Action)]) -> ChatChunkRedactor {
    let s = scanner();
    let mut a = Actions::new(&s);
    for (name, action) in actions {
        a.set(s.kind_by_name(name).unwrap(), *action);
    }
    ChatChunkRedactor::new(s, a, 1 << 20)
}

fn new() -> ChatChunkRedactor {
    redactor_with(&[])
}

fn whole(text: &str) -> String {
    let s = scanner();
    let a = Actions::new(&s);
    s.redact(text, &a).0
}

fn chunk(doc: &Value) -> String {
    format!("data: {}\n\n", serde_json::to_string(doc).unwrap())
}

fn ev(index: i64, content: Option<&str>, finish: Option<&str>) -> String {
    let delta = match content {
        Some(c) => json!({ "content": c }),
        None => json!({}),
    };
    let choices =
        json!([{ "index": index, "delta": delta, "logprobs": null, "finish_reason": finish }]);
    format!(
        "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"m\",\"choices\":{choices}}}\n\n"
    )
}

const USAGE: &str =
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"m\",\
                     \"choices\":[],\"usage\":{\"prompt_tokens\":1}}\n\n";

/// Every data event of `out` as JSON (panics on invalid JSON).
fn events(out: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(out)
        .unwrap()
        .replace("\r\n", "\n")
        .replace('\r', "\n");
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| d.starts_with('{'))
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}")))
        .collect()
}

/// The content per choice index of `out`.
fn contents(out: &[u8]) -> BTreeMap<i64, String> {
    let mut per = BTreeMap::new();
    for doc in events(out) {
        for c in doc["choices"].as_array().into_iter().flatten() {
            let text = c["delta"]["content"].as_str().unwrap_or_default();
            per.entry(c["index"].as_i64().unwrap_or(0))
                .or_insert_with(String::new)
                .push_str(text);
        }
    }
    per
}

fn feed_all(r: &mut ChatChunkRedactor, chunks: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        out.extend(r.feed(c, i + 1 == chunks.len()).unwrap());
    }
    out
}

#[test]
fn unchanged_events_are_the_chunk_itself() {
    let mut r = new();
    let e = ev(0, Some("Hello there, "), None);
    assert!(r.feed_with(e.as_bytes(), false, |o| o.is_none()).unwrap());
    let other = ": ping\n\ndata: [DONE]\n\nevent: x\ndata: hello\n\n";
    assert!(r
        .feed_with(other.as_bytes(), false, |o| o.is_none())
        .unwrap());
    assert_eq!(r.buffered(), 0);
    assert_eq!(r.entities(), 0);
}

#[test]
fn an_entity_split_over_events_is_redacted() {
    let mut r = new();
    let parts = [
        "Hello there, ",
        "write to jane",
        ".doe@exa",
        "mple.com now",
        "",
    ];
    let mut outs = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let finish = (i + 1 == parts.len()).then_some("stop");
        outs.push(r.feed(ev(0, Some(p), finish).as_bytes(), false).unwrap());
    }
    assert_eq!(contents(&outs[0])[&0], "Hello there, ");
    assert!(!String::from_utf8_lossy(&outs.concat()).contains("jane"));
    assert_eq!(
        contents(&outs.concat())[&0],
        "Hello there, write to [EMAIL] now"
    );
    assert_eq!(r.counts(), vec![(Kind::Email, 1)]);
    assert_eq!(r.entities(), 1);
    // the other fields are untouched
    let last = &events(&outs[3])[0];
    assert_eq!(last["id"], "c1");
    assert_eq!(last["choices"][0]["logprobs"], Value::Null);
}

#[test]
fn escapes_round_trip() {
    let texts = [
        "say \"hi\" \\ back\\slash\n\ttab \u{1} \u{1f} é 😀 \u{2028} / ",
        "mail \"jane.doe@example.com\"\nnext line 😀",
        "\\\"\\\\\" ",
    ];
    for text in texts {
        for ascii in [false, true] {
            let mut r = new();
            let mut out = Vec::new();
            let mut chars = text.chars().peekable();
            while chars.peek().is_some() {
                let piece: String = chars.by_ref().take(3).collect();
                let mut doc = serde_json::to_string(&json!({
                    "choices": [{"index": 0, "delta": {"content": piece}}]
                }))
                .unwrap();
                if ascii {
                    doc = ensure_ascii(&doc);
                }
                out.extend(
                    r.feed(format!("data: {doc}\n\n").as_bytes(), false)
                        .unwrap(),
                );
            }
            out.extend(r.feed(b"", true).unwrap());
            assert_eq!(contents(&out)[&0], whole(text), "{text:?} ascii={ascii}");
        }
    }
}

/// `\uXXXX` for every non-ASCII char, as Python's `json.dumps(ensure_ascii=True)` writes.
fn ensure_ascii(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

#[test]
fn unescaping() {
    let mut s = String::new();
    unescape(
        br#"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00\u0041"#,
        true,
        &mut s,
    )
    .unwrap();
    assert_eq!(s, "a\"b\\c/d\u{8}\u{c}\n\r\té😀A");
    for lone in [&br"\ud83d"[..], br"\ud83dx", br"\ude00", br"\ud83d\u0041"] {
        let mut s = String::new();
        unescape(lone, true, &mut s).unwrap();
        assert!(s.starts_with('\u{FFFD}'), "{lone:?} -> {s:?}");
    }
    for bad in [&br"\x"[..], br"\u12", br"\u12g4", b"\\", b"\xff"] {
        assert!(unescape(bad, true, &mut String::new()).is_none(), "{bad:?}");
    }
    let mut out = Vec::new();
    push_json_str("\"\\\n\r\t\u{8}\u{c}\u{1}\u{1f} é😀\u{7f}", &mut out);
    assert_eq!(
        out,
        "\"\\\"\\\\\\n\\r\\t\\b\\f\\u0001\\u001f é😀\u{7f}\"".as_bytes()
    );
}

#[test]
fn the_tail_goes_into_the_finish_reason_event() {
    let held = ev(0, Some("to jane.doe@example.com"), None);
    let cases = [
        (
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"[EMAIL]"},"finish_reason":"stop"}]}"#,
        ),
        (
            r#"{"choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":"stop"}]}"#,
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"[EMAIL]"},"finish_reason":"stop"}]}"#,
        ),
        (
            r#"{"choices":[{"index":0,"delta":{"content":null},"finish_reason":"stop"}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"[EMAIL]"},"finish_reason":"stop"}]}"#,
        ),
        (
            r#"{"choices":[{"index":0,"delta":null,"finish_reason":"stop"}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"[EMAIL]"},"finish_reason":"stop"}]}"#,
        ),
        (
            r#"{"choices":[{"index":0,"finish_reason":"length"}]}"#,
            r#"{"choices":[{"index":0,"finish_reason":"length","delta":{"content":"[EMAIL]"}}]}"#,
        ),
        (
            r#"{"choices":[{"finish_reason":"stop","index":0,"delta":{"content":"!"}}]}"#,
            r#"{"choices":[{"finish_reason":"stop","index":0,"delta":{"content":"[EMAIL]!"}}]}"#,
        ),
        (
            r#"{ "choices" : [ { "index" : 0 , "delta" : { } , "finish_reason" : "stop" } ] }"#,
            r#"{ "choices" : [ { "index" : 0 , "delta" : { "content":"[EMAIL]"} , "finish_reason" : "stop" } ] }"#,
        ),
    ];
    for (finish, want) in cases {
        let mut r = new();
        let first = r.feed(held.as_bytes(), false).unwrap();
        assert_eq!(contents(&first)[&0], "to ");
        let out = r
            .feed(format!("data: {finish}\n\n").as_bytes(), false)
            .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), format!("data: {want}\n\n"));
        // nothing left for the end
        assert_eq!(r.finish(), b"");
    }
}

#[test]
fn a_finish_without_a_tail_changes_nothing() {
    let mut r = new();
    r.feed(ev(0, Some("all done. "), None).as_bytes(), false)
        .unwrap();
    let e = ev(0, None, Some("stop"));
    assert!(r.feed_with(e.as_bytes(), false, |o| o.is_none()).unwrap());
}

#[test]
fn several_choices_are_independent() {
    let mut r = new();
    let chunks = [
        ev(0, Some("a jane.doe@"), None) + &ev(1, Some("b 10.0."), None),
        ev(1, Some("0.12 c"), None) + &ev(0, Some("example.com"), None),
        ev(0, None, Some("stop")) + &ev(1, None, Some("stop")),
    ];
    let chunks: Vec<&[u8]> = chunks.iter().map(|c| c.as_bytes()).collect();
    let out = feed_all(&mut r, &chunks);
    let per = contents(&out);
    assert_eq!(per[&0], "a [EMAIL]");
    assert_eq!(per[&1], "b [IP_ADDRESS] c");
    // both choices in one event
    let mut r = new();
    let e = chunk(&json!({"choices": [
        {"index": 0, "delta": {"content": "x jane.doe@example.com"}},
        {"index": 1, "delta": {"content": "y 10.0.0.12"}},
    ]}));
    let out = feed_all(&mut r, &[e.as_bytes()]);
    let per = contents(&out);
    assert_eq!(
        (per[&0].as_str(), per[&1].as_str()),
        ("x [EMAIL]", "y [IP_ADDRESS]")
    );
    assert_eq!(r.counts(), vec![(Kind::Email, 1), (Kind::IpAddress, 1)]);
}

#[test]
fn tails_without_finish_reason_come_in_a_synthetic_event_before_usage() {
    let mut r = new();
    let a = ev(0, Some("ends with jane.doe@example.com"), None);
    let b = ev(1, Some("and 10.0.0.12"), None);
    let last = format!("{b}{USAGE}");
    let out = feed_all(&mut r, &[a.as_bytes(), last.as_bytes()]);
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(text.ends_with(USAGE), "{text}");
    let docs = events(&out);
    let synthetic = &docs[docs.len() - 2];
    assert_eq!(
        synthetic,
        &json!({"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m",
        "choices": [
            {"index": 0, "delta": {"content": "[EMAIL]"}, "finish_reason": null},
            {"index": 1, "delta": {"content": "[IP_ADDRESS]"}, "finish_reason": null},
        ]})
    );
    assert_eq!(contents(&out)[&0], "ends with [EMAIL]");
    // with finish(): the same event
    let mut r = new();
    r.feed(a.as_bytes(), false).unwrap();
    let tail = r.finish();
    assert!(tail.starts_with(b"data: {\"id\":\"c1\",\"object\""));
    assert_eq!(contents(&tail)[&0], "[EMAIL]");
    assert_eq!(r.finish(), b"");
    // a last chunk with nothing else is just the synthetic event
    let mut r = new();
    r.feed(a.as_bytes(), false).unwrap();
    let out = r.feed(USAGE.as_bytes(), true).unwrap();
    assert!(out.ends_with(USAGE.as_bytes()));
    assert_eq!(contents(&out)[&0], "[EMAIL]");
}

#[test]
fn non_json_events_pass_through() {
    let mut r = new();
    let s = ": keep-alive\n\nevent: ping\ndata: jane.doe@example.com\n\nid: 3\nretry: 10\n\n\
             data: {\"error\":{\"message\":\"overloaded\"}}\n\ndata: [1,2]\n\ndata: [DONE]\n\n";
    assert!(r.feed_with(s.as_bytes(), false, |o| o.is_none()).unwrap());
    assert_eq!(r.feed(s.as_bytes(), true).unwrap(), s.as_bytes());
}

#[test]
fn malformed_json_passes_through_unchanged() {
    for data in [
        r#"{"choices":[{"delta":{"content":"jane.doe@example.com"}}]"#,
        r#"{"choices":[{"delta":{"content":"jane.doe@example.com"}}]} x"#,
        r#"{"choices":[{"delta":{"content":"jane.doe@example.com\x"}}]}"#,
        r#"{"choices":[{"delta":{"content":"jane.doe@example.com"}},]}"#,
        r#"{"choices":[{"delta":{"content":"jane.doe@example.com" "x":1}}]}"#,
        r#"{"choices":[{"delta":{"content":"jane.doe@example.com"},}]}"#,
        r#"{"choices":[{"delta":{"content":"jane.doe@example.com"}}],"#,
        r#"{"choices":[{"delta":{"content" "jane.doe@example.com"}}]}"#,
        r#"{"choices":[{"delta":{"content":"jane.doe@example.com"}}],"x":}"#,
    ] {
        let mut r = new();
        let e = format!("data: {data}\n\n");
        assert_eq!(r.feed(e.as_bytes(), true).unwrap(), e.as_bytes(), "{data}");
        assert_eq!(r.entities(), 0);
    }
    let mut r = new();
    let e = b"data: {\"choices\":[{\"delta\":{\"content\":\"\xff jane.doe@example.com\"}}]}\n\n";
    assert_eq!(r.feed(e, false).unwrap(), e);
}

#[test]
fn escaped_keys_are_recognised() {
    let mut r = new();
    let e = "data: {\"ch\\u006fices\":[{\"delta\":{\"c\\u006fntent\":\"jane.doe@example.com\"},\"finish_reason\":\"stop\"}]}\n\n";
    let out = r.feed(e.as_bytes(), false).unwrap();
    assert_eq!(contents(&out)[&0], "[EMAIL]");
}

#[test]
fn any_split_of_the_input_gives_the_same_output() {
    let s = [
        ev(0, Some("Hi \"x\" 😀 jane"), None),
        ": c\r\n\r\n".to_string(),
        ev(0, Some(".doe@example.com\n 10.0."), None).replace("\n\n", "\r\n\r\n"),
        ev(0, Some("0.12"), None).replace("\n\n", "\r\r"),
        ev(0, None, Some("stop")),
        USAGE.to_string(),
    ]
    .concat();
    let s = s.as_bytes();
    let want = feed_all(&mut new(), &[s]);
    assert_eq!(
        contents(&want.clone())[&0],
        whole("Hi \"x\" 😀 jane.doe@example.com\n 10.0.0.12")
    );
    for i in 0..=s.len() {
        for j in [i, i + 1, i + 7, i + 64, s.len()].map(|j| j.min(s.len())) {
            let got = feed_all(&mut new(), &[&s[..i], &s[i..j], &s[j..]]);
            assert_eq!(got, want, "split {i},{j}");
        }
    }
}

#[test]
fn a_partial_event_is_held_and_dropped_at_the_end() {
    let mut r = new();
    let e = ev(0, Some("jane.doe@example.com"), None);
    assert_eq!(r.feed(&e.as_bytes()[..20], false).unwrap(), b"");
    assert_eq!(r.buffered(), 20);
    let out = r.feed(&e.as_bytes()[20..], false).unwrap();
    assert!(events(&out).len() == 1 && r.buffered() == 0);
    let out = r.feed(b"data: {\"choi", true).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"m\",\
         \"choices\":[{\"index\":0,\"delta\":{\"content\":\"[EMAIL]\"},\"finish_reason\":null}]}\n\n"
    );
    assert_eq!(r.buffered(), 0);
}

#[test]
fn an_oversized_partial_event_is_an_error() {
    let s = scanner();
    let a = Actions::new(&s);
    let mut r = ChatChunkRedactor::new(s, a, 64);
    assert!(r.feed(&[b'x'; 64], false).is_ok());
    assert!(r.feed(b"x", false).is_err());
    assert_eq!(r.buffered(), 0);
    assert_eq!(r.feed(b"data: x\n\n", false).unwrap(), b"");
}

#[test]
fn several_data_lines_are_redacted_on_their_join() {
    let mut r = new();
    let e = "id: 1\ndata: {\"choices\":[{\"index\":0,\ndata: \"delta\":{\"content\":\"mail jane.doe@example.com\"},\ndata: \"finish_reason\":\"stop\"}]}\n\n";
    let out = String::from_utf8(r.feed(e.as_bytes(), false).unwrap()).unwrap();
    assert_eq!(
        out,
        "id: 1\ndata: {\"choices\":[{\"index\":0,\ndata: \"delta\":{\"content\":\"mail [EMAIL]\"},\ndata: \"finish_reason\":\"stop\"}]}\n\n"
    );
}

#[test]
fn a_blocked_entity_withholds_its_event_and_stops() {
    let mut r = redactor_with(&[("CREDIT_CARD", Action::Block)]);
    let first = ev(0, Some("fine so far. "), None);
    assert_eq!(r.feed(first.as_bytes(), false).unwrap(), first.as_bytes());
    let a = ev(0, Some("more. "), None);
    let b = ev(0, Some("card 4111 1111 1111 1111 ok"), None);
    let c = ev(0, Some("after"), None);
    let out = r.feed(format!("{a}{b}{c}").as_bytes(), false).unwrap();
    assert_eq!(out, a.as_bytes());
    assert!(r.is_blocked());
    assert_eq!(r.blocked(), vec![Kind::CreditCard]);
    assert_eq!(r.counts(), vec![(Kind::CreditCard, 1)]);
    assert_eq!(r.feed(c.as_bytes(), true).unwrap(), b"");
    assert_eq!(r.finish(), b"");
    // blocked in the tails flushed at the end
    let mut r = redactor_with(&[("EMAIL", Action::Block)]);
    let e = ev(0, Some("ok jane.doe@example.com"), None);
    let out = r.feed(format!("{e}{USAGE}").as_bytes(), true).unwrap();
    assert!(r.is_blocked());
    assert!(!String::from_utf8_lossy(&out).contains("EMAIL"));
}

#[test]
fn events_sharing_a_prefix_are_walked_like_the_first() {
    let mut r = new();
    let mut all = Vec::new();
    let head = r#"{"id":"c1","model":"m","choices":"#;
    let a = format!("data: {head}[{{\"delta\":{{\"content\":\"a 10.0.0.1 x \"}}}}]}}\n\n");
    all.extend(r.feed(a.as_bytes(), false).unwrap());
    // same prefix, then whitespace, another layout, later members, a model after choices
    let b = format!(
        "data: {head}  [ {{\"index\":0,\"delta\":{{\"content\":\"b 10.0.0.2 y \"}}}} ] ,\"model\":\"n\"}}\n\n"
    );
    all.extend(r.feed(b.as_bytes(), false).unwrap());
    // same prefix, not an array: passed through; malformed after the prefix too
    for c in [
        format!("data: {head}null}}\n\n"),
        format!("data: {head}[}}\n\n"),
    ] {
        assert_eq!(r.feed(c.as_bytes(), false).unwrap(), c.as_bytes());
    }
    let e = format!("data: {head}[{{\"delta\":{{\"content\":\"jane.doe@example.com\"}}}}]}}\n\n");
    let out = r.feed(e.as_bytes(), true).unwrap();
    let docs = events(&out);
    assert_eq!(docs.len(), 2);
    // the synthetic event has the members of the last event (`model` after choices too)
    assert_eq!(docs[1]["model"], "m");
    all.extend(out);
    assert_eq!(
        contents(&all)[&0],
        "a [IP_ADDRESS] x b [IP_ADDRESS] y [EMAIL]"
    );
    assert_eq!(r.counts(), vec![(Kind::Email, 1), (Kind::IpAddress, 2)]);
}

#[test]
fn index_parsing() {
    assert_eq!(parse_index(b"3"), 3);
    assert_eq!(parse_index(b"-2"), -2);
    for v in [
        &b"1.0"[..],
        b"\"1\"",
        b"null",
        b"-",
        b"99999999999999999999",
        b"",
    ] {
        assert_eq!(parse_index(v), 0);
    }
}

#[test]
fn arbitrary_bytes_do_not_panic_and_any_split_gives_the_same_output() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    let words: [&[u8]; 24] = [
        b"{",
        b"}",
        b"[",
        b"]",
        b"\"",
        b":",
        b",",
        b"\\",
        b" ",
        b"\n",
        b"\r",
        b"data: ",
        b"\"choices\":[",
        b"{\"index\":1,",
        b"\"delta\":{",
        b"\"content\":\"",
        b"null",
        b"\"finish_reason\":\"stop\"",
        b"\\u00e9",
        b"\\ud83d",
        b"jane.doe@",
        b"x.io",
        b"0",
        b"\n\n",
    ];
    for _ in 0..3000 {
        let len = next(40);
        let stream: Vec<u8> = (0..len)
            .flat_map(|_| words[next(words.len())])
            .copied()
            .collect();
        let whole = feed_all(&mut new(), &[&stream]);
        let (a, b) = (next(stream.len() + 1), next(stream.len() + 1));
        let (a, b) = (a.min(b), a.max(b));
        let mut r = new();
        let split = feed_all(&mut r, &[&stream[..a], &stream[a..b], &stream[b..]]);
        assert_eq!(
            split,
            whole,
            "{:?} split {a},{b}",
            String::from_utf8_lossy(&stream)
        );
        let _ = r.finish();
    }
}
