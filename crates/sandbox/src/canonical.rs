//! Canonical JSON (object keys sorted recursively, no whitespace) and its SHA-256, as the request
//! log records bodies.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// `value` serialised with every object's keys sorted, no whitespace, and serde_json's own
/// formatting of numbers and strings.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

/// Lowercase hex SHA-256 of [`canonical_json`].
pub fn body_sha256(value: &Value) -> String {
    let digest = Sha256::digest(canonical_json(value).as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_value(&map[key.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::String(s) => write_string(s, out),
        // null, booleans and numbers print the same in compact form.
        other => out.push_str(&other.to_string()),
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push_str(&Value::String(s.to_string()).to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_recursively_without_whitespace() {
        let v = json!({"b": 1, "a": {"z": [true, null, {"y": 2, "x": "s"}], "c": 1.5}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":1.5,"z":[true,null,{"x":"s","y":2}]},"b":1}"#
        );
    }

    #[test]
    fn strings_are_escaped_as_serde_json_does() {
        let v = json!({"k\"": "line\nbreak \u{1F600} é"});
        assert_eq!(
            canonical_json(&v),
            "{\"k\\\"\":\"line\\nbreak \u{1F600} é\"}"
        );
    }

    #[test]
    fn key_order_does_not_change_the_hash() {
        let a: Value = serde_json::from_str(r#"{"x": 1, "y": [1, 2]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{ "y": [1,2], "x": 1 }"#).unwrap();
        assert_eq!(body_sha256(&a), body_sha256(&b));
        assert_ne!(body_sha256(&a), body_sha256(&json!({"x": 2, "y": [1, 2]})));
    }

    #[test]
    fn hash_is_sha256_of_the_canonical_text() {
        // sha256("{}")
        assert_eq!(
            body_sha256(&json!({})),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }
}
