//! The internal protocol's frame decoder on arbitrary bytes, fed in chunks, as every link
//! role's message type: never panics, never buffers past one frame's limit, and what decodes
//! re-encodes to the same message. The same bytes read as every query's reply never panic.
#![no_main]

use devgate_fuzz::link_codec;
use gateway::proto::{
    FromGateway, FromRegister, Handshake, QueryKind, Reply, ToGateway, ToRegister,
    HANDSHAKE_MAX_FRAME,
};
use libfuzzer_sys::fuzz_target;

const MAX: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    link_codec::<Handshake>(data, HANDSHAKE_MAX_FRAME);
    link_codec::<ToRegister>(data, MAX);
    link_codec::<FromRegister>(data, MAX);
    link_codec::<ToGateway>(data, MAX);
    link_codec::<FromGateway>(data, MAX);
    for kind in (1..=u8::MAX).filter_map(QueryKind::from_u8) {
        if let Ok(reply) = Reply::decode(kind, data) {
            assert_eq!(reply.kind(), kind);
        }
    }
});
