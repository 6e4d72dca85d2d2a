//! Held acks over real sockets: register, gateway and worker in this process, as `devgate
//! start` runs them (the handler inline in each connection's task), with a gt06 listener on
//! 127.0.0.1 and a test handler that defers the acceptance of data events and hands each
//! event's token to the test, which accepts or refuses it when it chooses.
//!
//! Device frames and their acks are captured vectors (../shared/vectors/gt06.jsonl: Traccar's
//! test frames, acks checked by an independent implementation), not built by the codec.

use bytes::Bytes;
use gateway::app;
use gateway::config::Config;
use gateway::gateway::GatewayState;
use gateway::worker::{Accept, Context, EventHandler, Incoming};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// The longest an expected thing (an event, an ack, a close) may take.
const WAIT: Duration = Duration::from_secs(10);
/// How long the device listens to be sure no ack came. The handler has already seen a later
/// frame by then, so an ack written early would be on loopback already: this only covers the
/// delivery of bytes that are in flight.
const QUIET: Duration = Duration::from_millis(300);

const LOGIN: &str = "78780d01012345678901234500018cdd0d0a";
const LOGIN_ACK: &str = "787805010001d9dc0d0a";
const LOCATION_A: &str = "78781f120f0a140e150bc505e51e780293a9e800540000f601006e0055da00035f240d0a";
const LOCATION_A_ACK: &str = "787805120003903f0d0a";
const LOCATION_B: &str =
    "787823120f081b121d37cb01c8e2cc08afd3c020d50201940701d600a1190041ee100576d1470d0a";
const LOCATION_B_ACK: &str = "787805120576caad0d0a";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test vector is hex"))
        .collect()
}

/// Hands every data event (its frame and its acceptance) to the test, or accepts on return.
struct Handler {
    defer: bool,
    events: mpsc::UnboundedSender<(Bytes, Accept)>,
}

impl EventHandler for Handler {
    async fn on_message(&self, cx: &Context<'_>, msg: Incoming) {
        let accept = if self.defer {
            cx.defer_accept()
        } else {
            Accept::inert()
        };
        let _ = self.events.send((msg.data, accept));
    }
}

struct Setup {
    state: Arc<GatewayState>,
    gt06: SocketAddr,
    events: mpsc::UnboundedReceiver<(Bytes, Accept)>,
}

impl Setup {
    async fn start(defer: bool) -> Setup {
        Setup::start_with(Some(defer), "").await
    }

    /// `handler`: whether its handler defers (None: no worker); `gateway` adds config lines.
    async fn start_with(handler: Option<bool>, gateway: &str) -> Setup {
        let text = format!(
            r#"
[register]
listen = "127.0.0.1:0"
[gateway]
internal_listen = "127.0.0.1:0"
listeners = [{{ url = "gt06://127.0.0.1:0" }}]
{gateway}
[worker]
handler = "echo"
"#
        );
        let registry = gateway::codec_registry();
        let mut cfg = Config::parse(Path::new("held_acks.toml"), &text, &registry)
            .expect("test config parses");
        let register = app::start_register(&cfg).await.expect("register starts");
        cfg.register.addresses = vec![register];
        let g = app::start_gateway(&cfg).await.expect("gateway starts");
        let (tx, events) = mpsc::unbounded_channel();
        if let Some(defer) = handler {
            let handler = Handler { defer, events: tx };
            app::start_worker(&cfg, handler, Some(g.state.clone()))
                .await
                .expect("worker starts");
        }
        Setup {
            state: g.state.clone(),
            gt06: g.listeners[0].1,
            events,
        }
    }

    /// The handler's next data event's token, whatever its frame.
    async fn event_any(&mut self) -> Accept {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("the handler saw the event in time")
            .expect("the worker is running")
            .1
    }

    /// The handler's next data event, which must be `frame`.
    async fn event(&mut self, frame: &str) -> Accept {
        let (data, accept) = tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("the handler saw the event in time")
            .expect("the worker is running");
        assert_eq!(data.as_ref(), hex(frame), "the handler's event");
        accept
    }
}

async fn send(device: &mut TcpStream, frame: &str) {
    device.write_all(&hex(frame)).await.expect("device writes");
}

/// Asserts the device is sent nothing (and is not closed) for [`QUIET`].
async fn expect_nothing(device: &mut TcpStream) {
    let mut buf = [0u8; 64];
    if let Ok(r) = tokio::time::timeout(QUIET, device.read(&mut buf)).await {
        panic!("the device got {r:?} while its events were not accepted");
    }
}

/// Reads exactly the concatenation of `acks`.
async fn expect_acks(device: &mut TcpStream, acks: &[&str]) {
    let want: Vec<u8> = acks.iter().flat_map(|a| hex(a)).collect();
    let mut got = vec![0u8; want.len()];
    tokio::time::timeout(WAIT, device.read_exact(&mut got))
        .await
        .expect("the acks came in time")
        .expect("the device reads its acks");
    assert_eq!(got, want, "acks in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_waits_for_its_deferred_event_while_reading_goes_on_and_acks_leave_in_order() {
    let mut s = Setup::start(true).await;
    let mut device = TcpStream::connect(s.gt06).await.expect("device connects");
    send(&mut device, LOGIN).await;
    let login = s.event(LOGIN).await;
    // Sent behind a frame whose event is not accepted: the gateway still reads and routes it.
    send(&mut device, LOCATION_A).await;
    let location = s.event(LOCATION_A).await;
    expect_nothing(&mut device).await;
    // The later event accepted first: its ack still waits for the login's.
    location.accept();
    expect_nothing(&mut device).await;
    login.accept();
    expect_acks(&mut device, &[LOGIN_ACK, LOCATION_A_ACK]).await;
    // Nothing pending any more: the next ack waits for its own event only.
    send(&mut device, LOCATION_B).await;
    let b = s.event(LOCATION_B).await;
    expect_nothing(&mut device).await;
    b.accept();
    expect_acks(&mut device, &[LOCATION_B_ACK]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_event_closes_the_connection_without_its_ack() {
    let mut s = Setup::start(true).await;
    let mut device = TcpStream::connect(s.gt06).await.expect("device connects");
    send(&mut device, LOGIN).await;
    s.event(LOGIN).await.accept();
    expect_acks(&mut device, &[LOGIN_ACK]).await;
    send(&mut device, LOCATION_A).await;
    let a = s.event(LOCATION_A).await;
    send(&mut device, LOCATION_B).await;
    let b = s.event(LOCATION_B).await;
    b.accept();
    a.refuse("the store is down");
    let mut rest = Vec::new();
    tokio::time::timeout(WAIT, device.read_to_end(&mut rest))
        .await
        .expect("the gateway closed the connection in time")
        .expect("a clean close");
    assert!(rest.is_empty(), "no ack after a refusal: {rest:02x?}");
    assert_eq!(s.state.counters.value("refused_events"), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_leave_at_once_when_the_handler_does_not_defer() {
    let mut s = Setup::start(false).await;
    let mut device = TcpStream::connect(s.gt06).await.expect("device connects");
    send(&mut device, LOGIN).await;
    expect_acks(&mut device, &[LOGIN_ACK]).await;
    // Two frames in one write: one decode pass, each ack right behind its event.
    let mut both = hex(LOCATION_A);
    both.extend(hex(LOCATION_B));
    device.write_all(&both).await.expect("device writes");
    expect_acks(&mut device, &[LOCATION_A_ACK, LOCATION_B_ACK]).await;
    for frame in [LOGIN, LOCATION_A, LOCATION_B] {
        assert!(s.event(frame).await.is_inert());
    }
}

/// Location frame number `serial` (LOCATION_A's content) and its ack, framed by the gt06 crate
/// (checked above against the captured frame and ack).
fn location(serial: u16) -> (Vec<u8>, Vec<u8>) {
    let a = hex(LOCATION_A);
    let content = &a[4..a.len() - 6];
    let frame = codec_gt06::frame::build_frame(0x12, content, serial).expect("fits a frame");
    let ack = codec_gt06::frame::build_frame(0x12, &[], serial).expect("fits a frame");
    (frame, ack)
}

#[test]
fn the_built_location_frames_match_the_captured_ones() {
    let (frame, ack) = location(3);
    assert_eq!(frame, hex(LOCATION_A));
    assert_eq!(ack, hex(LOCATION_A_ACK));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_outruns_acceptance_is_not_read_until_completions_catch_up() {
    const FRAMES: u16 = 3000;
    // The window's bound plus what one more read can carry (8 KiB reads, 36-byte frames).
    const MOST_UNACCEPTED: usize = 1024 + 400;
    let mut s = Setup::start(true).await;
    let device = TcpStream::connect(s.gt06).await.expect("device connects");
    let (mut rd, mut wr) = device.into_split();
    let (frames, acks): (Vec<_>, Vec<_>) = (0..FRAMES).map(location).unzip();
    // Written by its own task: once the gateway stops reading, the socket buffers fill and
    // this write waits.
    let writer = tokio::spawn(async move {
        wr.write_all(&frames.concat()).await.expect("device writes");
        wr
    });
    let mut tokens = Vec::new();
    while tokens.len() < 1024 {
        tokens.push(s.event_any().await);
    }
    // Reading has stopped: only what was read before the window filled still comes.
    while let Ok(Some(t)) = tokio::time::timeout(QUIET, s.events.recv()).await {
        tokens.push(t.1);
    }
    assert!(
        tokens.len() <= MOST_UNACCEPTED,
        "{} events routed without acceptance",
        tokens.len()
    );
    assert!(tokens.len() < FRAMES as usize, "reading stopped");
    let mut buf = [0u8; 16];
    assert!(
        tokio::time::timeout(QUIET, rd.read(&mut buf))
            .await
            .is_err(),
        "no ack before acceptance"
    );
    // Accepted newest first: nothing goes out until the oldest is accepted.
    let mut seen = tokens.len();
    for t in tokens.drain(..).rev() {
        t.accept();
    }
    // Reading resumes; accept the rest as it comes.
    while seen < FRAMES as usize {
        s.event_any().await.accept();
        seen += 1;
    }
    let want = acks.concat();
    let mut got = vec![0u8; want.len()];
    tokio::time::timeout(WAIT, rd.read_exact(&mut got))
        .await
        .expect("every ack came in time")
        .expect("the device reads its acks");
    assert!(got == want, "every ack, in order");
    writer.await.expect("the writer finished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_event_that_does_not_fit_the_hold_queue_is_not_acked() {
    // No worker: the connect and identity events fill the hold queue, the login does not fit.
    let s = Setup::start_with(None, "pending_events_max = 2").await;
    let mut device = TcpStream::connect(s.gt06).await.expect("device connects");
    send(&mut device, LOGIN).await;
    let mut rest = Vec::new();
    tokio::time::timeout(WAIT, device.read_to_end(&mut rest))
        .await
        .expect("the gateway closed the connection in time")
        .expect("a clean close");
    assert!(
        rest.is_empty(),
        "no ack for an event that was not kept: {rest:02x?}"
    );
    // At least the login's; the close event that follows does not fit either.
    assert!(s.state.counters.value("held_overflows") >= Some(1));
}
