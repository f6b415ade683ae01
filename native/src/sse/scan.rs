//! Fast field scanning of `chat.completion.chunk` JSON without parsing it.
//!
//! One pass visits every colon (found 16 bytes at a time with SSE2 bit masks). A colon preceded (after optional whitespace) by
//! `"key"` whose opening quote is a string delimiter is structural: inside a JSON string every
//! quote is escaped, so a quote preceded by an even number of backslashes (0, 2, …) delimits a
//! string, and in valid JSON such a quote followed by `key"` and a colon can only open an object
//! key. Only the few values needed are decoded, and string values that are counted are skipped
//! whole; the usage object (once per stream) is parsed with serde_json.

use memchr::{memchr, memchr2};
use serde::de::IgnoredAny;
use serde_json::Value;

/// Token counts from a `usage` object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub total_tokens: Option<u64>,
    /// `prompt_tokens_details.cached_tokens`.
    pub cached_tokens: Option<u64>,
}

/// What one chunk event contributes to the stream accounting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChunkSummary<'a> {
    /// Unicode characters (after unescaping) of every `content`, `reasoning_content` and
    /// `arguments` string value.
    pub content_chars: u64,
    /// The last non-null `finish_reason` string.
    pub finish_reason: Option<String>,
    /// The top-level `model` string (only looked for when asked).
    pub model: Option<String>,
    /// The last non-null `usage` object (at any depth, e.g. also Groq's `x_groq.usage`).
    pub usage: Option<Usage>,
    /// A top-level `"choices": []` together with a top-level non-null `usage` object.
    pub usage_only: bool,
    /// Raw JSON of the last non-null top-level `error` value.
    pub error: Option<&'a [u8]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    /// `content`, `reasoning_content` or `arguments`: characters are counted.
    Text,
    FinishReason,
    Model,
    Usage,
    Choices,
    Error,
}

/// Scans one chunk's JSON (the `data` of an event, expected to be an object).
pub fn scan_chunk(json: &[u8], want_model: bool) -> ChunkSummary<'_> {
    let mut s = ChunkSummary::default();
    let mut top_usage = false;
    let mut top_choices_empty = false;
    // Offsets below `i` are inside a value already handled.
    let mut i = 0;
    for colon in colons(json) {
        if colon < i {
            continue;
        }
        let Some(key) = key_before(json, colon) else {
            continue;
        };
        let v = skip_ws(json, colon + 1);
        match key {
            Key::Text => {
                if let Some(raw) = string_at(json, v) {
                    s.content_chars += json_str_chars(raw);
                    i = v + raw.len() + 2;
                }
            }
            Key::FinishReason => {
                if let Some(reason) = decode_string_at(json, v) {
                    s.finish_reason = Some(reason);
                }
            }
            Key::Model => {
                if want_model && s.model.is_none() && depth_at(json, v) == 1 {
                    s.model = decode_string_at(json, v);
                }
            }
            Key::Usage => {
                if let Some((usage, end)) = parse_usage(json, v) {
                    s.usage = Some(usage);
                    top_usage |= depth_at(json, v) == 1;
                    i = end;
                }
            }
            Key::Choices => {
                top_choices_empty |= is_empty_array(json, v) && depth_at(json, v) == 1;
            }
            Key::Error => {
                if !json[v..].starts_with(b"null") && depth_at(json, v) == 1 {
                    if let Some(end) = value_end(json, v) {
                        s.error = Some(&json[v..end]);
                        i = end;
                    }
                }
            }
        }
    }
    s.usage_only = top_usage && top_choices_empty;
    s
}

/// Offsets of every colon in `json`, from one 64-bit mask per 64 bytes: cheaper than a memchr
/// call per colon, as colons in chunk JSON are only tens of bytes apart.
fn colons(json: &[u8]) -> impl Iterator<Item = usize> + '_ {
    json.chunks(64).enumerate().flat_map(|(n, block)| {
        let mut mask = colon_mask(block);
        std::iter::from_fn(move || {
            if mask == 0 {
                return None;
            }
            let bit = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            Some(n * 64 + bit)
        })
    })
}

fn colon_mask(block: &[u8]) -> u64 {
    let mut mask = 0;
    let mut lanes = block.chunks_exact(16);
    for (n, lane) in lanes.by_ref().enumerate() {
        let lane: &[u8; 16] = lane.try_into().expect("16 bytes");
        mask |= u64::from(colon_lane_mask(lane)) << (16 * n);
    }
    let done = block.len() - lanes.remainder().len();
    for (i, &b) in lanes.remainder().iter().enumerate() {
        mask |= u64::from(b == b':') << (done + i);
    }
    mask
}

/// Bit `i` is set if `lane[i]` is a colon.
#[cfg(target_arch = "x86_64")]
fn colon_lane_mask(lane: &[u8; 16]) -> u16 {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    // SAFETY: SSE2 is part of the x86_64 baseline; the unaligned load reads exactly the 16 bytes
    // of `lane`.
    unsafe {
        let v = _mm_loadu_si128(lane.as_ptr().cast());
        _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b':' as i8))) as u16
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn colon_lane_mask(lane: &[u8; 16]) -> u16 {
    colon_lane_mask_portable(lane)
}

#[cfg(any(test, not(target_arch = "x86_64")))]
fn colon_lane_mask_portable(lane: &[u8; 16]) -> u16 {
    let mut m = 0u16;
    for (i, &b) in lane.iter().enumerate() {
        m |= u16::from(b == b':') << i;
    }
    m
}

/// The key whose value follows the colon at `colon`, if it is structural and one we scan for.
fn key_before(json: &[u8], colon: usize) -> Option<Key> {
    let mut q = colon;
    while q > 0 && matches!(json[q - 1], b' ' | b'\t' | b'\n' | b'\r') {
        q -= 1;
    }
    let close = q.checked_sub(1)?;
    if json[close] != b'"' {
        return None;
    }
    let is = |name: &[u8]| {
        json[..close].ends_with(name)
            && close > name.len()
            && json[close - name.len() - 1] == b'"'
            && delimits_string(json, close - name.len() - 1)
    };
    match json[..close].last()? {
        b't' if is(b"content") || is(b"reasoning_content") => Some(Key::Text),
        b's' if is(b"arguments") => Some(Key::Text),
        b's' if is(b"choices") => Some(Key::Choices),
        b'n' if is(b"finish_reason") => Some(Key::FinishReason),
        b'l' if is(b"model") => Some(Key::Model),
        b'e' if is(b"usage") => Some(Key::Usage),
        b'r' if is(b"error") => Some(Key::Error),
        _ => None,
    }
}

/// Whether the quote at `q` is a string delimiter (preceded by an even number of backslashes).
fn delimits_string(json: &[u8], q: usize) -> bool {
    json[..q].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 0
}

fn skip_ws(json: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = json.get(i) {
        i += 1;
    }
    i
}

/// Index of the quote closing the string whose contents start at `i`.
fn string_end(json: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let k = i + memchr2(b'"', b'\\', json.get(i..)?)?;
        if json[k] == b'"' {
            return Some(k);
        }
        i = k + 2;
    }
}

/// The raw (still escaped) contents of the string value at `v`, if the value is a string.
fn string_at(json: &[u8], v: usize) -> Option<&[u8]> {
    if json.get(v) != Some(&b'"') {
        return None;
    }
    string_end(json, v + 1).map(|end| &json[v + 1..end])
}

fn decode_string_at(json: &[u8], v: usize) -> Option<String> {
    let raw = string_at(json, v)?;
    if memchr(b'\\', raw).is_none() {
        return Some(String::from_utf8_lossy(raw).into_owned());
    }
    serde_json::from_slice(&json[v..v + raw.len() + 2]).ok()
}

/// Nesting depth (objects and arrays) at offset `pos`; 1 means inside the top-level object.
fn depth_at(json: &[u8], pos: usize) -> usize {
    let mut depth = 0usize;
    let mut i = 0;
    while i < pos {
        match json[i] {
            b'"' => match string_end(json, i + 1) {
                Some(end) => i = end,
                None => return depth,
            },
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    depth
}

fn is_empty_array(json: &[u8], v: usize) -> bool {
    json.get(v) == Some(&b'[') && json.get(skip_ws(json, v + 1)) == Some(&b']')
}

/// End offset of the JSON value starting at `v`.
fn value_end(json: &[u8], v: usize) -> Option<usize> {
    let mut values = serde_json::Deserializer::from_slice(&json[v..]).into_iter::<IgnoredAny>();
    values.next()?.ok()?;
    Some(v + values.byte_offset())
}

/// The usage object starting at `v`, and its end offset.
fn parse_usage(json: &[u8], v: usize) -> Option<(Usage, usize)> {
    if json.get(v) != Some(&b'{') {
        return None;
    }
    let mut values = serde_json::Deserializer::from_slice(&json[v..]).into_iter::<Value>();
    let value = values.next()?.ok()?;
    let count = |v: &Value, key: &str| v.get(key).and_then(Value::as_u64);
    let usage = Usage {
        prompt_tokens: count(&value, "prompt_tokens"),
        completion_tokens: count(&value, "completion_tokens"),
        total_tokens: count(&value, "total_tokens"),
        cached_tokens: value
            .get("prompt_tokens_details")
            .and_then(|d| count(d, "cached_tokens")),
    };
    Some((usage, v + values.byte_offset()))
}

/// Number of Unicode characters in the raw contents of a JSON string once unescaped; a
/// `\uXXXX\uXXXX` surrogate pair is one character (as Python's `json` decodes it).
pub fn json_str_chars(raw: &[u8]) -> u64 {
    if memchr(b'\\', raw).is_none() {
        return utf8_chars(raw);
    }
    let mut n = 0;
    let mut i = 0;
    while i < raw.len() {
        let Some(k) = memchr(b'\\', &raw[i..]) else {
            return n + utf8_chars(&raw[i..]);
        };
        n += utf8_chars(&raw[i..i + k]) + 1;
        i += k;
        i += match raw.get(i + 1) {
            Some(b'u') => {
                let hi = hex4(raw, i + 2);
                let pair = hi.is_some_and(|h| (0xD800..0xDC00).contains(&h))
                    && raw.get(i + 6) == Some(&b'\\')
                    && raw.get(i + 7) == Some(&b'u')
                    && hex4(raw, i + 8).is_some_and(|l| (0xDC00..0xE000).contains(&l));
                if pair {
                    12
                } else if hi.is_some() {
                    6
                } else {
                    2
                }
            }
            _ => 2,
        };
    }
    n
}

fn utf8_chars(s: &[u8]) -> u64 {
    // Count the bytes that are not UTF-8 continuation bytes (0x80..=0xBF).
    s.iter().filter(|&&b| (b as i8) >= -0x40).count() as u64
}

pub(crate) fn hex4(raw: &[u8], i: usize) -> Option<u32> {
    let digits = raw.get(i..i + 4)?;
    digits
        .iter()
        .try_fold(0u32, |acc, &d| Some(acc * 16 + char::from(d).to_digit(16)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_content_chunk() {
        let j = br#"{"id":"c1","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{"content":"H\u00e9llo \"w\" \ud83d\ude00!"},"logprobs":null,"finish_reason":null}],"usage":null}"#;
        let s = scan_chunk(j, true);
        assert_eq!(s.content_chars, 12);
        assert_eq!(s.model.as_deref(), Some("gpt-4o"));
        assert_eq!(s.finish_reason, None);
        assert_eq!(s.usage, None);
        assert!(!s.usage_only);
        assert_eq!(s.error, None);
        assert_eq!(scan_chunk(j, false).model, None);
    }

    #[test]
    fn usage_chunk() {
        let j = br#"{"id":"c","model":"m","choices": [ ],"usage":{"prompt_tokens":61,"completion_tokens":43,"total_tokens":104,"prompt_tokens_details":{"cached_tokens":7}}}"#;
        let s = scan_chunk(j, false);
        let want = Usage {
            prompt_tokens: Some(61),
            completion_tokens: Some(43),
            total_tokens: Some(104),
            cached_tokens: Some(7),
        };
        assert_eq!(s.usage, Some(want));
        assert!(s.usage_only);
    }

    #[test]
    fn usage_with_choices_or_nested_is_not_usage_only() {
        let j = br#"{"choices":[{"delta":{},"finish_reason":"stop"}],"x_groq":{"usage":{"prompt_tokens":3}}}"#;
        let s = scan_chunk(j, false);
        assert_eq!(s.usage.and_then(|u| u.prompt_tokens), Some(3));
        assert_eq!(s.finish_reason.as_deref(), Some("stop"));
        assert!(!s.usage_only);
        let j = br#"{"choices":[],"x":{"usage":{"prompt_tokens":3}}}"#;
        assert!(!scan_chunk(j, false).usage_only);
        let j = br#"{"choices":[],"usage":null}"#;
        assert!(!scan_chunk(j, false).usage_only);
    }

    #[test]
    fn keys_inside_strings_are_not_structural() {
        let j = br#"{"choices":[{"delta":{"content":"say \"content\": \"xx\" and \\\"usage\": {} \\"}}],"model":"m","x":"\"model\":\"no\""}"#;
        let s = scan_chunk(j, true);
        assert_eq!(s.content_chars, 38);
        assert_eq!(s.usage, None);
        assert_eq!(s.model.as_deref(), Some("m"));
    }

    #[test]
    fn keys_ending_in_an_escaped_quote_are_not_structural() {
        let j = br#"{"say \"content": "abc", "my \\\"usage":{"prompt_tokens":1}, "a \"model":"x", "an \"error":{}}"#;
        let s = scan_chunk(j, true);
        assert_eq!(s, ChunkSummary::default());
        // an even number of backslashes: the quote is a delimiter again
        let j = br#"{"a\\":0,"content":"abc"}"#;
        assert_eq!(scan_chunk(j, true).content_chars, 3);
    }

    #[test]
    fn reasoning_and_tool_arguments_count_and_null_content_does_not() {
        let j = br#"{"choices":[{"delta":{"content":null,"reasoning_content":"ab","tool_calls":[{"index":0,"function":{"name":"f","arguments":"{\"a\": 1}"}}]}}]}"#;
        assert_eq!(scan_chunk(j, false).content_chars, 2 + 8);
    }

    #[test]
    fn logprobs_content_array_is_not_counted() {
        let j = br#"{"choices":[{"delta":{"content":"hi"},"logprobs":{"content":[{"token":"hi","logprob":-0.1}]}}]}"#;
        assert_eq!(scan_chunk(j, false).content_chars, 2);
    }

    #[test]
    fn whitespace_around_colon() {
        let j = b"{\"model\" : \"m\",\n \"choices\" :[{\"delta\" : {\"content\" :\t\"abc\"}, \"finish_reason\" : \"length\"}]}";
        let s = scan_chunk(j, true);
        assert_eq!(s.content_chars, 3);
        assert_eq!(s.model.as_deref(), Some("m"));
        assert_eq!(s.finish_reason.as_deref(), Some("length"));
    }

    #[test]
    fn top_level_error_only() {
        let j = br#"{"error":{"message":"boom \"x\"","type":"server_error","code":null}}"#;
        assert_eq!(
            scan_chunk(j, false).error,
            Some(&br#"{"message":"boom \"x\"","type":"server_error","code":null}"#[..])
        );
        let j = br#"{"choices":[{"error":{"m":1}}],"error":null}"#;
        assert_eq!(scan_chunk(j, false).error, None);
    }

    #[test]
    fn nested_model_is_ignored() {
        let j = br#"{"x":{"model":"inner"},"model":"outer"}"#;
        assert_eq!(scan_chunk(j, true).model.as_deref(), Some("outer"));
    }

    #[test]
    fn escaped_finish_reason_is_decoded() {
        let j = br#"{"choices":[{"finish_reason":"a\u0062\n"}]}"#;
        assert_eq!(scan_chunk(j, false).finish_reason.as_deref(), Some("ab\n"));
    }

    #[test]
    fn colon_masks() {
        let mut lane = [b'a'; 16];
        for i in 0..16 {
            lane[i] = b':';
            assert_eq!(colon_lane_mask(&lane), colon_lane_mask_portable(&lane));
            assert_eq!(colon_lane_mask(&lane).count_ones() as usize, i + 1);
        }
        for len in [0, 1, 15, 16, 17, 63, 64, 65, 130] {
            let json: Vec<u8> = (0..len)
                .map(|i| if i % 3 == 1 { b':' } else { b'x' })
                .collect();
            let want: Vec<usize> = (0..len).filter(|i| i % 3 == 1).collect();
            assert_eq!(colons(&json).collect::<Vec<_>>(), want, "len {len}");
        }
    }

    #[test]
    fn char_counting() {
        assert_eq!(json_str_chars(b""), 0);
        assert_eq!(json_str_chars("h\u{e9}\u{1F600}".as_bytes()), 3);
        assert_eq!(json_str_chars(br"\n\t\\\/\u0041"), 5);
        assert_eq!(json_str_chars(br"\ud83d\ude00"), 1);
        // lone surrogates count one each
        assert_eq!(json_str_chars(br"\ud83dx\ude00"), 3);
        assert_eq!(json_str_chars(br"\ud83d\u0041"), 2);
        // malformed input must not panic
        assert_eq!(json_str_chars(br"\u12"), 3);
        assert_eq!(json_str_chars(b"\\"), 1);
    }

    #[test]
    fn malformed_json_does_not_panic() {
        for j in [
            &b"{\"content\":\"abc"[..],
            b"{\"content\"",
            b"{\"content\":",
            b"{\"usage\":{\"prompt_tokens\":",
            b"{\"error\":",
            b"{\"error\":{",
            b"\"model\":\"\\",
            b"\\\\\"content\":\"x\"",
        ] {
            let _ = scan_chunk(j, true);
        }
    }
}
