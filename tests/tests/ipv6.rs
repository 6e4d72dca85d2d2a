//! IPv6 (issue 13): devices reach a gateway over `[::1]`, the register serves its links over
//! `[::1]`, and what cannot work on IPv6 (an internal port bound to one IPv6 address, an IPv6
//! `lan_ip`: client ids encode the gateway's IPv4 address and port) is a config error.

use std::time::Duration;
use tests::process::check_config;
use tests::{LineClient, Proc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A captured GT06 login (0x01) of IMEI 0123456789012345, serial 1.
const LOGIN: &str = "78780d01012345678901234500018cdd0d0a";

fn start_config(register: &str, internal: &str, lan_ip: &str) -> String {
    format!(
        "secret = \"\"\n[register]\nlisten = \"{register}\"\n[gateway]\nname = \"g\"\n\
         lan_ip = \"{lan_ip}\"\ninternal_listen = \"{internal}\"\n\
         listeners = [{{ url = \"text://[::1]:0\" }}, {{ url = \"gt06://[::1]:0\" }}]\n\
         [worker]\nname = \"w\"\nhandler = \"echo\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_echo_and_a_tracker_logs_in_over_ipv6_with_the_register_on_ipv6() {
    let p = Proc::spawn(
        "ipv6",
        "start",
        &start_config("[::1]:0", "127.0.0.1:0", "127.0.0.1"),
    );
    let register = p.wait_addr("register").await;
    assert!(register.is_ipv6(), "{register}");
    let text = p.wait_listener("text").await;
    let gt06 = p.wait_listener("gt06").await;
    assert!(text.is_ipv6() && gt06.is_ipv6(), "{text} {gt06}");
    // The worker found the gateway through the register's list, over the IPv6 register link.
    p.wait_announced("worker").await;

    let mut c = LineClient::connect(text).await;
    c.echo_many("over-v6", 50).await;

    let mut tracker = tokio::net::TcpStream::connect(gt06).await.unwrap();
    tracker
        .write_all(&hex::decode(LOGIN).unwrap())
        .await
        .unwrap();
    let mut ack = [0u8; 10];
    tokio::time::timeout(Duration::from_secs(10), tracker.read_exact(&mut ack))
        .await
        .expect("no login ack over ipv6")
        .unwrap();
    assert_eq!(&ack[..4], [0x78, 0x78, 0x05, 0x01], "{}", hex::encode(ack));
}

#[test]
fn an_ipv6_lan_ip_or_internal_port_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v6.toml");
    std::fs::write(&path, start_config("[::1]:0", "[::1]:0", "::1")).unwrap();
    let out = check_config(&path);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for (key, reason) in [
        ("gateway.lan_ip", "must be an ipv4 address"),
        ("gateway.internal_listen", "must be an ipv4 address or [::]"),
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(key) && l.contains(reason)),
            "no {key}: {reason} in:\n{stderr}"
        );
    }
    // [::] accepts IPv4 links too (dual stack): allowed.
    std::fs::write(&path, start_config("[::1]:0", "[::]:0", "127.0.0.1")).unwrap();
    let out = check_config(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
