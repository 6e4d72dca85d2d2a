//! The plain echo: read, write back.
//!
//! Plain TCP connections hold no buffer of their own: when bytes arrive, a connection reads them
//! into its worker thread's scratch buffer and writes them straight back, so an idle
//! connection costs only its task and socket. Only when the socket cannot take a whole reply at
//! once are the rest of the bytes copied and written when it can. Speed is that of the textbook
//! tokio echo (same system calls per round trip); memory is the physical limit for idle
//! connections. TLS streams use the textbook loop with a buffer per connection.

use std::cell::RefCell;
use std::io::ErrorKind;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// Read size.
const BUF: usize = 16 * 1024;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; BUF]);
}

/// What one read-and-write step did.
enum Step {
    /// Echoed everything read.
    Echoed,
    /// The socket took only part of the reply: these bytes are left to write.
    Partial(Vec<u8>),
    /// The peer closed, or the connection failed.
    Closed,
}

/// Reads what has arrived into the thread's scratch buffer and writes it straight back, within
/// one poll, so the buffer is never held across a wait. Reading through `poll_read` (rather than
/// `try_read`) keeps tokio's rule that a short read clears readiness, which saves the extra
/// `read` that would only say "would block".
fn poll_step(stream: &mut TcpStream, cx: &mut Context<'_>) -> Poll<Step> {
    SCRATCH.with(|scratch| {
        let mut buf = scratch.borrow_mut();
        let mut read = ReadBuf::new(&mut buf);
        match Pin::new(&mut *stream).poll_read(cx, &mut read) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(_)) => return Poll::Ready(Step::Closed),
            Poll::Ready(Ok(())) => {}
        }
        let n = read.filled().len();
        if n == 0 {
            return Poll::Ready(Step::Closed);
        }
        Poll::Ready(match stream.try_write(&buf[..n]) {
            Ok(w) if w == n => Step::Echoed,
            Ok(w) => Step::Partial(buf[w..n].to_vec()),
            Err(e) if e.kind() == ErrorKind::WouldBlock => Step::Partial(buf[..n].to_vec()),
            Err(_) => Step::Closed,
        })
    })
}

/// Echoes every byte of a TCP connection until the peer closes, holding no buffer while idle.
pub async fn echo_tcp(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    loop {
        match std::future::poll_fn(|cx| poll_step(&mut stream, cx)).await {
            Step::Echoed => {}
            Step::Partial(rest) => {
                if stream.write_all(&rest).await.is_err() {
                    return;
                }
            }
            Step::Closed => return,
        }
    }
}

/// Echoes every byte of any stream (TLS) until the peer closes.
pub async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let mut buf = vec![0u8; BUF];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stream.write_all(&buf[..n]).await.is_err() || stream.flush().await.is_err() {
            return;
        }
    }
}
