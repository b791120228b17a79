//! A lossy link: a TCP proxy between a client and a broker that can lose chosen packets from the broker and
//! cut every connection through it, to test what survives a lost acknowledgement and a broken connection
//! (redelivery with DUP, PUBREL sent again, exactly-once across reconnects). It also keeps what the client
//! sent, for tests that look at the wire.
//!
//! It works on whole MQTT frames (split with [`tern_codec::frame_len`]), so a lost packet is lost entirely
//! and the stream stays well formed.

use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use tern_codec::{frame_len, PacketType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Default)]
struct Shared {
    /// Bit n set: frames of packet type n from the broker are lost.
    lose: AtomicU16,
    /// Frames lost so far.
    lost: AtomicUsize,
    /// Every frame the client sent, in order.
    from_client: Mutex<Vec<Bytes>>,
}

/// A proxy on 127.0.0.1 in front of a broker's port, running on the current tokio runtime.
#[derive(Debug)]
pub struct LossyLink {
    /// The port clients connect to instead of the broker's.
    pub port: u16,
    shared: Arc<Shared>,
    cut: watch::Sender<u64>,
    accept: JoinHandle<()>,
}

impl LossyLink {
    /// Forwards connections on a free loopback port to the broker on `broker_port`.
    pub async fn start(broker_port: u16) -> LossyLink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(Shared::default());
        let (cut, cut_rx) = watch::channel(0u64);
        let accept = tokio::spawn({
            let shared = shared.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let Ok(broker) = TcpStream::connect(("127.0.0.1", broker_port)).await else { continue };
                    tokio::spawn(link(client, broker, shared.clone(), cut_rx.clone()));
                }
            }
        });
        LossyLink { port, shared, cut, accept }
    }

    /// Loses every packet of these types that the broker sends from now on (none: deliver everything).
    pub fn lose_from_broker(&self, types: &[PacketType]) {
        let mask = types.iter().fold(0u16, |m, t| m | 1 << (*t as u8));
        self.shared.lose.store(mask, Ordering::SeqCst);
    }

    /// Packets lost so far.
    pub fn lost(&self) -> usize {
        self.shared.lost.load(Ordering::SeqCst)
    }

    /// The frames the client sent so far, over every connection, in order.
    pub fn from_client(&self) -> Vec<Bytes> {
        self.shared.from_client.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// Closes every connection through the link (new ones are still accepted).
    pub fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

impl Drop for LossyLink {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

async fn link(client: TcpStream, broker: TcpStream, shared: Arc<Shared>, mut cut: watch::Receiver<u64>) {
    // Only cuts from now on close this connection.
    cut.borrow_and_update();
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut broker_rx, mut broker_tx) = broker.into_split();
    let up = async {
        let mut buf = BytesMut::with_capacity(4096);
        loop {
            if client_rx.read_buf(&mut buf).await.ok()? == 0 {
                return None::<()>;
            }
            while let Some(len) = frame_len(&buf, u32::MAX).ok()?.filter(|len| buf.len() >= *len) {
                let frame = buf.split_to(len).freeze();
                if let Ok(mut frames) = shared.from_client.lock() {
                    frames.push(frame.clone());
                }
                broker_tx.write_all(&frame).await.ok()?;
            }
        }
    };
    let down = async {
        let mut buf = BytesMut::with_capacity(4096);
        loop {
            if broker_rx.read_buf(&mut buf).await.ok()? == 0 {
                return None::<()>;
            }
            while let Some(len) = frame_len(&buf, u32::MAX).ok()?.filter(|len| buf.len() >= *len) {
                let frame = buf.split_to(len);
                let packet_type = frame[0] >> 4;
                if shared.lose.load(Ordering::SeqCst) & (1 << packet_type) != 0 {
                    shared.lost.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                client_tx.write_all(&frame).await.ok()?;
            }
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
        _ = cut.changed() => {}
    }
}
