//! The demo's in-process MQTT broker (`sunfill::demo::broker`) against independent peers:
//! Mosquitto's own clients (`mosquitto_pub`, `mosquitto_sub` from Debian's mosquitto-clients),
//! rumqttc clients, and raw sockets for what a well-behaved client never sends.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use bytes::BytesMut;
use common::WAIT;
use rumqttc::{AsyncClient, Event, EventLoop, LastWill, MqttOptions, Packet, QoS};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;
use sunfill::demo::broker;

async fn start() -> SocketAddr {
    broker::start(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap()
        .addr
}

fn pub_cmd(addr: SocketAddr, args: &[&str]) {
    let st = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &addr.port().to_string()])
        .args(args)
        .status()
        .expect("mosquitto_pub (package mosquitto-clients)");
    assert!(st.success(), "mosquitto_pub {args:?}: {st}");
}

/// Runs `mosquitto_sub` until it has printed `count` messages (or waited `wait_s` seconds
/// with nothing new); its lines.
fn sub_cmd(addr: SocketAddr, filter: &str, count: u32, wait_s: u32) -> std::process::Child {
    Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &addr.port().to_string()])
        .args(["-t", filter, "-v", "-q", "1"])
        .args(["-C", &count.to_string(), "-W", &wait_s.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto_sub (package mosquitto-clients)")
}

fn lines(child: std::process::Child) -> Vec<String> {
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn client(addr: SocketAddr, id: &str, will: Option<LastWill>) -> (AsyncClient, EventLoop) {
    let mut o = MqttOptions::new(id, "127.0.0.1", addr.port());
    o.set_keep_alive(Duration::from_secs(5));
    if let Some(w) = will {
        o.set_last_will(w);
    }
    AsyncClient::new(o, 100)
}

/// Polls until a publish arrives; (topic, payload, retain).
async fn next_publish(ev: &mut EventLoop) -> (String, String, bool) {
    tokio::time::timeout(WAIT, async {
        loop {
            if let Event::Incoming(Packet::Publish(p)) = ev.poll().await.unwrap() {
                let text = String::from_utf8(p.payload.to_vec()).unwrap();
                return (p.topic, text, p.retain);
            }
        }
    })
    .await
    .expect("no message arrived")
}

/// Polls until the SUBACK.
async fn subscribed(c: &AsyncClient, ev: &mut EventLoop, filter: &str) {
    c.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
    tokio::time::timeout(WAIT, async {
        loop {
            if let Event::Incoming(Packet::SubAck(_)) = ev.poll().await.unwrap() {
                return;
            }
        }
    })
    .await
    .expect("no SUBACK");
}

/// A raw socket that sent a CONNECT; its CONNACK's four bytes (an error if the broker closed
/// the connection instead).
fn try_connect(
    addr: SocketAddr,
    id: &str,
    keep_alive_s: u16,
    will: Option<LastWill>,
) -> std::io::Result<(TcpStream, [u8; 4])> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut c = rumqttc::Connect::new(id);
    c.keep_alive = keep_alive_s;
    c.last_will = will;
    let mut buf = BytesMut::new();
    c.write(&mut buf).unwrap();
    s.write_all(&buf)?;
    let mut ack = [0u8; 4];
    s.read_exact(&mut ack)?;
    Ok((s, ack))
}

fn raw_connect(addr: SocketAddr, id: &str, keep_alive_s: u16, will: Option<LastWill>) -> TcpStream {
    let (s, ack) = try_connect(addr, id, keep_alive_s, will).unwrap();
    assert_eq!(ack, [0x20, 2, 0, 0], "CONNACK, accepted");
    s
}

/// The broker closed `s`: a read gives end of file or a reset, not a timeout.
fn closed(mut s: TcpStream) -> bool {
    let mut b = [0u8; 64];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_clients_publish_and_subscribe_with_retained_messages() {
    let addr = start().await;
    pub_cmd(addr, &["-t", "site/pv", "-m", "4.2", "-r", "-q", "1"]);
    pub_cmd(addr, &["-t", "site/house", "-m", "0.6", "-r"]);
    // A subscriber gets both retained messages at once, then a live one at QoS 2.
    let sub = sub_cmd(addr, "site/#", 3, 60);
    tokio::time::sleep(Duration::from_millis(500)).await;
    pub_cmd(addr, &["-t", "site/grid", "-m", "-1.1", "-q", "2"]);
    let mut got = tokio::task::spawn_blocking(move || lines(sub))
        .await
        .unwrap();
    got.sort();
    assert_eq!(got, ["site/grid -1.1", "site/house 0.6", "site/pv 4.2"]);
    // An empty retained message deletes the retained one.
    pub_cmd(addr, &["-t", "site/pv", "-n", "-r"]);
    let sub = sub_cmd(addr, "site/+", 2, 2);
    let got = tokio::task::spawn_blocking(move || lines(sub))
        .await
        .unwrap();
    assert_eq!(got, ["site/house 0.6"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_sees_retain_flags_qos_and_the_will_only_of_a_lost_client() {
    let addr = start().await;
    let (s, mut sev) = client(addr, "observer", None);
    subscribed(&s, &mut sev, "t/#").await;
    let (p, mut pev) = client(addr, "publisher", None);
    p.publish("t/kept", QoS::AtLeastOnce, true, "k")
        .await
        .unwrap();
    let pump = tokio::spawn(async move { while pev.poll().await.is_ok() {} });
    // Live: no retain flag.
    assert_eq!(
        next_publish(&mut sev).await,
        ("t/kept".into(), "k".into(), false)
    );
    // A later subscriber gets it with the flag.
    let (s2, mut s2ev) = client(addr, "late", None);
    subscribed(&s2, &mut s2ev, "t/+").await;
    assert_eq!(
        next_publish(&mut s2ev).await,
        ("t/kept".into(), "k".into(), true)
    );

    // A client that says DISCONNECT leaves no will.
    let will = |m: &str| {
        Some(LastWill::new(
            "t/will",
            m.to_string(),
            QoS::AtLeastOnce,
            false,
        ))
    };
    let (clean, mut cev) = client(addr, "clean", will("clean"));
    let clean_task = tokio::spawn(async move { while cev.poll().await.is_ok() {} });
    tokio::time::sleep(Duration::from_millis(300)).await;
    clean.disconnect().await.unwrap();
    tokio::time::timeout(WAIT, clean_task)
        .await
        .unwrap()
        .unwrap();
    // One whose connection just ends does.
    let (_lost, mut lev) = client(addr, "lost", will("lost"));
    let lost_task = tokio::spawn(async move { while lev.poll().await.is_ok() {} });
    tokio::time::sleep(Duration::from_millis(300)).await;
    lost_task.abort(); // drops its socket without DISCONNECT
    assert_eq!(
        next_publish(&mut sev).await,
        ("t/will".into(), "lost".into(), false)
    );
    pump.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_closes_only_that_connection() {
    let addr = start().await;
    // Not MQTT at all.
    let mut junk = TcpStream::connect(addr).unwrap();
    junk.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    junk.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(closed(junk));
    // A PUBLISH to a topic with a wildcard.
    let mut s = raw_connect(addr, "bad", 30, None);
    let mut buf = BytesMut::new();
    rumqttc::Publish::new("a/#", QoS::AtMostOnce, "x")
        .write(&mut buf)
        .unwrap();
    s.write_all(&buf).unwrap();
    assert!(closed(s));
    // The broker still serves others.
    let (c, mut ev) = client(addr, "after", None);
    subscribed(&c, &mut ev, "ok").await;
    c.publish("ok", QoS::AtMostOnce, false, "yes")
        .await
        .unwrap();
    assert_eq!(
        next_publish(&mut ev).await,
        ("ok".into(), "yes".into(), false)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_dropped_and_a_reused_client_id_takes_over() {
    let addr = start().await;
    let (s, mut sev) = client(addr, "observer", None);
    subscribed(&s, &mut sev, "w").await;
    let will = Some(LastWill::new("w", "silent", QoS::AtMostOnce, false));
    // Keep-alive 1 s, then nothing: dropped after 1.5 s, with its will.
    let silent = raw_connect(addr, "silent", 1, will);
    assert_eq!(
        next_publish(&mut sev).await,
        ("w".into(), "silent".into(), false)
    );
    assert!(closed(silent));
    // The same client id again: the first connection is closed.
    let first = raw_connect(addr, "twice", 0, None);
    let _second = raw_connect(addr, "twice", 0, None);
    assert!(closed(first));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_are_closed_until_one_ends() {
    let addr = start().await;
    let mut held: Vec<TcpStream> = (0..broker::MAX_CONNECTIONS)
        .map(|i| raw_connect(addr, &format!("c{i}"), 0, None))
        .collect();
    let extra = TcpStream::connect(addr).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    assert!(closed(extra), "a connection over the limit was kept");
    // One ends; its place is free again (the count is given back as its task ends).
    drop(held.pop());
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Ok((_s, ack)) = try_connect(addr, "again", 0, None) {
            assert_eq!(ack, [0x20, 2, 0, 0]);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no place came free");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
