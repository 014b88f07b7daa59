//! `GET /openapi.json`: the OpenAPI 3.1 description of the reseller API.

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

fn err(desc: &str) -> Value {
    json!({"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn order_resp(desc: &str) -> Value {
    json!({"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}}})
}

/// The document: one `json!` table of paths and schemas, read top to bottom like the spec.
#[allow(
    clippy::too_many_lines,
    reason = "a data table (the OpenAPI document); splitting it would scatter the schema"
)]
pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "siaga reseller API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Top-up orders, balance, price list and statement. Errors are {\"error\":{\"code\",\"message\"}}; messages are Indonesian unless Accept-Language asks for English. Final order states are sent as Standard Webhooks-signed callbacks (type order.updated). Per reseller the owner may set an IP allowlist (other addresses: 403 forbidden) and required request signing: X-Siaga-Timestamp (unix seconds, at most 300 s off) and X-Siaga-Signature: v1=<hex hmac-sha256(webhook_secret, timestamp + \".\" + raw body)> (the whsec_ secret as given; a GET signs the empty body); a missing, stale or wrong signature is 401 unauthorized."
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            "/v1/orders": {
                "post": {
                    "summary": "Place an order (idempotent per ref_id)",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewOrder"}}}},
                    "responses": {
                        "201": order_resp("New order; its price is reserved"),
                        "200": order_resp("Replay of an existing order with the same ref_id"),
                        "400": err("bad_request: malformed JSON or a missing/invalid field (named in the message)"),
                        "401": err("unauthorized: no or wrong API key, or a missing, stale or wrong request signature"),
                        "402": err("insufficient_balance: no order was created; the ref_id stays free"),
                        "403": err("forbidden: the request came from an address not on this account's IP allowlist"),
                        "409": err("ref_id_conflict: the ref_id names an order with another product or destination"),
                        "413": err("payload_too_large"),
                        "422": err("unknown_product | invalid_destination | operator_mismatch"),
                        "429": err("rate_limited (Retry-After)"),
                        "503": err("overloaded (Retry-After): turned away before any work; nothing was taken"),
                        "504": err("timeout (Retry-After): not answered within request_timeout_ms; the outcome is unknown, so replay the same ref_id")
                    }
                },
                "get": {
                    "summary": "List orders, newest first, cursor-paged",
                    "parameters": [
                        {"name": "status", "in": "query", "schema": {"type": "string", "enum": ["pending", "success", "failed"]}},
                        {"name": "since", "in": "query", "schema": {"type": "string"}, "description": "RFC 3339 or unix seconds"},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}, "description": "next_cursor of the previous page"}
                    ],
                    "responses": {
                        "200": {"description": "A page of orders", "content": {"application/json": {"schema": {
                            "type": "object", "required": ["orders", "next_cursor"],
                            "properties": {"orders": {"type": "array", "items": {"$ref": "#/components/schemas/Order"}}, "next_cursor": {"type": ["string", "null"]}}
                        }}}},
                        "400": err("bad_request"), "401": err("unauthorized")
                    }
                }
            },
            "/v1/orders/{ref_id}": {
                "get": {
                    "summary": "One order by your ref_id",
                    "parameters": [{"name": "ref_id", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "responses": {"200": order_resp("The order"), "401": err("unauthorized"), "404": err("not_found")}
                }
            },
            "/v1/balance": {
                "get": {
                    "summary": "Available and held balance",
                    "responses": {
                        "200": {"description": "Balance", "content": {"application/json": {"schema": {
                            "type": "object", "required": ["available", "held"],
                            "properties": {"available": {"type": "integer"}, "held": {"type": "integer", "description": "reserved by unfinished orders"}}
                        }}}},
                        "401": err("unauthorized")
                    }
                }
            },
            "/v1/products": {
                "get": {
                    "summary": "Price list with live availability",
                    "responses": {
                        "200": {"description": "Products", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Product"}}}}},
                        "401": err("unauthorized")
                    }
                }
            },
            "/v1/vouchers/redeem": {
                "post": {
                    "summary": "Redeem a compensation voucher: its amount is credited to your available balance, once",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {
                        "type": "object", "required": ["code"],
                        "properties": {"code": {"type": "string", "example": "SIAGA-7K2MX-9QXDR", "description": "case, spaces and dashes do not matter"}}
                    }}}},
                    "responses": {
                        "200": {"description": "Credited", "content": {"application/json": {"schema": {
                            "type": "object",
                            "properties": {"code": {"type": "string"}, "amount": {"type": "integer"}, "available": {"type": "integer"}, "held": {"type": "integer"}}
                        }}}},
                        "400": err("bad_request"), "401": err("unauthorized"),
                        "404": err("voucher_not_found: no such voucher for this account"),
                        "409": err("voucher_redeemed: already redeemed"),
                        "410": err("voucher_expired"),
                        "422": err("invalid_voucher: not a code of ours (the check character does not match)")
                    }
                }
            },
            "/v1/statement": {
                "get": {
                    "summary": "Ledger lines of your available balance (mutasi saldo)",
                    "parameters": [
                        {"name": "from", "in": "query", "schema": {"type": "string"}},
                        {"name": "to", "in": "query", "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": {"description": "Statement", "content": {"application/json": {"schema": {
                            "type": "object",
                            "properties": {"from": {"type": "string"}, "to": {"type": "string"}, "lines": {"type": "array", "items": {"$ref": "#/components/schemas/StatementLine"}}}
                        }}}},
                        "400": err("bad_request"), "401": err("unauthorized")
                    }
                }
            }
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "NewOrder": {
                    "type": "object", "required": ["ref_id", "product", "destination"],
                    "properties": {
                        "ref_id": {"type": "string", "maxLength": 64},
                        "product": {"type": "string"},
                        "destination": {"type": "string", "description": "08..., 628... or +628...; normalised to 08..."},
                        "max_wait_s": {"type": "integer", "minimum": 0}
                    }
                },
                "Order": {
                    "type": "object",
                    "required": ["order_id", "ref_id", "product", "destination", "price", "status", "stage", "serial_number", "failure_code", "message", "created_at", "updated_at"],
                    "properties": {
                        "order_id": {"type": "string"}, "ref_id": {"type": "string"}, "product": {"type": "string"},
                        "destination": {"type": "string"}, "price": {"type": "integer"},
                        "status": {"type": "string", "enum": ["pending", "success", "failed"]},
                        "stage": {"type": ["string", "null"], "enum": ["queued", "dispatching", "awaiting_supplier", "manual_review", null]},
                        "serial_number": {"type": ["string", "null"]},
                        "failure_code": {"type": ["string", "null"], "enum": ["invalid_destination", "product_unavailable", "supplier_rejected", "destination_rejected", "manual", null]},
                        "message": {"type": "string"},
                        "created_at": {"type": "string", "format": "date-time"},
                        "updated_at": {"type": "string", "format": "date-time"}
                    }
                },
                "Product": {
                    "type": "object",
                    "properties": {
                        "code": {"type": "string"}, "name": {"type": "string"}, "operator": {"type": "string"},
                        "group": {"type": "string"}, "price": {"type": "integer"}, "available": {"type": "boolean"},
                        "status": {"type": "string"}
                    }
                },
                "StatementLine": {
                    "type": "object",
                    "properties": {
                        "at": {"type": "string"}, "kind": {"type": "string", "enum": ["deposit", "reserve", "void"]},
                        "amount": {"type": "integer"}, "balance_after": {"type": "integer"},
                        "order_id": {"type": ["string", "null"]}, "ref_id": {"type": ["string", "null"]}, "note": {"type": ["string", "null"]}
                    }
                },
                "Error": {
                    "type": "object", "required": ["error"],
                    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}
                }
            }
        }
    })
}

pub async fn openapi() -> Response {
    Json(document()).into_response()
}
