//! Echoes through real devgate processes: every stock protocol, plain and TLS, in order.

use std::net::SocketAddr;
use tests::cluster::{tls_listener, FRAME, TEXT, WEBSOCKET};
use tests::{Cluster, FrameClient, LineClient, Proc, TestCert, WsClient};

const N: usize = 200;

/// Runs text, frame, websocket, TLS text and wss clients against one gateway, all at once.
async fn all_protocols_echo(gw: &tests::Gateway, cert: &TestCert, tag: &str) {
    let (text, frame, ws, tls_text, wss) = (
        gw.listener(0),
        gw.listener(1),
        gw.listener(2),
        gw.listener(3),
        gw.listener(4),
    );
    let text = async {
        let mut c = LineClient::connect(text).await;
        c.echo_many(&format!("{tag}-text"), N).await;
    };
    let frame = async {
        let mut c = FrameClient::connect(frame).await;
        c.echo_many(&format!("{tag}-frame"), N).await;
    };
    let ws = async {
        let mut c = WsClient::connect(ws, "/").await;
        c.echo_many(&format!("{tag}-ws"), N).await;
    };
    let tls_text = async {
        let mut c = LineClient::over(cert.connect(tls_text).await);
        c.echo_many(&format!("{tag}-tls"), N).await;
    };
    let wss = async {
        let stream = cert.connect(wss).await;
        let mut c = WsClient::over(stream, &format!("wss://127.0.0.1:{}/", wss.port())).await;
        c.echo_many(&format!("{tag}-wss"), N).await;
    };
    tokio::join!(text, frame, ws, tls_text, wss);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_protocol_plain_and_tls_echoes_in_order_across_two_gateways_and_two_workers() {
    let cluster = Cluster::start().await;
    let files = tempfile::tempdir().unwrap();
    let cert = TestCert::new();
    let (cert_path, key_path) = cert.write_to(files.path());
    let tls_text = tls_listener("text", &cert_path, &key_path);
    let wss = tls_listener("websocket", &cert_path, &key_path);
    let listeners = [TEXT, FRAME, WEBSOCKET, tls_text.as_str(), wss.as_str()];
    let g1 = cluster.gateway("g1", &listeners, "").await;
    let g2 = cluster.gateway("g2", &listeners, "").await;
    let _w1 = cluster.worker("w1").await;
    let _w2 = cluster.worker("w2").await;
    for g in [&g1, &g2] {
        g.wait_worker_linked("w1", 1).await;
        g.wait_worker_linked("w2", 1).await;
    }
    // Two rounds per gateway at once: new clients spread over both workers.
    tokio::join!(
        all_protocols_echo(&g1, &cert, "g1a"),
        all_protocols_echo(&g1, &cert, "g1b"),
        all_protocols_echo(&g2, &cert, "g2a"),
        all_protocols_echo(&g2, &cert, "g2b"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_listener_refuses_a_client_that_does_not_trust_its_certificate() {
    let cluster = Cluster::start().await;
    let files = tempfile::tempdir().unwrap();
    let served = TestCert::new();
    let (cert_path, key_path) = served.write_to(files.path());
    let tls_text = tls_listener("text", &cert_path, &key_path);
    let g = cluster.gateway("g1", &[tls_text.as_str()], "").await;
    let _w = cluster.worker("w1").await;
    // Another self-signed certificate as the only root: the handshake must fail.
    let stranger = TestCert::new();
    let tcp = tests::clients::tcp(g.listener(0)).await;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let r = tokio::time::timeout(tests::WAIT, stranger.connector().connect(name, tcp))
        .await
        .expect("handshake neither failed nor finished");
    assert!(r.is_err(), "an untrusted certificate was accepted");
    // The listener still serves clients that trust it.
    let mut ok = LineClient::over(served.connect(g.listener(0)).await);
    ok.echo_many("trusted", 10).await;
}

fn start_config(register: &str) -> String {
    format!(
        "secret = \"\"\n[register]\nlisten = \"{register}\"\n[gateway]\nname = \"g\"\n\
         lan_ip = \"127.0.0.1\"\ninternal_listen = \"127.0.0.1:0\"\nping_interval = 25\n\
         listeners = [{TEXT}, {FRAME}, {WEBSOCKET}]\n[worker]\nname = \"w\"\nhandler = \"echo\"\n"
    )
}

async fn start_serves_every_protocol(start: &Proc) {
    let text: SocketAddr = start.wait_listener("text").await;
    let frame = start.wait_listener("frame").await;
    let ws = start.wait_listener("websocket").await;
    let t = async {
        let mut c = LineClient::connect(text).await;
        c.echo_many("start-text", N).await;
    };
    let f = async {
        let mut c = FrameClient::connect(frame).await;
        c.echo_many("start-frame", N).await;
    };
    let w = async {
        let mut c = WsClient::connect(ws, "/chat?room=1").await;
        c.echo_many("start-ws", N).await;
    };
    tokio::join!(t, f, w);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_runs_register_gateway_and_worker_in_one_process_and_echoes_every_protocol() {
    // The quick start's config with ephemeral ports (its fixed ports may be in use): the
    // in-process gateway and worker must use the register port actually bound.
    let start = Proc::spawn("start", "start", &start_config("127.0.0.1:0"));
    let register = start.wait_addr("register").await;
    assert_ne!(register.port(), 0);
    start_serves_every_protocol(&start).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_gateway_process_shares_the_client_port_and_serves_it_when_the_first_dies() {
    let cluster = Cluster::start().await;
    let mut g1 = cluster.gateway("g1", &[TEXT], "").await;
    let shared = g1.listener(0);
    let _w = cluster.worker("w1").await;
    g1.wait_worker_linked("w1", 1).await;
    let mut first = LineClient::connect(shared).await;
    first.echo_many("first", 20).await;

    let same_port = format!(r#"{{ url = "text://{shared}" }}"#);
    let g2 = cluster.gateway("g2", &[same_port.as_str()], "").await;
    assert_eq!(g2.listener(0), shared);
    g2.wait_worker_linked("w1", 1).await;
    // With the first process gone, the port is served by the second one alone.
    g1.proc.kill();
    for i in 0..4 {
        let mut c = LineClient::connect(shared).await;
        c.echo_many(&format!("after-{i}"), 20).await;
    }
}
