//! The driver's error enum: every variant names the port, the unit, the register and what to
//! check.

use super::url::UrlError;
use std::fmt;
use sunfill_core::heidelberg::{reg, DecodeError, EncodeError};

/// What the driver was doing when a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Reading input registers (FC 04).
    ReadInput,
    /// Reading holding registers (FC 03).
    ReadHolding,
    /// Writing a holding register (FC 06).
    Write,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::ReadInput => "reading input",
            Action::ReadHolding => "reading holding",
            Action::Write => "writing",
        })
    }
}

/// A register number with its name, for messages: "register 261 (max current)".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reg(pub u16);

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "register {} ({})", self.0, reg::name(self.0))
    }
}

const CHECK_LINE: &str = "check wiring A/B, baud 19200 8E1, the unit id DIP switches, \
                          termination and that standby is disabled (258 = 4)";

/// An error talking to a Heidelberg wallbox.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The port URL is malformed.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The serial port or TCP connection cannot be opened.
    #[error("cannot open {port}: {io}; {hint}")]
    Open {
        /// The port.
        port: String,
        /// The OS error (in the message, not repeated as a cause).
        io: std::io::Error,
        /// What to check.
        hint: &'static str,
    },
    /// No (valid) answer after every retry: timeout, CRC errors or a dead box.
    #[error("no answer from unit {unit} on {port} {action} {reg} after {attempts} tries ({last}): {CHECK_LINE}")]
    NoAnswer {
        /// The port.
        port: String,
        /// Unit id.
        unit: u8,
        /// The register.
        reg: Reg,
        /// The request.
        action: Action,
        /// Tries made.
        attempts: u32,
        /// The last failure (timeout, garbled reply, transport error).
        last: String,
    },
    /// The box answered with a Modbus exception.
    #[error("unit {unit} on {port} rejected {action} {reg}: Modbus exception {code:#04x} ({}); {}", exception_meaning(*code), exception_hint(*code))]
    Exception {
        /// The port.
        port: String,
        /// Unit id.
        unit: u8,
        /// The register.
        reg: Reg,
        /// The request.
        action: Action,
        /// The exception code.
        code: u8,
    },
    /// A value read does not fit the register map.
    #[error(
        "unit {unit} on {port}: {err}; is this a Heidelberg Energy Control with layout 1.0.x?"
    )]
    Decode {
        /// The port.
        port: String,
        /// Unit id.
        unit: u8,
        /// The decoding error (names register and value).
        err: DecodeError,
    },
    /// A value cannot be written.
    #[error("unit {unit} on {port}: {err}")]
    Encode {
        /// The port.
        port: String,
        /// Unit id.
        unit: u8,
        /// The encoding error.
        err: EncodeError,
    },
    /// A write was not confirmed by its echo or by reading the register back. The value the
    /// box holds is unknown or different; the write must not be treated as done.
    #[error("write to {reg} of unit {unit} on {port} not confirmed: wrote {wrote}, box has {read}; check for a second Modbus master on the bus")]
    WriteNotConfirmed {
        /// The port.
        port: String,
        /// Unit id.
        unit: u8,
        /// The register.
        reg: Reg,
        /// The value written.
        wrote: u16,
        /// The value echoed or read back.
        read: u16,
    },
    /// The box did not answer within the start-up wait.
    #[error(
        "waited {secs} s for unit {unit} on {port} (a box needs about 10 s after power-on): {last}"
    )]
    NotReady {
        /// The port.
        port: String,
        /// Unit id.
        unit: u8,
        /// Seconds waited.
        secs: u64,
        /// The last error.
        last: String,
    },
    /// The task that owns the bus has stopped.
    #[error("the bus task for {port} has stopped")]
    BusClosed {
        /// The port.
        port: String,
    },
}

/// The standard meaning of a Modbus exception code.
pub fn exception_meaning(code: u8) -> &'static str {
    match code {
        1 => "illegal function",
        2 => "illegal data address",
        3 => "illegal data value",
        4 => "server device failure",
        5 => "acknowledge",
        6 => "server busy",
        0x0A => "gateway path unavailable",
        0x0B => "gateway target device failed to respond",
        _ => "unknown exception",
    }
}

fn exception_hint(code: u8) -> &'static str {
    match code {
        1 => "the box supports FC 03/04/06/16 only",
        2 => "this register does not exist in this box's layout; check the layout version (register 4)",
        3 => "the value is out of range for this register",
        0x0A | 0x0B => "the gateway cannot reach the box: check the RS-485 side of the gateway, the unit id and that standby is disabled",
        _ => "check the box's manual",
    }
}

impl Error {
    /// True if the box did not answer or the link failed (as opposed to a rejected request or
    /// a bad value): the box is offline.
    pub fn is_offline(&self) -> bool {
        matches!(
            self,
            Error::NoAnswer { .. }
                | Error::Open { .. }
                | Error::NotReady { .. }
                | Error::BusClosed { .. }
        ) || matches!(
            self,
            Error::Exception {
                code: 0x0A | 0x0B,
                ..
            }
        )
    }

    /// A short class of the error, for rate limiting log messages of the same kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Url(_) => "url",
            Error::Open { .. } => "open",
            Error::NoAnswer { .. } => "no-answer",
            Error::Exception { .. } => "exception",
            Error::Decode { .. } => "decode",
            Error::Encode { .. } => "encode",
            Error::WriteNotConfirmed { .. } => "not-confirmed",
            Error::NotReady { .. } => "not-ready",
            Error::BusClosed { .. } => "closed",
        }
    }
}
