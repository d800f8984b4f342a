//! Modbus TCP framing from the wire (`sunfill_sim::modbus::tcp_*`) in front of the simulated
//! Heidelberg box, as `sunfill sim-wallbox` serves one TCP connection: the input is what the
//! client sends; an invalid header closes the connection, a trailing partial frame waits.
//!
//! Beyond "no panic": frame lengths are consistent with the header and the buffer; a parsed
//! frame re-frames to the same bytes; replies are well formed for their requests (see
//! `common::check_reply`), echo the transaction and unit, and frame into valid MBAP frames; the
//! box never reports a reading the driver rejects.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use sunfill_sim::modbus::{tcp_frame, tcp_parse, tcp_request_len, TcpLen};

fuzz_target!(|data: &[u8]| {
    let mut wb = common::wallbox_booted();
    let mut now = common::BOOTED_MS;
    let mut buf = data;
    let mut framed = Vec::new();
    loop {
        let frame = match tcp_request_len(buf) {
            TcpLen::Complete(n) => {
                let len = usize::from(u16::from_be_bytes([buf[4], buf[5]]));
                assert_eq!(n, 6 + len);
                assert!(n >= 8 && n <= buf.len(), "frame of {n} in {}", buf.len());
                let (frame, rest) = buf.split_at(n);
                buf = rest;
                frame
            }
            TcpLen::Invalid => {
                let len = u16::from_be_bytes([buf[4], buf[5]]);
                assert!(buf[2..4] != [0, 0] || !(2..=254).contains(&len));
                break;
            }
            TcpLen::Incomplete => break,
        };
        now += common::FRAME_GAP_MS;
        let (h, pdu) = tcp_parse(frame).expect("a complete frame parses");
        tcp_frame(h, pdu, &mut framed);
        assert_eq!(framed, frame);
        let pdu = pdu.to_vec();
        if let Some(reply) = common::serve(&mut wb, now, h.unit, &pdu) {
            tcp_frame(h, &reply, &mut framed);
            assert_eq!(tcp_request_len(&framed), TcpLen::Complete(framed.len()));
            assert_eq!(tcp_parse(&framed), Some((h, &reply[..])));
        }
    }
});
