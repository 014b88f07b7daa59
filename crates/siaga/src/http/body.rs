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
    let value = match serde_json::from_slice::<Value>(&body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return Err(ApiError::bad_json("expected a JSON object")),
        Err(e) => return Err(ApiError::bad_json(&e.to_string())),
    };
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        // Errors from a value carry no position: the message is ours, as written below.
        ApiError::invalid(&field, &e.into_inner().to_string())
    })
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
        shaped(d, "must be a whole number", |v| v.as_i64().map(Whole))
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
