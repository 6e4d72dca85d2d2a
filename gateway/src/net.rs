//! Sockets: the listener every role binds (the register's, gateways' client and internal
//! ports).

use std::net::SocketAddr;
use tokio::net::TcpListener;

/// Binds a listener with SO_REUSEADDR and, when `reuse_port`, SO_REUSEPORT, so several
/// gateway processes can share one client port (the kernel spreads connections).
pub fn bind_listener(addr: SocketAddr, reuse_port: bool) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    TcpListener::from_std(socket.into())
}
