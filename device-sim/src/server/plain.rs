//! The plain echo: read, write back.
//!
//! Plain TCP connections hold no buffer of their own: a connection waits for readability, then
//! reads into its worker thread's scratch buffer and writes the bytes straight back, so an idle
//! connection costs only its task and socket. Only when the socket cannot take a whole reply at
//! once are the rest of the bytes copied and written when it can. Speed is that of the textbook
//! tokio echo (same system calls per round trip); memory is the physical limit for idle
//! connections. TLS streams use the textbook loop with a buffer per connection.

use std::cell::RefCell;
use std::io::ErrorKind;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
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
    /// Nothing more to read for now.
    Drained,
    /// The socket took only part of the reply: these bytes are left to write.
    Partial(Vec<u8>),
    /// The peer closed, or the connection failed.
    Closed,
}

fn step(stream: &TcpStream) -> Step {
    SCRATCH.with(|scratch| {
        let mut buf = scratch.borrow_mut();
        let n = match stream.try_read(&mut buf) {
            Ok(0) => return Step::Closed,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Step::Drained,
            Err(e) if e.kind() == ErrorKind::Interrupted => return Step::Echoed,
            Err(_) => return Step::Closed,
        };
        match stream.try_write(&buf[..n]) {
            Ok(w) if w == n => Step::Echoed,
            Ok(w) => Step::Partial(buf[w..n].to_vec()),
            Err(e) if e.kind() == ErrorKind::WouldBlock => Step::Partial(buf[..n].to_vec()),
            Err(_) => Step::Closed,
        }
    })
}

/// Echoes every byte of a TCP connection until the peer closes, holding no buffer while idle.
pub async fn echo_tcp(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    loop {
        if stream.readable().await.is_err() {
            return;
        }
        loop {
            match step(&stream) {
                Step::Echoed => {}
                Step::Drained => break,
                Step::Partial(rest) => {
                    if stream.write_all(&rest).await.is_err() {
                        return;
                    }
                }
                Step::Closed => return,
            }
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
