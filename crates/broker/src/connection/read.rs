//! Reading without a buffer of one's own while idle.
//!
//! Most connections of a fleet are idle most of the time, and a read buffer per connection would be most
//! of what an idle connection costs. So a read goes to a scratch buffer of the worker thread, and only the
//! bytes that arrived are copied into the connection's buffer, which is dropped again once its frames are
//! decoded (the frames themselves live on as zero-copy slices of it). The copy is a `memcpy` of bytes that
//! were just read; the system call it follows costs far more.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncRead, ReadBuf};

/// Bytes one read takes at most: enough that a busy publisher needs few reads.
const SCRATCH_SIZE: usize = 16 * 1024;

thread_local! {
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; SCRATCH_SIZE].into_boxed_slice());
}

/// Reads what the stream has into `buf`, appending; resolves to the number of bytes read (0 at the end of
/// the stream), like `AsyncReadExt::read_buf`.
pub(super) fn read_some<'a, R>(reader: &'a mut R, buf: &'a mut BytesMut) -> ReadSome<'a, R>
where
    R: AsyncRead + Unpin + ?Sized,
{
    ReadSome { reader, buf }
}

/// The future of [`read_some`].
pub(super) struct ReadSome<'a, R: ?Sized> {
    reader: &'a mut R,
    buf: &'a mut BytesMut,
}

impl<R: AsyncRead + Unpin + ?Sized> Future for ReadSome<'_, R> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => poll_into(&mut *this.reader, cx, &mut scratch, this.buf),
            // Only if a stream's own poll_read reads another connection on this thread: never in practice,
            // and a small buffer of its own is then correct, if slower.
            Err(_) => poll_into(&mut *this.reader, cx, &mut [0; 1024], this.buf),
        })
    }
}

fn poll_into<R: AsyncRead + Unpin + ?Sized>(
    reader: &mut R,
    cx: &mut Context<'_>,
    scratch: &mut [u8],
    buf: &mut BytesMut,
) -> Poll<io::Result<usize>> {
    let mut read = ReadBuf::new(scratch);
    match Pin::new(reader).poll_read(cx, &mut read) {
        Poll::Ready(Ok(())) => {
            buf.extend_from_slice(read.filled());
            Poll::Ready(Ok(read.filled().len()))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn appends_what_arrived_and_reports_the_end_of_the_stream() {
        let (mut client, mut server) = tokio::io::duplex(64 * 1024);
        let mut buf = BytesMut::new();
        client.write_all(b"abc").await.unwrap();
        assert_eq!(read_some(&mut server, &mut buf).await.unwrap(), 3);
        client.write_all(&[7; 20_000]).await.unwrap();
        let mut total = 0;
        while total < 20_000 {
            total += read_some(&mut server, &mut buf).await.unwrap();
        }
        assert_eq!(buf.len(), 20_003);
        assert_eq!(&buf[..3], b"abc");
        assert!(buf[3..].iter().all(|&b| b == 7));
        drop(client);
        assert_eq!(read_some(&mut server, &mut buf).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn an_idle_buffer_holds_nothing_until_bytes_arrive() {
        let (mut client, mut server) = tokio::io::duplex(1024);
        let mut buf = BytesMut::new();
        let waiting = tokio::spawn(async move {
            let n = read_some(&mut server, &mut buf).await.unwrap();
            (n, buf)
        });
        tokio::task::yield_now().await;
        client.write_all(b"hello").await.unwrap();
        let (n, buf) = waiting.await.unwrap();
        assert_eq!((n, &buf[..]), (5, &b"hello"[..]));
        // Exactly what arrived was allocated, not a whole read buffer.
        assert!(buf.capacity() < 64, "capacity {}", buf.capacity());
    }
}
