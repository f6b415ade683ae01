//! A borrowed JSON tree for reading upstream events: strings without escapes borrow from the
//! input, objects are small vectors (events have a handful of keys), numbers keep their kind.
//!
//! Parsed with `serde_json` (its recursion limit bounds nesting), then read with `get`/`str`/
//! `u64` accessors that return `None` on any shape mismatch, so translation never panics on
//! unexpected input.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    Str(Cow<'a, str>),
    Arr(Vec<Json<'a>>),
    Obj(Vec<(Cow<'a, str>, Json<'a>)>),
}

static NULL: Json<'static> = Json::Null;

impl<'a> Json<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The value of `key` in an object (the last one if repeated), `Null` when absent or when
    /// `self` is not an object.
    pub fn get(&self, key: &str) -> &Json<'a> {
        match self {
            Self::Obj(members) => members
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map_or(&NULL, |(_, v)| v),
            _ => &NULL,
        }
    }

    pub fn str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A non-negative integer (also written as a float with no fraction, as some encoders do).
    pub fn u64(&self) -> Option<u64> {
        match *self {
            Self::U64(n) => Some(n),
            Self::F64(f) if f >= 0.0 && f.fract() == 0.0 && f < 1.8e19 => Some(f as u64),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    /// True for an object with at least one member.
    pub fn is_nonempty_object(&self) -> bool {
        matches!(self, Self::Obj(m) if !m.is_empty())
    }

    /// Serializes the value back to compact JSON.
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            Self::Null => out.extend_from_slice(b"null"),
            Self::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Self::U64(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Self::I64(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Self::F64(f) => write_f64(out, *f),
            Self::Str(s) => write_str(out, s),
            Self::Arr(items) => {
                out.push(b'[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    v.write(out);
                }
                out.push(b']');
            }
            Self::Obj(members) => {
                out.push(b'{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_str(out, k);
                    out.push(b':');
                    v.write(out);
                }
                out.push(b'}');
            }
        }
    }
}

/// Appends `s` as a JSON string literal.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    // Writing a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_f64(out: &mut Vec<u8>, f: f64) {
    // Non-finite numbers do not come out of a JSON parser; `null` keeps the output valid anyway.
    if serde_json::to_writer(&mut *out, &f).is_err() {
        out.extend_from_slice(b"null");
    }
}

/// A map key or string, borrowed when it has no escapes.
struct CowStr<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Json::Bool(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Json::U64(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Json::I64(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Json::F64(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element()? {
            items.push(v);
        }
        Ok(Json::Arr(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(4);
        while let Some(CowStr(k)) = map.next_key()? {
            members.push((k, map.next_value()?));
        }
        Ok(Json::Obj(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_borrows() {
        let src = br#"{"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"a\"b"},"n":-3,"f":1.5,"z":null,"b":true,"arr":[1,"x"]}"#;
        let v = Json::parse(src).unwrap();
        assert_eq!(v.get("type").str(), Some("content_block_delta"));
        assert!(matches!(v.get("type"), Json::Str(Cow::Borrowed(_))));
        assert_eq!(v.get("index").u64(), Some(2));
        assert_eq!(v.get("delta").get("text").str(), Some("a\"b"));
        assert!(matches!(
            v.get("delta").get("text"),
            Json::Str(Cow::Owned(_))
        ));
        assert_eq!(v.get("n").u64(), None);
        assert_eq!(v.get("f").u64(), None);
        assert!(v.get("z").is_null());
        assert!(v.get("missing").is_null());
        assert!(v.get("type").get("x").is_null());
        let mut out = Vec::new();
        v.write(&mut out);
        let reparsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let original: serde_json::Value = serde_json::from_slice(src).unwrap();
        assert_eq!(reparsed, original);
    }

    #[test]
    fn integral_floats_count_as_integers() {
        assert_eq!(Json::parse(b"12.0").unwrap().u64(), Some(12));
        assert_eq!(Json::parse(b"1e3").unwrap().u64(), Some(1000));
        assert_eq!(Json::parse(b"-0.0").unwrap().u64(), Some(0));
    }

    #[test]
    fn last_duplicate_key_wins_and_deep_nesting_is_an_error() {
        let v = Json::parse(br#"{"a":1,"a":2}"#).unwrap();
        assert_eq!(v.get("a").u64(), Some(2));
        let deep = "[".repeat(10_000);
        assert!(Json::parse(deep.as_bytes()).is_err());
        assert!(Json::parse(b"{\"a\":").is_err());
    }
}
