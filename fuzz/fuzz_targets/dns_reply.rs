//! Fuzzes the DNS reply decoder: `dns::decode_reply`, i.e. what the resolver does with a
//! reply from the network (hickory-proto's message decode, the match against the query,
//! CNAME chasing in the answer section, MX ordering and address extraction). The input is
//! one reply in wire format (a UDP datagram, or a TCP message without its length prefix).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((mx, _addrs)) = postern::dns::decode_reply(data) {
        assert!(
            mx.windows(2).all(|w| w[0].preference <= w[1].preference),
            "MX hosts out of preference order"
        );
    }
});
