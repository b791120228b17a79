//! The client handle: cheap to clone, it sends requests to the event loop and awaits their completion.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tern_codec::topic::validate_topic_name;
use tern_codec::{
    ByteString, Bytes, ConnAck, Disconnect, Properties, ProtocolVersion, Publish, QoS, ReasonCode, SubAck,
    SubscriptionOptions, SubscriptionRequest, UnsubAck,
};
use tokio::sync::{mpsc, oneshot};

use crate::error::{ClientError, ConnectError};
use crate::eventloop::{handshake, Event, EventLoop, PublishOutcome, Request};
use crate::options::ConnectOptions;

/// A handle on a connection. Clones share the connection; it closes when [`Client::disconnect`] is called,
/// or when every handle and the [`Events`] receiver are dropped.
#[derive(Debug, Clone)]
pub struct Client {
    requests: mpsc::Sender<Request>,
    version: ProtocolVersion,
}

/// The stream of [`Event`]s of a connection.
#[derive(Debug)]
pub struct Events {
    rx: mpsc::Receiver<Event>,
}

impl Events {
    /// The next event; `None` once the event loop has ended.
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await
    }
}

/// The acknowledgement of a QoS 1/2 message still on its way; await it for the outcome.
#[derive(Debug)]
pub struct Delivery {
    rx: oneshot::Receiver<PublishOutcome>,
}

impl Future for Delivery {
    type Output = PublishOutcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<PublishOutcome> {
        Pin::new(&mut self.rx).poll(cx).map(|r| r.unwrap_or(Err(ClientError::Closed)))
    }
}

impl Client {
    /// Connects, waits for a successful CONNACK, and starts the event loop on the current tokio runtime.
    pub async fn connect(options: ConnectOptions) -> Result<(Client, Events, ConnAck), ConnectError> {
        let established = handshake(&options).await?;
        let connack = established.connack.clone();
        let version = options.connect.protocol;
        let (req_tx, req_rx) = mpsc::channel(64);
        let (ev_tx, ev_rx) = mpsc::channel(options.event_capacity.max(1));
        tokio::spawn(EventLoop::new(options, established, req_rx, ev_tx).run());
        Ok((Client { requests: req_tx, version }, Events { rx: ev_rx }, connack))
    }

    /// The protocol version of the connection.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Publishes and waits until the message is sent (QoS 0) or acknowledged (QoS 1: PUBACK, QoS 2: PUBCOMP).
    pub async fn publish(
        &self,
        topic: impl Into<ByteString>,
        payload: impl Into<Bytes>,
        qos: QoS,
        retain: bool,
    ) -> PublishOutcome {
        let publish = Publish { qos, retain, ..Publish::new(topic, payload) };
        self.publish_message(publish).await?.await
    }

    /// Hands a message to the event loop and returns once it is accepted; the returned [`Delivery`]
    /// resolves on its acknowledgement. Many messages can be in flight this way (up to the window).
    pub async fn publish_message(&self, publish: Publish) -> Result<Delivery, ClientError> {
        // [MQTT-3.3.2-2] the topic name in a PUBLISH must not contain wildcards.
        let topic_ok = validate_topic_name(&publish.topic).is_ok()
            || (publish.topic.is_empty() && publish.properties.topic_alias.is_some());
        if !topic_ok {
            return Err(ClientError::InvalidTopic(publish.topic.to_string()));
        }
        let (tx, rx) = oneshot::channel();
        self.requests.send(Request::Publish(publish, tx)).await.map_err(|_| ClientError::Closed)?;
        Ok(Delivery { rx })
    }

    /// Subscribes to one filter at `qos`.
    pub async fn subscribe(&self, filter: impl Into<ByteString>, qos: QoS) -> Result<SubAck, ClientError> {
        let options = SubscriptionOptions { qos, ..SubscriptionOptions::default() };
        self.subscribe_many(
            vec![SubscriptionRequest { filter: filter.into(), options }],
            Properties::default(),
        )
        .await
    }

    /// Subscribes to several filters in one SUBSCRIBE and returns the SUBACK (check its reason codes: a
    /// refused filter has a code >= 0x80).
    pub async fn subscribe_many(
        &self,
        filters: Vec<SubscriptionRequest>,
        properties: Properties,
    ) -> Result<SubAck, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::Subscribe(filters, properties, tx))
            .await
            .map_err(|_| ClientError::Closed)?;
        rx.await.unwrap_or(Err(ClientError::Closed))
    }

    /// Unsubscribes from filters.
    pub async fn unsubscribe(
        &self,
        filters: Vec<ByteString>,
        properties: Properties,
    ) -> Result<UnsubAck, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::Unsubscribe(filters, properties, tx))
            .await
            .map_err(|_| ClientError::Closed)?;
        rx.await.unwrap_or(Err(ClientError::Closed))
    }

    /// Sends DISCONNECT (normal disconnection: the server discards the will) and closes the connection.
    pub async fn disconnect(&self) -> Result<(), ClientError> {
        self.disconnect_with(Disconnect::new(ReasonCode::NORMAL_DISCONNECTION)).await
    }

    /// Sends this DISCONNECT (MQTT 5.0 reason code and properties) and closes the connection.
    pub async fn disconnect_with(&self, disconnect: Disconnect) -> Result<(), ClientError> {
        let (tx, rx) = oneshot::channel();
        self.requests.send(Request::Disconnect(disconnect, tx)).await.map_err(|_| ClientError::Closed)?;
        rx.await.map_err(|_| ClientError::Closed)
    }
}
