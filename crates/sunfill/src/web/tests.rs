use super::testing::{fill_store, run_fake_daemon, FakeSite};
use super::*;
use crate::hub::hub;
use axum::body::Body;
use axum::http::Request as HttpRequest;
use futures_util::StreamExt;
use tower::ServiceExt;

/// A router over a fake daemon (views only on commands) and a store with two hours of history.
struct Fixture {
    _dir: tempfile::TempDir,
    app: Router,
    _stop: watch::Sender<bool>,
    applied: tokio::sync::mpsc::UnboundedReceiver<(String, String, String)>,
}

/// The fixture on the clock of `options`: history up to its now, views at its time.
async fn fixture(options: Options) -> Fixture {
    fixture_with(options, FakeSite::new(&["garage"])).await
}

async fn fixture_with(options: Options, mut site: FakeSite) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sunfill.db");
    let now = options.clock.now_ms();
    fill_store(
        &Store::open(&path).unwrap(),
        &mut site,
        now - 7_200_000,
        now,
        10_000,
    )
    .unwrap();
    let (daemon, observer) = hub();
    let (tx, applied) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(run_fake_daemon(
        options.clock.clone(),
        daemon,
        site,
        Duration::from_secs(3600),
        Some(tx),
        std::future::pending(),
    ));
    let mut rx = observer.view.clone();
    rx.wait_for(|v| !v.loadpoints.is_empty()).await.unwrap();
    let (stop_tx, stop) = watch::channel(false);
    Fixture {
        _dir: dir,
        app: router(observer, path, options, stop),
        _stop: stop_tx,
        applied,
    }
}

fn local() -> Options {
    Options {
        token: None,
        local_only: true,
        ..Options::default()
    }
}

fn remote() -> Options {
    Options {
        token: Some("s3cret-token".into()),
        local_only: false,
        ..Options::default()
    }
}

fn get(uri: &str) -> HttpRequest<Body> {
    HttpRequest::get(uri)
        .header("host", "127.0.0.1:7070")
        .body(Body::empty())
        .unwrap()
}

fn post(uri: &str, body: &str, token: Option<&str>) -> HttpRequest<Body> {
    let mut b = HttpRequest::post(uri)
        .header("host", "127.0.0.1:7070")
        .header("content-type", "application/json");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(Body::from(body.to_string())).unwrap()
}

async fn call(app: &Router, req: HttpRequest<Body>) -> (StatusCode, HeaderMap, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 24)
        .await
        .unwrap();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn error_of(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["error"].as_str().unwrap().to_string()
}

// Tests for the API description.

#[test]
fn the_openapi_file_describes_exactly_the_routes() {
    let spec: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let paths = spec["paths"].as_object().unwrap();
    for (method, path) in ROUTES {
        assert!(
            paths.get(*path).and_then(|p| p.get(*method)).is_some(),
            "{method} {path} is missing in openapi.json"
        );
    }
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            assert!(
                ROUTES.contains(&(method.as_str(), path.as_str())),
                "openapi.json describes {method} {path}, which is not a route"
            );
        }
    }
}

#[tokio::test]
async fn every_described_route_is_served() {
    let f = fixture(local()).await;
    for (method, path) in ROUTES {
        let uri = path.replace("{name}", "garage");
        let req = if *method == "post" {
            post(&uri, "{}", None)
        } else if uri == "/api/events" {
            continue; // A stream that does not end; tested below.
        } else {
            get(&uri)
        };
        let (status, _, body) = call(&f.app, req).await;
        assert_ne!(status, StatusCode::NOT_FOUND, "{method} {uri}: {body}");
    }
    let (status, _, body) = call(&f.app, get("/api/nothing")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(error_of(&body).contains("openapi.json"));
}

// Tests for reading.

#[tokio::test]
async fn the_page_carries_the_current_view_inline() {
    let f = fixture(local()).await;
    let (status, headers, body) = call(&f.app, get("/")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    assert!(body.contains("\"name\":\"garage\""), "the view is embedded");
    assert!(!body.contains("/*STATE*/") && !body.contains("/*SCRIPT*/"));
    // The only URL in the page is the SVG namespace, which is a name, not a download.
    let urls = body.replace("http://www.w3.org/2000/svg", "");
    assert!(
        !urls.contains("http://") && !urls.contains("https://"),
        "no external asset"
    );
    assert!(
        body.len() < 100_000,
        "the page is small: {} bytes",
        body.len()
    );
}

#[test]
fn embedded_json_cannot_close_the_script_element() {
    let s = script_json(&serde_json::json!({ "reason": "</script><script>alert(1)" }));
    assert!(!s.contains("</script>"), "{s}");
    let back: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert_eq!(back["reason"], "</script><script>alert(1)");
}

#[tokio::test]
async fn state_sessions_history_and_csv_read_the_store() {
    let f = fixture(local()).await;
    let (status, _, body) = call(&f.app, get("/api/state")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let state: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(state["view"]["loadpoints"][0]["name"], "garage");
    assert!(state["energy"]["today"]["energy_kwh"].is_number(), "{body}");

    let (status, _, body) = call(&f.app, get("/api/history?hours=3")).await;
    assert_eq!(status, StatusCode::OK);
    let h: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        h["site"].as_array().unwrap().len() >= 100,
        "two hours of minutes"
    );

    let (status, _, body) = call(&f.app, get("/api/sessions?limit=5")).await;
    assert_eq!(status, StatusCode::OK);
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(page["total"].is_number());

    let (status, headers, body) = call(&f.app, get("/api/sessions.csv")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(body.starts_with("id,loadpoint,start,end,"));

    for bad in [
        "/api/history?hours=0",
        "/api/history?hours=721",
        "/api/history?hours=abc",
        "/api/sessions?limit=0",
        "/api/sessions?colour=red",
    ] {
        let (status, _, body) = call(&f.app, get(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(!error_of(&body).is_empty());
    }
}

/// The demo's daemon runs a model clock far from the system clock: every "now" of the web
/// (the page's clock, today's energy, the history window, the events) is the daemon's.
#[tokio::test]
async fn the_web_reads_the_daemons_clock_not_the_system_clock() {
    const T: i64 = 1_749_556_800_000; // 2025-06-10 12:00 UTC
    let mut site = FakeSite::new(&["garage"]);
    site.always_plugged = true;
    let options = Options {
        clock: Clock::new(144.0, || T),
        ..local()
    };
    let f = fixture_with(options, site).await;

    let (status, _, body) = call(&f.app, get("/api/state")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let state: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(state["server_unix_ms"], T, "{body}");
    assert_eq!(state["clock_speed"], 144.0, "{body}");
    assert_eq!(state["view"]["at_unix_ms"], T, "{body}");
    for period in ["today", "month"] {
        let e = &state["energy"][period];
        let since = e["since_unix_ms"].as_i64().unwrap();
        assert!(
            since <= T && T - since <= 31 * 86_400_000,
            "{period}: {body}"
        );
        assert!(e["energy_kwh"].as_f64().unwrap() > 0.5, "{period}: {body}");
    }
    let open = &state["sessions"][0];
    assert!(open["end_unix_ms"].is_null(), "{body}");
    assert!(
        open["start_unix_ms"].as_i64().unwrap() >= T - 7_200_000,
        "{body}"
    );

    let (status, _, body) = call(&f.app, get("/api/history?hours=3")).await;
    assert_eq!(status, StatusCode::OK);
    let h: serde_json::Value = serde_json::from_str(&body).unwrap();
    let site = h["site"].as_array().unwrap();
    assert!(site.len() >= 100, "two hours of minutes: {}", site.len());
    assert!(site
        .iter()
        .all(|m| (T - 3 * 3_600_000..=T).contains(&m["t"].as_i64().unwrap())));

    let res = f.app.clone().oneshot(get("/api/events")).await.unwrap();
    let mut body = res.into_body().into_data_stream();
    let chunk = body.next().await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&chunk);
    let data = text
        .lines()
        .find_map(|l| l.strip_prefix("data:"))
        .unwrap_or_else(|| panic!("no data in {text}"));
    let event: serde_json::Value = serde_json::from_str(data.trim()).unwrap();
    assert_eq!(event["server_unix_ms"], T, "{text}");
    assert_eq!(event["at_unix_ms"], T, "{text}");
    assert_eq!(event["loadpoints"][0]["name"], "garage", "{text}");
}

#[tokio::test]
async fn a_damaged_database_is_a_503_that_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.db");
    std::fs::write(&path, b"garbage ".repeat(1000)).unwrap();
    let (_daemon, observer) = hub();
    let (_stop_tx, stop) = watch::channel(false);
    let app = router(observer, path, local(), stop);
    let (status, _, body) = call(&app, get("/api/sessions")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(error_of(&body).contains("broken.db"), "{body}");
    let (status, _, body) = call(&app, get("/api/state")).await;
    assert_eq!(status, StatusCode::OK, "the live view still works");
    assert!(body.contains("broken.db"));
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let f = fixture(local()).await;
    let (status, _, body) = call(&f.app, get("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    for needle in [
        "sunfill_site_power_watts{flow=\"pv\"}",
        "sunfill_site_power_watts{flow=\"grid\"}",
        "sunfill_car_power_watts{loadpoint=\"garage\"}",
        "sunfill_setpoint_amperes{loadpoint=\"garage\"}",
        "sunfill_session_energy_kilowatt_hours{loadpoint=\"garage\"}",
        "sunfill_wallbox_online{loadpoint=\"garage\"} 1",
        "sunfill_session_solar_kilowatt_hours{loadpoint=\"garage\",controller=\"sunfill\"}",
        "sunfill_session_grid_kilowatt_hours{loadpoint=\"garage\",controller=\"classic\"}",
        "sunfill_session_starts{loadpoint=\"garage\",controller=\"classic\"}",
        "sunfill_mqtt_connected 1",
        "# EOF",
    ] {
        assert!(body.contains(needle), "{needle} missing in\n{body}");
    }
}

#[tokio::test]
async fn events_stream_the_view_and_end_on_shutdown() {
    let f = fixture(local()).await;
    let res = f.app.clone().oneshot(get("/api/events")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = res.into_body().into_data_stream();
    let first = body.next().await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&first);
    assert!(text.starts_with("event: view\ndata: {"), "{text}");
    assert!(text.contains("\"garage\""));
    f._stop.send(true).unwrap();
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(chunk) = body.next().await {
            chunk.unwrap();
        }
    })
    .await;
    assert!(end.is_ok(), "the stream ends on shutdown");
}

// Tests for changes and their guards.

#[tokio::test]
async fn a_mode_change_reaches_the_daemon() {
    let mut f = fixture(local()).await;
    let (status, _, body) = call(
        &f.app,
        post("/api/loadpoints/garage/mode", r#"{"mode":"now"}"#, None),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        f.applied.recv().await.unwrap(),
        ("garage".into(), "mode".into(), "now".into())
    );
}

#[tokio::test]
async fn over_the_network_a_change_needs_the_token() {
    let mut f = fixture(remote()).await;
    let uri = "/api/loadpoints/garage/mode";
    let body = r#"{"mode":"minpv"}"#;
    let (status, headers, text) = call(&f.app, post(uri, body, None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
    assert!(error_of(&text).contains("Authorization: Bearer"));
    let (status, _, text) = call(&f.app, post(uri, body, Some("s3cret-tokeN"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(error_of(&text).contains("wrong"));
    assert!(!text.contains("s3cret"), "the token is never echoed");
    assert!(f.applied.try_recv().is_err(), "nothing reached the daemon");
    let (status, _, text) = call(&f.app, post(uri, body, Some("s3cret-token"))).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(f.applied.recv().await.unwrap().2, "minpv");
    // Reads stay open.
    let (status, _, _) = call(&f.app, get("/api/state")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn without_a_configured_token_remote_changes_are_refused() {
    let f = fixture(Options {
        token: None,
        local_only: false,
        ..Options::default()
    })
    .await;
    let (status, _, text) = call(
        &f.app,
        post("/api/loadpoints/garage/mode", r#"{"mode":"pv"}"#, Some("")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(error_of(&text).contains("no web token configured"));
}

#[tokio::test]
async fn on_loopback_a_foreign_host_or_origin_is_refused() {
    let f = fixture(local()).await;
    let req = HttpRequest::get("/api/state")
        .header("host", "attacker.example:7070")
        .body(Body::empty())
        .unwrap();
    let (status, _, _) = call(&f.app, req).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "DNS rebinding");
    let req = HttpRequest::post("/api/loadpoints/garage/mode")
        .header("host", "127.0.0.1:7070")
        .header("origin", "http://attacker.example")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"mode":"now"}"#))
        .unwrap();
    let (status, _, text) = call(&f.app, req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(error_of(&text).contains("cross-site"));
    let req = HttpRequest::post("/api/loadpoints/garage/mode")
        .header("host", "localhost:7070")
        .header("origin", "http://localhost:7070")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"mode":"now"}"#))
        .unwrap();
    let (status, _, text) = call(&f.app, req).await;
    assert_eq!(status, StatusCode::OK, "{text}");
}

#[tokio::test]
async fn malformed_oversized_and_invalid_bodies_get_a_message() {
    let f = fixture(local()).await;
    let uri = "/api/loadpoints/garage/mode";
    let cases: Vec<(HttpRequest<Body>, StatusCode, &str)> = vec![
        (
            post(uri, "{\"mode\":", None),
            StatusCode::BAD_REQUEST,
            "invalid JSON",
        ),
        (
            post(uri, r#"{"mode":"turbo"}"#, None),
            StatusCode::BAD_REQUEST,
            "expected one of off, pv",
        ),
        (
            post(uri, r#"{"mode":"pv","x":1}"#, None),
            StatusCode::BAD_REQUEST,
            "unknown field",
        ),
        (
            post(uri, &format!(r#"{{"mode":"{}"}}"#, "p".repeat(5000)), None),
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than 4096 bytes",
        ),
        (
            HttpRequest::post(uri)
                .header("host", "127.0.0.1")
                .header("content-type", "text/plain")
                .body(Body::from(r#"{"mode":"pv"}"#))
                .unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type: application/json",
        ),
        (
            post("/api/loadpoints/carport/mode", r#"{"mode":"pv"}"#, None),
            StatusCode::NOT_FOUND,
            "the loadpoints are: garage",
        ),
        (
            post(
                "/api/loadpoints/garage/limits",
                r#"{"max_current":10.55}"#,
                None,
            ),
            StatusCode::BAD_REQUEST,
            "at most one decimal",
        ),
        (
            post("/api/loadpoints/garage/limits", "{}", None),
            StatusCode::BAD_REQUEST,
            "at least one of",
        ),
        (
            post(
                "/api/loadpoints/garage/limits",
                r#"{"min_current":5}"#,
                None,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "nothing changed",
        ),
    ];
    for (req, status, needle) in cases {
        let (got, headers, body) = call(&f.app, req).await;
        assert_eq!(got, status, "{body}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        let msg = error_of(&body);
        assert!(msg.contains(needle), "{needle:?} not in {msg:?}");
    }
}

#[tokio::test]
async fn limits_are_applied_in_an_order_the_daemon_accepts() {
    let mut f = fixture(local()).await;
    // Lower the maximum below the current minimum's neighbourhood, then raise both.
    let (status, _, body) = call(
        &f.app,
        post(
            "/api/loadpoints/garage/limits",
            r#"{"min_current":6,"max_current":8}"#,
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = call(
        &f.app,
        post(
            "/api/loadpoints/garage/limits",
            r#"{"min_current":10,"max_current":12.5,"fixed_current":11}"#,
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut got = Vec::new();
    while let Ok(c) = f.applied.try_recv() {
        got.push(format!("{}={}", c.1, c.2));
    }
    assert_eq!(
        got,
        [
            "min_current=6.0",
            "max_current=8.0",
            "max_current=12.5",
            "min_current=10.0",
            "fixed_current=11.0"
        ]
    );
}

// Tests for the helpers.

#[test]
fn tokens_compare_by_content_only() {
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"abcd"));
    assert!(constant_time_eq(b"", b""));
}

#[test]
fn loopback_hosts_are_recognised() {
    for h in [
        "localhost",
        "localhost:7070",
        "127.0.0.1",
        "127.0.0.1:7070",
        "[::1]:7070",
        "[::1]",
    ] {
        assert!(is_loopback_host(h), "{h}");
    }
    for h in [
        "example.com",
        "192.168.1.2:7070",
        "[fe80::1]:80",
        "localhost.evil.com",
    ] {
        assert!(!is_loopback_host(h), "{h}");
    }
}

#[test]
fn options_never_print_the_token() {
    assert!(!format!("{:?}", remote()).contains("s3cret"));
}
