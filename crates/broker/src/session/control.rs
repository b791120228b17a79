//! Messages to the connection serving a session: takeover, kick, redirect, recheck after a reload.
//!
//! They are rare, a connection holds its receiver for as long as it lives, and a broker holds many idle
//! connections, so the channel is a small queue behind a lock (about 100 bytes, where a general-purpose
//! channel preallocates a block of slots). Sending never waits and never drops: a message the connection
//! already has pending is not queued twice (one `Recheck` does for several reloads, the newest `Redirect`
//! replaces an older one), which bounds the queue without a capacity.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{oneshot, Notify};

/// A message to the connection serving a session.
#[derive(Debug)]
pub enum Control {
    /// Another connection with the same client id takes the session over [MQTT-3.1.4-3]: close, handle the
    /// will, park the state, then answer.
    TakenOver(oneshot::Sender<()>),
    /// An administrator disconnects the client.
    Kick(tern_codec::ReasonCode),
    /// The broker sends its clients to another server: v5 clients get DISCONNECT 0x9C/0x9D with the Server
    /// Reference.
    Redirect(crate::broker::Redirect),
    /// The security settings were reloaded: authenticate again, drop what is no longer allowed.
    Recheck,
}

#[derive(Debug)]
struct Queue {
    messages: VecDeque<Control>,
    /// The receiver still exists: messages will be read.
    open: bool,
    senders: usize,
}

#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    /// Wakes the receiver (one waiter: `notify_one` keeps a permit when it is not waiting yet).
    wake: Notify,
}

/// The sending side; cloned for whoever needs to tell the connection something.
#[derive(Debug)]
pub struct ControlSender(Arc<Shared>);

/// The connection's side.
#[derive(Debug)]
pub struct ControlReceiver(Arc<Shared>);

/// A new channel.
pub fn channel() -> (ControlSender, ControlReceiver) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue { messages: VecDeque::new(), open: true, senders: 1 }),
        wake: Notify::new(),
    });
    (ControlSender(shared.clone()), ControlReceiver(shared))
}

impl ControlSender {
    /// Queues `message` for the connection; gives it back if the connection is gone.
    pub fn send(&self, message: Control) -> Result<(), Control> {
        let mut queue = self.0.queue.lock();
        if !queue.open {
            return Err(message);
        }
        let pending = queue
            .messages
            .iter_mut()
            .find(|m| std::mem::discriminant(*m) == std::mem::discriminant(&message));
        match (pending, message) {
            (Some(_), Control::Recheck | Control::Kick(_)) => {}
            (Some(slot @ Control::Redirect(_)), newer @ Control::Redirect(_)) => *slot = newer,
            (_, message) => queue.messages.push_back(message),
        }
        drop(queue);
        self.0.wake.notify_one();
        Ok(())
    }
}

impl Clone for ControlSender {
    fn clone(&self) -> Self {
        self.0.queue.lock().senders += 1;
        ControlSender(self.0.clone())
    }
}

impl Drop for ControlSender {
    fn drop(&mut self) {
        let last = {
            let mut queue = self.0.queue.lock();
            queue.senders -= 1;
            queue.senders == 0
        };
        if last {
            self.0.wake.notify_one();
        }
    }
}

impl ControlReceiver {
    /// The next message; `None` once every sender is gone and nothing is left.
    pub async fn recv(&self) -> Option<Control> {
        loop {
            {
                let mut queue = self.0.queue.lock();
                if let Some(message) = queue.messages.pop_front() {
                    return Some(message);
                }
                if queue.senders == 0 {
                    return None;
                }
            }
            self.0.wake.notified().await;
        }
    }
}

impl Drop for ControlReceiver {
    fn drop(&mut self) {
        // Under the lock, so no message is queued after this and left unanswered: a takeover waiting for
        // its acknowledgement learns at once (its sender is dropped here) that this connection is gone.
        let messages = {
            let mut queue = self.0.queue.lock();
            queue.open = false;
            std::mem::take(&mut queue.messages)
        };
        drop(messages);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_codec::ReasonCode;

    #[tokio::test]
    async fn messages_arrive_in_order_and_recheck_is_not_queued_twice() {
        let (tx, rx) = channel();
        tx.send(Control::Recheck).unwrap();
        tx.send(Control::Kick(ReasonCode::ADMINISTRATIVE_ACTION)).unwrap();
        tx.send(Control::Recheck).unwrap();
        tx.send(Control::Kick(ReasonCode::SERVER_SHUTTING_DOWN)).unwrap();
        assert!(matches!(rx.recv().await, Some(Control::Recheck)));
        assert!(
            matches!(rx.recv().await, Some(Control::Kick(rc)) if rc == ReasonCode::ADMINISTRATIVE_ACTION)
        );
        tx.send(Control::Recheck).unwrap(); // The earlier one was taken: this one counts.
        assert!(matches!(rx.recv().await, Some(Control::Recheck)));
    }

    #[tokio::test]
    async fn every_takeover_is_queued_and_the_newest_redirect_wins() {
        let (tx, rx) = channel();
        let (a, _a) = oneshot::channel();
        let (b, _b) = oneshot::channel();
        tx.send(Control::TakenOver(a)).unwrap();
        tx.send(Control::TakenOver(b)).unwrap();
        let redirect = |to: &str| crate::broker::Redirect { moved: false, server_reference: to.into() };
        tx.send(Control::Redirect(redirect("old:1883"))).unwrap();
        tx.send(Control::Redirect(redirect("new:1883"))).unwrap();
        assert!(matches!(rx.recv().await, Some(Control::TakenOver(_))));
        assert!(matches!(rx.recv().await, Some(Control::TakenOver(_))));
        match rx.recv().await {
            Some(Control::Redirect(r)) => assert_eq!(&*r.server_reference, "new:1883"),
            other => panic!("expected the newest redirect, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_for_a_message_and_ends_when_the_senders_are_gone() {
        let (tx, rx) = channel();
        let tx2 = tx.clone();
        let waiting = tokio::spawn(async move {
            let first = rx.recv().await;
            let second = rx.recv().await;
            (first.is_some(), second.is_none())
        });
        tokio::task::yield_now().await;
        tx.send(Control::Recheck).unwrap();
        drop(tx);
        drop(tx2);
        assert_eq!(waiting.await.unwrap(), (true, true));
    }

    #[tokio::test]
    async fn sending_to_a_gone_connection_fails_and_queued_takeovers_are_answered_by_the_drop() {
        let (tx, rx) = channel();
        let (ack, ack_rx) = oneshot::channel();
        tx.send(Control::TakenOver(ack)).unwrap();
        drop(rx);
        assert!(ack_rx.await.is_err(), "the takeover learns the connection is gone");
        assert!(matches!(tx.send(Control::Recheck), Err(Control::Recheck)));
    }
}
