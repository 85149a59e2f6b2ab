//! Notion's error responses: `{object:"error", status, code, message, request_id}`.

use axum::http::StatusCode;
use serde_json::{json, Value};

/// An error the API answers with. Rendered to JSON once the request id is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// A 429's `additional_data.rate_limit_reason`.
    pub(crate) rate_limit_reason: Option<&'static str>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            rate_limit_reason: None,
        }
    }

    /// 429 `rate_limited`, naming the limit that was reached (`connection_limit`: this token's
    /// `--rate` or `--window-budget`; `workspace_limit`: the `e429_workspace` fault).
    pub(crate) fn rate_limited(reason: &'static str) -> Self {
        ApiError {
            rate_limit_reason: Some(reason),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "You have been rate limited. Please try again in a few minutes.",
            )
        }
    }

    /// 400 `validation_error` with a message as given.
    pub(crate) fn validation(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "validation_error", message)
    }

    /// 400 `validation_error` for a body path, in Notion's words:
    /// "body failed validation: body.x should be …, instead was `…`."
    pub(crate) fn body(path: &str, expected: &str, got: Option<&Value>) -> Self {
        ApiError::validation(format!(
            "body failed validation: {path} should be {expected}, instead was `{}`.",
            shown(got)
        ))
    }

    /// 400 `validation_error` for a length outside its bounds (UTF-16 units or items).
    pub(crate) fn length(path: &str, bound: &str, limit: usize, actual: usize) -> Self {
        ApiError::validation(format!(
            "body failed validation: {path}.length should be {bound} `{limit}`, instead was `{actual}`."
        ))
    }

    /// 404 `object_not_found` for a kind of object ("page", "database", …).
    pub(crate) fn not_found(kind: &str, id: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "object_not_found",
            format!(
                "Could not find {kind} with ID: {id}. Make sure the relevant pages and databases are shared with your integration."
            ),
        )
    }

    /// The JSON body Notion sends for this error.
    pub(crate) fn to_json(&self, request_id: &str) -> Value {
        let mut body = json!({
            "object": "error",
            "status": self.status.as_u16(),
            "code": self.code,
            "message": self.message,
            "request_id": request_id,
        });
        if let Some(reason) = self.rate_limit_reason {
            body["additional_data"] = json!({"rate_limit_reason": reason});
        }
        body
    }
}

/// A value as Notion quotes it in messages: compact JSON, `undefined` when absent, cut at 100
/// characters.
fn shown(value: Option<&Value>) -> String {
    let Some(value) = value else {
        return "undefined".to_string();
    };
    let text = value.to_string();
    if text.chars().count() > 100 {
        let cut: String = text.chars().take(100).collect();
        format!("{cut}…")
    } else {
        text
    }
}
