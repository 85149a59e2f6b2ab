//! The HTTP side: the axum routes, the gate every API request passes (log, latency, token,
//! version, rate limit, faults on page writes, schema updates and queries), and an accept loop of
//! our own so that a fault can drop a connection without answering.

use super::canonical::body_sha256;
use super::error::ApiError;
use super::fault::{FailFirst, FaultKind, FaultSpec};
use super::hold::Holds;
use super::limiter::Limiter;
use super::model::{normalize_id, random_uuid, DataSource, Page, Workspace};
use super::query::{self, Query as DataQuery};
use super::render;
use super::schema::check_schema_patch;
use super::stats::Stats;
use super::stats::{is_query, is_schema_patch, Recorder, RequestRecord};
use super::store::Store;
use super::upload::{self, is_upload_send, is_upload_write, Sent};
use super::validate::{check_create, check_patch};
use super::version::ApiVersion;
use axum::body::{Body, Bytes};
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, RawQuery, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use rand::Rng;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

/// Largest body accepted: Notion's 500 KB payload limit.
const MAX_BODY: usize = 500 * 1024;
/// Largest body of a file upload's send: a 20 MiB file and room for the form around it.
const MAX_SEND_BODY: usize = upload::MAX_PART_BYTES as usize + 256 * 1024;

/// State shared by every request.
pub(crate) struct Shared {
    pub(crate) store: Mutex<Store>,
    pub(crate) recorder: Recorder,
    pub(crate) token: String,
    pub(crate) limiter: Mutex<Limiter>,
    pub(crate) faults: FaultSpec,
    pub(crate) fault_seed: u64,
    /// `--fail-first` rules, each with the faults it has still to give (front first).
    fail_first: Mutex<Vec<FailFirst>>,
    pub(crate) latency: Option<(u64, u64)>,
    pub(crate) stall: Duration,
    /// Most results one query pages through.
    pub(crate) query_cap: usize,
    /// Recent queries' results (locked after the store, when both are).
    query_cache: Mutex<query::Cache>,
    pub(crate) started: std::time::Instant,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Requests held until released (`/__sandbox/hold`).
    pub(crate) holds: Holds,
    /// `http://127.0.0.1:PORT`, for the `upload_url` of file uploads.
    pub(crate) base_url: String,
    fault_draws: AtomicU64,
    seq: AtomicU64,
    in_flight: AtomicUsize,
}

impl Shared {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        store: Store,
        token: String,
        limiter: Limiter,
        faults: FaultSpec,
        fault_seed: u64,
        fail_first: Vec<FailFirst>,
        latency: Option<(u64, u64)>,
        stall: Duration,
        query_cap: usize,
        shutdown: watch::Receiver<bool>,
        base_url: String,
    ) -> Self {
        Shared {
            store: Mutex::new(store),
            recorder: Recorder::default(),
            token,
            limiter: Mutex::new(limiter),
            faults,
            fault_seed,
            fail_first: Mutex::new(fail_first),
            latency,
            stall,
            query_cap,
            query_cache: Mutex::new(query::Cache::default()),
            started: std::time::Instant::now(),
            shutdown,
            holds: Holds::default(),
            base_url,
            fault_draws: AtomicU64::new(0),
            seq: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The store, with the uploads past their expiry time expired (every handler that reads or
    /// attaches uploads takes the store this way).
    fn store_now(&self) -> MutexGuard<'_, Store> {
        let mut store = self.store();
        store.uploads.expire(chrono::Utc::now(), false);
        store
    }

    /// The counters, with the file uploads' (`/__sandbox/stats`).
    pub(crate) fn stats(&self) -> Stats {
        let mut stats = self.recorder.stats();
        stats.file_uploads = self.store().uploads.stats.clone();
        stats
    }

    /// The next scripted fault for this request, if a `--fail-first` rule has one left (the
    /// first rule that matches and still has faults).
    fn scripted_fault(&self, method: &str, path: &str) -> Option<FaultKind> {
        let mut rules = self.fail_first.lock().unwrap_or_else(|e| e.into_inner());
        let rule = rules
            .iter_mut()
            .find(|r| !r.faults.is_empty() && r.matches(method, path))?;
        Some(rule.faults.remove(0))
    }
}

/// Marks the response of a POST /v1/pages that created a page, with the new page's id (for the
/// request log).
#[derive(Debug, Clone)]
struct CreatedPage(String);

/// Marks a response that must not be sent: the connection is dropped instead.
#[derive(Debug, Clone, Copy)]
struct DropConnection;

/// What the gate tells the handlers about a request.
#[derive(Debug, Clone)]
struct Context {
    version: ApiVersion,
    /// The body parsed as JSON; `None` when it is empty or not JSON.
    json: Option<Arc<Value>>,
}

/// Counts a request in flight for as long as it lives.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> Self {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.recorder.in_flight(now);
        InFlight(&shared.in_flight)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The router: API routes behind the gate, and the introspection routes.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/pages", post(create_page))
        .route("/v1/pages/{page_id}", get(get_page).patch(patch_page))
        .route(
            "/v1/pages/{page_id}/properties/{property_id}",
            get(get_property),
        )
        .route("/v1/databases/{database_id}", get(get_database))
        .route("/v1/databases/{database_id}/query", post(query_database))
        .route(
            "/v1/data_sources/{data_source_id}",
            get(get_data_source).patch(patch_data_source),
        )
        .route(
            "/v1/data_sources/{data_source_id}/query",
            post(query_data_source),
        )
        .route("/v1/users", get(list_users))
        .route("/v1/users/me", get(users_me))
        .route(
            "/v1/file_uploads",
            post(create_file_upload).get(list_file_uploads),
        )
        .route("/v1/file_uploads/{file_upload_id}", get(get_file_upload))
        .route(
            "/v1/file_uploads/{file_upload_id}/send",
            post(send_file_upload),
        )
        .route(
            "/v1/file_uploads/{file_upload_id}/complete",
            post(complete_file_upload),
        )
        .route("/__sandbox/uploads", get(introspect_uploads))
        .route("/__sandbox/expire_uploads", post(expire_uploads))
        .route("/__sandbox/stats", get(introspect_stats))
        .route("/__sandbox/state", get(introspect_state))
        .route("/__sandbox/requests", get(introspect_requests))
        .route(
            "/__sandbox/hold",
            get(hold_wait).post(hold_set).delete(hold_release),
        )
        .fallback(invalid_url)
        .method_not_allowed_fallback(invalid_url)
        .layer(middleware::from_fn_with_state(shared.clone(), gate))
        // The gate enforces the body limits (500 KB; a send's 20 MiB file).
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

/// Accept connections until shutdown; each is served by hyper, and a response marked
/// [`DropConnection`] closes the connection without a byte written.
pub(crate) async fn serve(listener: TcpListener, app: Router, mut shutdown: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of descriptors or an aborted handshake: try again shortly.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let app = app.clone();
                        async move {
                            let response = match app.oneshot(req).await {
                                Ok(r) => r,
                                Err(never) => match never {},
                            };
                            if response.extensions().get::<DropConnection>().is_some() {
                                Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected reset"))
                            } else {
                                Ok(response)
                            }
                        }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
}

/// Resolves once shutdown is asked for (or its sender is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    loop {
        let stop = *rx.borrow_and_update();
        if stop || rx.changed().await.is_err() {
            return;
        }
    }
}

/// A Notion-looking request id.
fn request_id() -> String {
    random_uuid()
}

/// The raw query string of a request, if it has one.
fn parts_query(parts: &axum::http::request::Parts) -> Option<String> {
    parts.uri.query().map(str::to_string)
}

/// The page id a path names, if any (`/v1/pages/{id}[/…]`).
fn page_id_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v1/pages/")?;
    normalize_id(rest.split('/').next()?)
}

fn is_page_patch(method: &Method, path: &str) -> bool {
    method == Method::PATCH
        && path
            .strip_prefix("/v1/pages/")
            .is_some_and(|rest| !rest.is_empty() && !rest.trim_end_matches('/').contains('/'))
}

/// `POST /v1/pages`: a page create.
fn is_page_create(method: &Method, path: &str) -> bool {
    method == Method::POST && path == "/v1/pages"
}

/// Every API request passes here: logged, delayed, authenticated, versioned, rate limited, and
/// perhaps given a fault; then the handler runs and errors get their JSON body.
async fn gate(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/__sandbox/") {
        return next.run(req).await;
    }
    let seq = shared.seq.fetch_add(1, Ordering::SeqCst);
    let time_ms = u64::try_from(shared.started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let _in_flight = InFlight::enter(&shared);
    let method = req.method().clone();
    let rid = request_id();
    shared.holds.pass(method.as_str(), &path).await;

    if let Some((min, max)) = shared.latency {
        let delay = rand::rng().random_range(min..=max);
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }

    let (parts, body) = req.into_parts();
    let limit = match is_upload_send(method.as_str(), &path) {
        true => MAX_SEND_BODY,
        false => MAX_BODY,
    };
    let (bytes, too_large) = match axum::body::to_bytes(body, limit).await {
        Ok(b) => (b, false),
        Err(_) => (Bytes::new(), true),
    };
    let json: Option<Value> = if bytes.is_empty() {
        None
    } else {
        serde_json::from_slice(&bytes).ok()
    };
    let mut record = Pending::new(
        &shared,
        RequestRecord {
            seq,
            method: method.to_string(),
            path: path.clone(),
            query: parts_query(&parts),
            page_id: page_id_of(&path),
            body_sha256: json.as_ref().map(body_sha256),
            status: None,
            time_ms,
            fault: None,
        },
    );

    let response = async {
        let auth = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        if auth.and_then(|a| a.strip_prefix("Bearer ")) != Some(shared.token.as_str()) {
            return ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "API token is invalid.").into_response();
        }
        let version = match parts.headers.get("notion-version").map(|v| v.to_str().unwrap_or("")) {
            None => {
                return ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "missing_version",
                    "Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`.",
                )
                .into_response()
            }
            Some(v) => match ApiVersion::parse(v) {
                Some(version) => version,
                None => {
                    let known: Vec<String> = ApiVersion::ALL.iter().map(|v| format!("`\"{v}\"`")).collect();
                    return ApiError::validation(format!(
                        "Notion-Version header failed validation: Notion-Version header should be one of {}, instead was `{}`.",
                        known.join(", "),
                        Value::String(v.to_string())
                    ))
                    .into_response();
                }
            },
        };
        let limited = {
            let mut limiter = shared.limiter.lock().unwrap_or_else(|e| e.into_inner());
            limiter.check(&shared.token, tokio::time::Instant::now())
        };
        if let Err(secs) = limited {
            let mut r = ApiError::rate_limited("connection_limit").into_response();
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            return r;
        }
        if too_large {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "validation_error",
                format!("Request body too large: the limit is {limit} bytes."),
            )
            .into_response();
        }

        let faultable = is_page_patch(&method, &path)
            || is_page_create(&method, &path)
            || is_schema_patch(method.as_str(), &path)
            || is_query(method.as_str(), &path)
            || is_upload_write(method.as_str(), &path);
        let fault = match shared.scripted_fault(method.as_str(), &path) {
            Some(kind) => Some(kind),
            None if faultable && !shared.faults.is_empty() => {
                let n = shared.fault_draws.fetch_add(1, Ordering::SeqCst);
                shared.faults.pick(shared.fault_seed, n)
            }
            None => None,
        };
        record.set_fault(fault);
        let simple = |status: u16, code: &'static str, message: &str| {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            ApiError::new(status, code, message).into_response()
        };
        match fault {
            Some(FaultKind::Conflict) => {
                return simple(409, "conflict_error", "Conflict occurred while saving. Please try again.")
            }
            Some(FaultKind::E429Workspace) => {
                let mut r = ApiError::rate_limited("workspace_limit").into_response();
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1u64));
                return r;
            }
            Some(FaultKind::RowLimit) => {
                return simple(409, "row_limit_exceeded", "The row limit of this data source has been exceeded.")
            }
            Some(FaultKind::E500) => return simple(500, "internal_server_error", "Unexpected error occurred."),
            Some(FaultKind::E502) => return bad_gateway(),
            Some(FaultKind::E503) => {
                return simple(
                    503,
                    "service_unavailable",
                    "Notion is unavailable. This can occur when the time to respond to a request takes longer than 60 seconds, the maximum request timeout. Please try again later.",
                )
            }
            Some(FaultKind::E529) => {
                let mut r = simple(529, "service_overload", "Notion is overloaded. Please try again later.");
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1u64));
                return r;
            }
            Some(FaultKind::E429) => {
                let mut r = simple(429, "rate_limited", "You have been rate limited. Please try again in a few minutes.");
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1u64));
                return r;
            }
            Some(FaultKind::Reset) => return dropped(),
            Some(FaultKind::Stall) => {
                let mut stop = shared.shutdown.clone();
                tokio::select! {
                    _ = tokio::time::sleep(shared.stall) => {}
                    _ = stopped(&mut stop) => {}
                }
                return dropped();
            }
            Some(FaultKind::E504Applied) | None => {}
        }

        let mut req = Request::from_parts(parts, Body::from(bytes));
        req.extensions_mut().insert(Context {
            version,
            json: json.map(Arc::new),
        });
        let response = next.run(req).await;
        if let Some(CreatedPage(id)) = response.extensions().get::<CreatedPage>() {
            record.set_page_id(id.clone());
        }
        if fault == Some(FaultKind::E504Applied) {
            return simple(504, "gateway_timeout", "Notion timed out while processing the request. Please try again later.");
        }
        response
    }
    .await;

    let mut response = response;
    if let Some(err) = response.extensions_mut().remove::<ApiError>() {
        let extensions = std::mem::take(response.extensions_mut());
        let headers = std::mem::take(response.headers_mut());
        response = (err.status, Json(err.to_json(&rid))).into_response();
        response.headers_mut().extend(headers);
        response.extensions_mut().extend(extensions);
    }
    let dropped_connection = response.extensions().get::<DropConnection>().is_some();
    record.finish((!dropped_connection).then(|| response.status().as_u16()));
    if is_proxy_answer(&response) {
        return response;
    }
    if let Ok(v) = HeaderValue::from_str(&rid) {
        response.headers_mut().insert("x-notion-request-id", v);
    }
    response.headers_mut().insert("cf-ray", cf_ray());
    response
}

/// A request being answered. It is logged when answered, or, if the client goes away first
/// (a timeout during a stall or a delay drops the handler), when it is dropped, with no status.
struct Pending {
    shared: Arc<Shared>,
    record: Option<RequestRecord>,
}

impl Pending {
    fn new(shared: &Arc<Shared>, record: RequestRecord) -> Pending {
        Pending {
            shared: shared.clone(),
            record: Some(record),
        }
    }

    fn set_fault(&mut self, fault: Option<FaultKind>) {
        if let Some(r) = self.record.as_mut() {
            r.fault = fault;
        }
    }

    fn set_page_id(&mut self, id: String) {
        if let Some(r) = self.record.as_mut() {
            r.page_id = Some(id);
        }
    }

    fn finish(mut self, status: Option<u16>) {
        if let Some(mut r) = self.record.take() {
            r.status = status;
            self.shared.recorder.finish(r);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(r) = self.record.take() {
            self.shared.recorder.finish(r);
        }
    }
}

/// Proxy answers (the injected 502) carry no Notion request id.
fn is_proxy_answer(response: &Response) -> bool {
    response.headers().contains_key("cf-ray")
}

fn cf_ray() -> HeaderValue {
    let n: u64 = rand::rng().random();
    HeaderValue::from_str(&format!("{n:016x}-SJC")).unwrap_or(HeaderValue::from_static("0-SJC"))
}

/// What Cloudflare sends when the origin fails: HTML, `cf-ray`, no JSON, no request id.
fn bad_gateway() -> Response {
    let html = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n";
    let mut r = (StatusCode::BAD_GATEWAY, html).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    r.headers_mut().insert("cf-ray", cf_ray());
    r
}

fn dropped() -> Response {
    let mut r = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    r.extensions_mut().insert(DropConnection);
    r
}

impl IntoResponse for ApiError {
    /// The gate renders the body, once it knows the request id.
    fn into_response(self) -> Response {
        let mut r = self.status.into_response();
        r.extensions_mut().insert(self);
        r
    }
}

/// A path id, dashed or not, or Notion's "path failed validation" error.
fn id_param(raw: &str, name: &str) -> Result<String, ApiError> {
    normalize_id(raw).ok_or_else(|| {
        ApiError::validation(format!(
            "path failed validation: path.{name} should be a valid uuid, instead was `{}`.",
            Value::String(raw.to_string())
        ))
    })
}

type ApiResult = Result<Json<Value>, ApiError>;

/// The stored page `id`, or Notion's 404 for it.
fn stored_page<'a>(store: &'a Store, id: &str) -> Result<&'a Page, ApiError> {
    store
        .pages
        .get(id)
        .ok_or_else(|| ApiError::not_found("page", id))
}

async fn get_page(
    State(shared): State<Arc<Shared>>,
    Extension(cx): Extension<Context>,
    Path(page_id): Path<String>,
) -> ApiResult {
    let id = id_param(&page_id, "page_id")?;
    let store = shared.store();
    let page = stored_page(&store, &id)?;
    Ok(Json(render::page(&store, page, cx.version)))
}

/// A page body parsed as JSON, or Notion's `invalid_json` (an empty body too).
fn json_body(cx: &Context) -> Result<&Value, ApiError> {
    cx.json.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "Error parsing JSON body.",
        )
    })
}

/// A body that may be empty (then `{}`, as `empty`), else JSON, or Notion's `invalid_json`.
fn json_or_empty<'a>(
    cx: &'a Context,
    body: &Bytes,
    empty: &'a Value,
) -> Result<&'a Value, ApiError> {
    match &cx.json {
        Some(v) => Ok(v),
        None if body.iter().all(u8::is_ascii_whitespace) => Ok(empty),
        None => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "Error parsing JSON body.",
        )),
    }
}

async fn patch_page(
    State(shared): State<Arc<Shared>>,
    Extension(cx): Extension<Context>,
    Path(page_id): Path<String>,
) -> ApiResult {
    let id = id_param(&page_id, "page_id")?;
    let body = json_body(&cx)?;
    let mut store = shared.store_now();
    let page = stored_page(&store, &id)?;
    let update = check_patch(&*store, page, body, cx.version)?;
    store.apply(&id, update, chrono::Utc::now());
    shared.recorder.applied(&id);
    let page = stored_page(&store, &id)?;
    Ok(Json(render::page(&store, page, cx.version)))
}

/// `POST /v1/pages`: a page created in a data source, answered as GET would show it.
async fn create_page(
    State(shared): State<Arc<Shared>>,
    Extension(cx): Extension<Context>,
) -> Result<(Extension<CreatedPage>, Json<Value>), ApiError> {
    let body = json_body(&cx)?;
    let mut store = shared.store_now();
    let new = check_create(&*store, body, cx.version)?;
    let id = store.create(&new.data_source_id, new.update, chrono::Utc::now());
    shared.recorder.created();
    let page = stored_page(&store, &id)?;
    let shown = render::page(&store, page, cx.version);
    Ok((Extension(CreatedPage(id)), Json(shown)))
}

async fn get_property(
    State(shared): State<Arc<Shared>>,
    Path((page_id, property_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let id = id_param(&page_id, "page_id")?;
    let store = shared.store();
    let page = stored_page(&store, &id)?;
    let prop = store
        .data_source(&page.data_source_id)
        .and_then(|ds| ds.property(&property_id))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "object_not_found",
                format!("Could not find property with ID: {property_id}."),
            )
        })?;
    let item = render::property_item(
        &store,
        page,
        prop,
        query.get("start_cursor").map(String::as_str),
        query.get("page_size").map(String::as_str),
    )?;
    Ok(Json(item))
}

async fn get_database(
    State(shared): State<Arc<Shared>>,
    Extension(cx): Extension<Context>,
    Path(database_id): Path<String>,
) -> ApiResult {
    let id = id_param(&database_id, "database_id")?;
    let store = shared.store();
    let db = store
        .database(&id)
        .ok_or_else(|| ApiError::not_found("database", &id))?;
    Ok(Json(render::database(&store, db, cx.version)?))
}

/// The data source a path names: only from 2025-09-03 (the routes do not exist before), by a
/// valid id, shared with the integration.
fn data_source_param<'s>(
    store: &'s Store,
    raw: &str,
    version: ApiVersion,
) -> Result<&'s DataSource, ApiError> {
    if !version.has_data_sources() {
        return Err(invalid_url_error());
    }
    let id = id_param(raw, "data_source_id")?;
    store
        .data_source(&id)
        .ok_or_else(|| ApiError::not_found("data source", &id))
}

async fn get_data_source(
    State(shared): State<Arc<Shared>>,
    Extension(cx): Extension<Context>,
    Path(data_source_id): Path<String>,
) -> ApiResult {
    let store = shared.store();
    let ds = data_source_param(&store, &data_source_id, cx.version)?;
    Ok(Json(render::data_source(&store, ds, cx.version)))
}

/// `PATCH /v1/data_sources/{id}` (2025-09-03 and later): option changes, checked whole and
/// applied at once, answered with the data source as GET shows it.
async fn patch_data_source(
    State(shared): State<Arc<Shared>>,
    Extension(cx): Extension<Context>,
    Path(data_source_id): Path<String>,
) -> ApiResult {
    let mut store = shared.store_now();
    let ds = data_source_param(&store, &data_source_id, cx.version)?;
    let update = check_schema_patch(&*store, ds, json_body(&cx)?)?;
    let id = ds.id.clone();
    store.update_schema(&id, update, chrono::Utc::now());
    shared.recorder.schema_updated(&id);
    let ds = store
        .data_source(&id)
        .ok_or_else(|| ApiError::not_found("data source", &id))?;
    Ok(Json(render::data_source(&store, ds, cx.version)))
}

/// `POST /v1/data_sources/{id}/query` (2025-09-03 and later).
async fn query_data_source(
    State(shared): State<Arc<Shared>>,
    Extension(cx): Extension<Context>,
    Path(data_source_id): Path<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> ApiResult {
    let store = shared.store();
    let ds = data_source_param(&store, &data_source_id, cx.version)?;
    run_query(&shared, &store, ds, &cx, raw.as_deref(), &body)
}

/// `POST /v1/databases/{id}/query` (2022-06-28): the database's one data source.
async fn query_database(
    State(shared): State<Arc<Shared>>,
    Extension(cx): Extension<Context>,
    Path(database_id): Path<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> ApiResult {
    if cx.version.has_data_sources() {
        return Err(invalid_url_error());
    }
    let id = id_param(&database_id, "database_id")?;
    let store = shared.store();
    let db = store
        .database(&id)
        .ok_or_else(|| ApiError::not_found("database", &id))?;
    let ds = match db.data_sources.as_slice() {
        [only] => store.data_source(only),
        _ => None,
    }
    .ok_or_else(|| {
        ApiError::validation(format!(
            "Database {} has {} data sources. Querying a database with multiple data sources is not supported in API version {}; use version 2025-09-03 or later.",
            db.id,
            db.data_sources.len(),
            cx.version
        ))
    })?;
    run_query(&shared, &store, ds, &cx, raw.as_deref(), &body)
}

/// Check a query, run it, and answer one page of its results.
fn run_query(
    shared: &Shared,
    store: &Store,
    ds: &DataSource,
    cx: &Context,
    raw_query: Option<&str>,
    body: &Bytes,
) -> ApiResult {
    let empty = Value::Object(serde_json::Map::new());
    let body = json_or_empty(cx, body, &empty)?;
    let only = query::filter_properties(raw_query, ds)?;
    let q = DataQuery::parse(body, ds, cx.version, chrono::Utc::now())?;
    let ranked = shared
        .query_cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .results(&q, (store.generation, store.pages.len()), || {
            q.run(store, store.pages.values())
        });
    let reachable = ranked.len().min(shared.query_cap);
    let start = q.start(store, &ranked)?.min(reachable);
    let end = (start + q.page_size).min(reachable);
    let pages: Vec<&Page> = ranked[start..end]
        .iter()
        .filter_map(|r| store.pages.get(&r.id))
        .collect();
    let next_cursor = ranked
        .get(end)
        .filter(|_| end < reachable)
        .and_then(|r| store.pages.get(&r.id))
        .map(|p| q.cursor(p));
    Ok(Json(render::query_results(
        store,
        &pages,
        cx.version,
        only.as_deref(),
        next_cursor,
        ranked.len() > shared.query_cap,
    )))
}

async fn list_users(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let store = shared.store();
    Ok(Json(render::users(
        &store,
        query.get("start_cursor").map(String::as_str),
        query.get("page_size").map(String::as_str),
    )?))
}

fn invalid_url_error() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request_url",
        "Invalid request URL.",
    )
}

async fn invalid_url() -> ApiError {
    invalid_url_error()
}

async fn introspect_stats(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(serde_json::to_value(shared.stats()).unwrap_or(Value::Null))
}

/// `GET /__sandbox/uploads`: every file upload with its status, length and content SHA-256.
async fn introspect_uploads(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(upload::introspect(&shared.store_now().uploads))
}

/// `POST /__sandbox/expire_uploads`: every unattached pending or uploaded upload expires now.
async fn expire_uploads(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let n = shared.store().uploads.expire(chrono::Utc::now(), true);
    Json(serde_json::json!({ "expired": n }))
}

async fn introspect_state(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(render::state(&shared.store()))
}

async fn introspect_requests(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(serde_json::to_value(shared.recorder.requests()).unwrap_or(Value::Null))
}

/// `GET /__sandbox/hold?waiting=N`: answers once at least N requests (default 1) are held.
async fn hold_wait(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<HashMap<String, String>>,
) -> Json<Value> {
    let n = params
        .get("waiting")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    Json(serde_json::to_value(shared.holds.waiting(n).await).unwrap_or(Value::Null))
}

/// `POST /__sandbox/hold` `{"method": "GET", "path": "/v1/pages/"}`: hold those requests.
async fn hold_set(State(shared): State<Arc<Shared>>, Json(rule): Json<Value>) -> Response {
    match (rule["method"].as_str(), rule["path"].as_str()) {
        (Some(method), Some(path)) => {
            shared.holds.hold(method, path);
            Json(serde_json::to_value(shared.holds.state()).unwrap_or(Value::Null)).into_response()
        }
        _ => (
            StatusCode::BAD_REQUEST,
            "expected {\"method\": \"GET\", \"path\": \"/v1/pages/\"}",
        )
            .into_response(),
    }
}

/// `DELETE /__sandbox/hold`: let the held requests go, and hold no more.
async fn hold_release(State(shared): State<Arc<Shared>>) -> Json<Value> {
    shared.holds.release();
    Json(serde_json::to_value(shared.holds.state()).unwrap_or(Value::Null))
}

/// `GET /v1/users/me`: the integration's bot user, with the per-file upload limit.
async fn users_me(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(render::integration_bot(&shared.store()))
}

/// `POST /v1/file_uploads`: a new upload, `pending` (an empty body is `{}`: single_part).
async fn create_file_upload(
    State(shared): State<Arc<Shared>>,
    Extension(cx): Extension<Context>,
    body: Bytes,
) -> ApiResult {
    let empty = Value::Object(serde_json::Map::new());
    let body = json_or_empty(&cx, &body, &empty)?;
    let mut store = shared.store_now();
    let new = upload::check_create(body, store.uploads.max_size)?;
    let created = store.uploads.create(new, chrono::Utc::now());
    upload_answer(&shared, created, &cx)
}

/// `GET /v1/file_uploads/{id}`: retrieve (a pending import moves along).
async fn get_file_upload(
    State(shared): State<Arc<Shared>>,
    Extension(cx): Extension<Context>,
    Path(raw): Path<String>,
) -> ApiResult {
    let id = id_param(&raw, "file_upload_id")?;
    let mut store = shared.store_now();
    let u = store.uploads.retrieve(&id, chrono::Utc::now())?;
    upload_answer(&shared, u, &cx)
}

/// `GET /v1/file_uploads?status=&start_cursor=&page_size=`.
async fn list_file_uploads(
    State(shared): State<Arc<Shared>>,
    Extension(cx): Extension<Context>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let store = shared.store_now();
    Ok(Json(upload::list_page(
        &store.uploads,
        query.get("status").map(String::as_str),
        query.get("start_cursor").map(String::as_str),
        query.get("page_size").map(String::as_str),
        &shared.base_url,
        cx.version,
    )?))
}

/// `POST /v1/file_uploads/{id}/send`: multipart/form-data with `file` (and `part_number` for a
/// multi-part upload). The form is read and hashed, and a part written to the spool, before the
/// store is locked.
async fn send_file_upload(
    State(shared): State<Arc<Shared>>,
    Extension(cx): Extension<Context>,
    Path(raw): Path<String>,
    form: Result<Multipart, MultipartRejection>,
) -> ApiResult {
    let id = id_param(&raw, "file_upload_id")?;
    let mut form = form.map_err(|e| {
        ApiError::validation(format!(
            "Send the file as multipart/form-data, with its content under the `file` key ({e})."
        ))
    })?;
    let unreadable = |e: axum::extract::multipart::MultipartError| {
        ApiError::validation(format!(
            "The multipart/form-data body could not be read: {e}."
        ))
    };
    let mut file: Option<(Bytes, Option<String>, Option<String>)> = None;
    let mut part_number: Option<String> = None;
    while let Some(field) = form.next_field().await.map_err(unreadable)? {
        match field.name() {
            Some("file") => {
                let filename = field.file_name().map(str::to_string);
                let content_type = field.content_type().map(str::to_string);
                file = Some((
                    field.bytes().await.map_err(unreadable)?,
                    filename,
                    content_type,
                ));
            }
            Some("part_number") => part_number = Some(field.text().await.map_err(unreadable)?),
            _ => {}
        }
    }
    let Some((bytes, filename, content_type)) = file else {
        return Err(ApiError::body("body.file", "defined", None));
    };
    let staged = match part_number {
        Some(_) => {
            let spool = shared.store().uploads.spool.clone();
            Some(spool.stage(&bytes)?)
        }
        None => None,
    };
    let sent = Sent {
        len: bytes.len() as u64,
        sha256: upload::sha256_hex(&bytes),
        filename,
        content_type: content_type.filter(|t| t != "application/octet-stream"),
        part_number,
        staged,
    };
    drop(bytes);
    let mut store = shared.store_now();
    store.uploads.send(&id, sent, chrono::Utc::now())?;
    upload_answer(&shared, store.uploads.get(&id)?, &cx)
}

/// `POST /v1/file_uploads/{id}/complete`: a multi-part upload, every part sent.
async fn complete_file_upload(
    State(shared): State<Arc<Shared>>,
    Extension(cx): Extension<Context>,
    Path(raw): Path<String>,
) -> ApiResult {
    let id = id_param(&raw, "file_upload_id")?;
    let mut store = shared.store_now();
    store.uploads.complete(&id, chrono::Utc::now())?;
    upload_answer(&shared, store.uploads.get(&id)?, &cx)
}

/// A file upload as the request's version shows it.
fn upload_answer(shared: &Shared, u: &upload::FileUpload, cx: &Context) -> ApiResult {
    Ok(Json(upload::render(u, &shared.base_url, cx.version)))
}
