//! The dashboard, the REST API and `/metrics`, served from the binary.
//!
//! Everything the browser loads is embedded (`include_str!`): one HTML page with its CSS and
//! JavaScript inline and the last [`View`] as JSON, so the first paint needs one request and no
//! external asset. Live values arrive as server-sent events (`/api/events`), one per view.
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the dashboard |
//! | `GET /api/state` | the view, today's and this month's energy, the open sessions |
//! | `GET /api/events` | server-sent events: `view` with the view as JSON (and the daemon's clock) on every change |
//! | `GET /api/sessions?limit=&offset=&loadpoint=` | sessions, newest first |
//! | `GET /api/sessions.csv` | every session as CSV |
//! | `GET /api/history?hours=N` | per-minute history of the last N hours (1 to 720) |
//! | `POST /api/loadpoints/{name}/mode` | `{"mode": "pv"}` |
//! | `POST /api/loadpoints/{name}/limits` | `{"min_current": 6, "max_current": 16, "fixed_current": 8}` |
//! | `GET /api/openapi.json` | the OpenAPI 3 description of the above |
//! | `GET /metrics` | Prometheus text |
//!
//! **Security.** The daemon decides where this listens. With [`Options::local_only`] (a loopback
//! address) changes need no token, but requests must name a loopback host (no DNS rebinding).
//! Otherwise every `POST` needs `Authorization: Bearer <token>` (compared in constant time) and
//! is answered 401 without it; reads stay open. Every `POST` must be JSON (`Content-Type:
//! application/json`, which a cross-site form cannot send) from the same origin, at most 4 KiB.
//! Tokens are never logged.
//!
//! **Architecture invariant:** the web only observes the [`hub`](crate::hub) and reads the
//! store; every change goes to the daemon as a [`UiCommand`](crate::hub::UiCommand), which
//! validates it exactly like an MQTT command.

mod metrics;
pub mod testing;
#[cfg(test)]
mod tests;

use crate::hub::{ObserverSide, View};
use crate::store::{self, Store};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// The largest request body accepted, bytes.
pub const MAX_BODY_BYTES: usize = 4096;

const PAGE: &str = include_str!("assets/index.html");
const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/app.js");
const FAVICON: &str = include_str!("assets/favicon.svg");
/// The OpenAPI 3 description of the REST API.
pub const OPENAPI: &str = include_str!("assets/openapi.json");

/// The web's notion of "now": the daemon's clock, which in the demo runs faster than real
/// time and on another date than the system clock. Everything the web compares with the
/// daemon's times (today's energy, the history window, the page's clock) reads this.
#[derive(Clone)]
pub struct Clock {
    now: Arc<dyn Fn() -> i64 + Send + Sync>,
    speed: f64,
}

impl Clock {
    /// The system clock, at real-time speed.
    pub fn system() -> Clock {
        Clock::new(1.0, system_now_ms)
    }

    /// A clock that answers Unix milliseconds from `now` and runs `speed` times faster than
    /// real time (a speed that is not finite and positive counts as 1).
    pub fn new(speed: f64, now: impl Fn() -> i64 + Send + Sync + 'static) -> Clock {
        Clock {
            now: Arc::new(now),
            speed: if speed.is_finite() && speed > 0.0 {
                speed
            } else {
                1.0
            },
        }
    }

    /// Now, Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        (self.now)()
    }

    /// How many times faster than real time the clock runs.
    pub fn speed(&self) -> f64 {
        self.speed
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clock")
            .field("speed", &self.speed)
            .finish_non_exhaustive()
    }
}

/// How the web server guards changes, and which clock it reads.
#[derive(Clone, Default)]
pub struct Options {
    /// The token every `POST` must carry as `Authorization: Bearer <token>` when not
    /// [`local_only`](Options::local_only). `None` there: changes are refused.
    pub token: Option<String>,
    /// Listening on loopback only: changes need no token; requests must name a loopback host.
    pub local_only: bool,
    /// The daemon's clock (default: the system clock).
    pub clock: Clock,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("local_only", &self.local_only)
            .field("clock", &self.clock)
            .finish()
    }
}

/// The store connection of the web: opened on first use, opened again after an error.
struct StoreAccess {
    path: PathBuf,
    conn: Mutex<Option<Store>>,
}

#[derive(Clone)]
struct App {
    hub: ObserverSide,
    store: Arc<StoreAccess>,
    options: Arc<Options>,
    stop: watch::Receiver<bool>,
}

/// An API error: a status and a message, sent as `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

fn system_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl App {
    /// Runs `f` with the store on a blocking thread.
    async fn with_store<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, store::Error> + Send + 'static,
    {
        let access = self.store.clone();
        let r = tokio::task::spawn_blocking(move || {
            let mut guard = access
                .conn
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let store = match guard.take() {
                Some(s) => s,
                None => Store::open(&access.path)?,
            };
            let r = f(&store);
            // After an error the file is opened afresh next time (it may have been replaced).
            if r.is_ok() {
                *guard = Some(store);
            }
            r
        })
        .await;
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                tracing::warn!("web: {e}");
                Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    e.to_string(),
                ))
            }
            Err(e) => Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("reading the database failed: {e}"),
            )),
        }
    }
}

/// Serves the dashboard and the API on `listener` until `shutdown` completes; server-sent
/// event streams end then too. `store_path` is the database the daemon records into.
pub async fn serve(
    listener: tokio::net::TcpListener,
    hub: ObserverSide,
    store_path: PathBuf,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop) = watch::channel(false);
    let app = router(hub, store_path, options, stop);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "dashboard listening on http://{addr}/");
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        })
        .await
}

fn router(
    hub: ObserverSide,
    store_path: PathBuf,
    options: Options,
    stop: watch::Receiver<bool>,
) -> Router {
    let app = App {
        hub,
        store: Arc::new(StoreAccess {
            path: store_path,
            conn: Mutex::new(None),
        }),
        options: Arc::new(options),
        stop,
    };
    Router::new()
        .route("/", get(index))
        .route("/favicon.svg", get(favicon))
        .route("/api/state", get(api_state))
        .route("/api/events", get(api_events))
        .route("/api/sessions", get(api_sessions))
        .route("/api/sessions.csv", get(api_sessions_csv))
        .route("/api/history", get(api_history))
        .route("/api/loadpoints/{name}/mode", post(api_mode))
        .route("/api/loadpoints/{name}/limits", post(api_limits))
        .route("/api/openapi.json", get(api_openapi))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(app)
}

/// The route table for tests: (method, path) as in the OpenAPI file.
#[cfg(test)]
pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/state"),
    ("get", "/api/events"),
    ("get", "/api/sessions"),
    ("get", "/api/sessions.csv"),
    ("get", "/api/history"),
    ("post", "/api/loadpoints/{name}/mode"),
    ("post", "/api/loadpoints/{name}/limits"),
    ("get", "/api/openapi.json"),
    ("get", "/metrics"),
];

// --- security ----------------------------------------------------------------------------

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn is_loopback_host(host: &str) -> bool {
    // Host is `name`, `name:port`, `[v6]` or `[v6]:port`.
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

async fn guard(State(app): State<App>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if app.options.local_only && !host.is_empty() && !is_loopback_host(host) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "this sunfill answers on localhost only; open it as http://localhost:<port>/ or \
             http://127.0.0.1:<port>/, or configure a listen address and a token",
        )
        .into_response();
    }
    if req.method() == Method::POST {
        if !app.options.local_only {
            let presented = headers
                .get(header::AUTHORIZATION)
                .and_then(|h| h.to_str().ok())
                .and_then(|h| h.strip_prefix("Bearer "))
                .map(str::trim);
            let ok = match (&app.options.token, presented) {
                (Some(t), Some(p)) => constant_time_eq(t.as_bytes(), p.as_bytes()),
                _ => false,
            };
            if !ok {
                let msg = if app.options.token.is_none() {
                    "changes over the network are disabled: sunfill has no web token configured"
                } else if presented.is_none() {
                    "this change needs the header Authorization: Bearer <token> (the web token \
                     from the sunfill config)"
                } else {
                    "the token is wrong; use the web token from the sunfill config"
                };
                return ApiError::new(StatusCode::UNAUTHORIZED, msg).into_response();
            }
        }
        // A browser sends Origin with every cross-site POST; it must be this very host.
        if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
            let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
            if origin_host != host {
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!("cross-site request from {origin} refused"),
                )
                .into_response();
            }
        }
    }
    next.run(req).await
}

/// Reads a JSON body: the content type must be JSON, the size at most [`MAX_BODY_BYTES`].
fn json_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the body as JSON with Content-Type: application/json",
        ));
    }
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
            )
        } else {
            ApiError::new(e.status(), format!("reading the request body failed: {e}"))
        }
    })?;
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

// --- pages -------------------------------------------------------------------------------

/// The state the page starts with and `/api/state` answers.
#[derive(Serialize)]
struct PageState {
    view: View,
    /// Today's and this month's energy; `None` when the database cannot be read.
    energy: Option<store::EnergySummary>,
    /// The open session of each loadpoint, from the store.
    sessions: Vec<store::Session>,
    /// Why the store could not be read, in words.
    store_error: Option<String>,
    /// Whether changes need a token.
    token_required: bool,
    /// The daemon's clock, Unix milliseconds (to show how old the view is).
    server_unix_ms: i64,
    /// How many times faster than real time that clock runs (the demo: more than 1).
    clock_speed: f64,
}

async fn page_state(app: &App) -> PageState {
    let view = app.hub.view.borrow().clone();
    let names: Vec<String> = view.loadpoints.iter().map(|l| l.name.clone()).collect();
    let now = app.options.clock.now_ms();
    let read = app
        .with_store(move |s| {
            let energy = s.energy_summary(now)?;
            let mut sessions = Vec::new();
            for n in &names {
                sessions.extend(s.open_session(n)?);
            }
            Ok((energy, sessions))
        })
        .await;
    let (energy, sessions, store_error) = match read {
        Ok((e, s)) => (Some(e), s, None),
        Err(e) => (None, Vec::new(), Some(e.message)),
    };
    PageState {
        view,
        energy,
        sessions,
        store_error,
        token_required: !app.options.local_only,
        server_unix_ms: now,
        clock_speed: app.options.clock.speed(),
    }
}

/// JSON safe inside a `<script>` element: `<` is escaped, so `</script>` cannot end it.
fn script_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v)
        .unwrap_or_else(|_| "null".into())
        .replace('<', "\\u003c")
}

async fn index(State(app): State<App>) -> Response {
    let state = page_state(&app).await;
    let html = PAGE
        .replace("/*STYLE*/", STYLE)
        .replace("/*SCRIPT*/", SCRIPT)
        .replace("/*STATE*/", &script_json(&state));
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; \
                 connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
                 frame-ancestors 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        Html(html),
    )
        .into_response()
}

async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        FAVICON,
    )
        .into_response()
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no such page: {} {}; the API is described at /api/openapi.json",
            req.method(),
            req.uri().path()
        ),
    )
}

// --- reading -----------------------------------------------------------------------------

async fn api_state(State(app): State<App>) -> Json<PageState> {
    Json(page_state(&app).await)
}

/// A `view` event: the view's fields and the daemon's clock when it was sent.
#[derive(Serialize)]
struct ViewEvent {
    #[serde(flatten)]
    view: View,
    /// The daemon's clock, Unix milliseconds.
    server_unix_ms: i64,
}

async fn api_events(State(app): State<App>) -> impl IntoResponse {
    let start = (app.hub.view.clone(), app.stop.clone(), true);
    let clock = app.options.clock.clone();
    let stream = futures_util::stream::unfold(start, move |(mut rx, mut stop, first)| {
        let clock = clock.clone();
        async move {
            if !first {
                if *stop.borrow() {
                    return None;
                }
                tokio::select! {
                    changed = rx.changed() => changed.ok()?,
                    _ = stop.changed() => return None,
                }
            }
            let view = rx.borrow_and_update().clone();
            let event = ViewEvent {
                view,
                server_unix_ms: clock.now_ms(),
            };
            let event = Event::default().event("view").json_data(&event).ok()?;
            Some((Ok::<_, Infallible>(event), (rx, stop, false)))
        }
    });
    (
        [(header::CACHE_CONTROL, "no-store")],
        Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionsQuery {
    limit: Option<u32>,
    offset: Option<u32>,
    loadpoint: Option<String>,
}

async fn api_sessions(
    State(app): State<App>,
    q: Result<Query<SessionsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<store::SessionPage>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("limit must be from 1 to 1000, got {limit}"),
        ));
    }
    let page = store::Page {
        limit,
        offset: q.offset.unwrap_or(0),
    };
    let lp = q.loadpoint;
    app.with_store(move |s| s.sessions(page, lp.as_deref()))
        .await
        .map(Json)
}

async fn api_sessions_csv(State(app): State<App>) -> Result<Response, ApiError> {
    let csv = app.with_store(|s| s.sessions_csv()).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"sunfill-sessions.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    hours: Option<u32>,
}

async fn api_history(
    State(app): State<App>,
    q: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<store::History>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let hours = q.hours.unwrap_or(6);
    if !(1..=720).contains(&hours) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("hours must be from 1 to 720, got {hours}"),
        ));
    }
    let since = app.options.clock.now_ms() - i64::from(hours) * 3_600_000;
    app.with_store(move |s| s.history(since)).await.map(Json)
}

async fn api_openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn metrics_text(State(app): State<App>) -> Result<Response, ApiError> {
    let view = app.hub.view.borrow().clone();
    let text = metrics::render(&view).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding metrics failed: {e}"),
        )
    })?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

// --- changing ----------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModeBody {
    mode: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsBody {
    min_current: Option<f64>,
    max_current: Option<f64>,
    fixed_current: Option<f64>,
}

/// What a successful change answers.
#[derive(Serialize)]
struct Changed {
    ok: bool,
    applied: Vec<(String, String)>,
}

fn known_loadpoint(app: &App, name: &str) -> Result<(), ApiError> {
    let view = app.hub.view.borrow();
    if view.loadpoints.iter().any(|l| l.name == name) {
        return Ok(());
    }
    let names: Vec<&str> = view.loadpoints.iter().map(|l| l.name.as_str()).collect();
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no loadpoint \"{name}\"; the loadpoints are: {}",
            if names.is_empty() {
                "(none yet)".to_string()
            } else {
                names.join(", ")
            }
        ),
    ))
}

async fn send(app: &App, name: &str, key: &str, value: &str) -> Result<(), ApiError> {
    app.hub.command(name, key, value).await.map_err(|why| {
        tracing::info!(loadpoint = name, key, value, %why, "web change rejected");
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, why)
    })?;
    tracing::info!(loadpoint = name, key, value, "web change applied");
    Ok(())
}

async fn api_mode(
    State(app): State<App>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Changed>, ApiError> {
    let body: ModeBody = json_body(&headers, body)?;
    known_loadpoint(&app, &name)?;
    let mode = body.mode.trim().to_ascii_lowercase();
    if !crate::mqtt::outputs::MODES.contains(&mode.as_str()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "unknown mode \"{}\"; expected one of {}",
                body.mode,
                crate::mqtt::outputs::MODES.join(", ")
            ),
        ));
    }
    send(&app, &name, "mode", &mode).await?;
    Ok(Json(Changed {
        ok: true,
        applied: vec![("mode".into(), mode)],
    }))
}

/// A current in the command syntax (one decimal), or why not.
fn amps(key: &str, v: f64) -> Result<String, ApiError> {
    let tenths = (v * 10.0).round();
    if !v.is_finite() || !(0.0..=100.0).contains(&v) || (v * 10.0 - tenths).abs() > 1e-6 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{key} must be a current in amperes with at most one decimal, got {v}"),
        ));
    }
    Ok(format!("{:.1}", tenths / 10.0))
}

async fn api_limits(
    State(app): State<App>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Changed>, ApiError> {
    let body: LimitsBody = json_body(&headers, body)?;
    known_loadpoint(&app, &name)?;
    let min = body
        .min_current
        .map(|v| amps("min_current", v))
        .transpose()?;
    let max = body
        .max_current
        .map(|v| amps("max_current", v))
        .transpose()?;
    let fixed = body
        .fixed_current
        .map(|v| amps("fixed_current", v))
        .transpose()?;
    if min.is_none() && max.is_none() && fixed.is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "give at least one of min_current, max_current, fixed_current",
        ));
    }
    // The daemon checks min <= max after each step: raise the maximum first when the minimum
    // goes up beyond it, lower the minimum first when the maximum goes down below it.
    let current_max = app
        .hub
        .view
        .borrow()
        .loadpoints
        .iter()
        .find(|l| l.name == name)
        .map_or(0.0, |l| l.max_current_a);
    let min_first = match (&min, body.min_current) {
        (Some(_), Some(v)) => v <= current_max,
        _ => true,
    };
    let mut steps: Vec<(&str, String)> = Vec::new();
    if min_first {
        steps.extend(min.map(|v| ("min_current", v)));
        steps.extend(max.map(|v| ("max_current", v)));
    } else {
        steps.extend(max.map(|v| ("max_current", v)));
        steps.extend(min.map(|v| ("min_current", v)));
    }
    steps.extend(fixed.map(|v| ("fixed_current", v)));
    let mut applied = Vec::new();
    for (key, value) in steps {
        if let Err(mut e) = send(&app, &name, key, &value).await {
            if !applied.is_empty() {
                let done: Vec<String> = applied
                    .iter()
                    .map(|(k, v): &(String, String)| format!("{k} = {v}"))
                    .collect();
                e.message = format!("{} (already applied: {})", e.message, done.join(", "));
            }
            return Err(e);
        }
        applied.push((key.to_string(), value));
    }
    Ok(Json(Changed { ok: true, applied }))
}
