//! Port URLs: where the wallbox bus is and how to talk to it.
//!
//! - `rtu:///dev/ttyUSB0?baud=19200&parity=even` (RS-485 adapter; defaults 19200 8E1)
//! - `tcp://host:502` (Modbus TCP gateway)
//! - `rtutcp://host:port` (RTU frames tunnelled over TCP, e.g. a transparent serial server)

use std::fmt;

/// Serial parity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parity {
    /// Even parity (the Heidelberg default).
    Even,
    /// Odd parity.
    Odd,
    /// No parity.
    None,
}

/// A parsed port URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortUrl {
    /// A serial port with RTU framing.
    Rtu {
        /// Device path.
        path: String,
        /// Baud rate.
        baud: u32,
        /// Parity.
        parity: Parity,
    },
    /// Modbus TCP.
    Tcp {
        /// `host:port`.
        addr: String,
    },
    /// RTU framing over a TCP connection.
    RtuTcp {
        /// `host:port`.
        addr: String,
    },
}

/// Why a port URL cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad port URL `{url}`: {reason} (examples: rtu:///dev/ttyUSB0?baud=19200&parity=even, tcp://192.168.1.20:502, rtutcp://192.168.1.21:8899)")]
pub struct UrlError {
    /// The URL as given.
    pub url: String,
    /// What is wrong.
    pub reason: String,
}

impl PortUrl {
    /// Parses a port URL.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let err = |reason: String| UrlError {
            url: url.to_string(),
            reason,
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| err("missing scheme, expected rtu://, tcp:// or rtutcp://".into()))?;
        let host_port = |rest: &str, default_port: Option<u16>| -> Result<String, UrlError> {
            let rest = rest.trim_end_matches('/');
            if rest.is_empty() {
                return Err(err("missing host".into()));
            }
            if rest.contains(['/', '?']) {
                return Err(err(format!("unexpected path or query in `{rest}`")));
            }
            match rest.rsplit_once(':') {
                Some((host, port)) if !host.is_empty() => {
                    port.parse::<u16>()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| err(format!("bad port `{port}` (1..65535)")))?;
                    Ok(rest.to_string())
                }
                Some(_) => Err(err("missing host".into())),
                None => match default_port {
                    Some(p) => Ok(format!("{rest}:{p}")),
                    None => Err(err("missing port, e.g. host:8899".into())),
                },
            }
        };
        match scheme {
            "tcp" => Ok(PortUrl::Tcp {
                addr: host_port(rest, Some(502))?,
            }),
            "rtutcp" => Ok(PortUrl::RtuTcp {
                addr: host_port(rest, None)?,
            }),
            "rtu" => {
                let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
                if !path.starts_with('/') {
                    return Err(err(format!(
                        "serial device must be an absolute path, got `{path}` (rtu:///dev/ttyUSB0)"
                    )));
                }
                let mut baud = 19_200;
                let mut parity = Parity::Even;
                for kv in query.split('&').filter(|s| !s.is_empty()) {
                    match kv.split_once('=') {
                        Some(("baud", v)) => {
                            baud = v
                                .parse()
                                .ok()
                                .filter(|b| (300..=1_000_000).contains(b))
                                .ok_or_else(|| err(format!("bad baud rate `{v}`")))?
                        }
                        Some(("parity", v)) => {
                            parity = match v {
                                "even" | "e" | "E" => Parity::Even,
                                "odd" | "o" | "O" => Parity::Odd,
                                "none" | "n" | "N" => Parity::None,
                                _ => {
                                    return Err(err(format!(
                                        "bad parity `{v}`, expected even, odd or none"
                                    )))
                                }
                            }
                        }
                        _ => {
                            return Err(err(format!(
                                "unknown option `{kv}`, expected baud=N or parity=even|odd|none"
                            )))
                        }
                    }
                }
                Ok(PortUrl::Rtu {
                    path: path.to_string(),
                    baud,
                    parity,
                })
            }
            other => Err(err(format!(
                "unknown scheme `{other}`, expected rtu, tcp or rtutcp"
            ))),
        }
    }

    /// True for serial-line framing (RTU or RTU over TCP), where one request is on the wire
    /// at a time and a pause between transactions helps slow boxes.
    pub fn is_rtu(&self) -> bool {
        !matches!(self, PortUrl::Tcp { .. })
    }
}

impl fmt::Display for PortUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortUrl::Rtu { path, baud, parity } => {
                let p = match parity {
                    Parity::Even => "E",
                    Parity::Odd => "O",
                    Parity::None => "N",
                };
                write!(f, "{path} ({baud} 8{p}1)")
            }
            PortUrl::Tcp { addr } => write!(f, "tcp://{addr}"),
            PortUrl::RtuTcp { addr } => write!(f, "rtutcp://{addr}"),
        }
    }
}

impl std::str::FromStr for PortUrl {
    type Err = UrlError;
    fn from_str(s: &str) -> Result<Self, UrlError> {
        PortUrl::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_transports() {
        assert_eq!(
            PortUrl::parse("rtu:///dev/ttyUSB0?baud=19200&parity=even").unwrap(),
            PortUrl::Rtu {
                path: "/dev/ttyUSB0".into(),
                baud: 19200,
                parity: Parity::Even
            }
        );
        assert_eq!(
            PortUrl::parse("rtu:///dev/ttyUSB1").unwrap(),
            PortUrl::Rtu {
                path: "/dev/ttyUSB1".into(),
                baud: 19200,
                parity: Parity::Even
            }
        );
        assert_eq!(
            PortUrl::parse("tcp://gw.local").unwrap(),
            PortUrl::Tcp {
                addr: "gw.local:502".into()
            }
        );
        assert_eq!(
            PortUrl::parse("rtutcp://10.0.0.5:8899").unwrap(),
            PortUrl::RtuTcp {
                addr: "10.0.0.5:8899".into()
            }
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        for (url, needle) in [
            ("/dev/ttyUSB0", "missing scheme"),
            ("serial:///dev/x", "unknown scheme `serial`"),
            ("rtu://dev/ttyUSB0", "absolute path"),
            ("rtu:///dev/ttyUSB0?baud=fast", "bad baud rate `fast`"),
            ("rtu:///dev/ttyUSB0?parity=mark", "bad parity `mark`"),
            ("rtu:///dev/ttyUSB0?stop=2", "unknown option `stop=2`"),
            ("tcp://host:99999", "bad port `99999`"),
            ("tcp://", "missing host"),
            ("rtutcp://host", "missing port"),
        ] {
            let e = PortUrl::parse(url).unwrap_err().to_string();
            assert!(e.contains(needle), "{url}: {e}");
        }
    }
}
