//! rumqttc (the Rust client of bytebeamio/rumqtt), MQTT 3.1.1 and 5.0, against the broker: pub/sub with
//! wildcards, QoS 0/1/2, retained messages, the will of a killed client, a persistent session receiving
//! what was published while it was offline.
//!
//! The same scenarios run for both protocol versions: each module adapts rumqttc's API of that version.

/// The scenarios, written against the names each version module provides: `AsyncClient`, `Event`,
/// `Packet`, `QoS`, and the adapters `options`, `will` and `topic`.
macro_rules! scenarios {
    () => {
        use std::time::Duration;

        use tern_test_support::{TestBroker, TIMEOUT};
        use tokio::sync::mpsc;
        use tokio::task::JoinHandle;

        const QUIET: Duration = Duration::from_millis(300);

        /// A rumqttc client with its event loop in a task; incoming packets are forwarded to a channel.
        /// The loop stops at the first connection error (no automatic reconnection).
        struct Client {
            client: AsyncClient,
            packets: mpsc::UnboundedReceiver<Packet>,
            task: JoinHandle<()>,
        }

        impl Client {
            /// Connects and returns the client and the CONNACK's session present flag.
            async fn connect(options: MqttOptions) -> (Client, bool) {
                let (client, mut eventloop) = AsyncClient::new(options, 100);
                let (tx, packets) = mpsc::unbounded_channel();
                let task = tokio::spawn(async move {
                    while let Ok(event) = eventloop.poll().await {
                        if let Event::Incoming(packet) = event {
                            if tx.send(packet).is_err() {
                                break;
                            }
                        }
                    }
                });
                let mut client = Client { client, packets, task };
                let session_present = match client.next().await {
                    Packet::ConnAck(ack) => ack.session_present,
                    other => panic!("expected CONNACK, got {other:?}"),
                };
                (client, session_present)
            }

            async fn next(&mut self) -> Packet {
                match tokio::time::timeout(TIMEOUT, self.packets.recv()).await {
                    Ok(Some(packet)) => packet,
                    other => panic!("expected a packet, got {other:?}"),
                }
            }

            /// Waits for a packet `wanted` accepts, skipping the others (acknowledgements, pings).
            async fn wait_for(&mut self, wanted: impl Fn(&Packet) -> bool) -> Packet {
                loop {
                    let packet = self.next().await;
                    if wanted(&packet) {
                        return packet;
                    }
                }
            }

            async fn subscribe(&mut self, filter: &str, qos: QoS) {
                self.client.subscribe(filter, qos).await.expect("subscribe");
                self.wait_for(|p| matches!(p, Packet::SubAck(_))).await;
            }

            /// Publishes and waits until the exchange is complete (PUBACK, PUBCOMP).
            async fn publish(&mut self, topic: &str, payload: &str, qos: QoS, retain: bool) {
                self.client.publish(topic, qos, retain, payload.as_bytes().to_vec()).await.expect("publish");
                match qos {
                    QoS::AtMostOnce => {}
                    QoS::AtLeastOnce => {
                        self.wait_for(|p| matches!(p, Packet::PubAck(_))).await;
                    }
                    QoS::ExactlyOnce => {
                        self.wait_for(|p| matches!(p, Packet::PubComp(_))).await;
                    }
                }
            }

            /// The next application message as (topic, payload, qos, retain).
            async fn expect_publish(&mut self) -> (String, String, QoS, bool) {
                match self.wait_for(|p| matches!(p, Packet::Publish(_))).await {
                    Packet::Publish(p) => {
                        (topic(&p), String::from_utf8_lossy(&p.payload).into_owned(), p.qos, p.retain)
                    }
                    _ => unreachable!("filtered above"),
                }
            }

            async fn expect_nothing(&mut self) {
                let publish =
                    tokio::time::timeout(QUIET, self.wait_for(|p| matches!(p, Packet::Publish(_)))).await;
                assert!(publish.is_err(), "unexpected message: {publish:?}");
            }

            /// A normal DISCONNECT, then the event loop ends.
            async fn disconnect(self) {
                self.client.disconnect().await.expect("disconnect");
                let _ = tokio::time::timeout(TIMEOUT, self.task).await;
            }

            /// The connection is dropped without DISCONNECT, as when the process is killed.
            fn kill(self) {
                self.task.abort();
            }
        }

        #[tokio::test]
        async fn pubsub_with_wildcards() {
            let broker = TestBroker::start_default().await;
            let (mut sub, _) = Client::connect(options("r-wild-sub", broker.port(), false)).await;
            sub.subscribe("r/+/temp", QoS::AtMostOnce).await;
            sub.subscribe("r/house/#", QoS::AtMostOnce).await;
            let (mut publisher, _) = Client::connect(options("r-wild-pub", broker.port(), false)).await;
            for topic in ["r/kitchen/temp", "r/house/hall/light", "r/kitchen/hum", "r/house"] {
                publisher.publish(topic, topic, QoS::AtMostOnce, false).await;
            }
            let mut got = Vec::new();
            for _ in 0..3 {
                got.push(sub.expect_publish().await.0);
            }
            got.sort();
            assert_eq!(got, ["r/house", "r/house/hall/light", "r/kitchen/temp"]);
            sub.expect_nothing().await;
        }

        #[tokio::test]
        async fn qos_0_1_2() {
            let broker = TestBroker::start_default().await;
            let (mut sub, _) = Client::connect(options("r-qos-sub", broker.port(), false)).await;
            sub.subscribe("r/qos", QoS::ExactlyOnce).await;
            let (mut publisher, _) = Client::connect(options("r-qos-pub", broker.port(), false)).await;
            for (payload, qos) in
                [("q0", QoS::AtMostOnce), ("q1", QoS::AtLeastOnce), ("q2", QoS::ExactlyOnce)]
            {
                publisher.publish("r/qos", payload, qos, false).await;
                let (_, got, got_qos, _) = sub.expect_publish().await;
                assert_eq!((got.as_str(), got_qos), (payload, qos));
            }
            sub.expect_nothing().await;
        }

        #[tokio::test]
        async fn retained() {
            let broker = TestBroker::start_default().await;
            let (mut publisher, _) = Client::connect(options("r-ret-pub", broker.port(), false)).await;
            publisher.publish("r/ret", "first", QoS::AtLeastOnce, true).await;
            publisher.publish("r/ret", "latest", QoS::AtLeastOnce, true).await;
            let (mut sub, _) = Client::connect(options("r-ret-sub", broker.port(), false)).await;
            sub.subscribe("r/#", QoS::AtLeastOnce).await;
            assert_eq!(sub.expect_publish().await, ("r/ret".into(), "latest".into(), QoS::AtLeastOnce, true));
            publisher.publish("r/ret", "live", QoS::AtLeastOnce, true).await;
            let (_, payload, _, retain) = sub.expect_publish().await;
            assert_eq!((payload.as_str(), retain), ("live", false), "routed messages have RETAIN 0");
            publisher.publish("r/ret", "", QoS::AtLeastOnce, true).await;
            sub.expect_publish().await;
            let (mut late, _) = Client::connect(options("r-ret-late", broker.port(), false)).await;
            late.subscribe("r/#", QoS::AtLeastOnce).await;
            late.expect_nothing().await;
        }

        #[tokio::test]
        async fn will_of_a_killed_client() {
            let broker = TestBroker::start_default().await;
            let (mut watcher, _) = Client::connect(options("r-will-watch", broker.port(), false)).await;
            watcher.subscribe("r/will", QoS::AtLeastOnce).await;
            let mut with_will = options("r-will", broker.port(), false);
            with_will.set_last_will(will("r/will", "died"));
            let (doomed, _) = Client::connect(with_will).await;
            watcher.expect_nothing().await;
            doomed.kill();
            assert_eq!(
                watcher.expect_publish().await,
                ("r/will".into(), "died".into(), QoS::AtLeastOnce, false)
            );
        }

        #[tokio::test]
        async fn persistent_session_receives_what_was_published_offline() {
            let broker = TestBroker::start_default().await;
            let (mut sub, present) = Client::connect(options("r-persist", broker.port(), true)).await;
            assert!(!present);
            sub.subscribe("r/persist", QoS::ExactlyOnce).await;
            sub.disconnect().await;
            let (mut publisher, _) = Client::connect(options("r-persist-pub", broker.port(), false)).await;
            publisher.publish("r/persist", "offline 1", QoS::AtLeastOnce, false).await;
            publisher.publish("r/persist", "offline 0", QoS::AtMostOnce, false).await;
            publisher.publish("r/persist", "offline 2", QoS::ExactlyOnce, false).await;
            let (mut sub, present) = Client::connect(options("r-persist", broker.port(), true)).await;
            assert!(present, "the session is resumed");
            assert_eq!(sub.expect_publish().await.1, "offline 1");
            assert_eq!(sub.expect_publish().await.1, "offline 2");
            sub.expect_nothing().await;
        }
    };
}

mod v311 {
    use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, Publish, QoS};

    fn options(id: &str, port: u16, persistent: bool) -> MqttOptions {
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_clean_session(!persistent);
        options
    }

    fn will(topic: &str, payload: &str) -> LastWill {
        LastWill::new(topic, payload.as_bytes().to_vec(), QoS::AtLeastOnce, false)
    }

    fn topic(publish: &Publish) -> String {
        publish.topic.clone()
    }

    scenarios!();
}

mod v5 {
    use rumqttc::v5::mqttbytes::v5::{ConnectProperties, LastWill, Packet, Publish};
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};

    fn options(id: &str, port: u16, persistent: bool) -> MqttOptions {
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_clean_start(!persistent);
        if persistent {
            let mut properties = ConnectProperties::new();
            properties.session_expiry_interval = Some(300);
            options.set_connect_properties(properties);
        }
        options
    }

    fn will(topic: &str, payload: &str) -> LastWill {
        LastWill::new(topic, payload.as_bytes().to_vec(), QoS::AtLeastOnce, false, None)
    }

    fn topic(publish: &Publish) -> String {
        String::from_utf8_lossy(&publish.topic).into_owned()
    }

    scenarios!();
}
