//! Unverified parsing of a compact JWS: segments, header and registered claims.
//!
//! Nothing here is trusted: [`super::verifier`] uses the header to pick the key and the `iss`
//! claim to pick the policy, then checks the signature before any claim.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::b64::decode_url;
use super::JwtError;

/// The three segments of a compact JWS, decoded.
pub struct Parts<'a> {
    /// `header.payload` as received: the signed bytes.
    pub signing_input: &'a [u8],
    pub header: Vec<u8>,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
}

/// Splits and strictly base64url-decodes `token` (exactly three segments; header and payload
/// not empty; the signature may be empty, which no key verifies).
pub fn split(token: &[u8]) -> Result<Parts<'_>, JwtError> {
    let mut dots = memchr::memchr_iter(b'.', token);
    let (Some(d1), Some(d2), None) = (dots.next(), dots.next(), dots.next()) else {
        return Err(JwtError::Malformed("not three dot-separated segments"));
    };
    let (h, p, s) = (&token[..d1], &token[d1 + 1..d2], &token[d2 + 1..]);
    if h.is_empty() || p.is_empty() {
        return Err(JwtError::Malformed("empty segment"));
    }
    let bad = JwtError::Malformed("invalid base64url segment");
    Ok(Parts {
        signing_input: &token[..d2],
        header: decode_url(h).ok_or(bad.clone())?,
        payload: decode_url(p).ok_or(bad.clone())?,
        signature: decode_url(s).ok_or(bad)?,
    })
}

/// The header members this verifier reads. Others (`typ`, `cty`, and notably `jwk`, `jku`,
/// `x5u`, `x5c`: keys never come from the token) are ignored.
#[derive(Debug, PartialEq)]
pub struct Header<'a> {
    pub alg: Cow<'a, str>,
    pub kid: Option<Cow<'a, str>>,
    /// `crit` is present (any value): an extension this verifier does not implement.
    pub crit: bool,
}

/// Registered claims (RFC 7519 §4.1) and which top-level claims are present and non-null.
#[derive(Debug, Default, PartialEq)]
pub struct Claims<'a> {
    pub iss: Option<Cow<'a, str>>,
    pub sub: Option<Cow<'a, str>>,
    /// `aud` as a list: a string becomes one element; absent, `null`, `""` and `[]` are empty.
    pub aud: Vec<Cow<'a, str>>,
    pub exp: Option<i64>,
    pub nbf: Option<i64>,
    pub iat: Option<i64>,
    /// Names of the members that are not `null`, sorted.
    pub present: Vec<Cow<'a, str>>,
}

impl Claims<'_> {
    pub fn has(&self, name: &str) -> bool {
        self.present
            .binary_search_by(|p| p.as_ref().cmp(name))
            .is_ok()
    }
}

pub fn parse_header(json: &[u8]) -> Result<Header<'_>, JwtError> {
    parse_object(json, HeaderVisitor)
        .map_err(|_| JwtError::Malformed("header is not a JSON object with a string alg"))
}

pub fn parse_claims(json: &[u8]) -> Result<Claims<'_>, JwtError> {
    parse_object(json, ClaimsVisitor)
        .map_err(|_| JwtError::Malformed("payload is not a JSON object of valid claims"))
}

fn parse_object<'a, V: Visitor<'a>>(
    json: &'a [u8],
    visitor: V,
) -> Result<V::Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let value = de.deserialize_map(visitor)?;
    de.end()?;
    Ok(value)
}

/// Fails on a duplicate member name (JSON parsers disagree on which one wins, and the Python
/// side reads the claims again from `claims_json`).
fn check_unique<E: de::Error>(mut names: Vec<Cow<'_, str>>) -> Result<(), E> {
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err(E::custom("duplicate member"));
    }
    Ok(())
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = Header<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut alg, mut kid, mut crit) = (None, None, false);
        let mut names = Vec::new();
        while let Some(Str(name)) = map.next_key()? {
            match name.as_ref() {
                "alg" => alg = Some(map.next_value::<Str<'de>>()?.0),
                "kid" => kid = Some(map.next_value::<Str<'de>>()?.0),
                "crit" => {
                    map.next_value::<IgnoredAny>()?;
                    crit = true;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            names.push(name);
        }
        check_unique(names)?;
        let alg = alg.ok_or_else(|| de::Error::missing_field("alg"))?;
        Ok(Header { alg, kid, crit })
    }
}

struct ClaimsVisitor;

impl<'de> Visitor<'de> for ClaimsVisitor {
    type Value = Claims<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWT claims object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut c = Claims::default();
        let mut names = Vec::new();
        while let Some(Str(name)) = map.next_key()? {
            let non_null = match name.as_ref() {
                "iss" => {
                    c.iss = Some(map.next_value::<Str<'de>>()?.0);
                    true
                }
                "sub" => {
                    c.sub = Some(map.next_value::<Str<'de>>()?.0);
                    true
                }
                "jti" => {
                    map.next_value::<Str<'de>>()?;
                    true
                }
                "aud" => {
                    c.aud = map.next_value::<Audience<'de>>()?.0;
                    !c.aud.is_empty()
                }
                "exp" => {
                    c.exp = Some(map.next_value::<NumericDate>()?.0);
                    true
                }
                "nbf" => {
                    c.nbf = Some(map.next_value::<NumericDate>()?.0);
                    true
                }
                "iat" => {
                    c.iat = Some(map.next_value::<NumericDate>()?.0);
                    true
                }
                _ => map.next_value::<NonNull>()?.0,
            };
            if non_null {
                c.present.push(name.clone());
            }
            names.push(name);
        }
        check_unique(names)?;
        c.present.sort_unstable();
        Ok(c)
    }
}

/// A JSON string, borrowed from the input unless it holds escapes.
struct Str<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// `aud`: a string or an array of strings; `null`, `""` and `[]` mean none (as in PyJWT).
struct Audience<'a>(Vec<Cow<'a, str>>);

impl<'de> Deserialize<'de> for Audience<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Audience<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Audience(Vec::new()))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Audience(if v.is_empty() {
                    Vec::new()
                } else {
                    vec![Cow::Borrowed(v)]
                }))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Audience(if v.is_empty() {
                    Vec::new()
                } else {
                    vec![Cow::Owned(v.to_owned())]
                }))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut all = Vec::new();
                while let Some(Str(s)) = seq.next_element()? {
                    all.push(s);
                }
                Ok(Audience(all))
            }
        }
        d.deserialize_any(V)
    }
}

/// A NumericDate (RFC 7519 §2): an integer or a float, truncated toward zero to whole seconds
/// (as PyJWT's `int()`), saturating at the `i64` range. Strings, booleans and `null` are refused.
struct NumericDate(i64);

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = NumericDate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of seconds")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(NumericDate(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(NumericDate(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                // `as` truncates toward zero and saturates.
                Ok(NumericDate(v as i64))
            }
        }
        d.deserialize_any(V)
    }
}

/// Any JSON value, consumed; tells whether it is not `null`.
struct NonNull(bool);

impl<'de> Deserialize<'de> for NonNull {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NonNull;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(NonNull(false))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(NonNull(true))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(NonNull(true))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(NonNull(true))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(NonNull(true))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(NonNull(true))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(NonNull(true))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(NonNull(true))
            }
        }
        d.deserialize_any(V)
    }
}
