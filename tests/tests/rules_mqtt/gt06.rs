//! GT06 frames for the rules/MQTT tests: a login for any IMEI (CRC computed here, checked
//! against the captured login), captured location and command frames, and an exact read.

use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// CRC-16/X-25 (GT06's "CRC-ITU"), written here so the test does not trust the codec's own.
fn crc_x25(data: &[u8]) -> u16 {
    let mut crc = 0xffffu16;
    for &b in data {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x8408
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A GT06 login (0x01, serial 1) for a 15-digit IMEI, laid out as in the captured vector.
pub fn gt06_login(imei: &str) -> Vec<u8> {
    let digits = format!("0{imei}");
    let bcd = hex::decode(&digits).expect("IMEI digits");
    let mut body = vec![0x0d, 0x01];
    body.extend_from_slice(&bcd);
    body.extend_from_slice(&[0x00, 0x01]);
    let mut frame = vec![0x78, 0x78];
    frame.extend_from_slice(&body);
    frame.extend_from_slice(&crc_x25(&body).to_be_bytes());
    frame.extend_from_slice(&[0x0d, 0x0a]);
    frame
}

/// A random IMEI, so runs sharing a broker never share topics.
pub fn random_imei() -> String {
    format!("{:015}", rand::random::<u64>() % 1_000_000_000_000_000)
}

/// A location (0x12, serial 3) from Traccar's GT06 tests (shared/vectors/gt06.jsonl): fix at
/// 2015-10-20 14:21:11 UTC, lat 54.945347, lon 24.017622, speed 0.
pub const LOCATION: &str =
    "78781f120f0a140e150bc505e51e780293a9e800540000f601006e0055da00035f240d0a";
/// The ack the gateway answers [`LOCATION`] with (serial 3 echoed).
pub const LOCATION_ACK: &str = "787805120003903f0d0a";
/// Traccar's encoder test: `Relay,1#` as a GT06 online command (0x80, server flag 0, serial 0).
pub const RELAY_COMMAND: &str = "787812800c0000000052656c61792c312300009dee0d0a";

/// Reads exactly `n` bytes, within the tests' usual limit.
pub async fn read_exactly(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    tokio::time::timeout(tests::WAIT, stream.read_exact(&mut buf))
        .await
        .expect("bytes in time")
        .expect("read");
    buf
}

/// Reads `n` bytes within `limit`: `None` when they do not come (nothing sent yet).
pub async fn read_within(stream: &mut TcpStream, n: usize, limit: Duration) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; n];
    match tokio::time::timeout(limit, stream.read_exact(&mut buf)).await {
        Ok(Ok(_)) => Some(buf),
        Ok(Err(e)) => panic!("tracker connection: {e}"),
        Err(_) => None,
    }
}
