//! WebSocket interop over real TCP on 127.0.0.1: our server codec behind tokio-util's `Framed`,
//! driven by soketto, a client implementation independent of the tungstenite pieces the
//! server is built on.

use bytes::BytesMut;
use codecs::{CloseFrame, Codec, HandshakeRequest, Inbound, Outbound, WebSocketCodec};
use futures_util::{SinkExt, StreamExt};
use soketto::base::{self, OpCode};
use soketto::connection::{self, Mode};
use soketto::handshake::client::Header;
use soketto::handshake::{Client, ServerResponse};
use soketto::{Data, Incoming};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::Framed;
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

/// What the test server saw on one connection.
#[derive(Debug)]
enum Seen {
    Handshake(HandshakeRequest),
    Close(Option<CloseFrame>),
    Error(String),
}

/// Starts an echo server whose codec accepts messages of at most `max` bytes; requests for
/// `/refuse` are refused with 403. Returns its address and what it sees.
async fn start_server(max: usize) -> (SocketAddr, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen_tx, seen) = mpsc::channel(16);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, max, seen_tx.clone()));
        }
    });
    (addr, seen)
}

/// One connection, driven the way the gateway drives a codec.
async fn serve(stream: TcpStream, max: usize, seen: mpsc::Sender<Seen>) {
    let mut framed = Framed::new(stream, WebSocketCodec::new(max));
    while let Some(event) = framed.next().await {
        match event {
            Ok(Inbound::Handshake(request)) => {
                let refuse = (request.path == "/refuse").then_some(403);
                let mut answer = BytesMut::new();
                framed.codec_mut().answer_handshake(refuse, &mut answer);
                framed.write_buffer_mut().extend_from_slice(&answer);
                framed.flush().await.unwrap();
                seen.send(Seen::Handshake(request)).await.unwrap();
                if refuse.is_some() {
                    break;
                }
            }
            Ok(Inbound::Message { data, .. }) => framed.send(Outbound::Data(data)).await.unwrap(),
            Ok(Inbound::Reply(bytes)) => {
                framed.write_buffer_mut().extend_from_slice(&bytes);
                framed.flush().await.unwrap();
            }
            Ok(Inbound::Close(close)) => {
                seen.send(Seen::Close(close)).await.unwrap();
                break;
            }
            Ok(other) => panic!("unexpected event {other:?}"),
            Err(err) => {
                seen.send(Seen::Error(err.to_string())).await.unwrap();
                break;
            }
        }
    }
    // Close the TCP side the RFC way: stop writing, then read until the client hangs up, so
    // bytes still in flight do not turn our close frame into a connection reset.
    let mut stream = framed.into_inner();
    let _ = stream.shutdown().await;
    let mut scratch = [0u8; 4096];
    while matches!(stream.read(&mut scratch).await, Ok(n) if n > 0) {}
}

type Sender = connection::Sender<Compat<TcpStream>>;
type Receiver = connection::Receiver<Compat<TcpStream>>;

/// Runs soketto's client handshake for `resource` with extra `headers`.
async fn handshake<'a>(
    addr: SocketAddr,
    resource: &'a str,
    headers: &'a [Header<'a>],
) -> (Client<'a, Compat<TcpStream>>, ServerResponse) {
    let socket = TcpStream::connect(addr).await.unwrap();
    let mut client = Client::new(socket.compat(), "127.0.0.1", resource);
    client.set_headers(headers);
    let response = client.handshake().await.unwrap();
    (client, response)
}

/// An open client connection.
async fn open(addr: SocketAddr) -> (Sender, Receiver) {
    let (client, response) = handshake(addr, "/ws", &[]).await;
    assert!(matches!(response, ServerResponse::Accepted { .. }));
    client.into_builder().finish()
}

/// Receives the next data message as (is_text, bytes).
async fn receive(receiver: &mut Receiver) -> (bool, Vec<u8>) {
    let mut message = Vec::new();
    let data = receiver.receive_data(&mut message).await.unwrap();
    (matches!(data, Data::Text(_)), message)
}

/// A masked client frame built with soketto's own frame encoder.
fn soketto_frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut header = base::Header::new(opcode);
    header
        .set_fin(fin)
        .set_masked(true)
        .set_mask(0x5a17_c0de)
        .set_payload_len(payload.len());
    let mut frame = base::Codec::new().encode_header(&header).to_vec();
    let start = frame.len();
    frame.extend_from_slice(payload);
    base::Codec::apply_mask(&header, &mut frame[start..]);
    frame
}

#[tokio::test]
async fn the_handshake_shows_path_query_and_headers_to_the_server() {
    let (addr, mut seen) = start_server(1024).await;
    let headers = [
        Header {
            name: "X-Device",
            value: b"dev-42",
        },
        Header {
            name: "Authorization",
            value: b"Bearer t0k",
        },
    ];
    let (_client, response) = handshake(addr, "/devices/ws?token=abc&fw=1.2", &headers).await;
    assert!(matches!(response, ServerResponse::Accepted { .. }));
    let Some(Seen::Handshake(request)) = seen.recv().await else {
        panic!("the server saw no handshake");
    };
    assert_eq!(request.path, "/devices/ws");
    assert_eq!(request.query, "token=abc&fw=1.2");
    assert_eq!(request.headers["x-device"], "dev-42");
    assert_eq!(request.headers["authorization"], "Bearer t0k");
    assert_eq!(request.headers["host"], "127.0.0.1");
}

#[tokio::test]
async fn a_text_message_is_echoed_as_text() {
    let (addr, _seen) = start_server(1024).await;
    let (mut sender, mut receiver) = open(addr).await;
    sender.send_text("héllo devgate").await.unwrap();
    sender.flush().await.unwrap();
    assert_eq!(
        receive(&mut receiver).await,
        (true, "héllo devgate".as_bytes().to_vec())
    );
}

#[tokio::test]
async fn a_binary_message_is_echoed_as_binary() {
    let (addr, _seen) = start_server(1024).await;
    let (mut sender, mut receiver) = open(addr).await;
    let payload = vec![0xff, 0x00, 0x01, 0xfe, 0x80];
    sender.send_binary(&payload).await.unwrap();
    sender.flush().await.unwrap();
    assert_eq!(receive(&mut receiver).await, (false, payload));
}

#[tokio::test]
async fn messages_of_every_length_encoding_are_echoed() {
    let (addr, _seen) = start_server(100_000).await;
    let (mut sender, mut receiver) = open(addr).await;
    for len in [0usize, 125, 126, 65_535, 65_536, 100_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8 | 0x80).collect();
        sender.send_binary(&payload).await.unwrap();
        sender.flush().await.unwrap();
        let (_, echoed) = receive(&mut receiver).await;
        assert_eq!(echoed, payload, "length {len}");
    }
}

#[tokio::test]
async fn a_fragmented_message_is_reassembled_before_the_server_sees_it() {
    let (addr, _seen) = start_server(1024).await;
    let (client, response) = handshake(addr, "/ws", &[]).await;
    assert!(matches!(response, ServerResponse::Accepted { .. }));
    let mut socket = client.into_inner().into_inner();
    let mut bytes = soketto_frame(OpCode::Text, false, b"frag");
    bytes.extend(soketto_frame(OpCode::Continue, false, b"mented "));
    bytes.extend(soketto_frame(OpCode::Continue, true, b"message"));
    socket.write_all(&bytes).await.unwrap();
    let (_, mut receiver) = connection::Builder::new(socket.compat(), Mode::Client).finish();
    // One echo means the server got one reassembled message, not three.
    assert_eq!(
        receive(&mut receiver).await,
        (true, b"fragmented message".to_vec())
    );
}

#[tokio::test]
async fn a_ping_is_answered_by_a_pong_with_the_same_payload() {
    let (addr, _seen) = start_server(1024).await;
    let (mut sender, mut receiver) = open(addr).await;
    sender
        .send_ping(b"heartbeat-7"[..].try_into().unwrap())
        .await
        .unwrap();
    sender.flush().await.unwrap();
    let mut message = Vec::new();
    match receiver.receive(&mut message).await.unwrap() {
        Incoming::Pong(payload) => assert_eq!(payload, b"heartbeat-7"),
        other => panic!("expected a pong, got {other:?}"),
    }
}

#[tokio::test]
async fn a_client_close_is_echoed_and_reported_to_the_server() {
    let (addr, mut seen) = start_server(1024).await;
    let (mut sender, mut receiver) = open(addr).await;
    assert!(matches!(seen.recv().await, Some(Seen::Handshake(_))));
    sender.close().await.unwrap();
    let mut message = Vec::new();
    match receiver.receive(&mut message).await.unwrap() {
        Incoming::Closed(reason) => assert_eq!(reason.code, 1000),
        other => panic!("expected the close echo, got {other:?}"),
    }
    match seen.recv().await {
        Some(Seen::Close(Some(close))) => assert_eq!(close.code, 1000),
        other => panic!("expected the server to see the close, got {other:?}"),
    }
}

#[tokio::test]
async fn an_oversize_message_is_closed_with_1009() {
    let (addr, mut seen) = start_server(1024).await;
    let (mut sender, mut receiver) = open(addr).await;
    assert!(matches!(seen.recv().await, Some(Seen::Handshake(_))));
    sender.send_text("x".repeat(2000)).await.unwrap();
    sender.flush().await.unwrap();
    let mut message = Vec::new();
    match receiver.receive(&mut message).await.unwrap() {
        Incoming::Closed(reason) => assert_eq!(reason.code, 1009),
        other => panic!("expected a 1009 close, got {other:?}"),
    }
    match seen.recv().await {
        Some(Seen::Error(why)) => assert!(why.contains("2000"), "{why}"),
        other => panic!("expected the server to fail the stream, got {other:?}"),
    }
}

#[tokio::test]
async fn a_refused_upgrade_gets_the_http_status() {
    let (addr, mut seen) = start_server(1024).await;
    let (_client, response) = handshake(addr, "/refuse", &[]).await;
    match response {
        ServerResponse::Rejected { status_code } => assert_eq!(status_code, 403),
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert!(matches!(seen.recv().await, Some(Seen::Handshake(r)) if r.path == "/refuse"));
}
