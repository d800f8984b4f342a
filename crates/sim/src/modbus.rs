//! Modbus server framing without I/O: where a request ends in a byte stream, CRC, MBAP.
//!
//! The simulated wallbox ([`crate::wallbox`]) answers PDUs; this module cuts RTU and TCP
//! byte streams into requests and wraps replies. It is written here instead of using a Modbus
//! server crate so that the simulator can inject faults (drops, corrupted frames) at the byte
//! level, and so that our driver (which uses `tokio-modbus`) is tested against a second,
//! independent implementation of the framing.

/// Modbus function codes the Heidelberg box supports.
pub mod fc {
    /// Read holding registers.
    pub const READ_HOLDING: u8 = 0x03;
    /// Read input registers.
    pub const READ_INPUT: u8 = 0x04;
    /// Write single register.
    pub const WRITE_SINGLE: u8 = 0x06;
    /// Write multiple registers.
    pub const WRITE_MULTIPLE: u8 = 0x10;
}

/// Modbus exception codes.
pub mod exception {
    /// Function code not supported.
    pub const ILLEGAL_FUNCTION: u8 = 0x01;
    /// Register address not valid.
    pub const ILLEGAL_DATA_ADDRESS: u8 = 0x02;
    /// Value not valid.
    pub const ILLEGAL_DATA_VALUE: u8 = 0x03;
}

/// CRC-16/MODBUS of `data` (sent low byte first).
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in data {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// Where the RTU request at the start of a buffer ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtuLen {
    /// More bytes are needed to know or to complete the frame.
    Incomplete,
    /// The frame is this many bytes long (including the CRC).
    Complete(usize),
    /// A function code whose request length this server does not know; the frame ends at
    /// the next silence on the line.
    Unknown,
}

/// Finds the length of the RTU request (unit, function, data, CRC) at the start of `buf`.
pub fn rtu_request_len(buf: &[u8]) -> RtuLen {
    let need = match buf.get(1) {
        None => return RtuLen::Incomplete,
        Some(&fc::READ_HOLDING | &fc::READ_INPUT | &fc::WRITE_SINGLE) => 8,
        Some(&fc::WRITE_MULTIPLE) => match buf.get(6) {
            None => return RtuLen::Incomplete,
            Some(&n) => 9 + usize::from(n),
        },
        Some(_) => return RtuLen::Unknown,
    };
    if buf.len() >= need {
        RtuLen::Complete(need)
    } else {
        RtuLen::Incomplete
    }
}

/// Checks the CRC of a complete RTU frame and returns `(unit, pdu)`.
pub fn rtu_parse(frame: &[u8]) -> Option<(u8, &[u8])> {
    if frame.len() < 4 {
        return None;
    }
    let (body, crc) = frame.split_at(frame.len() - 2);
    let got = u16::from_le_bytes([crc[0], crc[1]]);
    if crc16(body) != got {
        return None;
    }
    Some((body[0], &body[1..]))
}

/// Wraps a PDU into an RTU frame for `unit`.
pub fn rtu_frame(unit: u8, pdu: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.push(unit);
    out.extend_from_slice(pdu);
    let crc = crc16(out);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// The MBAP header of a Modbus TCP frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mbap {
    /// Transaction id, echoed in the reply.
    pub transaction: u16,
    /// Unit id.
    pub unit: u8,
}

/// Outcome of looking for a TCP frame at the start of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpLen {
    /// More bytes needed.
    Incomplete,
    /// A frame of this many bytes.
    Complete(usize),
    /// Not Modbus TCP (protocol id not 0, or a length out of range): close the connection.
    Invalid,
}

/// Finds the length of the TCP frame at the start of `buf`.
pub fn tcp_request_len(buf: &[u8]) -> TcpLen {
    if buf.len() < 7 {
        return TcpLen::Incomplete;
    }
    let protocol = u16::from_be_bytes([buf[2], buf[3]]);
    let len = usize::from(u16::from_be_bytes([buf[4], buf[5]]));
    if protocol != 0 || !(2..=254).contains(&len) {
        return TcpLen::Invalid;
    }
    if buf.len() >= 6 + len {
        TcpLen::Complete(6 + len)
    } else {
        TcpLen::Incomplete
    }
}

/// Splits a complete TCP frame into header and PDU.
pub fn tcp_parse(frame: &[u8]) -> Option<(Mbap, &[u8])> {
    if frame.len() < 8 {
        return None;
    }
    let transaction = u16::from_be_bytes([frame[0], frame[1]]);
    Some((
        Mbap {
            transaction,
            unit: frame[6],
        },
        &frame[7..],
    ))
}

/// Wraps a PDU into a TCP frame.
pub fn tcp_frame(h: Mbap, pdu: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&h.transaction.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    let len = u16::try_from(pdu.len() + 1).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.push(h.unit);
    out.extend_from_slice(pdu);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_spec_example() {
        // Read holding registers 0x006B x 3 from unit 0x11 (Modbus over serial line, 6.2.2).
        let f = [0x11, 0x03, 0x00, 0x6B, 0x00, 0x03];
        assert_eq!(crc16(&f).to_le_bytes(), [0x76, 0x87]);
    }

    #[test]
    fn rtu_lengths() {
        assert_eq!(rtu_request_len(&[1]), RtuLen::Incomplete);
        assert_eq!(rtu_request_len(&[1, 4, 0, 4, 0]), RtuLen::Incomplete);
        assert_eq!(
            rtu_request_len(&[1, 4, 0, 4, 0, 15, 0, 0]),
            RtuLen::Complete(8)
        );
        assert_eq!(
            rtu_request_len(&[1, 16, 1, 5, 0, 1, 2, 0, 60]),
            RtuLen::Incomplete
        );
        assert_eq!(
            rtu_request_len(&[1, 16, 1, 5, 0, 1, 2, 0, 60, 0, 0]),
            RtuLen::Complete(11)
        );
        assert_eq!(rtu_request_len(&[1, 0x2B, 1]), RtuLen::Unknown);
    }

    #[test]
    fn rtu_round_trip_and_corruption() {
        let mut out = Vec::new();
        rtu_frame(1, &[6, 1, 5, 0, 60], &mut out);
        assert_eq!(rtu_parse(&out), Some((1, &[6u8, 1, 5, 0, 60][..])));
        out[3] ^= 0x10;
        assert_eq!(rtu_parse(&out), None);
    }

    #[test]
    fn tcp_round_trip() {
        let mut out = Vec::new();
        let h = Mbap {
            transaction: 0x1234,
            unit: 3,
        };
        tcp_frame(h, &[4, 0, 4, 0, 15], &mut out);
        assert_eq!(tcp_request_len(&out), TcpLen::Complete(out.len()));
        assert_eq!(tcp_parse(&out), Some((h, &[4u8, 0, 4, 0, 15][..])));
        assert_eq!(tcp_request_len(&out[..5]), TcpLen::Incomplete);
        out[2] = 1;
        assert_eq!(tcp_request_len(&out), TcpLen::Invalid);
    }
}
