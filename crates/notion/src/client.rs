//! The HTTP client for the Notion API: one pooled reqwest client, the token only ever in the
//! Authorization header, and every answer (JSON error, HTML from a proxy, no answer at all)
//! turned into a [`Reply`] that the retry table can read.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use serde_json::Value;

use crate::{NotionId, Version};
/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The server answered with this HTTP status.
    Status(u16),
    /// No connection could be made: the request was never sent.
    ConnectFailed,
    /// The connection broke after the request was sent, with no response.
    Reset,
    /// No response within `--timeout`.
    TimedOut,
}

/// An integration token. It is never printed: `Debug` and `Display` show a placeholder.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(secret: String) -> Token {
        Token(secret)
    }

    /// A name for the token that does not reveal it (for `--shared-limiter`'s keys): 16 hex
    /// digits of SHA-256 over a fixed prefix and the token.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("notion-bulk shared limiter\n{}", self.0));
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub attempt: Attempt,
    /// Notion's error code (`validation_error`, ...), when the body was a Notion error.
    pub code: Option<String>,
    /// What went wrong, for the report: Notion's message, a proxy page's title, or the
    /// transport error.
    pub message: Option<String>,
    pub request_id: Option<String>,
    pub retry_after: Option<Duration>,
    /// A 429's `additional_data.rate_limit_reason`: which of Notion's limits it was (the
    /// connection's budget, the workspace's, …; Notion does not list the values). On the
    /// answer that ends a request which waited out 429s first: the limits those named
    /// (`unstated` for one that named none), joined by commas.
    pub rate_limit_reason: Option<String>,
    /// The parsed JSON body of a success.
    pub body: Option<Value>,
}

/// The Notion API at one base URL, with one token and version.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

/// The base URL cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("--api-base {0:?} is not a URL")]
    BadBase(String),
    #[error("--api-base {0}: plain http:// is only allowed for loopback addresses (127.0.0.1, localhost, [::1]); use https://")]
    PlainHttp(String),
    #[error(
        "the token cannot be sent in an HTTP header (it has a line break or a control character)"
    )]
    BadToken,
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

impl Client {
    pub fn new(
        base: &str,
        token: &Token,
        version: Version,
        timeout: Duration,
        pool: usize,
    ) -> Result<Client, ClientError> {
        let url = url::Url::parse(base).map_err(|_| ClientError::BadBase(base.to_owned()))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => return Err(ClientError::PlainHttp(base.to_owned())),
            _ => return Err(ClientError::BadBase(base.to_owned())),
        }
        let mut headers = HeaderMap::new();
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.0))
            .map_err(|_| ClientError::BadToken)?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        headers.insert("Notion-Version", HeaderValue::from_static(version.as_str()));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("notion-bulk/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(15)))
            .pool_max_idle_per_host(pool)
            .build()
            .map_err(|e| ClientError::Build(e.to_string()))?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// `PATCH /v1/pages/{id}` with a body already serialised.
    pub async fn patch_page(&self, page: NotionId, body: Vec<u8>) -> Reply {
        let url = format!("{}/v1/pages/{page}", self.base);
        self.send(self.http.patch(url).body(body)).await
    }

    /// `PATCH` a body already serialised to a path under the base (`/v1/data_sources/{id}`).
    pub async fn patch(&self, path: &str, body: Vec<u8>) -> Reply {
        let url = format!("{}{path}", self.base);
        self.send(self.http.patch(url).body(body)).await
    }

    /// `POST` a body already serialised to a path under the base (`/v1/data_sources/{id}/query`).
    pub async fn post(&self, path: &str, body: Vec<u8>) -> Reply {
        let url = format!("{}{path}", self.base);
        self.send(self.http.post(url).body(body)).await
    }

    /// `POST` a `multipart/form-data` body to a path under the base: the text `fields`, then
    /// the file as the `file` field (File Upload's `send`, one part of a file).
    pub async fn post_file(
        &self,
        path: &str,
        fields: &[(&str, String)],
        file_name: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> Reply {
        const BOUNDARY: &str = "notion-bulk-9f4c2e7a1b3d5f60";
        let mut body = Vec::with_capacity(bytes.len() + 512);
        for (name, value) in fields {
            body.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        let quoted = file_name.replace(['"', '\r', '\n'], "_");
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{quoted}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        let url = format!("{}{path}", self.base);
        let request = self
            .http
            .post(url)
            .header(
                CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body);
        self.send(request).await
    }

    /// `GET` a path under the base (`/v1/pages/{id}`, `/v1/users?...`).
    pub async fn get(&self, path: &str) -> Reply {
        let url = format!("{}{path}", self.base);
        self.send(self.http.get(url)).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return transport_failure(&e),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let retry_after = header(RETRY_AFTER.as_str()).and_then(|v| parse_retry_after(&v));
        let header_request_id = header("x-notion-request-id");
        let content_type = header(CONTENT_TYPE.as_str()).unwrap_or_default();
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return transport_failure(&e),
        };
        let json: Option<Value> = serde_json::from_slice(&bytes).ok();
        let mut reply = Reply {
            attempt: Attempt::Status(status),
            code: None,
            message: None,
            request_id: header_request_id,
            retry_after,
            rate_limit_reason: None,
            body: None,
        };
        if let Some(id) = json
            .as_ref()
            .and_then(|j| j.get("request_id"))
            .and_then(Value::as_str)
        {
            reply.request_id = Some(id.to_owned());
        }
        if (200..300).contains(&status) {
            reply.body = json;
            return reply;
        }
        match json {
            Some(error) if error.get("object").and_then(Value::as_str) == Some("error") => {
                reply.code = error.get("code").and_then(Value::as_str).map(str::to_owned);
                reply.message = error
                    .get("message")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                reply.rate_limit_reason = error
                    .pointer("/additional_data/rate_limit_reason")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
            _ => {
                let text = String::from_utf8_lossy(&bytes);
                let ray = header("cf-ray")
                    .map(|r| format!(" (cf-ray {r})"))
                    .unwrap_or_default();
                reply.message = Some(format!(
                    "HTTP {status} with a non-JSON body ({}), likely from a proxy before Notion's API{ray}: {}",
                    if content_type.is_empty() { "no content type" } else { content_type.as_str() },
                    summarise_body(&text)
                ));
            }
        }
        reply
    }
}

fn transport_failure(e: &reqwest::Error) -> Reply {
    let attempt = if e.is_timeout() {
        Attempt::TimedOut
    } else if e.is_connect() {
        Attempt::ConnectFailed
    } else {
        Attempt::Reset
    };
    let what = match attempt {
        Attempt::TimedOut => "no response before the timeout",
        Attempt::ConnectFailed => "could not connect",
        _ => "the connection broke before a response",
    };
    Reply {
        attempt,
        code: None,
        message: Some(format!("{what}: {}", error_chain(e))),
        request_id: None,
        retry_after: None,
        rate_limit_reason: None,
        body: None,
    }
}

/// The error and its causes, without the URL's query (there is none with a token, but keep
/// messages short).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// A proxy page's `<title>`, or its first 200 characters of text.
fn summarise_body(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    if let (Some(start), Some(end)) = (lower.find("<title>"), lower.find("</title>")) {
        if start + 7 <= end {
            return text[start + 7..end].trim().to_owned();
        }
    }
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    flat.chars().take(200).collect()
}

/// `Retry-After`: whole (or decimal) seconds, or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("1.5"), Some(Duration::from_millis(1500)));
        let in_ten = (chrono::Utc::now() + chrono::Duration::seconds(10)).to_rfc2822();
        let wait = parse_retry_after(&in_ten).unwrap();
        assert!(
            wait > Duration::from_secs(7) && wait <= Duration::from_secs(10),
            "{wait:?}"
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn plain_http_only_on_loopback() {
        let token = Token::new("secret".into());
        let new =
            |base: &str| Client::new(base, &token, Version::default(), Duration::from_secs(1), 1);
        assert!(new("https://api.notion.com").is_ok());
        assert!(new("http://127.0.0.1:8080").is_ok());
        assert!(new("http://localhost:1").is_ok());
        assert!(new("http://[::1]:1").is_ok());
        assert!(matches!(
            new("http://api.notion.com"),
            Err(ClientError::PlainHttp(_))
        ));
        assert!(matches!(
            new("http://10.0.0.1"),
            Err(ClientError::PlainHttp(_))
        ));
        assert!(matches!(new("ftp://x"), Err(ClientError::BadBase(_))));
        assert!(matches!(new("not a url"), Err(ClientError::BadBase(_))));
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let token = Token::new("secret_abc123".into());
        assert_eq!(format!("{token:?}"), "Token(<redacted>)");
    }

    #[test]
    fn proxy_pages_are_summarised_by_title() {
        assert_eq!(
            summarise_body("<html><head><title>502 Bad Gateway</title></head></html>"),
            "502 Bad Gateway"
        );
        assert_eq!(
            summarise_body("  upstream\n  connect error "),
            "upstream connect error"
        );
    }
}
