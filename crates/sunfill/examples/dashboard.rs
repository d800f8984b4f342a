//! The dashboard without the daemon: a fake site (`sunfill::web::testing`) with twelve hours of
//! recorded history, live views every second and a store in a temporary directory.
//!
//! ```text
//! cargo run -p sunfill --example dashboard [-- PORT]
//! ```
//! then open <http://127.0.0.1:7070/>. Mode and limit changes go to the fake site, which
//! validates them with the MQTT command parser, as the daemon does.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use sunfill::store::{self, Store};
use sunfill::web::{self, testing};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p
            .parse()
            .map_err(|_| anyhow::anyhow!("PORT must be a number, got {p}"))?,
        None => 7070,
    };
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("sunfill.db");
    let store = Store::open(&path)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let mut site = testing::FakeSite::new(&["garage"]);
    testing::fill_store(&store, &mut site, now - 12 * 3_600_000, now, 10_000)?;

    let (daemon, observer) = sunfill::hub::hub();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let fake = tokio::spawn(testing::run_fake_daemon(
        web::Clock::system(),
        daemon,
        site,
        Duration::from_secs(1),
        None,
        stopped(stop_rx.clone()),
    ));
    let recorder = tokio::spawn(store::record(
        store,
        observer.clone(),
        stopped(stop_rx.clone()),
    ));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!(
        "dashboard: http://{}/  (Ctrl-C to stop)",
        listener.local_addr()?
    );
    let options = web::Options {
        token: None,
        local_only: true,
        ..web::Options::default()
    };
    let server = tokio::spawn(web::serve(
        listener,
        observer,
        path,
        options,
        stopped(stop_rx),
    ));
    tokio::signal::ctrl_c().await?;
    stop_tx.send(true)?;
    server.await??;
    recorder.await??;
    fake.await?;
    Ok(())
}
