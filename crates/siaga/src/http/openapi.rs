//! `GET /openapi.json`: the OpenAPI 3.1 description of the reseller API (`/v1`). Every
//! enum is built from the domain type the handlers use; the integration test
//! `openapi_drift` checks every route and real answer of a live server against it, and
//! `scripts/schemathesis` (CI) attacks the server through it.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use siaga_domain::status::ComponentStatus;
use siaga_domain::{FailureCode, Msisdn, OrderStatus, RefId, Stage};

use crate::app::App;
use crate::config::{DestinationRule, Product};

/// The last second a time parameter may name (`clock::parse_time`): 9998-12-31T23:59:59Z.
pub const LAST_SECOND: u64 = crate::clock::END_SECOND.unsigned_abs() - 1;

/// The kinds of the transfers the ledger writes (`siaga-store` rules). A statement holds
/// the lines of the available balance: `deposit`, `voucher` (credits), `reserve` (an
/// order's price held) and `void` (given back when it fails); `post` moves held money
/// only and so never shows, but is listed so the enum holds every kind there is.
pub const STATEMENT_KINDS: &[&str] = &["deposit", "voucher", "reserve", "void", "post"];

/// An example voucher code (its check character is right).
pub const VOUCHER_EXAMPLE: &str = "SIAGA-7K2MX-9QXDX";

/// The operations the document describes, as (method, path); the drift test holds the
/// router to this list.
pub const OPERATIONS: &[(&str, &str)] = &[
    ("post", "/v1/orders"),
    ("get", "/v1/orders"),
    ("get", "/v1/orders/{ref_id}"),
    ("get", "/v1/balance"),
    ("get", "/v1/products"),
    ("get", "/v1/statement"),
    ("post", "/v1/vouchers/redeem"),
    ("get", "/openapi.json"),
];

/// A regex (anchored) for the decimal numbers `min..=max` as written without sign or
/// leading zeros; `min` is 0 or 1.
fn decimal_up_to(min: u64, max: u64) -> String {
    let n = max.to_string();
    let len = n.len();
    let mut alts = Vec::new();
    if min == 0 {
        alts.push("0".to_owned());
    }
    if len > 1 {
        alts.push(format!("[1-9][0-9]{{0,{}}}", len - 2));
    }
    // Numbers of `len` digits below `max`: the same first i digits, then a smaller one.
    for (i, d) in n.bytes().map(|b| b - b'0').enumerate() {
        let lo = u8::from(i == 0);
        if d > lo {
            let class = if d - 1 == lo {
                lo.to_string()
            } else {
                format!("[{lo}-{}]", d - 1)
            };
            let rest = len - i - 1;
            let tail = if rest > 0 {
                format!("[0-9]{{{rest}}}")
            } else {
                String::new()
            };
            alts.push(format!("{}{class}{tail}", &n[..i]));
        }
    }
    alts.push(n);
    format!("^({})$", alts.join("|"))
}

/// A time query parameter: RFC 3339 or unix seconds, from 1970 through the year 9998; empty
/// is the same as absent. (RFC 3339 times are described from 1971 to 9997, so no offset
/// can carry one outside; the server takes the edge years too.)
fn time_param(name: &str, what: &str) -> Value {
    json!({
        "name": name, "in": "query",
        "description": format!("{what}: RFC 3339 (e.g. 2026-11-22T08:00:00Z) or unix seconds, 1970-01-01T00:00:00Z to 9998-12-31T23:59:59Z; anything else is 400. Empty is the same as absent."),
        "schema": {"anyOf": [
            {"type": "string", "format": "date-time",
             "pattern": "^(19[7-9][1-9]|19[89][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-7])-"},
            {"type": "string", "pattern": decimal_up_to(0, LAST_SECOND)},
            {"type": "string", "maxLength": 0}
        ]}
    })
}

fn limit_param() -> Value {
    json!({"name": "limit", "in": "query", "description": "page size",
           "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}})
}

fn names(all: impl IntoIterator<Item = &'static str>) -> Vec<Value> {
    all.into_iter().map(Value::from).collect()
}

fn nullable_enum(all: impl IntoIterator<Item = &'static str>) -> Value {
    let mut e = names(all);
    e.push(Value::Null);
    json!({"type": ["string", "null"], "enum": e})
}

/// The headers of every `/v1` answer.
fn v1_headers() -> Value {
    json!({
        "Cache-Control": {"$ref": "#/components/headers/CacheControl"},
        "X-Content-Type-Options": {"$ref": "#/components/headers/NoSniff"}
    })
}

fn body(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

fn ok(desc: &str, schema: Value) -> Value {
    json!({"description": desc, "headers": v1_headers(), "content": body(schema)})
}

fn error_with(desc: &str, headers: Value) -> Value {
    json!({"description": desc, "headers": headers,
           "content": body(json!({"$ref": "#/components/schemas/Error"}))})
}

fn err(desc: &str) -> Value {
    error_with(desc, v1_headers())
}

/// An error that comes with `Retry-After` (seconds), besides `headers`.
fn err_retry(desc: &str, mut headers: Value) -> Value {
    headers["Retry-After"] = json!({"$ref": "#/components/headers/RetryAfter"});
    error_with(desc, headers)
}

/// `503 overloaded`: also the answer of the connection cap, written before the request is
/// read; it carries `Retry-After` and the headers of every answer.
fn overloaded(desc: &str) -> Value {
    err_retry(desc, v1_headers())
}

/// The answers any reseller request may get, plus `extra`.
fn responses(extra: &[(&str, Value)]) -> Value {
    let mut r = Map::new();
    for (code, v) in [
        ("401", err("unauthorized: no or wrong API key, or a missing, stale or wrong request signature")),
        ("403", err("forbidden: the request came from an address not on this account's IP allowlist")),
        ("429", err_retry("rate_limited: too many requests (per API key or per address); retry after Retry-After seconds", v1_headers())),
        ("503", overloaded("overloaded: turned away before any work (too many connections or orders at once), nothing was done; or store_unavailable: the database cannot be reached now (an order: replay the same ref_id after Retry-After seconds; it is taken at most once)")),
        ("504", err_retry("timeout: not answered within the request deadline; the outcome is unknown (an order: replay the same ref_id)", v1_headers())),
    ] {
        r.insert(code.into(), v);
    }
    for (code, v) in extra {
        r.insert((*code).into(), v.clone());
    }
    Value::Object(r)
}

fn order(desc: &str) -> Value {
    ok(desc, json!({"$ref": "#/components/schemas/Order"}))
}

/// The destinations `rule` takes, in their canonical forms (`api::check_destination`
/// also ignores spaces and dashes between digits and spaces around them). A mobile
/// operator's prefixes are read from the parser itself.
fn destination_pattern(rule: &DestinationRule) -> String {
    match rule {
        DestinationRule::Mobile(op) => {
            let prefixes: Vec<String> = (0..100)
                .map(|n| format!("{n:02}"))
                .filter(|xx| {
                    Msisdn::parse(&format!("08{xx}000000")).is_ok_and(|m| m.operator() == *op)
                })
                .collect();
            format!("^(0|62|\\+62)8({})[0-9]{{6,9}}$", prefixes.join("|"))
        }
        DestinationRule::Digits { min, max, .. } => format!("^[0-9]{{{min},{max}}}$"),
    }
}

/// `NewOrder` for the configured products: the product codes, and for each the
/// destinations it takes (so a well-formed order is one the switch can take).
fn new_order(products: &[Product]) -> Value {
    let mut schema = json!({
        "type": "object", "required": ["ref_id", "product", "destination"],
        "properties": {
            "ref_id": {"type": "string", "minLength": 1, "maxLength": RefId::MAX_LEN,
                       "pattern": format!("^[A-Za-z0-9._:/-]{{1,{}}}$", RefId::MAX_LEN),
                       "description": "your reference: one order per ref_id, forever"},
            "product": {"type": "string", "description": "a product code from /v1/products"},
            "destination": {"type": "string", "description": "08..., 628... or +628... for mobile products (normalised to 08...); digits for the others"},
            "max_wait_s": {"type": ["integer", "null"], "minimum": 0, "maximum": 7 * 86_400,
                           "description": "how long the order may wait for a route (0: fail now); absent or null: the configured default"}
        }
    });
    if !products.is_empty() {
        schema["properties"]["product"]["enum"] = products
            .iter()
            .map(|p| Value::from(p.code.as_str()))
            .collect();
        schema["anyOf"] = products
            .iter()
            .map(|p| {
                json!({"properties": {
                    "product": {"const": p.code.as_str()},
                    "destination": {"type": "string", "pattern": destination_pattern(&p.rule)}
                }})
            })
            .collect();
    }
    schema
}

/// The document for a switch selling `products`, built on each request (it is small).
pub fn document(products: &[Product]) -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "siaga reseller API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Top-up orders, balance, price list and statement. Errors are {\"error\":{\"code\",\"message\"}}; messages are Indonesian unless Accept-Language asks for English. A request body must be one JSON object (a repeated key is 400); unknown fields are ignored. Final order states are sent as Standard Webhooks-signed callbacks (type order.updated). Per reseller the owner may set an IP allowlist (other addresses: 403 forbidden) and required request signing: X-Siaga-Timestamp (unix seconds, at most 300 s off) and X-Siaga-Signature: v1=<hex hmac-sha256(webhook_secret, timestamp + \".\" + raw body)> (the whsec_ secret as given; a GET signs the empty body); a missing, stale or wrong signature is 401 unauthorized."
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths(),
        "components": components(products)
    })
}

fn nosniff() -> Value {
    json!({"X-Content-Type-Options": {"$ref": "#/components/headers/NoSniff"}})
}

fn paths() -> Value {
    json!({
        "/v1/orders": {"post": create_order(), "get": list_orders()},
        "/v1/orders/{ref_id}": {"get": {
            "operationId": "getOrder",
            "summary": "One order by your ref_id",
            "parameters": [{"name": "ref_id", "in": "path", "required": true, "schema": {"type": "string"}}],
            "responses": responses(&[
                ("200", order("The order")),
                ("400", err("bad_request: a path that cannot be read")),
                ("404", err("not_found: no order of yours has this ref_id")),
            ])
        }},
        "/v1/balance": {"get": {
            "operationId": "getBalance",
            "summary": "Available and held balance",
            "responses": responses(&[("200", ok("Balance", json!({"$ref": "#/components/schemas/Balance"})))])
        }},
        "/v1/products": {"get": {
            "operationId": "listProducts",
            "summary": "Price list with live availability",
            "responses": responses(&[("200", ok("Products", json!({"type": "array", "items": {"$ref": "#/components/schemas/Product"}})))])
        }},
        "/v1/vouchers/redeem": {"post": redeem_voucher()},
        "/v1/statement": {"get": statement()},
        "/openapi.json": {"get": {
            "operationId": "getOpenapi",
            "summary": "This document",
            "security": [],
            "responses": {
                "200": {"description": "The OpenAPI 3.1 document", "headers": nosniff(),
                        "content": body(json!({"type": "object", "required": ["openapi", "paths"]}))},
                "429": err_retry("rate_limited: too many requests from this address", nosniff()),
                "503": overloaded("overloaded: too many connections from this address"),
                "504": err_retry("timeout", nosniff())
            }
        }}
    })
}

fn create_order() -> Value {
    let mut op = json!({
        "operationId": "createOrder",
        "summary": "Place an order (idempotent per ref_id)",
        "requestBody": {"required": true, "content": body(json!({"$ref": "#/components/schemas/NewOrder"}))},
        "responses": responses(&[
            ("201", order("New order; its price is reserved")),
            ("200", order("Replay of an existing order with the same ref_id")),
            ("400", err("bad_request: not one JSON object, a repeated key, or a missing or invalid field (named in the message)")),
            ("402", err("insufficient_balance: no order was created; the ref_id stays free")),
            ("409", err("ref_id_conflict: the ref_id names an order with another product or destination")),
            ("413", err("payload_too_large")),
            ("422", err("unknown_product | invalid_destination | operator_mismatch")),
        ])
    });
    // A placed order can be read back by its ref_id (schemathesis's stateful phase follows this).
    let link = json!({"GetOrderByRef": {"operationId": "getOrder", "parameters": {"ref_id": "$response.body#/ref_id"}}});
    for code in ["200", "201"] {
        op["responses"][code]["links"] = link.clone();
    }
    op
}

fn list_orders() -> Value {
    json!({
        "operationId": "listOrders",
        "summary": "List orders, newest first, cursor-paged",
        "parameters": [
            {"name": "status", "in": "query", "schema": {"type": "string", "enum": names(OrderStatus::ALL.iter().map(|s| s.as_str()))}},
            time_param("since", "only orders placed at or after this time"),
            limit_param(),
            {"name": "cursor", "in": "query", "schema": {"type": "string"}, "description": "next_cursor of the previous page (empty: the first page)"}
        ],
        "responses": responses(&[
            ("200", ok("A page of orders", json!({
                "type": "object", "required": ["orders", "next_cursor"],
                "properties": {
                    "orders": {"type": "array", "items": {"$ref": "#/components/schemas/Order"}},
                    "next_cursor": {"type": ["string", "null"], "description": "pass as cursor for the next page; null on the last page"}
                }
            }))),
            ("400", err("bad_request: a parameter out of range (named in the message)")),
        ])
    })
}

fn statement() -> Value {
    json!({
        "operationId": "getStatement",
        "summary": "Ledger lines of your available balance (mutasi saldo), oldest first, cursor-paged",
        "parameters": [
            time_param("from", "first instant (default: 30 days before `to`)"),
            time_param("to", "end, exclusive (default: now)"),
            limit_param(),
            {"name": "cursor", "in": "query", "description": "next_cursor of the previous page (empty: the first page)",
             "schema": {"anyOf": [{"type": "string", "pattern": decimal_up_to(1, i64::MAX as u64)}, {"type": "string", "maxLength": 0}]}}
        ],
        "responses": responses(&[
            ("200", ok("Statement", json!({
                "type": "object", "required": ["from", "to", "lines", "next_cursor"],
                "properties": {
                    "from": {"type": "string", "format": "date-time"},
                    "to": {"type": "string", "format": "date-time"},
                    "lines": {"type": "array", "items": {"$ref": "#/components/schemas/StatementLine"}},
                    "next_cursor": {"type": ["string", "null"], "description": "pass as cursor for the next page; null on the last page"}
                }
            }))),
            ("400", err("bad_request: a parameter out of range, or from after to (named in the message)")),
        ])
    })
}

fn redeem_voucher() -> Value {
    json!({
        "operationId": "redeemVoucher",
        "summary": "Redeem a compensation voucher: its amount is credited to your available balance, once",
        "requestBody": {"required": true, "content": body(json!({
            "type": "object", "required": ["code"],
            "properties": {"code": {"type": "string", "examples": [VOUCHER_EXAMPLE],
                "pattern": "^SIAGA-[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$",
                "description": "as issued; the server also takes it in lower case, with spaces or without dashes. The last character is a check character: a code that fails it is 422"}}
        }))},
        "responses": responses(&[
            ("200", ok("Credited", json!({
                "type": "object", "required": ["code", "amount", "available", "held"],
                "properties": {
                    "code": {"type": "string"}, "amount": {"type": "integer", "minimum": 1},
                    "available": {"type": "integer", "minimum": 0}, "held": {"type": "integer", "minimum": 0}
                }
            }))),
            ("400", err("bad_request: not one JSON object, a repeated key, or code missing or not a string")),
            ("404", err("voucher_not_found: no such voucher for this account")),
            ("409", err("voucher_redeemed: already redeemed")),
            ("410", err("voucher_expired")),
            ("413", err("payload_too_large")),
            ("422", err("invalid_voucher: not a code of ours (the check character does not match)")),
        ])
    })
}

fn components(products: &[Product]) -> Value {
    json!({
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "headers": {
            "RetryAfter": {"description": "seconds to wait before trying again", "required": true,
                           "schema": {"type": "string", "pattern": "^[1-9][0-9]*$"}},
            "CacheControl": {"description": "answers of the reseller API are never cached", "required": true,
                             "schema": {"type": "string", "const": "no-store"}},
            "NoSniff": {"description": "the content type is what it says", "required": true,
                        "schema": {"type": "string", "const": "nosniff"}}
        },
        "schemas": {
            "NewOrder": new_order(products),
            "Order": {
                "type": "object",
                "required": ["order_id", "ref_id", "product", "destination", "price", "status", "stage", "serial_number", "failure_code", "message", "created_at", "updated_at"],
                "properties": {
                    "order_id": {"type": "string"}, "ref_id": {"type": "string"}, "product": {"type": "string"},
                    "destination": {"type": "string"}, "price": {"type": "integer", "minimum": 1},
                    "status": {"type": "string", "enum": names(OrderStatus::ALL.iter().map(|s| s.as_str()))},
                    "stage": nullable_enum(Stage::ALL.iter().map(|s| s.as_str())),
                    "serial_number": {"type": ["string", "null"]},
                    "failure_code": nullable_enum(FailureCode::ALL.iter().map(|f| f.as_str())),
                    "message": {"type": "string"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "updated_at": {"type": "string", "format": "date-time"}
                }
            },
            "Balance": {
                "type": "object", "required": ["available", "held"],
                "properties": {
                    "available": {"type": "integer", "minimum": 0},
                    "held": {"type": "integer", "minimum": 0, "description": "reserved by unfinished orders"}
                }
            },
            "Product": {
                "type": "object", "required": ["code", "name", "operator", "group", "price", "available", "status"],
                "properties": {
                    "code": {"type": "string"}, "name": {"type": "string"}, "operator": {"type": "string"},
                    "group": {"type": "string"}, "price": {"type": "integer", "minimum": 1},
                    "available": {"type": "boolean", "description": "a route takes orders now"},
                    "status": {"type": "string", "enum": names(ComponentStatus::ALL.iter().map(|s| s.as_str())),
                               "description": "the product group's status on the status page"}
                }
            },
            "StatementLine": {
                "type": "object", "required": ["at", "kind", "amount", "balance_after", "order_id", "ref_id", "note"],
                "properties": {
                    "at": {"type": "string", "format": "date-time"},
                    "kind": {"type": "string", "enum": STATEMENT_KINDS},
                    "amount": {"type": "integer", "description": "signed: credits positive, debits negative"},
                    "balance_after": {"type": "integer", "minimum": 0},
                    "order_id": {"type": ["string", "null"]}, "ref_id": {"type": ["string", "null"]}, "note": {"type": ["string", "null"]}
                }
            },
            "Error": {
                "type": "object", "required": ["error"],
                "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}
            }
        }
    })
}

pub async fn openapi(State(app): State<Arc<App>>) -> Response {
    Json(document(&app.settings.get().products)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_patterns_hold_exactly_their_range() {
        let re = |min, max| {
            let p = decimal_up_to(min, max);
            move |s: &str| regex_lite_match(&p, s)
        };
        let secs = re(0, LAST_SECOND);
        for s in [
            "0",
            "1",
            "99999999999",
            "100000000000",
            "253370764799",
            "199999999999",
        ] {
            assert!(secs(s), "{s}");
        }
        for s in [
            "",
            "00",
            "01",
            "+1",
            "-1",
            "253370764800",
            "253402300799",
            "999999999999",
            "2533707647990",
        ] {
            assert!(!secs(s), "{s}");
        }
        let cursor = re(1, i64::MAX as u64);
        assert!(cursor("1") && cursor("9223372036854775807") && cursor("9223372036854775799"));
        assert!(!cursor("0") && !cursor("9223372036854775808") && !cursor("10000000000000000000"));
        assert_eq!(decimal_up_to(1, 7), "^([1-6]|7)$");
    }

    /// The patterns use only what both ECMA 262 and Rust's regex read alike.
    fn regex_lite_match(pattern: &str, s: &str) -> bool {
        jsonschema::is_valid(&json!({"type": "string", "pattern": pattern}), &json!(s))
    }

    #[test]
    fn destination_patterns_take_what_the_parser_takes() {
        for op in siaga_domain::Operator::ALL {
            let p = destination_pattern(&DestinationRule::Mobile(op));
            for xx in 0..100 {
                for rest in ["000000", "123456789", "12345", "1234567890"] {
                    let local = format!("08{xx:02}{rest}");
                    let takes = Msisdn::parse(&local).is_ok_and(|m| m.operator() == op);
                    for form in [
                        local.clone(),
                        format!("62{}", &local[1..]),
                        format!("+62{}", &local[1..]),
                    ] {
                        assert_eq!(regex_lite_match(&p, &form), takes, "{op:?} {form}");
                    }
                }
            }
            assert!(!regex_lite_match(&p, "+0812345678901"));
        }
        let digits = DestinationRule::Digits {
            operator: "pln".into(),
            min: 11,
            max: 12,
        };
        let p = destination_pattern(&digits);
        assert!(regex_lite_match(&p, "12345678901") && !regex_lite_match(&p, "1234567890"));
    }

    #[test]
    fn the_example_voucher_code_is_valid() {
        assert_eq!(
            crate::vouchers::normalise(VOUCHER_EXAMPLE).as_deref(),
            Some(VOUCHER_EXAMPLE)
        );
        assert!(crate::vouchers::normalise("SIAGA-7K2MX-9QXDR").is_none());
    }
}
