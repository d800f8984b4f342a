//! Modbus response decoding (`sunfill_core::heidelberg`): big-endian words as tokio-modbus
//! hands them to the driver, laid out as the input block 4..=18 (15 words), the hardware limits
//! 100..=101 (2), and the holding blocks 257..=259 (3) and 261..=262 (2); shorter inputs give
//! shorter blocks, so length errors are covered too.
//!
//! Beyond "no panic": a decoded reading re-encodes to exactly the words it came from and stays
//! within the documented ranges; an out-of-range error names a register of the block and the
//! value it holds; decoded settings encode back (as `Write`s) to the same registers and words,
//! and every encodable current decodes again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sunfill_core::heidelberg::{
    decode_max_current, effective, reg, ChargingState, DecodeError, HwLimits, InputBlock, Lock,
    Reading, Settings, Standby, Write, INPUT_BLOCK_LEN,
};
use sunfill_core::Deciamps;

const N: usize = INPUT_BLOCK_LEN as usize;

fn take<'a>(words: &mut &'a [u16], n: usize) -> &'a [u16] {
    let (a, b) = words.split_at(n.min(words.len()));
    *words = b;
    a
}

fuzz_target!(|data: &[u8]| {
    let all: Vec<u16> = data
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    let mut rest = &all[..];
    let block = take(&mut rest, N);
    let limits = take(&mut rest, 2);
    let hold_a = take(&mut rest, 3);
    let hold_b = take(&mut rest, 2);

    input_block(block);
    hw_limits(limits);
    settings(hold_a, hold_b);
    for &w in &all {
        single_words(w);
    }
});

fn input_block(words: &[u16]) {
    let block = match InputBlock::new_checked(words) {
        Ok(b) => b,
        Err(e) => {
            assert_eq!(
                e,
                DecodeError::Length {
                    start: 4,
                    expected: N,
                    got: words.len()
                }
            );
            let _ = e.to_string();
            return;
        }
    };
    match Reading::parse(&block) {
        Ok(r) => {
            let mut out = [0u16; N];
            r.emit(&mut out);
            assert_eq!(&out[..], words, "{r:?} re-encodes differently");
            assert!(r.currents.iter().all(|c| c.0 <= 320));
            assert!(r.voltages.iter().all(|v| *v <= 300));
            assert!((-400..=1500).contains(&r.temperature_decidegc));
            assert!(r.power_w <= 28_800);
            let w = r.to_wallbox_reading();
            assert_eq!(w.power_w, i32::from(r.power_w));
            assert_eq!(w.state, r.state.vehicle_state());
            assert_eq!(w.currents, r.currents);
            let _ = (r.layout.to_string(), r.state.to_string());
        }
        Err(e) => {
            let DecodeError::OutOfRange { reg: r, value, .. } = e else {
                panic!("{e:?} from a block of the right length")
            };
            assert!((4..=18).contains(&r), "register {r}");
            assert_eq!(value, u32::from(block.word(r)));
            assert!(e.to_string().starts_with(&format!("register {r} (")));
        }
    }
}

fn hw_limits(words: &[u16]) {
    match HwLimits::parse(words) {
        Ok(l) => {
            assert_eq!(words, [l.max_amps, l.min_amps]);
            assert!(6 <= l.min_amps && l.min_amps <= l.max_amps && l.max_amps <= 16);
            assert_eq!(l.max(), Deciamps(l.max_amps * 10));
        }
        Err(e) => {
            if words.len() == 2 {
                assert!(matches!(e, DecodeError::OutOfRange { reg: 100 | 101, .. }));
            }
            let _ = e.to_string();
        }
    }
}

fn settings(a: &[u16], b: &[u16]) {
    let s = match Settings::parse(a, b) {
        Ok(s) => s,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let encoded = [
        Write::Watchdog(s.watchdog_ms),
        Write::Standby(s.standby),
        Write::RemoteLock(s.remote_lock),
        Write::MaxCurrent(s.max_current),
        Write::FailsafeCurrent(s.failsafe_current),
    ]
    .map(|w| w.encode().expect("decoded settings encode"));
    assert_eq!(encoded[0], (reg::WATCHDOG, a[0]));
    assert_eq!(encoded[1], (reg::STANDBY, a[1]));
    assert_eq!(encoded[2], (reg::REMOTE_LOCK, a[2]));
    // Currents below 6.0 A are written as 0; the box treats them so anyway.
    assert_eq!(encoded[3], (reg::MAX_CURRENT, effective(Deciamps(b[0])).0));
    assert_eq!(
        encoded[4],
        (reg::FAILSAFE_CURRENT, effective(Deciamps(b[1])).0)
    );
    assert_eq!(s.effective_current(), effective(s.max_current));
}

fn single_words(w: u16) {
    if let Ok(s) = ChargingState::from_word(w) {
        assert_eq!(s.to_word(), w);
    }
    if let Ok(s) = Standby::from_word(w) {
        assert_eq!(s.to_word(), w);
    }
    if let Ok(l) = Lock::from_word(reg::REMOTE_LOCK, w) {
        assert_eq!(l.to_word(), w);
    }
    match decode_max_current(w) {
        Ok(d) => assert_eq!(d, Deciamps(w)),
        Err(e) => assert!(w > 160, "{e}"),
    }
    match Write::MaxCurrent(Deciamps(w)).encode() {
        Ok((r, v)) => {
            assert_eq!(r, reg::MAX_CURRENT);
            assert!(v == 0 || (60..=160).contains(&v), "{w} encodes as {v}");
            assert_eq!(decode_max_current(v), Ok(effective(Deciamps(w))));
        }
        Err(e) => {
            assert!(w > 160);
            let _ = e.to_string();
        }
    }
}
