//! The register model of the Heidelberg Energy Control wallbox (Modbus RTU, layout 1.0.x).
//!
//! This module and the driver in the `sunfill` binary are the only places that know register
//! numbers. As in smoltcp's `wire`, raw words are turned into a validated representation: an
//! [`InputBlock`] (registers 4..=18 as read with FC 04) decodes into a [`Reading`], the hardware
//! limits (100, 101) into [`HwLimits`], the holding registers (257..=259, 261..=262) into
//! [`Settings`]; a [`Write`] encodes into a register number and a value. Every value is range
//! checked: an out-of-range word is a [`DecodeError`] naming the register and the value, never a
//! panic. Nothing here does I/O or allocates.

use crate::control::{VehicleState, WallboxReading};
use crate::units::Deciamps;
use core::fmt;

/// Register numbers (Modbus addresses as the Heidelberg manual counts them, 0-based on the wire).
pub mod reg {
    /// Input: register-layout version, e.g. `0x0108` = 1.0.8.
    pub const LAYOUT_VERSION: u16 = 4;
    /// Input: charging state (2..=11, see [`ChargingState`](super::ChargingState)).
    pub const CHARGING_STATE: u16 = 5;
    /// Input: RMS current L1, 0.1 A (L2, L3 follow).
    pub const CURRENT_L1: u16 = 6;
    /// Input: PCB temperature, 0.1 degC, signed.
    pub const TEMPERATURE: u16 = 9;
    /// Input: RMS voltage L1, V (L2, L3 follow).
    pub const VOLTAGE_L1: u16 = 10;
    /// Input: external lock input, 0 = locked.
    pub const EXTERNAL_LOCK: u16 = 13;
    /// Input: power L1+L2+L3, W.
    pub const POWER: u16 = 14;
    /// Input: energy since power-on, Wh, u32 high word first (15, 16).
    pub const ENERGY_SINCE_POWER_ON: u16 = 15;
    /// Input: energy since installation, Wh, u32 high word first (17, 18).
    pub const ENERGY_SINCE_INSTALLATION: u16 = 17;
    /// Input: hardware maximum current (DIP switches), A.
    pub const HW_MAX_CURRENT: u16 = 100;
    /// Input: hardware minimum current, A.
    pub const HW_MIN_CURRENT: u16 = 101;
    /// Holding: Modbus watchdog timeout, ms, 0 = off.
    pub const WATCHDOG: u16 = 257;
    /// Holding: standby control, 0 = standby allowed, 4 = standby disabled.
    pub const STANDBY: u16 = 258;
    /// Holding: remote lock, 0 = locked, 1 = unlocked.
    pub const REMOTE_LOCK: u16 = 259;
    /// Holding: maximum charging current command, 0.1 A (0 or 60..=160).
    pub const MAX_CURRENT: u16 = 261;
    /// Holding: failsafe current used when the watchdog expires, 0.1 A.
    pub const FAILSAFE_CURRENT: u16 = 262;

    /// A short name of a register for messages ("charging state"), `"unknown"` otherwise.
    pub const fn name(reg: u16) -> &'static str {
        match reg {
            LAYOUT_VERSION => "layout version",
            CHARGING_STATE => "charging state",
            6 => "current L1",
            7 => "current L2",
            8 => "current L3",
            TEMPERATURE => "PCB temperature",
            10 => "voltage L1",
            11 => "voltage L2",
            12 => "voltage L3",
            EXTERNAL_LOCK => "external lock",
            POWER => "power",
            15 | 16 => "energy since power-on",
            17 | 18 => "energy since installation",
            HW_MAX_CURRENT => "hardware max current",
            HW_MIN_CURRENT => "hardware min current",
            WATCHDOG => "watchdog timeout",
            STANDBY => "standby control",
            REMOTE_LOCK => "remote lock",
            MAX_CURRENT => "max current",
            FAILSAFE_CURRENT => "failsafe current",
            _ => "unknown",
        }
    }
}

/// First register of the input block read with FC 04 ([`reg::LAYOUT_VERSION`]).
pub const INPUT_BLOCK_START: u16 = reg::LAYOUT_VERSION;
/// Number of registers in the input block (4..=18).
pub const INPUT_BLOCK_LEN: u16 = 15;
/// First register of the hardware limits (FC 04).
pub const LIMITS_START: u16 = reg::HW_MAX_CURRENT;
/// Number of hardware-limit registers (100, 101).
pub const LIMITS_LEN: u16 = 2;
/// First block of holding registers (FC 03): watchdog, standby, remote lock (257..=259).
pub const HOLDING_A_START: u16 = reg::WATCHDOG;
/// Length of the first holding block.
pub const HOLDING_A_LEN: u16 = 3;
/// Second block of holding registers (FC 03): max current, failsafe current (261, 262).
/// Register 260 is not documented, so the two blocks are read separately.
pub const HOLDING_B_START: u16 = reg::MAX_CURRENT;
/// Length of the second holding block.
pub const HOLDING_B_LEN: u16 = 2;

/// The largest current register 261/262 accepts, 16.0 A.
pub const MAX_CURRENT_LIMIT: Deciamps = Deciamps::MAX_HEIDELBERG;
/// Below this the box treats a current command as 0.
pub const MIN_CHARGING: Deciamps = Deciamps::MIN_CHARGING;

/// A word that is not valid for its register, or a block of the wrong length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The register holds a value outside its documented range.
    OutOfRange {
        /// The register number.
        reg: u16,
        /// The value read (u32 for the energy counters).
        value: u32,
        /// The accepted range, for the message ("2..=11").
        expected: &'static str,
    },
    /// The block has the wrong number of words.
    Length {
        /// The first register of the block.
        start: u16,
        /// Words needed.
        expected: usize,
        /// Words received.
        got: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::OutOfRange {
                reg,
                value,
                expected,
            } => write!(
                f,
                "register {} ({}) holds {}, expected {}",
                reg,
                reg::name(reg),
                value,
                expected
            ),
            DecodeError::Length {
                start,
                expected,
                got,
            } => write!(
                f,
                "block at register {} has {} words, expected {}",
                start, got, expected
            ),
        }
    }
}

/// A write that cannot be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// A current above 16.0 A (the box's maximum).
    CurrentTooHigh {
        /// The register (261 or 262).
        reg: u16,
        /// The requested current.
        requested: Deciamps,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EncodeError::CurrentTooHigh { reg, requested } => write!(
                f,
                "register {} ({}): {} is above the box's maximum {}",
                reg,
                reg::name(reg),
                requested,
                MAX_CURRENT_LIMIT
            ),
        }
    }
}

/// The IEC 61851 charging state as register 5 reports it.
///
/// The digit says whether the box allows charging: `x1` not allowed (current 0 or locked),
/// `x2` allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChargingState {
    /// 2: no car, charging not allowed.
    A1,
    /// 3: no car, charging allowed.
    A2,
    /// 4: car connected, no request, not allowed.
    B1,
    /// 5: car connected, no request, allowed.
    B2,
    /// 6: car requests charging, not allowed.
    C1,
    /// 7: car charging.
    C2,
    /// 8: derating (temperature).
    Derating,
    /// 9: state E (no power / short circuit).
    E,
    /// 10: state F (box unavailable, e.g. during a wake-up).
    F,
    /// 11: error.
    Error,
}

impl ChargingState {
    /// Decodes register 5.
    pub const fn from_word(w: u16) -> Result<Self, DecodeError> {
        Ok(match w {
            2 => ChargingState::A1,
            3 => ChargingState::A2,
            4 => ChargingState::B1,
            5 => ChargingState::B2,
            6 => ChargingState::C1,
            7 => ChargingState::C2,
            8 => ChargingState::Derating,
            9 => ChargingState::E,
            10 => ChargingState::F,
            11 => ChargingState::Error,
            _ => {
                return Err(DecodeError::OutOfRange {
                    reg: reg::CHARGING_STATE,
                    value: w as u32,
                    expected: "2..=11",
                })
            }
        })
    }

    /// The register value.
    pub const fn to_word(self) -> u16 {
        match self {
            ChargingState::A1 => 2,
            ChargingState::A2 => 3,
            ChargingState::B1 => 4,
            ChargingState::B2 => 5,
            ChargingState::C1 => 6,
            ChargingState::C2 => 7,
            ChargingState::Derating => 8,
            ChargingState::E => 9,
            ChargingState::F => 10,
            ChargingState::Error => 11,
        }
    }

    /// The state as the controller sees it.
    pub const fn vehicle_state(self) -> VehicleState {
        match self {
            ChargingState::A1 | ChargingState::A2 => VehicleState::Disconnected,
            ChargingState::B1 | ChargingState::B2 => VehicleState::Connected,
            ChargingState::C1 | ChargingState::C2 | ChargingState::Derating => {
                VehicleState::Charging
            }
            ChargingState::E | ChargingState::F | ChargingState::Error => VehicleState::Error,
        }
    }

    /// Short label ("A1", "C2", "derating").
    pub const fn label(self) -> &'static str {
        match self {
            ChargingState::A1 => "A1",
            ChargingState::A2 => "A2",
            ChargingState::B1 => "B1",
            ChargingState::B2 => "B2",
            ChargingState::C1 => "C1",
            ChargingState::C2 => "C2",
            ChargingState::Derating => "derating",
            ChargingState::E => "E",
            ChargingState::F => "F",
            ChargingState::Error => "error",
        }
    }
}

impl fmt::Display for ChargingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            ChargingState::A1 => "no car, charging not allowed",
            ChargingState::A2 => "no car, charging allowed",
            ChargingState::B1 => "car connected, charging not allowed",
            ChargingState::B2 => "car connected, not requesting",
            ChargingState::C1 => "car requests charging, not allowed",
            ChargingState::C2 => "charging",
            ChargingState::Derating => "charging, derated",
            ChargingState::E => "error state E",
            ChargingState::F => "state F (unavailable)",
            ChargingState::Error => "wallbox error",
        };
        write!(f, "{} ({})", self.label(), what)
    }
}

/// The register-layout version, `0x0108` = 1.0.8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayoutVersion(pub u16);

impl fmt::Display for LayoutVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        write!(f, "{}.{}.{}", (v >> 8) & 0xF, (v >> 4) & 0xF, v & 0xF)
    }
}

/// Standby control (register 258).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standby {
    /// 0: the box may go to standby (and then stops answering Modbus).
    Allowed,
    /// 4: standby disabled.
    Disabled,
}

impl Standby {
    /// Decodes register 258.
    pub const fn from_word(w: u16) -> Result<Self, DecodeError> {
        match w {
            0 => Ok(Standby::Allowed),
            4 => Ok(Standby::Disabled),
            _ => Err(DecodeError::OutOfRange {
                reg: reg::STANDBY,
                value: w as u32,
                expected: "0 or 4",
            }),
        }
    }

    /// The register value.
    pub const fn to_word(self) -> u16 {
        match self {
            Standby::Allowed => 0,
            Standby::Disabled => 4,
        }
    }
}

/// A lock state (registers 13 and 259): 0 locked, 1 unlocked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lock {
    /// 0: locked, no charging.
    Locked,
    /// 1: unlocked.
    Unlocked,
}

impl Lock {
    /// Decodes a lock register.
    pub const fn from_word(reg: u16, w: u16) -> Result<Self, DecodeError> {
        match w {
            0 => Ok(Lock::Locked),
            1 => Ok(Lock::Unlocked),
            _ => Err(DecodeError::OutOfRange {
                reg,
                value: w as u32,
                expected: "0 or 1",
            }),
        }
    }

    /// The register value.
    pub const fn to_word(self) -> u16 {
        match self {
            Lock::Locked => 0,
            Lock::Unlocked => 1,
        }
    }
}

fn check(reg: u16, w: u16, lo: u16, hi: u16, expected: &'static str) -> Result<u16, DecodeError> {
    if w < lo || w > hi {
        Err(DecodeError::OutOfRange {
            reg,
            value: w as u32,
            expected,
        })
    } else {
        Ok(w)
    }
}

/// Measured current per phase: up to 32.0 A (twice the box's maximum, for overshoot).
const CURRENT_MEASURED_MAX: u16 = 320;
/// Voltage per phase: up to 300 V.
const VOLTAGE_MAX: u16 = 300;
/// Power: up to 3 x 32 A x 300 V.
const POWER_MAX: u16 = 28_800;
/// Temperature: -40.0..=150.0 degC.
const TEMP_MIN: i16 = -400;
const TEMP_MAX: i16 = 1500;

/// The raw input block, registers 4..=18 (FC 04), not yet validated.
#[derive(Clone, Copy, Debug)]
pub struct InputBlock<'a> {
    words: &'a [u16],
}

impl<'a> InputBlock<'a> {
    /// Wraps a block after checking its length ([`INPUT_BLOCK_LEN`] words from register 4).
    pub fn new_checked(words: &'a [u16]) -> Result<Self, DecodeError> {
        if words.len() != INPUT_BLOCK_LEN as usize {
            return Err(DecodeError::Length {
                start: INPUT_BLOCK_START,
                expected: INPUT_BLOCK_LEN as usize,
                got: words.len(),
            });
        }
        Ok(InputBlock { words })
    }

    /// The raw word of input register `reg` (4..=18); 0 outside the block.
    pub fn word(&self, reg: u16) -> u16 {
        reg.checked_sub(INPUT_BLOCK_START)
            .and_then(|i| self.words.get(i as usize))
            .copied()
            .unwrap_or(0)
    }

    fn u32_at(&self, reg: u16) -> u32 {
        ((self.word(reg) as u32) << 16) | self.word(reg + 1) as u32
    }
}

/// A validated reading of the input block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    /// Register-layout version (4).
    pub layout: LayoutVersion,
    /// Charging state (5).
    pub state: ChargingState,
    /// RMS currents L1..L3 (6..=8).
    pub currents: [Deciamps; 3],
    /// PCB temperature in 0.1 degC (9).
    pub temperature_decidegc: i16,
    /// RMS voltages L1..L3 in V (10..=12).
    pub voltages: [u16; 3],
    /// External lock input (13).
    pub external_lock: Lock,
    /// Power L1+L2+L3 in W (14).
    pub power_w: u16,
    /// Energy since power-on, Wh (15, 16).
    pub energy_since_power_on_wh: u32,
    /// Energy since installation, Wh (17, 18).
    pub energy_total_wh: u32,
}

impl Reading {
    /// Validates and decodes an input block.
    pub fn parse(block: &InputBlock<'_>) -> Result<Self, DecodeError> {
        let cur = |r: u16| {
            check(r, block.word(r), 0, CURRENT_MEASURED_MAX, "0..=320 (0.1 A)").map(Deciamps)
        };
        let volt = |r: u16| check(r, block.word(r), 0, VOLTAGE_MAX, "0..=300 V");
        let t_raw = block.word(reg::TEMPERATURE) as i16;
        if !(TEMP_MIN..=TEMP_MAX).contains(&t_raw) {
            return Err(DecodeError::OutOfRange {
                reg: reg::TEMPERATURE,
                value: block.word(reg::TEMPERATURE) as u32,
                expected: "-400..=1500 (0.1 degC, signed)",
            });
        }
        let since_on = block.u32_at(reg::ENERGY_SINCE_POWER_ON);
        let total = block.u32_at(reg::ENERGY_SINCE_INSTALLATION);
        Ok(Reading {
            layout: LayoutVersion(block.word(reg::LAYOUT_VERSION)),
            state: ChargingState::from_word(block.word(reg::CHARGING_STATE))?,
            currents: [cur(6)?, cur(7)?, cur(8)?],
            temperature_decidegc: t_raw,
            voltages: [volt(10)?, volt(11)?, volt(12)?],
            external_lock: Lock::from_word(reg::EXTERNAL_LOCK, block.word(reg::EXTERNAL_LOCK))?,
            power_w: check(
                reg::POWER,
                block.word(reg::POWER),
                0,
                POWER_MAX,
                "0..=28800 W",
            )?,
            energy_since_power_on_wh: since_on,
            energy_total_wh: total,
        })
    }

    /// Encodes the reading back into an input block (for simulators and tests).
    pub fn emit(&self, words: &mut [u16; INPUT_BLOCK_LEN as usize]) {
        words[0] = self.layout.0;
        words[1] = self.state.to_word();
        words[2] = self.currents[0].0;
        words[3] = self.currents[1].0;
        words[4] = self.currents[2].0;
        words[5] = self.temperature_decidegc as u16;
        words[6] = self.voltages[0];
        words[7] = self.voltages[1];
        words[8] = self.voltages[2];
        words[9] = self.external_lock.to_word();
        words[10] = self.power_w;
        words[11] = (self.energy_since_power_on_wh >> 16) as u16;
        words[12] = self.energy_since_power_on_wh as u16;
        words[13] = (self.energy_total_wh >> 16) as u16;
        words[14] = self.energy_total_wh as u16;
    }

    /// The reading the controller consumes.
    pub fn to_wallbox_reading(&self) -> WallboxReading {
        WallboxReading {
            power_w: self.power_w as i32,
            currents: self.currents,
            voltages: self.voltages,
            state: self.state.vehicle_state(),
        }
    }
}

/// The box's hardware current limits (registers 100, 101; whole amperes, set by DIP switches).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HwLimits {
    /// Maximum current, A (6..=16).
    pub max_amps: u16,
    /// Minimum current, A (6..=16, not above the maximum).
    pub min_amps: u16,
}

impl HwLimits {
    /// Decodes registers 100, 101.
    pub fn parse(words: &[u16]) -> Result<Self, DecodeError> {
        let [max, min] = words else {
            return Err(DecodeError::Length {
                start: LIMITS_START,
                expected: LIMITS_LEN as usize,
                got: words.len(),
            });
        };
        let max_amps = check(reg::HW_MAX_CURRENT, *max, 6, 16, "6..=16 A")?;
        let min_amps = check(reg::HW_MIN_CURRENT, *min, 6, max_amps, "6..=max A")?;
        Ok(HwLimits { max_amps, min_amps })
    }

    /// The maximum as a current command.
    pub const fn max(&self) -> Deciamps {
        Deciamps::from_amps(self.max_amps)
    }
}

/// The holding registers: what the master has configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Watchdog timeout in ms, 0 = off (257).
    pub watchdog_ms: u16,
    /// Standby control (258).
    pub standby: Standby,
    /// Remote lock (259).
    pub remote_lock: Lock,
    /// Current command (261); raw values 1..=59 act as 0, see [`Settings::effective_current`].
    pub max_current: Deciamps,
    /// Failsafe current (262).
    pub failsafe_current: Deciamps,
}

fn current_reg(reg: u16, w: u16) -> Result<Deciamps, DecodeError> {
    check(reg, w, 0, MAX_CURRENT_LIMIT.0, "0..=160 (0.1 A)").map(Deciamps)
}

impl Settings {
    /// Decodes the two holding blocks 257..=259 and 261..=262.
    pub fn parse(a: &[u16], b: &[u16]) -> Result<Self, DecodeError> {
        let [wd, sb, lock] = a else {
            return Err(DecodeError::Length {
                start: HOLDING_A_START,
                expected: HOLDING_A_LEN as usize,
                got: a.len(),
            });
        };
        let [max, fs] = b else {
            return Err(DecodeError::Length {
                start: HOLDING_B_START,
                expected: HOLDING_B_LEN as usize,
                got: b.len(),
            });
        };
        Ok(Settings {
            watchdog_ms: *wd,
            standby: Standby::from_word(*sb)?,
            remote_lock: Lock::from_word(reg::REMOTE_LOCK, *lock)?,
            max_current: current_reg(reg::MAX_CURRENT, *max)?,
            failsafe_current: current_reg(reg::FAILSAFE_CURRENT, *fs)?,
        })
    }

    /// The current the box actually offers: values below 6.0 A mean 0.
    pub const fn effective_current(&self) -> Deciamps {
        effective(self.max_current)
    }
}

/// What the box makes of a current command: below 6.0 A it is 0.
pub const fn effective(d: Deciamps) -> Deciamps {
    if d.0 < MIN_CHARGING.0 {
        Deciamps::ZERO
    } else {
        d
    }
}

/// Decodes register 261 as read back after a write.
pub fn decode_max_current(w: u16) -> Result<Deciamps, DecodeError> {
    current_reg(reg::MAX_CURRENT, w)
}

/// A write to a holding register (FC 06).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// 257: watchdog timeout in ms (0 = off).
    Watchdog(u16),
    /// 258: standby control.
    Standby(Standby),
    /// 259: remote lock.
    RemoteLock(Lock),
    /// 261: charging current; below 6.0 A is sent as 0, above 16.0 A is an error.
    MaxCurrent(Deciamps),
    /// 262: failsafe current, same encoding as 261.
    FailsafeCurrent(Deciamps),
}

impl Write {
    /// The register and the word to write.
    pub fn encode(self) -> Result<(u16, u16), EncodeError> {
        let current = |reg: u16, d: Deciamps| {
            if d > MAX_CURRENT_LIMIT {
                Err(EncodeError::CurrentTooHigh { reg, requested: d })
            } else {
                Ok((reg, effective(d).0))
            }
        };
        match self {
            Write::Watchdog(ms) => Ok((reg::WATCHDOG, ms)),
            Write::Standby(s) => Ok((reg::STANDBY, s.to_word())),
            Write::RemoteLock(l) => Ok((reg::REMOTE_LOCK, l.to_word())),
            Write::MaxCurrent(d) => current(reg::MAX_CURRENT, d),
            Write::FailsafeCurrent(d) => current(reg::FAILSAFE_CURRENT, d),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    /// A car charging at 16 A on three phases, as a real box would report it.
    fn block_charging() -> [u16; INPUT_BLOCK_LEN as usize] {
        [
            0x0108, 7, 160, 159, 161, 325, 230, 231, 229, 1, 11_040, 0x0001, 0x0002, 0x0010, 0x0020,
        ]
    }

    // Tests for decoding the input block.

    #[test]
    fn decodes_a_charging_block() {
        let raw = block_charging();
        let r = Reading::parse(&InputBlock::new_checked(&raw).unwrap()).unwrap();
        assert_eq!(r.layout.to_string(), "1.0.8");
        assert_eq!(r.state, ChargingState::C2);
        assert_eq!(r.currents, [Deciamps(160), Deciamps(159), Deciamps(161)]);
        assert_eq!(r.temperature_decidegc, 325);
        assert_eq!(r.voltages, [230, 231, 229]);
        assert_eq!(r.external_lock, Lock::Unlocked);
        assert_eq!(r.power_w, 11_040);
        assert_eq!(r.energy_since_power_on_wh, 0x0001_0002);
        assert_eq!(r.energy_total_wh, 0x0010_0020);
        let w = r.to_wallbox_reading();
        assert_eq!(w.state, VehicleState::Charging);
        assert_eq!(w.power_w, 11_040);
    }

    #[test]
    fn emit_round_trips() {
        let raw = block_charging();
        let r = Reading::parse(&InputBlock::new_checked(&raw).unwrap()).unwrap();
        let mut out = [0u16; INPUT_BLOCK_LEN as usize];
        r.emit(&mut out);
        assert_eq!(out, raw);
    }

    #[test]
    fn negative_temperature_is_signed() {
        let mut raw = block_charging();
        raw[5] = (-105i16) as u16;
        let r = Reading::parse(&InputBlock::new_checked(&raw).unwrap()).unwrap();
        assert_eq!(r.temperature_decidegc, -105);
    }

    #[test]
    fn wrong_length_is_an_error() {
        let raw = [0u16; 3];
        assert_eq!(
            InputBlock::new_checked(&raw).unwrap_err(),
            DecodeError::Length {
                start: 4,
                expected: 15,
                got: 3
            }
        );
    }

    #[test]
    fn out_of_range_names_register_and_value() {
        let mut raw = block_charging();
        raw[1] = 42;
        let e = Reading::parse(&InputBlock::new_checked(&raw).unwrap()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "register 5 (charging state) holds 42, expected 2..=11"
        );

        let mut raw = block_charging();
        raw[7] = 999;
        let e = Reading::parse(&InputBlock::new_checked(&raw).unwrap()).unwrap_err();
        assert!(matches!(
            e,
            DecodeError::OutOfRange {
                reg: 11,
                value: 999,
                ..
            }
        ));

        let mut raw = block_charging();
        raw[5] = 2000;
        assert!(Reading::parse(&InputBlock::new_checked(&raw).unwrap()).is_err());
        let mut raw = block_charging();
        raw[9] = 2;
        assert!(Reading::parse(&InputBlock::new_checked(&raw).unwrap()).is_err());
    }

    #[test]
    fn no_panic_on_any_word() {
        // Every value in every position decodes or errors; none panics.
        for pos in 0..INPUT_BLOCK_LEN as usize {
            for v in (0..=u16::MAX).step_by(97).chain([u16::MAX, 0x8000]) {
                let mut raw = block_charging();
                raw[pos] = v;
                let _ = Reading::parse(&InputBlock::new_checked(&raw).unwrap());
            }
        }
        for v in 0..=u16::MAX {
            let _ = ChargingState::from_word(v);
            let _ = Standby::from_word(v);
            let _ = decode_max_current(v);
        }
    }

    // Tests for the charging state.

    #[test]
    fn charging_state_maps_to_vehicle_state() {
        use ChargingState::*;
        for (s, v) in [
            (A1, VehicleState::Disconnected),
            (A2, VehicleState::Disconnected),
            (B1, VehicleState::Connected),
            (B2, VehicleState::Connected),
            (C1, VehicleState::Charging),
            (C2, VehicleState::Charging),
            (Derating, VehicleState::Charging),
            (E, VehicleState::Error),
            (F, VehicleState::Error),
            (Error, VehicleState::Error),
        ] {
            assert_eq!(s.vehicle_state(), v);
            assert_eq!(ChargingState::from_word(s.to_word()), Ok(s));
        }
        assert!(ChargingState::from_word(0).is_err());
        assert!(ChargingState::from_word(12).is_err());
    }

    // Tests for limits and settings.

    #[test]
    fn hw_limits() {
        assert_eq!(
            HwLimits::parse(&[16, 6]),
            Ok(HwLimits {
                max_amps: 16,
                min_amps: 6
            })
        );
        assert!(HwLimits::parse(&[17, 6]).is_err());
        assert!(HwLimits::parse(&[10, 12]).is_err());
        assert!(HwLimits::parse(&[16]).is_err());
    }

    #[test]
    fn settings() {
        let s = Settings::parse(&[15000, 4, 1], &[50, 60]).unwrap();
        assert_eq!(s.watchdog_ms, 15000);
        assert_eq!(s.standby, Standby::Disabled);
        assert_eq!(s.remote_lock, Lock::Unlocked);
        assert_eq!(s.max_current, Deciamps(50));
        assert_eq!(s.effective_current(), Deciamps::ZERO);
        assert_eq!(s.failsafe_current, Deciamps(60));
        assert!(Settings::parse(&[0, 2, 1], &[0, 0]).is_err());
        assert!(Settings::parse(&[0, 0, 1], &[161, 0]).is_err());
        assert!(Settings::parse(&[0, 0], &[0, 0]).is_err());
    }

    // Tests for encoding writes.

    #[test]
    fn current_writes_below_six_amps_are_zero() {
        assert_eq!(Write::MaxCurrent(Deciamps(85)).encode(), Ok((261, 85)));
        assert_eq!(Write::MaxCurrent(Deciamps(60)).encode(), Ok((261, 60)));
        assert_eq!(Write::MaxCurrent(Deciamps(59)).encode(), Ok((261, 0)));
        assert_eq!(Write::MaxCurrent(Deciamps(160)).encode(), Ok((261, 160)));
        assert_eq!(
            Write::MaxCurrent(Deciamps(161)).encode(),
            Err(EncodeError::CurrentTooHigh {
                reg: 261,
                requested: Deciamps(161)
            })
        );
        assert_eq!(Write::FailsafeCurrent(Deciamps(30)).encode(), Ok((262, 0)));
    }

    #[test]
    fn other_writes() {
        assert_eq!(Write::Watchdog(15000).encode(), Ok((257, 15000)));
        assert_eq!(Write::Standby(Standby::Disabled).encode(), Ok((258, 4)));
        assert_eq!(Write::RemoteLock(Lock::Locked).encode(), Ok((259, 0)));
    }
}
