//! Device frames for the family tests, built here from the protocol rules (shared/vectors
//! README) and checked against captured vectors, so the expected bytes never come from the
//! codecs under test.
//!
//! Captured frames are Traccar's (shared/vectors/*.jsonl, cited by `source_line`).

/// A reflected CRC-16 (polynomial in shift-right form): X-25 and ARC differ only in
/// polynomial, initial value and final XOR.
fn crc16_reflected(poly: u16, init: u16, xorout: u16, data: &[u8]) -> u16 {
    let mut crc = init;
    for &b in data {
        crc ^= u16::from(b);
        for _ in 0..8 {
            let carry = crc & 1 != 0;
            crc >>= 1;
            if carry {
                crc ^= poly;
            }
        }
    }
    crc ^ xorout
}

/// CRC-16/X-25, GT06's "CRC-ITU".
pub fn crc_x25(data: &[u8]) -> u16 {
    crc16_reflected(0x8408, 0xffff, 0xffff, data)
}

/// CRC-16/IBM (ARC), Teltonika's.
pub fn crc_arc(data: &[u8]) -> u16 {
    crc16_reflected(0xa001, 0, 0, data)
}

/// A short-form GT06 frame: `78 78 LEN PROTO CONTENT SERIAL CRC 0D 0A`.
pub fn gt06_frame(proto: u8, content: &[u8], serial: u16) -> Vec<u8> {
    let len = u8::try_from(content.len() + 5).expect("short-form GT06 frame");
    let mut signed = vec![len, proto];
    signed.extend_from_slice(content);
    signed.extend_from_slice(&serial.to_be_bytes());
    let mut frame = vec![0x78, 0x78];
    frame.extend_from_slice(&signed);
    frame.extend_from_slice(&crc_x25(&signed).to_be_bytes());
    frame.extend_from_slice(&[0x0d, 0x0a]);
    frame
}

/// GT06 online command 0x80: length (4 + text), server flag 0, the ASCII text.
pub fn gt06_command(text: &str, serial: u16) -> Vec<u8> {
    let mut content = vec![u8::try_from(text.len() + 4).expect("short command")];
    content.extend_from_slice(&[0, 0, 0, 0]);
    content.extend_from_slice(text.as_bytes());
    gt06_frame(0x80, &content, serial)
}

/// XOR of every byte (JT/T 808's checksum).
fn xor(data: &[u8]) -> u8 {
    data.iter().fold(0, |a, b| a ^ b)
}

/// JT/T 808 escaping: 0x7E as `7D 02`, 0x7D as `7D 01`.
pub fn escape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 4);
    for &b in data {
        match b {
            0x7e => out.extend_from_slice(&[0x7d, 0x02]),
            0x7d => out.extend_from_slice(&[0x7d, 0x01]),
            _ => out.push(b),
        }
    }
    out
}

/// Undoes [`escape`] on the bytes between the `7E` delimiters.
pub fn unescape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut bytes = data.iter();
    while let Some(&b) = bytes.next() {
        if b == 0x7d {
            match bytes.next() {
                Some(0x02) => out.push(0x7e),
                Some(0x01) => out.push(0x7d),
                other => panic!("bad JT808 escape 7d {other:?}"),
            }
        } else {
            out.push(b);
        }
    }
    out
}

/// A 2013-edition JT/T 808 frame to or from `phone` (12 BCD digits): header, body, XOR,
/// escaped, between `7E` delimiters.
pub fn jt808_frame(msg_id: u16, phone: &str, serial: u16, body: &[u8]) -> Vec<u8> {
    let attributes = u16::try_from(body.len()).expect("short body");
    assert!(attributes <= 0x3ff, "body too long for one JT808 packet");
    let mut signed = msg_id.to_be_bytes().to_vec();
    signed.extend_from_slice(&attributes.to_be_bytes());
    signed.extend_from_slice(&hex::decode(phone).expect("phone digits"));
    signed.extend_from_slice(&serial.to_be_bytes());
    signed.extend_from_slice(body);
    signed.push(xor(&signed));
    let mut frame = vec![0x7e];
    frame.extend_from_slice(&escape(&signed));
    frame.push(0x7e);
    frame
}

/// The platform general response 0x8001 (serial 0, result 0) to the terminal's message.
pub fn jt808_ack(phone: &str, reply_serial: u16, reply_id: u16) -> Vec<u8> {
    let mut body = reply_serial.to_be_bytes().to_vec();
    body.extend_from_slice(&reply_id.to_be_bytes());
    body.push(0);
    jt808_frame(0x8001, phone, 0, &body)
}

/// A text message 0x8300 (flag 1, ASCII text) with platform serial `serial`.
pub fn jt808_text(phone: &str, serial: u16, text: &str) -> Vec<u8> {
    let mut body = vec![1];
    body.extend_from_slice(text.as_bytes());
    jt808_frame(0x8300, phone, serial, &body)
}

/// The auth code of a 0x8100 registration reply (wire bytes): the body after reply serial
/// and result.
pub fn jt808_auth_code(reply: &[u8]) -> String {
    let inner = unescape(&reply[1..reply.len() - 1]);
    let (signed, _checksum) = inner.split_at(inner.len() - 1);
    assert_eq!(&signed[..2], &[0x81, 0x00], "not a 0x8100 reply");
    // msg id 2, attributes 2, phone 6, serial 2; then reply serial 2, result 1.
    String::from_utf8(signed[12 + 3..].to_vec()).expect("ASCII auth code")
}

/// A Teltonika codec 12 command (type 0x05) carrying `text`.
pub fn teltonika_command(text: &str) -> Vec<u8> {
    let size = u32::try_from(text.len()).expect("short command");
    let mut data = vec![0x0c, 1, 0x05];
    data.extend_from_slice(&size.to_be_bytes());
    data.extend_from_slice(text.as_bytes());
    data.push(1);
    let mut packet = vec![0, 0, 0, 0];
    packet.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
    packet.extend_from_slice(&data);
    packet.extend_from_slice(&u32::from(crc_arc(&data)).to_be_bytes());
    packet
}

/// gt06.jsonl line 17: login of IMEI 864717003283581, serial 9.
pub const GT06_LOGIN: &str = "78780d01086471700328358100093f040d0a";
/// Its ack (`ack_hex`).
pub const GT06_LOGIN_ACK: &str = "78780501000955940d0a";
/// gt06.jsonl line 489: 0x12 location, 2015-10-20 14:21:11 UTC, 54.945347 N 24.017622 E, 0 km/h.
pub const GT06_LOCATION_A: &str =
    "78781f120f0a140e150bc505e51e780293a9e800540000f601006e0055da00035f240d0a";
/// Its ack.
pub const GT06_LOCATION_A_ACK: &str = "787805120003903f0d0a";
/// gt06.jsonl line 532: 0x12 location, 2017-08-25 17:02:22 UTC, 27.463709 N 76.04256 E,
/// 85 km/h, course 200.
pub const GT06_LOCATION_B: &str =
    "78781f12110819110216d402f250340828924055d4c801944600d300c09501429c830d0a";
/// Its ack.
pub const GT06_LOCATION_B_ACK: &str = "787805120142da6a0d0a";

/// jt808.jsonl line 319: registration 0x0100 of phone 013511221122, serial 5.
pub const JT808_REGISTER: &str = "7e0100002d013511221122000500000000373031303748422d52303347424400000000000000000000003233363631303402cbd5424136383630387e";
/// Its 0x8100 reply: auth code = the phone digits.
pub const JT808_REGISTER_ACK: &str = "7e8100000f0135112211220000000500303133353131323231313232b87e";
/// The phone of [`JT808_REGISTER`].
pub const JT808_PHONE: &str = "013511221122";
/// jt808.jsonl line 295: the body of a 0x0200 location (phone 013833501744, serial 25):
/// 22.6426 N 114.032984 E, 0 km/h, course 8, altitude 128 m, 2015-08-18 07:21:21 GMT+8.
pub const JT808_LOCATION_BODY: &str =
    "00000000000000c201597fa806cc01580080000000081508180721210104000002f50202000003020000";

/// teltonika.jsonl line 15: the IMEI packet of 123456789012345.
pub const TELTONIKA_IMEI: &str = "000f313233343536373839303132333435";
/// teltonika.jsonl line 72: codec 8, one record: 2019-01-04 12:27:19 UTC, 48.1523066 N
/// 16.3745183 E, 83 km/h, angle 198, 15 satellites, altitude 190 m.
pub const TELTONIKA_LOCATION: &str = "000000000000004c08010000016818d500580009c28d9f1cb3757a00be00c60f0053000f06f0011503c80001011d00fc0007423799180053cdf80dce426f430f88190bb8560bb802f100005aa110002887e000010000ee8d";
/// Its ack: one record accepted.
pub const TELTONIKA_LOCATION_ACK: &str = "00000001";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crcs_have_their_standard_check_values() {
        assert_eq!(crc_x25(b"123456789"), 0x906e);
        assert_eq!(crc_arc(b"123456789"), 0xbb3d);
    }

    #[test]
    fn the_gt06_builders_reproduce_captured_frames() {
        // gt06.jsonl line 18: Traccar's encoder, `Relay,1#` with serial 0.
        assert_eq!(
            hex::encode(gt06_command("Relay,1#", 0)),
            "787812800c0000000052656c61792c312300009dee0d0a"
        );
        let imei = hex::decode("0864717003283581").unwrap();
        assert_eq!(hex::encode(gt06_frame(0x01, &imei, 9)), GT06_LOGIN);
        assert_eq!(hex::encode(gt06_frame(0x01, &[], 9)), GT06_LOGIN_ACK);
        assert_eq!(hex::encode(gt06_frame(0x12, &[], 322)), GT06_LOCATION_B_ACK);
    }

    #[test]
    fn the_jt808_builders_reproduce_captured_frames() {
        // jt808.jsonl line 27: Traccar's 0x8300 text message, serial 0.
        assert_eq!(
            hex::encode(jt808_text("0b3a73ce2ff2", 0, "Test, Command, 123#")),
            "7e830000140b3a73ce2ff2000001546573742c20436f6d6d616e642c2031323323a57e"
        );
        // jt808.jsonl line 325: authentication and its 0x8001 ack.
        assert_eq!(
            hex::encode(jt808_frame(0x0102, JT808_PHONE, 6, b"authentication")),
            "7e0102000e013511221122000661757468656e7469636174696f6e3f7e"
        );
        assert_eq!(
            hex::encode(jt808_ack(JT808_PHONE, 6, 0x0102)),
            "7e8001000501351122112200000006010200b57e"
        );
        // jt808.jsonl line 295: the location whose body the test sends, and its ack.
        let body = hex::decode(JT808_LOCATION_BODY).unwrap();
        assert_eq!(
            hex::encode(jt808_frame(0x0200, "013833501744", 25, &body)),
            "7e0200002a013833501744001900000000000000c201597fa806cc01580080000000081508180721210104000002f502020000030200009f7e"
        );
        assert_eq!(
            hex::encode(jt808_ack("013833501744", 25, 0x0200)),
            "7e8001000501383350174400000019020000967e"
        );
        assert_eq!(
            jt808_auth_code(&hex::decode(JT808_REGISTER_ACK).unwrap()),
            JT808_PHONE
        );
    }

    #[test]
    fn jt808_escaping_round_trips_the_standards_example() {
        let raw = [0x30, 0x7e, 0x08, 0x7d, 0x55];
        let wire = escape(&raw);
        assert_eq!(wire, [0x30, 0x7d, 0x02, 0x08, 0x7d, 0x01, 0x55]);
        assert_eq!(unescape(&wire), raw);
    }

    #[test]
    fn the_teltonika_builder_reproduces_a_captured_command() {
        // teltonika.jsonl line 19: Traccar's codec 12 `setdigout 11`.
        assert_eq!(
            hex::encode(teltonika_command("setdigout 11")),
            "00000000000000140c01050000000c7365746469676f7574203131010000bed5"
        );
    }
}
