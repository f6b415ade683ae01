//! Credentials: cloud and SaaS API keys, JWTs, bearer tokens, PEM private keys.

use crate::pii::entity::Kind;
use crate::pii::hay::{class, is, Hay, ALNUM, B64TOKEN, DIGIT, LOWER, PEM, SPACE, TOKEN, UPPER};
use crate::pii::{MAX_PEM_BYTES, MAX_TOKEN_BYTES};

/// A key, JWT, bearer token or private key starting at `s`: its end and kind.
pub(super) fn secret(h: &Hay<'_>, s: usize, prev: u8) -> Option<(usize, Kind)> {
    let c = h.b[s];
    if c == b'-' {
        return pem(h, s).map(|e| (e, Kind::PrivateKey));
    }
    // Not inside an identifier or another token.
    if class(prev) & TOKEN != 0 {
        return None;
    }
    match c {
        b'A' => aws(h, s).or_else(|| token(h, s, b"AIza", TOKEN, 35, 35)),
        b'g' => token(h, s, b"ghp_", ALNUM, 30, 251)
            .or_else(|| token(h, s, b"gho_", ALNUM, 30, 251))
            .or_else(|| token(h, s, b"ghu_", ALNUM, 30, 251))
            .or_else(|| token(h, s, b"ghs_", ALNUM, 30, 251))
            .or_else(|| token(h, s, b"ghr_", ALNUM, 30, 251))
            .or_else(|| token(h, s, b"github_pat_", TOKEN, 22, 244)),
        b'x' => slack(h, s),
        b's' => openai(h, s)
            .or_else(|| token(h, s, b"sk_live_", ALNUM, 16, 247))
            .or_else(|| token(h, s, b"sk_test_", ALNUM, 16, 247)),
        b'r' => token(h, s, b"rk_live_", ALNUM, 16, 247)
            .or_else(|| token(h, s, b"rk_test_", ALNUM, 16, 247)),
        b'e' => return jwt(h, s).map(|e| (e, Kind::Jwt)),
        b'B' | b'b' => return bearer(h, s).map(|e| (e, Kind::BearerToken)),
        _ => None,
    }
    .map(|e| (e, Kind::CloudKey))
}

/// `prefix` then `min..=max` chars of class `k`, not followed by a token char. A longer run is
/// not this kind of key (a fixed-size key) unless `max` is the cap for long tokens.
fn token(h: &Hay<'_>, s: usize, prefix: &[u8], k: u16, min: usize, max: usize) -> Option<usize> {
    if !h.lit(s, prefix) {
        return None;
    }
    let j = s + prefix.len();
    let n = h.run(j, k, max + 1);
    if n < min || n > max && prefix.len() + max < MAX_TOKEN_BYTES {
        return None;
    }
    let n = n.min(max);
    if n == max && prefix.len() + max >= MAX_TOKEN_BYTES {
        return Some(j + n); // cut at the bound
    }
    (!is(h.get(j + n), TOKEN)).then_some(j + n)
}

/// AWS access key ids: a four-letter type prefix and 16 upper-case letters or digits.
fn aws(h: &Hay<'_>, s: usize) -> Option<usize> {
    const PREFIXES: [&[u8; 4]; 10] = [
        b"AKIA", b"ASIA", b"AGPA", b"AIDA", b"AROA", b"AIPA", b"ANPA", b"ANVA", b"ABIA", b"ACCA",
    ];
    if !PREFIXES.iter().any(|p| h.lit(s, *p)) {
        return None;
    }
    let n = h.run(s + 4, UPPER | DIGIT, 17);
    (n == 16 && !is(h.get(s + 20), TOKEN)).then_some(s + 20)
}

/// Slack tokens: `xoxb-`, `xoxp-`, `xoxa-`, `xoxo-`, `xoxs-`, `xoxr-` then 10+ chars.
fn slack(h: &Hay<'_>, s: usize) -> Option<usize> {
    let kind = h.get(s + 3)?;
    if !h.lit(s, b"xox") || !b"abposr".contains(&kind) {
        return None;
    }
    let mut prefix = *b"xox?-";
    prefix[3] = kind;
    token(h, s, &prefix, TOKEN, 10, MAX_TOKEN_BYTES - 5)
}

/// OpenAI and Anthropic style `sk-...` keys (`sk-proj-`, `sk-ant-api03-`): 20+ token chars with
/// letters and digits, so that a hyphenated phrase after "sk-" is not a key.
fn openai(h: &Hay<'_>, s: usize) -> Option<usize> {
    let e = token(h, s, b"sk-", TOKEN, 20, MAX_TOKEN_BYTES - 3)?;
    let body = &h.b[s + 3..e];
    let has = |k: u16| body.iter().any(|&c| class(c) & k != 0);
    (has(DIGIT) && has(UPPER | LOWER)).then_some(e)
}

/// `eyJ<header>.<payload>.<signature>` (base64url JSON header; the signature may be empty).
fn jwt(h: &Hay<'_>, s: usize) -> Option<usize> {
    if !h.lit(s, b"eyJ") {
        return None;
    }
    let cap = s + MAX_TOKEN_BYTES;
    let mut j = s;
    for part in 0..3 {
        let n = h.run(j, TOKEN, cap - j);
        let min = [10, 2, 0][part];
        if n < min {
            return None;
        }
        j += n;
        if j == cap {
            return Some(j); // cut at the bound
        }
        if part < 2 {
            if h.get(j) != Some(b'.') {
                return None;
            }
            j += 1;
        }
    }
    Some(j)
}

/// `Bearer <token>` (any case, spaces between): 16+ b64token chars with a letter and a digit.
/// The span includes the word "Bearer".
fn bearer(h: &Hay<'_>, s: usize) -> Option<usize> {
    if !h.lit_nocase(s, b"bearer") {
        return None;
    }
    let mut spaces = 0;
    while spaces < 4 && h.get(s + 6 + spaces) == Some(b' ') {
        spaces += 1;
    }
    if spaces == 0 {
        return None;
    }
    let j = s + 6 + spaces;
    let max = MAX_TOKEN_BYTES - 6 - spaces;
    let mut n = h.run(j, B64TOKEN, max);
    if n < max {
        // A sentence may end right after the token.
        while n > 0 && h.b[j + n - 1] == b'.' {
            n -= 1;
        }
    }
    if n < 16 {
        return None;
    }
    let body = &h.b[j..j + n];
    let has = |k: u16| body.iter().any(|&c| class(c) & k != 0);
    if !has(DIGIT) || !has(UPPER | LOWER) {
        return None;
    }
    if n < max && is(h.next(j + n), ALNUM) {
        return None;
    }
    Some(j + n)
}

/// `-----BEGIN ... PRIVATE KEY-----` through the matching END line; without an END line (a cut
/// answer) through the last non-blank char of the base64 body. At most `MAX_PEM_BYTES`.
fn pem(h: &Hay<'_>, s: usize) -> Option<usize> {
    if !h.lit(s, b"-----BEGIN ") {
        return None;
    }
    let label = s + 11;
    let n = h.run(label, UPPER | DIGIT | SPACE, 64);
    let label_text = &h.b[label..label + n];
    if !h.lit(label + n, b"-----") || !contains(label_text, b"PRIVATE KEY") {
        return None;
    }
    let cap = s + MAX_PEM_BYTES;
    let mut j = label + n + 5;
    while j < cap {
        match h.get(j) {
            Some(b'-') if h.lit(j, b"-----END ") => {
                let k = j + 9;
                let m = h.run(k, UPPER | DIGIT | SPACE, 64);
                if h.lit(k + m, b"-----") {
                    return Some((k + m + 5).min(cap));
                }
                j += 1;
            }
            Some(c) if class(c) & PEM != 0 => j += 1,
            _ => break,
        }
    }
    let mut end = j;
    while end > s && h.b[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    Some(end)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at0(text: &str) -> Option<(&str, Kind)> {
        let h = Hay::new(text.as_bytes(), true);
        secret(&h, 0, b' ').map(|(e, k)| (&text[..e], k))
    }

    #[test]
    fn keys() {
        use Kind::*;
        let gh = format!("ghp_{}", "a1B2".repeat(9));
        let gcp = format!("AIza{}", "Sy-_9".repeat(7));
        let oa = "sk-proj-Abcdef0123456789abcdEF_-xyz";
        let jwt =
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        for ok in [
            "AKIAIOSFODNN7EXAMPLE",
            gh.as_str(),
            gcp.as_str(),
            oa,
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "xoxb-123456789012-abcdefABCDEF",
        ] {
            assert_eq!(at0(ok), Some((ok, CloudKey)), "{ok}");
        }
        assert_eq!(at0(jwt), Some((jwt, Jwt)));
        let b = "Bearer abcDEF0123456789xyz.~+/=";
        assert_eq!(at0(b), Some((b, BearerToken)));
        assert_eq!(
            at0("Bearer abcDEF0123456789xyz. Next"),
            Some(("Bearer abcDEF0123456789xyz", BearerToken))
        );
        for no in [
            "AKIAIOSFODNN7EXAMPL",
            "AKIAIOSFODNN7EXAMPLEX",
            "sk-this-is-a-long-hyphenated-phrase",
            "sk-learn",
            "Bearer authentication-is-simple",
            "eyJhbGc.eyJz.x",
            "xoxz-1234567890",
        ] {
            assert_eq!(at0(no), None, "{no}");
        }
    }

    #[test]
    fn private_keys() {
        let key =
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow+/=\nAbC==\n-----END RSA PRIVATE KEY-----";
        assert_eq!(at0(&format!("{key}\nok")), Some((key, Kind::PrivateKey)));
        let cut = "-----BEGIN PRIVATE KEY-----\nMIIEow+/=\nAbC";
        assert_eq!(
            at0(&format!("{cut}\n\n(truncated)")),
            Some((cut, Kind::PrivateKey))
        );
        assert_eq!(
            at0("-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"),
            None
        );
        let long = format!(
            "-----BEGIN PRIVATE KEY-----\n{}",
            "A".repeat(3 * MAX_PEM_BYTES)
        );
        assert_eq!(at0(&long).map(|(t, _)| t.len()), Some(MAX_PEM_BYTES));
    }
}
