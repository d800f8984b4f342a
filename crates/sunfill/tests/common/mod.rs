//! Helpers shared by the integration tests (soak, security, daemon, mqtt): free ports, a child
//! process killed on drop, the simulated wallbox on loopback Modbus TCP, a Mosquitto (any
//! listener, or TLS from our `certs init`) that can be stopped and restarted on its port and
//! logs to a file, and bounded waits.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use sunfill::certs::{self, InitOptions};
use sunfill::heidelberg::server::{self, Faults, SimHandle};
use sunfill_core::Deciamps;
use sunfill_sim::wallbox::{Event, Script, WallboxConfig};

/// The bound of every wait: long enough for a loaded CI machine, short enough to fail.
pub const WAIT: Duration = Duration::from_secs(90);

pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        let mut given = GIVEN.lock().unwrap();
        if p != 1883 && !given.contains(&p) {
            given.push(p);
            return p;
        }
    }
}

pub use sunfill::bench_mqtt::running_as_root;

/// A child process killed on drop.
pub struct Proc(pub Option<Child>);

impl Proc {
    pub fn pid(&self) -> u32 {
        self.0.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// `kill -9` and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits (bounded, without blocking the runtime) for the process to exit; its exit status.
    pub async fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(s) = self.0.as_mut().unwrap().try_wait().unwrap() {
                self.0 = None;
                return s;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the process did not exit"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then waits (bounded) for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let st = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(s) = self.0.as_mut().unwrap().try_wait().unwrap() {
                self.0 = None;
                return s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the process did not exit"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Certificates from `certs init` for `localhost`/127.0.0.1 with a client `sunfill`.
pub fn pki(dir: &Path) -> PathBuf {
    certs::init(&InitOptions {
        dir: dir.join("pki"),
        host: "localhost".into(),
        ips: vec!["127.0.0.1".parse().unwrap()],
        clients: vec!["sunfill".into()],
        days: 30,
    })
    .unwrap()
    .dir
}

/// A Mosquitto owned by a test, with one listener on a free loopback port; killed on drop. It
/// logs everything to `mosquitto-PORT.log` beside its config, and a failure to start shows it.
pub struct Mosquitto {
    proc: Proc,
    conf: PathBuf,
    log: PathBuf,
    pub port: u16,
    /// The PKI of [`Mosquitto::start`] (`certs init` in `dir/pki`).
    pub pki: PathBuf,
}

impl Mosquitto {
    /// A TLS listener with a new PKI from `certs init` in `dir/pki`; `extra` lines go into its
    /// config.
    pub fn start(dir: &Path, extra: &str) -> Mosquitto {
        let pki = pki(dir);
        let body = format!(
            "cafile {0}/ca.crt\ncertfile {0}/broker.crt\nkeyfile {0}/broker.key\n{extra}",
            pki.display()
        );
        Mosquitto::listener(dir, &body, pki)
    }

    /// A listener with the config lines `body` (TLS files, authentication); `pki` is what
    /// [`Mosquitto::ca`] refers to.
    pub fn listener(dir: &Path, body: &str, pki: PathBuf) -> Mosquitto {
        let port = free_port();
        let conf = dir.join(format!("mosquitto-{port}.conf"));
        let user = if running_as_root() { "user root\n" } else { "" };
        std::fs::write(
            &conf,
            format!(
                "{user}persistence false\nlog_dest stderr\nlog_type all\n\
                 listener {port} 127.0.0.1\n{body}\n"
            ),
        )
        .unwrap();
        let mut m = Mosquitto {
            proc: Proc(None),
            log: dir.join(format!("mosquitto-{port}.log")),
            conf,
            port,
            pki,
        };
        m.restart();
        m
    }

    /// The broker's URL with `scheme` (`mqtt` or `mqtts`).
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Everything the broker logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the broker (as a crash would) and leaves it down.
    pub fn kill(&mut self) {
        self.proc.kill9();
    }

    /// (Re)starts the broker on the same port and waits (bounded) until it listens.
    pub fn restart(&mut self) {
        self.proc.kill9();
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .unwrap();
            let child = Command::new("mosquitto")
                .arg("-c")
                .arg(&self.conf)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect(
                    "mosquitto must be installed (apt-get install mosquitto mosquitto-clients)",
                );
            self.proc = Proc(Some(child));
            while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
                // The port may still be in TIME_WAIT from the killed broker: start again.
                if let Some(Some(_)) = self.proc.0.as_mut().map(|c| c.try_wait().ok().flatten()) {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "mosquitto did not listen on {}: {}",
                    self.port,
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            // The port answered: make sure it is our broker, still running.
            let ours = matches!(self.proc.0.as_mut().map(|c| c.try_wait()), Some(Ok(None)));
            if ours && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "mosquitto did not start on {}: {}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn ca(&self) -> PathBuf {
        self.pki.join("ca.crt")
    }

    pub fn tls_args(&self) -> Vec<String> {
        vec![
            "-h".into(),
            "127.0.0.1".into(),
            "-p".into(),
            self.port.to_string(),
            "--cafile".into(),
            self.ca().display().to_string(),
        ]
    }

    /// The retained payload of `topic`, read anonymously over TLS.
    pub async fn retained(&self, topic: &str) -> Option<String> {
        retained(&self.tls_args(), topic).await
    }

    /// Publishes one message anonymously over TLS.
    pub async fn publish(&self, topic: &str, payload: &str) {
        publish(&self.tls_args(), topic, payload).await
    }
}

/// The retained payload of `topic` (mosquitto_sub with the connection `args`, at most 5 s).
pub async fn retained(args: &[String], topic: &str) -> Option<String> {
    let out = tokio::process::Command::new("mosquitto_sub")
        .args(args)
        .args(["-C", "1", "-W", "5", "-t", topic])
        .output()
        .await
        .expect("mosquitto_sub (package mosquitto-clients)");
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// Publishes one message, QoS 1, not retained (mosquitto_pub with the connection `args`).
pub async fn publish(args: &[String], topic: &str, payload: &str) {
    let st = tokio::process::Command::new("mosquitto_pub")
        .args(args)
        .args(["-q", "1", "-t", topic, "-m", payload])
        .status()
        .await
        .expect("mosquitto_pub (package mosquitto-clients)");
    assert!(st.success(), "mosquitto_pub {topic} {payload} failed");
}

/// Starts `sunfill` with `args`, stderr appended to `log`.
pub fn start_sunfill(args: &[String], log: &Path, env: &[(&str, &str)]) -> Proc {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Proc(Some(
        Command::new(env!("CARGO_BIN_EXE_sunfill"))
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    ))
}

/// Waits until `f` holds (a bound on a failing test, not a timing check).
pub async fn until(what: &str, log: &Path, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {WAIT:?}; sunfill's log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// VmRSS of a process, KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The simulated box (unit 1, answering at once) with a 3-phase car plugged in, served on a
/// loopback Modbus TCP port.
pub async fn wallbox() -> (SimHandle, String) {
    let sim = SimHandle::new(
        vec![WallboxConfig {
            unit: 1,
            boot_ms: 0,
            ..WallboxConfig::default()
        }],
        Script::from_events(vec![(
            0,
            Event::Plug {
                phases: 3,
                max: Deciamps(160),
            },
        )]),
        Faults::default(),
        1,
    );
    sim.spawn_ticker();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("tcp://{}", l.local_addr().unwrap());
    tokio::spawn(server::serve_listener(l, sim.clone(), false));
    (sim, url)
}
