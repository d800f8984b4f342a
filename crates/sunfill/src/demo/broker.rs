//! The demo's MQTT broker: MQTT 3.1.1 over plain TCP, on loopback, inside the demo's process.
//!
//! `sunfill demo` must run with nothing else installed, so it brings its own broker. It speaks
//! what the demo's clients (sunfill, the simulated site, and `mosquitto_sub` for the curious)
//! use, through rumqttc's own MQTT 3.1.1 packet codec:
//!
//! - CONNECT / CONNACK (every session is clean: nothing is kept across connections), PINGREQ,
//!   DISCONNECT, the keep-alive (a client silent for 1.5 x its keep-alive is dropped);
//! - SUBSCRIBE / UNSUBSCRIBE with `+` and `#` filters, granted at QoS 0 or 1;
//! - PUBLISH at QoS 0, 1 and 2, forwarded to every matching subscription at the lower of the two
//!   QoS levels (at most 1), each message once per client;
//! - retained messages (an empty retained payload deletes one), sent with the retain flag on
//!   subscribe;
//! - the will of a client whose connection ends without DISCONNECT.
//!
//! It is not a broker for a site: no TLS, no authentication, no persistence and no
//! redelivery. Those are Mosquitto's job (`sunfill run` connects to it). Bad input from a
//! client closes only that client's connection.

use bytes::BytesMut;
use rumqttc::{
    ConnAck, ConnectReturnCode, LastWill, Packet, PubAck, PubComp, PubRec, Publish, QoS, SubAck,
    SubscribeReasonCode, UnsubAck,
};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// The largest packet accepted or sent (the demo's payloads are a few hundred bytes).
const MAX_PACKET: usize = 256 * 1024;
/// Connections served at once; further ones are closed at once.
pub const MAX_CONNECTIONS: usize = 64;
/// How long a new connection may take to send its CONNECT.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages queued for one client before further ones are dropped for it (a client that does
/// not read must not hold up the others or grow the broker's memory).
const QUEUE: usize = 4096;

/// A running broker.
#[derive(Debug)]
pub struct Running {
    /// The address it listens on (the port is the one the system picked for port 0).
    pub addr: SocketAddr,
}

/// The broker's state (who is subscribed to what, the retained messages), shared by its
/// connections.
#[derive(Clone, Default)]
pub struct Broker {
    router: Arc<Mutex<Router>>,
}

impl Broker {
    /// Serves one client on `stream` until its connection ends (`peer` names it in the log).
    pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(&self, stream: S, peer: &str) {
        Connection::serve(stream, peer, &self.router).await;
    }
}

/// Binds `addr` and serves MQTT on it from a task of the current runtime until the runtime
/// stops.
pub async fn start(addr: SocketAddr) -> std::io::Result<Running> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let router = Broker::default().router;
    tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("demo broker: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let router = router.clone();
            {
                let mut r = lock(&router);
                if r.connections >= MAX_CONNECTIONS {
                    tracing::warn!("demo broker: {peer}: more than {MAX_CONNECTIONS} connections");
                    continue;
                }
                r.connections += 1;
            }
            tokio::spawn(async move {
                let _slot = Slot(router.clone());
                Connection::serve(stream, &peer.to_string(), &router).await;
            });
        }
    });
    Ok(Running { addr })
}

/// A connection's place in the count, given back however the connection ends.
struct Slot(Arc<Mutex<Router>>);

impl Drop for Slot {
    fn drop(&mut self) {
        let mut r = lock(&self.0);
        r.connections = r.connections.saturating_sub(1);
    }
}

/// Who is subscribed to what, and the retained messages.
#[derive(Default)]
struct Router {
    connections: usize,
    next_id: u64,
    /// By connection id.
    clients: HashMap<u64, Client>,
    /// By topic.
    retained: BTreeMap<String, Publish>,
}

struct Client {
    name: String,
    filters: Vec<(String, QoS)>,
    tx: mpsc::Sender<Publish>,
}

fn lock(router: &Mutex<Router>) -> std::sync::MutexGuard<'_, Router> {
    // A panic while the lock is held cannot leave the maps half-updated in a way that matters
    // to the demo, so a poisoned lock is used as it is.
    router.lock().unwrap_or_else(|p| p.into_inner())
}

/// The lower of two QoS levels (rumqttc's `QoS` is ordered 0 < 1 < 2, but only `PartialOrd`).
fn min_qos(a: QoS, b: QoS) -> QoS {
    if a <= b {
        a
    } else {
        b
    }
}

impl Router {
    /// Delivers `msg` to every client with a matching filter (once per client, at the highest
    /// QoS of its matching filters, at most the message's own), and keeps or deletes it as
    /// the retained message of its topic.
    fn route(&mut self, mut msg: Publish) {
        if msg.retain {
            if msg.payload.is_empty() {
                self.retained.remove(&msg.topic);
            } else {
                self.retained.insert(msg.topic.clone(), msg.clone());
            }
        }
        // Live messages go out without the retain flag (MQTT 3.1.1, 3.3.1.3).
        msg.retain = false;
        msg.dup = false;
        for client in self.clients.values() {
            let granted = client
                .filters
                .iter()
                .filter(|(f, _)| topic_matches(&msg.topic, f))
                .map(|(_, q)| *q)
                .reduce(|a, b| if a >= b { a } else { b });
            if let Some(q) = granted {
                let mut out = msg.clone();
                out.qos = min_qos(msg.qos, q);
                if client.tx.try_send(out).is_err() {
                    tracing::debug!("demo broker: {}: queue full, message dropped", client.name);
                }
            }
        }
    }
}

/// Why a connection ended.
enum End {
    /// The client said DISCONNECT: no will.
    Clean,
    /// Another connection took over its client id: no will.
    TakenOver,
    /// The socket closed or failed, the keep-alive ran out, or the client broke the protocol:
    /// its will is published.
    Lost(String),
}

struct Connection<S> {
    id: u64,
    name: String,
    stream: S,
    buf: BytesMut,
    out: BytesMut,
    next_pkid: u16,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    async fn serve(stream: S, peer: &str, router: &Mutex<Router>) {
        let mut conn = Connection {
            id: 0,
            name: peer.to_string(),
            stream,
            buf: BytesMut::with_capacity(4096),
            out: BytesMut::with_capacity(4096),
            next_pkid: 0,
        };
        let connect = match tokio::time::timeout(CONNECT_TIMEOUT, conn.first_packet()).await {
            Ok(Ok(Packet::Connect(c))) => c,
            Ok(Ok(other)) => {
                tracing::debug!("demo broker: {peer}: expected CONNECT, got {other:?}");
                return;
            }
            Ok(Err(e)) => {
                tracing::debug!("demo broker: {peer}: {e}");
                return;
            }
            Err(_) => {
                tracing::debug!("demo broker: {peer}: no CONNECT within {CONNECT_TIMEOUT:?}");
                return;
            }
        };
        let refuse = if connect.protocol != rumqttc::Protocol::V4 {
            Some(ConnectReturnCode::RefusedProtocolVersion)
        } else if connect.client_id.is_empty() && !connect.clean_session {
            Some(ConnectReturnCode::BadClientId)
        } else {
            None
        };
        if let Some(code) = refuse {
            let _ = conn.send(Packet::ConnAck(ConnAck::new(code, false))).await;
            return;
        }
        let (tx, mut rx) = mpsc::channel(QUEUE);
        {
            let mut r = lock(router);
            r.next_id += 1;
            conn.id = r.next_id;
            conn.name = if connect.client_id.is_empty() {
                format!("{peer} (no client id)")
            } else {
                // A second connection with the same client id takes over (3.1.4-2).
                r.clients.retain(|_, c| c.name != connect.client_id);
                connect.client_id.clone()
            };
            r.clients.insert(
                conn.id,
                Client {
                    name: conn.name.clone(),
                    filters: Vec::new(),
                    tx,
                },
            );
        }
        let end = match conn
            .send(Packet::ConnAck(ConnAck::new(
                ConnectReturnCode::Success,
                false,
            )))
            .await
        {
            Ok(()) => conn.run(router, &mut rx, connect.keep_alive).await,
            Err(e) => End::Lost(e.to_string()),
        };
        let mut r = lock(router);
        r.clients.remove(&conn.id);
        match end {
            End::Clean => tracing::debug!("demo broker: {} disconnected", conn.name),
            End::TakenOver => tracing::debug!("demo broker: {} taken over", conn.name),
            End::Lost(why) => {
                tracing::debug!("demo broker: {} lost: {why}", conn.name);
                if let Some(will) = connect.last_will {
                    r.route(will_message(will));
                }
            }
        }
    }

    /// Reads until one whole packet is buffered.
    async fn first_packet(&mut self) -> Result<Packet, String> {
        loop {
            if let Some(p) = self.parse()? {
                return Ok(p);
            }
            self.fill().await?;
        }
    }

    /// The next whole packet in the buffer, if there is one.
    fn parse(&mut self) -> Result<Option<Packet>, String> {
        match Packet::read(&mut self.buf, MAX_PACKET) {
            Ok(p) => Ok(Some(p)),
            Err(rumqttc::Error::InsufficientBytes(_)) => Ok(None),
            Err(e) => Err(format!("bad packet: {e}")),
        }
    }

    /// Reads more bytes from the socket (cancel-safe).
    async fn fill(&mut self) -> Result<(), String> {
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) => Err("connection closed without DISCONNECT".into()),
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn send(&mut self, p: Packet) -> Result<(), String> {
        self.out.clear();
        p.write(&mut self.out, MAX_PACKET)
            .map_err(|e| format!("cannot encode {p:?}: {e}"))?;
        self.stream
            .write_all(&self.out)
            .await
            .map_err(|e| e.to_string())
    }

    /// Sends a message to the client, with a packet id of this connection at QoS 1.
    async fn deliver(&mut self, mut msg: Publish) -> Result<(), String> {
        if msg.qos != QoS::AtMostOnce {
            // Ids 1..=65535 in turn; the broker keeps no message waiting for its PUBACK.
            self.next_pkid = self.next_pkid.checked_add(1).unwrap_or(1);
            msg.pkid = self.next_pkid;
        }
        self.send(Packet::Publish(msg)).await
    }

    async fn run(
        &mut self,
        router: &Mutex<Router>,
        rx: &mut mpsc::Receiver<Publish>,
        keep_alive_s: u16,
    ) -> End {
        // A client may be silent for 1.5 x its keep-alive (3.1.2.10); 0 means no limit.
        let grace = (keep_alive_s > 0).then(|| Duration::from_millis(1500 * keep_alive_s as u64));
        let mut deadline = grace.map(|g| tokio::time::Instant::now() + g);
        loop {
            // Whole packets already buffered first.
            loop {
                match self.parse() {
                    Ok(Some(p)) => {
                        if let Some(g) = grace {
                            deadline = Some(tokio::time::Instant::now() + g);
                        }
                        match self.handle(p, router).await {
                            Ok(None) => {}
                            Ok(Some(end)) => return end,
                            Err(e) => return End::Lost(e),
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return End::Lost(e),
                }
            }
            let expiry = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = self.fill() => if let Err(e) = r { return End::Lost(e) },
                msg = rx.recv() => match msg {
                    Some(msg) => {
                        if let Err(e) = self.deliver(msg).await {
                            return End::Lost(e);
                        }
                    }
                    None => return End::TakenOver,
                },
                () = expiry => {
                    return End::Lost(format!("silent for 1.5 x its keep-alive of {keep_alive_s} s"))
                }
            }
        }
    }

    /// Acts on one packet from the client; `Some` ends the connection.
    async fn handle(&mut self, p: Packet, router: &Mutex<Router>) -> Result<Option<End>, String> {
        match p {
            Packet::Publish(msg) => {
                if !valid_topic(&msg.topic) {
                    return Err(format!("PUBLISH to the invalid topic {:?}", msg.topic));
                }
                let (qos, pkid) = (msg.qos, msg.pkid);
                lock(router).route(msg);
                match qos {
                    QoS::AtMostOnce => {}
                    QoS::AtLeastOnce => self.send(Packet::PubAck(PubAck::new(pkid))).await?,
                    QoS::ExactlyOnce => self.send(Packet::PubRec(PubRec::new(pkid))).await?,
                }
            }
            Packet::PubRel(rel) => self.send(Packet::PubComp(PubComp::new(rel.pkid))).await?,
            Packet::Subscribe(sub) => {
                let mut codes = Vec::with_capacity(sub.filters.len());
                let mut retained = Vec::new();
                {
                    let mut r = lock(router);
                    for f in &sub.filters {
                        if !valid_filter(&f.path) {
                            codes.push(SubscribeReasonCode::Failure);
                            continue;
                        }
                        let (filter, qos) = (f.path.clone(), min_qos(f.qos, QoS::AtLeastOnce));
                        codes.push(SubscribeReasonCode::Success(qos));
                        retained.extend(
                            r.retained
                                .values()
                                .filter(|m| topic_matches(&m.topic, &filter))
                                .map(|m| {
                                    let mut m = m.clone();
                                    m.qos = min_qos(m.qos, qos);
                                    m
                                }),
                        );
                        if let Some(c) = r.clients.get_mut(&self.id) {
                            // A new subscription to the same filter replaces the old (3.8.4-3).
                            c.filters.retain(|(f, _)| *f != filter);
                            c.filters.push((filter, qos));
                        }
                    }
                }
                self.send(Packet::SubAck(SubAck::new(sub.pkid, codes)))
                    .await?;
                for m in retained {
                    self.deliver(m).await?;
                }
            }
            Packet::Unsubscribe(unsub) => {
                if let Some(c) = lock(router).clients.get_mut(&self.id) {
                    c.filters.retain(|(f, _)| !unsub.topics.contains(f));
                }
                self.send(Packet::UnsubAck(UnsubAck::new(unsub.pkid)))
                    .await?;
            }
            Packet::PingReq => self.send(Packet::PingResp).await?,
            Packet::Disconnect => return Ok(Some(End::Clean)),
            // Acknowledgements of what the broker sent: it does not redeliver, so nothing to do.
            Packet::PubAck(_) | Packet::PubRec(_) | Packet::PubComp(_) => {}
            other @ (Packet::Connect(_)
            | Packet::ConnAck(_)
            | Packet::SubAck(_)
            | Packet::UnsubAck(_)
            | Packet::PingResp) => {
                return Err(format!("a client may not send {other:?}"));
            }
        }
        Ok(None)
    }
}

/// A topic a client may publish to: not empty, no wildcard, no NUL (MQTT 3.1.1, 4.7.3 and 1.5.3).
fn valid_topic(topic: &str) -> bool {
    !topic.is_empty() && !topic.contains(['+', '#', '\0'])
}

/// A filter a client may subscribe to: not empty, no NUL, `+` only as a whole level and `#` only
/// as the whole last level (4.7.1).
fn valid_filter(filter: &str) -> bool {
    let levels: Vec<&str> = filter.split('/').collect();
    !filter.is_empty()
        && !filter.contains('\0')
        && levels.iter().enumerate().all(|(i, l)| {
            let last = i + 1 == levels.len();
            (!l.contains('+') || *l == "+") && (!l.contains('#') || (*l == "#" && last))
        })
}

/// Whether `topic` matches `filter` (4.7): `+` is one level, a final `#` is that level and all
/// below it (`a/#` also matches `a`), and a filter starting with a wildcard does not match
/// topics starting with `$` (4.7.2). (rumqttc's own `matches` slices the topic's first byte and
/// panics on a topic that starts with a multi-byte character: found by the fuzz target.)
fn topic_matches(topic: &str, filter: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut topic_levels = topic.split('/');
    for f in filter.split('/') {
        if f == "#" {
            return true;
        }
        match topic_levels.next() {
            Some(t) if f == "+" || f == t => {}
            _ => return false,
        }
    }
    topic_levels.next().is_none()
}

fn will_message(will: LastWill) -> Publish {
    let mut p = Publish::from_bytes(will.topic, will.qos, will.message);
    p.retain = will.retain;
    p
}

#[cfg(test)]
mod tests {
    use super::{topic_matches, valid_filter, valid_topic};

    #[test]
    fn topics_match_filters_as_mqtt_3_1_1_says() {
        for (topic, filter, want) in [
            ("a/b/c", "a/b/c", true),
            ("a/b/c", "a/+/c", true),
            ("a/b/c", "a/#", true),
            ("a", "a/#", true),
            ("a/b/c", "#", true),
            ("a/b/c", "a/b", false),
            ("a/b", "a/b/c", false),
            ("a/b/c", "+/+", false),
            ("a//c", "a/+/c", true),
            ("/a", "+/a", true),
            ("$SYS/x", "#", false),
            ("$SYS/x", "+/x", false),
            ("$SYS/x", "$SYS/#", true),
            // The input that panicked rumqttc::matches: a topic starting with a 2-byte character.
            ("\u{53a}x/pv", "#", true),
            ("\u{53a}x/pv", "homeassistant/+/pv", false),
        ] {
            assert_eq!(
                topic_matches(topic, filter),
                want,
                "{topic} against {filter}"
            );
        }
    }

    #[test]
    fn invalid_topics_and_filters_are_refused() {
        assert!(valid_topic("a/b") && valid_topic("/") && valid_topic("\u{53a}"));
        assert!(
            !valid_topic("") && !valid_topic("a/+") && !valid_topic("a/#") && !valid_topic("a\0")
        );
        for f in ["#", "+", "a/+/b", "a/#", "+/+/#", "/", "$SYS/#"] {
            assert!(valid_filter(f), "{f}");
        }
        for f in ["", "a#", "a/#/b", "a+/b", "a/++", "##", "a\0b"] {
            assert!(!valid_filter(f), "{f}");
        }
    }
}
