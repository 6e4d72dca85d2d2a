//! Idle devices: connect and hold the connection, sending nothing, until the run ends. Used to
//! measure what an open connection costs a server.

use super::{DeviceBehaviour, SessionEnd, Shared};
use crate::transport::Link;
use futures_util::StreamExt;
use tokio::io::AsyncReadExt;
use tokio_tungstenite::tungstenite::Message;

/// The idle behaviour.
#[derive(Debug, Clone, Copy, Default)]
pub struct Idle;

impl DeviceBehaviour for Idle {
    type State = ();

    async fn session(
        &self,
        link: Link,
        _device: u64,
        _state: &mut (),
        shared: &Shared,
    ) -> SessionEnd {
        {
            let cancelled = shared.stop.cancelled();
            tokio::pin!(cancelled);
            match link {
                Link::Bytes(mut stream) => {
                    // Reading is how a closed connection is noticed; anything sent is ignored.
                    let mut scratch = [0u8; 64];
                    loop {
                        tokio::select! {
                            read = stream.read(&mut scratch) => {
                                if !matches!(read, Ok(n) if n > 0) {
                                    return SessionEnd::Dropped;
                                }
                            }
                            _ = cancelled.as_mut() => return SessionEnd::Stopped,
                        }
                    }
                }
                Link::Ws(mut ws) => loop {
                    tokio::select! {
                        msg = ws.next() => {
                            if matches!(msg, None | Some(Err(_)) | Some(Ok(Message::Close(_)))) {
                                return SessionEnd::Dropped;
                            }
                        }
                        _ = cancelled.as_mut() => return SessionEnd::Stopped,
                    }
                },
            }
        }
    }
}
