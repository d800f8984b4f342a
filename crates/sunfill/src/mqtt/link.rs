//! The connection task: keeps one MQTT connection up and hands messages to the service.
//!
//! rumqttc spawns nothing and reconnects on the next `poll()` after an error; this task drives
//! `poll()`, waits a [`Backoff`] delay after every failure (slowly after certificate or login
//! rejections), and on every CONNACK publishes `online` (retained) on the status topic and
//! subscribes again: the session is clean, so the broker forgot the subscriptions. The last
//! will publishes `offline` (retained) when the connection dies without a DISCONNECT.

use super::backoff::Backoff;
use super::broker::{self, classify, Settings, Stage};
use super::error::Error;
use rumqttc::{AsyncClient, Event, Packet, QoS, SubscribeFilter};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A message received from the broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The topic.
    pub topic: String,
    /// The payload bytes.
    pub payload: Vec<u8>,
    /// True when the broker delivered a retained value at subscribe time: its age is unknown.
    pub retained: bool,
}

/// What the link reports to the service.
#[derive(Debug)]
pub enum LinkEvent {
    /// Connected (CONNACK received); `online` is published and the subscriptions are renewed.
    /// The service should publish discovery and its state again now.
    Connected,
    /// The connection failed or was lost; the link retries after a delay.
    Down(Error),
    /// A message on a subscribed topic.
    Message(Message),
}

/// A running connection: publish through [`Link::client`], read [`Link::events`].
#[derive(Debug)]
pub struct Link {
    /// Publishes and subscribes (requests are queued while disconnected).
    pub client: AsyncClient,
    /// Connection events and messages.
    pub events: mpsc::Receiver<LinkEvent>,
    task: JoinHandle<()>,
    status_topic: String,
}

impl Link {
    /// Starts the connection task with these subscriptions (renewed on every CONNACK).
    pub fn spawn(
        settings: Settings,
        subscriptions: Vec<String>,
        backoff: Backoff,
    ) -> Result<Link, Error> {
        let (client, eventloop, rejections) = settings.client(1024)?;
        let (tx, events) = mpsc::channel(1024);
        let status_topic = settings.status_topic.clone();
        let task_client = client.clone();
        let task = tokio::spawn(run(
            settings,
            subscriptions,
            backoff,
            task_client,
            eventloop,
            rejections,
            tx,
        ));
        Ok(Link {
            client,
            events,
            task,
            status_topic,
        })
    }

    /// Kills the connection without a DISCONNECT, as a crash would: the broker publishes the
    /// last will (`offline`).
    pub fn abort(&self) {
        self.task.abort();
    }

    /// Publishes `offline` (retained), disconnects cleanly and stops the task.
    pub async fn shutdown(self) {
        let _ = self
            .client
            .try_publish(&self.status_topic, QoS::AtLeastOnce, true, "offline");
        let _ = self.client.try_disconnect();
        let task = self.task;
        if tokio::time::timeout(std::time::Duration::from_secs(5), task)
            .await
            .is_err()
        {
            tracing::warn!("MQTT link did not stop within 5 s after DISCONNECT");
        }
    }
}

async fn run(
    settings: Settings,
    subscriptions: Vec<String>,
    mut backoff: Backoff,
    client: AsyncClient,
    mut eventloop: rumqttc::EventLoop,
    rejections: Option<super::tls::Rejections>,
    tx: mpsc::Sender<LinkEvent>,
) {
    let broker = settings.broker.clone();
    let insecure = broker.is_tls() && settings.tls.insecure_skip_verify;
    let mut connected = false;
    let mut disconnecting = false;
    if insecure {
        broker::warn_insecure(&broker);
    }
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                connected = true;
                backoff.reset();
                tracing::info!("connected to {broker}");
                if let Err(e) =
                    client.try_publish(&settings.status_topic, QoS::AtLeastOnce, true, "online")
                {
                    tracing::warn!("cannot queue the online status: {e}");
                }
                if !subscriptions.is_empty() {
                    let filters = subscriptions
                        .iter()
                        .map(|t| SubscribeFilter::new(t.clone(), QoS::AtLeastOnce));
                    if let Err(e) = client.try_subscribe_many(filters) {
                        tracing::warn!("cannot queue the subscriptions: {e}");
                    }
                }
                if tx.send(LinkEvent::Connected).await.is_err() {
                    return;
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let msg = Message {
                    topic: p.topic,
                    payload: p.payload.to_vec(),
                    retained: p.retain,
                };
                if tx.send(LinkEvent::Message(msg)).await.is_err() {
                    return;
                }
            }
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => disconnecting = true,
            Ok(_) => {}
            Err(e) => {
                if disconnecting {
                    return;
                }
                let stage = if connected {
                    Stage::Connected
                } else {
                    Stage::Connecting
                };
                connected = false;
                let err = classify(
                    &settings,
                    &e,
                    rejections.as_ref().and_then(|r| r.take()),
                    stage,
                );
                let delay = backoff.next_delay(err.is_rejection());
                if err.is_rejection() {
                    tracing::error!("{err}; retrying in {} s", delay.as_secs());
                } else {
                    tracing::warn!("{err}; reconnecting in {:.1} s", delay.as_secs_f32());
                }
                if tx.send(LinkEvent::Down(err)).await.is_err() {
                    return;
                }
                tokio::time::sleep(delay).await;
                // Report a name lookup failure as one instead of a generic I/O error.
                while let Err(err) = broker::resolve(&broker).await {
                    let delay = backoff.next_delay(false);
                    tracing::warn!("{err}; retrying in {:.1} s", delay.as_secs_f32());
                    if tx.send(LinkEvent::Down(err)).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(delay).await;
                }
                if insecure {
                    broker::warn_insecure(&broker);
                }
            }
        }
    }
}
