//! The simulated Heidelberg box behind the fuzzed Modbus framing, and the checks on its replies.

use sunfill_core::heidelberg::{self, reg, InputBlock, Lock, Reading, Standby, INPUT_BLOCK_LEN};
use sunfill_core::Deciamps;
use sunfill_sim::modbus::fc;
use sunfill_sim::wallbox::{Handled, Wallbox, WallboxConfig};

/// Milliseconds after power-on when the box first answers.
pub const BOOTED_MS: u64 = 10_000;
/// Time between two frames on the fuzzed wire.
pub const FRAME_GAP_MS: u64 = 100;

/// A box at unit 1 that has booted, with a three-phase 16 A car plugged in.
pub fn wallbox_booted() -> Wallbox {
    let mut wb = Wallbox::new(WallboxConfig::default());
    wb.plug_in(BOOTED_MS, 3, Deciamps(160));
    assert!(wb.answers(BOOTED_MS));
    wb
}

/// Hands one request PDU to the box and checks the reply against the request. Returns the
/// reply PDU, if the box answered.
pub fn serve(wb: &mut Wallbox, now_ms: u64, unit: u8, pdu: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let handled = wb.handle_pdu(now_ms, unit, pdu, &mut out);
    check_model(wb);
    match handled {
        Handled::Silent => {
            assert!(out.is_empty());
            None
        }
        Handled::Reply => {
            check_reply(pdu, &out);
            Some(out)
        }
    }
}

/// Whatever the box's state, the driver's decoder accepts what the box reports.
fn check_model(wb: &Wallbox) {
    let mut words = [0u16; INPUT_BLOCK_LEN as usize];
    wb.reading().emit(&mut words);
    let block = InputBlock::new_checked(&words).expect("15 words");
    if let Err(e) = Reading::parse(&block) {
        panic!("the simulated box reports a block the driver rejects: {e}");
    }
}

fn word(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}

/// A reply PDU is well formed for its request: an exception (function | 0x80 and a code the
/// box uses), or the normal answer with a byte count matching its data and register values the
/// driver decodes.
pub fn check_reply(req: &[u8], reply: &[u8]) {
    let function = *req.first().expect("the box answered an empty PDU");
    assert!(!reply.is_empty(), "empty reply to {req:?}");
    let exception = reply.len() == 2 && reply[0] == function | 0x80;
    let normal = reply[0] == function && function & 0x80 == 0;
    assert!(exception || normal, "reply {reply:?} to {req:?}");
    if exception && !normal {
        let code = reply[1];
        match function {
            fc::READ_HOLDING | fc::READ_INPUT | fc::WRITE_SINGLE | fc::WRITE_MULTIPLE => {
                assert!(code == 2 || code == 3, "exception {code} to {req:?}")
            }
            _ => assert_eq!(code, 1, "exception {code} to {req:?}"),
        }
        return;
    }
    match function {
        fc::READ_HOLDING | fc::READ_INPUT => {
            assert_eq!(req.len(), 5, "read {req:?} answered");
            let (start, n) = (word(req, 1), usize::from(word(req, 3)));
            assert!((1..=125).contains(&n));
            assert_eq!(
                usize::from(reply[1]),
                2 * n,
                "byte count of {reply:?} for {req:?}"
            );
            assert_eq!(reply.len(), 2 + 2 * n, "{reply:?} for {req:?}");
            for i in 0..n {
                let r = start.checked_add(i as u16).expect("registers past 0xFFFF");
                check_register(function, r, word(reply, 2 + 2 * i));
            }
        }
        fc::WRITE_SINGLE => assert_eq!(reply, req),
        fc::WRITE_MULTIPLE => assert_eq!(reply, &req[..5]),
        _ => panic!("function {function} answered normally: {reply:?}"),
    }
}

/// A register value as the box answers it is one the driver's decoders accept.
fn check_register(function: u8, r: u16, v: u16) {
    if function == fc::READ_INPUT {
        match r {
            4..=18 => {} // checked as a whole block in check_model
            reg::HW_MAX_CURRENT | reg::HW_MIN_CURRENT => assert!((6..=16).contains(&v)),
            _ => panic!("input register {r} answered"),
        }
        return;
    }
    match r {
        reg::WATCHDOG => {}
        reg::STANDBY => assert!(Standby::from_word(v).is_ok(), "258 = {v}"),
        reg::REMOTE_LOCK => assert!(Lock::from_word(r, v).is_ok(), "259 = {v}"),
        reg::MAX_CURRENT | reg::FAILSAFE_CURRENT => {
            let d = heidelberg::decode_max_current(v).expect("261/262 decode");
            assert_eq!(
                heidelberg::effective(d),
                d,
                "{r} = {v} is below 6.0 A but not 0"
            );
        }
        _ => panic!("holding register {r} answered"),
    }
}
