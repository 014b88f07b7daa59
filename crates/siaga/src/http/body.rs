//! Request bodies as typed values. A body must be a JSON object; it is read into a
//! `#[derive(Deserialize)]` type with `serde_path_to_error`, so a 400 names the field in
//! error. The field types below say what a field must be in the words a client has always
//! been shown ("must be a string", "must be a whole number"...). JSON `null` counts as an
//! absent field, and unknown fields are ignored, as they always were; a required field is an
//! `Option` taken with [`required`], so its absence is `field ... is required`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use siaga_domain::RefId;

use super::error::ApiError;

/// The body as `T`, or the 400/413 that says why not.
pub fn read<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<T, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(limit)
        } else {
            ApiError::bad_json(&e.body_text())
        }
    })?;
    // Parsed to a value first: a typed struct would also take a JSON array, field by
    // position, and a body that is not an object has always been refused.
    let value = match value(&body)? {
        v @ Value::Object(_) => v,
        _ => return Err(ApiError::bad_json("expected a JSON object")),
    };
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        // Errors from a value carry no position: the message is ours, as written below.
        ApiError::invalid(&field, &e.into_inner().to_string())
    })
}

/// The body as a JSON value, refusing a key given twice in one object (which one would
/// count is a guess, and guessing with an order's `ref_id` books the wrong order): the
/// 400 names the key, with its path (`items[0].sku`).
pub fn value(body: &[u8]) -> Result<Value, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = serde::de::DeserializeSeed::deserialize(Strict(String::new()), &mut de)
        .and_then(|v| de.end().map(|()| v));
    parsed.map_err(|e| {
        let why = e.to_string();
        match why.strip_prefix(DUPLICATE) {
            Some(rest) => {
                let key = rest.split(" at line").next().unwrap_or(rest);
                ApiError::invalid(key, "is given more than once")
            }
            None => ApiError::bad_json(&why),
        }
    })
}

/// The start of the parse error for a repeated key; the key's path follows.
const DUPLICATE: &str = "duplicate key ";

/// Reads any JSON value like `serde_json::Value` does, but fails on a repeated key; the
/// string is the path so far.
struct Strict(String);

impl<'de> serde::de::DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict(format!("{}[{}]", self.0, out.len())))? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.0.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.0)
            };
            if out.contains_key(&key) {
                return Err(A::Error::custom(format!("{DUPLICATE}{path}")));
            }
            let v = map.next_value_seed(Strict(path))?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// A required field: present and not `null`.
pub fn required<T>(value: Option<T>, field: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::missing(field))
}

/// For a field that must be present when it is `null` too: `null` is then a wrong value,
/// not an absent one (`#[serde(default, deserialize_with = "body::present")]`).
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Reads the field as a JSON value and hands it to `take`; `None` is the error `why`.
fn shaped<'de, D: Deserializer<'de>, T>(
    d: D,
    why: &str,
    take: impl FnOnce(Value) -> Option<T>,
) -> Result<T, D::Error> {
    take(Value::deserialize(d)?).ok_or_else(|| D::Error::custom(why))
}

/// A JSON string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        shaped(d, "must be a string", |v| match v {
            Value::String(s) => Some(Text(s)),
            _ => None,
        })
    }
}

/// A JSON whole number that fits an `i64` (not `1.5`, not `"1"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Whole(pub i64);

impl<'de> Deserialize<'de> for Whole {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // JSON has one kind of number: 3.0 is the whole number 3 (JSON Schema's `integer`
        // says so too), 3.5 is not; beyond i64 it is refused like any other misfit.
        shaped(d, "must be a whole number", |v| {
            v.as_i64()
                .or_else(|| {
                    v.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                        .map(|f| f as i64)
                })
                .map(Whole)
        })
    }
}

/// A JSON `true` or `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        shaped(d, "must be true or false", |v| v.as_bool().map(Flag))
    }
}

/// A JSON list of strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Texts(pub Vec<String>);

impl<'de> Deserialize<'de> for Texts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        shaped(d, "must be a list of strings", |v| {
            serde_json::from_value(v).ok().map(Texts)
        })
    }
}

/// A reseller's order reference, parsed into the domain's [`RefId`] where it is read.
#[derive(Debug, Clone)]
pub struct Ref(pub RefId);

impl<'de> Deserialize<'de> for Ref {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Text(s) = Text::deserialize(d)?;
        RefId::parse(&s)
            .map(Ref)
            .map_err(|e| D::Error::custom(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Sample {
        #[serde(default)]
        name: Option<Text>,
        #[serde(default)]
        count: Option<Whole>,
        #[serde(default)]
        on: Option<Flag>,
        #[serde(default, deserialize_with = "present")]
        list: Option<Texts>,
        #[serde(default)]
        reference: Option<Ref>,
    }

    fn parse(body: &str) -> Result<Sample, (u16, String)> {
        read::<Sample>(Ok(Bytes::from(body.to_owned())), 1024)
            .map_err(|e| (e.status.as_u16(), e.en))
    }

    #[test]
    fn fields_are_typed_and_a_wrong_one_is_named() {
        let s =
            parse(r#"{"name":"a","count":3,"on":true,"list":["x"],"reference":"R1","extra":1}"#)
                .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(s.name, Some(Text("a".into())));
        assert_eq!((s.count, s.on), (Some(Whole(3)), Some(Flag(true))));
        assert_eq!(s.list, Some(Texts(vec!["x".into()])));
        assert_eq!(
            s.reference.map(|r| r.0.as_str().to_owned()),
            Some("R1".into())
        );
        let s = parse(r#"{"name":null,"count":null}"#).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((s.name, s.count), (None, None), "null is absent");
        for (body, why) in [
            (r#"{"name":7}"#, "field `name` is invalid: must be a string"),
            (
                r#"{"count":1.5}"#,
                "field `count` is invalid: must be a whole number",
            ),
            (
                r#"{"count":"1"}"#,
                "field `count` is invalid: must be a whole number",
            ),
            (
                r#"{"count":18446744073709551615}"#,
                "field `count` is invalid: must be a whole number",
            ),
            (
                r#"{"on":"yes"}"#,
                "field `on` is invalid: must be true or false",
            ),
            (
                r#"{"list":["a",1]}"#,
                "field `list` is invalid: must be a list of strings",
            ),
            (
                r#"{"list":null}"#,
                "field `list` is invalid: must be a list of strings",
            ),
        ] {
            assert_eq!(parse(body).err(), Some((400, why.to_owned())), "{body}");
        }
        let (status, why) = parse(r#"{"reference":"has space"}"#)
            .err()
            .unwrap_or_default();
        assert_eq!(status, 400);
        assert!(why.starts_with("field `reference` is invalid: "), "{why}");
    }

    #[test]
    fn a_key_given_twice_is_refused_by_name() {
        for (body, key) in [
            (r#"{"name":"A","name":"B"}"#, "name"),
            (
                r#"{"list":["x"],"inner":{"a":1,"b":{"c":1,"c":2}}}"#,
                "inner.b.c",
            ),
            (
                r#"{"items":[{"sku":"a"},{"sku":"b","sku":"c"}]}"#,
                "items[1].sku",
            ),
        ] {
            let (status, why) = parse(body).err().unwrap_or_default();
            assert_eq!(status, 400, "{body}");
            assert_eq!(
                why,
                format!("field `{key}` is invalid: is given more than once")
            );
        }
        // The same key in two objects is fine; a value is read exactly as serde_json reads it.
        let v = value(br#"{"a":{"k":1},"b":{"k":[1.5,-2,"s",null,true]}}"#)
            .unwrap_or_else(|e| panic!("{}", e.en));
        assert_eq!(
            v,
            serde_json::json!({"a":{"k":1},"b":{"k":[1.5,-2,"s",null,true]}})
        );
        let (status, why) = parse(r#"{"name":"A"} trailing"#).err().unwrap_or_default();
        assert_eq!(status, 400);
        assert!(why.starts_with("request body is not valid JSON"), "{why}");
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused() {
        for body in ["[\"a\"]", "\"a\"", "{oops", ""] {
            let (status, why) = parse(body).err().unwrap_or_default();
            assert_eq!(status, 400, "{body}");
            assert!(
                why.starts_with("request body is not valid JSON"),
                "{body}: {why}"
            );
        }
        assert_eq!(
            required(None::<Text>, "name").err().map(|e| e.en),
            Some("field `name` is required".into())
        );
    }
}
