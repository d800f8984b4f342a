//! Modbus RTU framing from the wire (`sunfill_sim::modbus::rtu_*`) in front of the simulated
//! Heidelberg box, as `sunfill sim-wallbox` serves a serial line: the input is the byte stream;
//! frames are cut where `rtu_request_len` says, an unknown function code ends at the next
//! silence (here: the end of the input), a trailing partial frame is line noise.
//!
//! So that the fuzzer reaches the box without solving CRC-16, a frame with a wrong CRC (which
//! the server drops) is also served with its CRC repaired.
//!
//! Beyond "no panic": frame lengths are consistent with the buffer; a frame that passes the CRC
//! check re-frames to the same bytes; replies are well formed for their requests (see
//! `common::check_reply`) and survive framing; the box never reports a reading the driver
//! rejects.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use sunfill_sim::modbus::{crc16, rtu_frame, rtu_parse, rtu_request_len, RtuLen};

fuzz_target!(|data: &[u8]| {
    let mut wb = common::wallbox_booted();
    let mut now = common::BOOTED_MS;
    let mut buf = data;
    let mut framed = Vec::new();
    while !buf.is_empty() {
        let frame = match rtu_request_len(buf) {
            RtuLen::Complete(n) => {
                assert!(n >= 8 && n <= buf.len(), "frame of {n} in {}", buf.len());
                let (frame, rest) = buf.split_at(n);
                buf = rest;
                frame
            }
            RtuLen::Unknown => std::mem::take(&mut buf),
            RtuLen::Incomplete => break,
        };
        now += common::FRAME_GAP_MS;
        let (unit, pdu) = match rtu_parse(frame) {
            Some((unit, pdu)) => {
                rtu_frame(unit, pdu, &mut framed);
                assert_eq!(framed, frame);
                (unit, pdu.to_vec())
            }
            None if frame.len() >= 4 => {
                let body = &frame[..frame.len() - 2];
                assert_ne!(crc16(body).to_le_bytes(), frame[frame.len() - 2..]);
                rtu_frame(body[0], &body[1..], &mut framed);
                let (unit, pdu) = rtu_parse(&framed).expect("a frame with its CRC repaired");
                (unit, pdu.to_vec())
            }
            None => continue,
        };
        // Unit 0 is a broadcast: no answer on RTU.
        if unit == 0 {
            continue;
        }
        if let Some(reply) = common::serve(&mut wb, now, unit, &pdu) {
            rtu_frame(unit, &reply, &mut framed);
            assert_eq!(rtu_parse(&framed), Some((unit, &reply[..])));
        }
    }
});
