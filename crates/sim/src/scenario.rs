//! The scenario CSV format: a site trace of PV and house power, one row per minute.
//!
//! ```text
//! # optional comment lines
//! time,pv_w,house_w
//! 2024-06-09T22:00:00Z,0.0,168.0
//! 2024-06-09T22:01:00Z,0.0,184.0
//! ```
//!
//! Times are RFC 3339 UTC (`YYYY-MM-DDTHH:MM:SSZ`) and must step by exactly one minute; powers
//! are finite W >= 0. Every problem is reported as `file:line: problem`.
//!
//! Interpretations: `#` comment lines and blank lines are skipped wherever they occur (also
//! after the header); fields may carry surrounding spaces and the line a trailing `\r`; fractional
//! seconds and offsets other than `Z` are rejected; a file needs at least one data row.

use std::fmt;
use std::path::{Path, PathBuf};

/// The header every scenario must have.
pub const HEADER: &str = "time,pv_w,house_w";

/// One minute of the site: PV and house power, held constant for the minute.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Row {
    /// PV AC power, W.
    pub pv_w: f64,
    /// House consumption without the car, W.
    pub house_w: f64,
}

/// A parsed scenario: a name, a start time and one [`Row`] per minute.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The file stem, e.g. `dk-2024-06-10-broken-clouds`.
    pub name: String,
    /// The time of the first row, unix seconds (UTC).
    pub start_unix: i64,
    /// One row per minute, from `start_unix` on.
    pub rows: Vec<Row>,
}

/// Why a scenario could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{}: cannot read", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line of the file is wrong.
    #[error("{file}:{line}: {problem}")]
    Line {
        /// The file as given.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: Problem,
    },
    /// The file ended early.
    #[error("{file}: {problem}")]
    File {
        /// The file as given.
        file: String,
        /// What is wrong.
        problem: Problem,
    },
}

/// What is wrong with a line (or the whole file) of a scenario.
#[derive(Clone, Debug, PartialEq)]
pub enum Problem {
    /// The first non-comment line is not [`HEADER`].
    MissingHeader {
        /// What was found instead.
        found: String,
    },
    /// The file has no data rows.
    NoRows,
    /// Not three comma-separated fields.
    ColumnCount {
        /// How many fields there were.
        found: usize,
    },
    /// A time that is not `YYYY-MM-DDTHH:MM:SSZ`.
    BadTime {
        /// The text.
        text: String,
        /// Why.
        why: &'static str,
    },
    /// A time that does not follow the previous row by exactly 60 s.
    TimeStep {
        /// The text.
        text: String,
        /// Seconds since the previous row.
        step_s: i64,
    },
    /// A power that does not parse as a number.
    NotANumber {
        /// The column.
        column: &'static str,
        /// The text.
        text: String,
    },
    /// A power that is negative, NaN or infinite.
    OutOfRange {
        /// The column.
        column: &'static str,
        /// The text.
        text: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::MissingHeader { found } => {
                write!(f, "expected the header \"{HEADER}\", found \"{found}\"")
            }
            Problem::NoRows => write!(f, "no data rows after the header"),
            Problem::ColumnCount { found } => {
                write!(f, "expected 3 fields (time,pv_w,house_w), found {found}")
            }
            Problem::BadTime { text, why } => {
                write!(f, "time \"{text}\" is not YYYY-MM-DDTHH:MM:SSZ: {why}")
            }
            Problem::TimeStep { text, step_s } => write!(
                f,
                "time \"{text}\" is {step_s} s after the previous row, expected 60 s"
            ),
            Problem::NotANumber { column, text } => {
                write!(f, "{column} \"{text}\" is not a number")
            }
            Problem::OutOfRange { column, text } => {
                write!(f, "{column} \"{text}\" must be a finite number >= 0")
            }
        }
    }
}

impl Scenario {
    /// The scenario files in the folder `dir`: its regular `*.csv` files, sorted by path.
    pub fn files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "csv"))
            .collect();
        files.sort();
        Ok(files)
    }

    /// Reads and parses the scenario file at `path`; its name is the file stem.
    pub fn read(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Scenario::parse(&path.display().to_string(), &name, &text)
    }

    /// Parses scenario `text`; `file` names it in errors, `name` becomes [`Scenario::name`].
    pub fn parse(file: &str, name: &str, text: &str) -> Result<Scenario, ScenarioError> {
        let err = |line: usize, problem: Problem| ScenarioError::Line {
            file: file.to_string(),
            line,
            problem,
        };
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim_end_matches('\r').trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
        match lines.next() {
            Some((_, l)) if l.replace(' ', "") == HEADER => {}
            Some((n, l)) => {
                return Err(err(
                    n,
                    Problem::MissingHeader {
                        found: l.to_string(),
                    },
                ))
            }
            None => {
                return Err(ScenarioError::File {
                    file: file.to_string(),
                    problem: Problem::MissingHeader {
                        found: String::new(),
                    },
                })
            }
        }
        let mut rows = Vec::with_capacity(text.len() / 24);
        let mut start_unix = 0;
        let mut prev: Option<i64> = None;
        for (n, line) in lines {
            let mut fields = line.split(',').map(str::trim);
            let (Some(t), Some(pv), Some(house), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Err(err(
                    n,
                    Problem::ColumnCount {
                        found: line.split(',').count(),
                    },
                ));
            };
            let unix = parse_rfc3339_utc(t).map_err(|why| {
                err(
                    n,
                    Problem::BadTime {
                        text: t.to_string(),
                        why,
                    },
                )
            })?;
            match prev {
                None => start_unix = unix,
                Some(p) if unix - p != 60 => {
                    return Err(err(
                        n,
                        Problem::TimeStep {
                            text: t.to_string(),
                            step_s: unix - p,
                        },
                    ))
                }
                Some(_) => {}
            }
            prev = Some(unix);
            let pv_w = parse_power("pv_w", pv).map_err(|p| err(n, p))?;
            let house_w = parse_power("house_w", house).map_err(|p| err(n, p))?;
            rows.push(Row { pv_w, house_w });
        }
        if rows.is_empty() {
            return Err(ScenarioError::File {
                file: file.to_string(),
                problem: Problem::NoRows,
            });
        }
        Ok(Scenario {
            name: name.to_string(),
            start_unix,
            rows,
        })
    }

    /// The scenario's length in seconds (60 per row).
    pub fn duration_s(&self) -> u64 {
        self.rows.len() as u64 * 60
    }

    /// The scenario as a CSV file of this format, with `comment` as its first line (after `# `;
    /// a line break in it would end the comment, so it becomes a space). [`Scenario::parse`]
    /// reads it back to the same rows.
    pub fn to_csv(&self, comment: &str) -> String {
        let mut out = format!("# {}\n{HEADER}\n", comment.replace(['\n', '\r'], " "));
        for (i, r) in self.rows.iter().enumerate() {
            let t = self.start_unix + 60 * i as i64;
            out.push_str(&format!(
                "{},{},{}\n",
                format_rfc3339_utc(t),
                r.pv_w,
                r.house_w
            ));
        }
        out
    }
}

fn parse_power(column: &'static str, text: &str) -> Result<f64, Problem> {
    let v: f64 = text.parse().map_err(|_| Problem::NotANumber {
        column,
        text: text.to_string(),
    })?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(Problem::OutOfRange {
            column,
            text: text.to_string(),
        })
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (also `t`/`z`) into unix seconds.
///
/// Only this UTC form of RFC 3339 is accepted: no fractional seconds, no numeric offsets, no
/// leap second.
pub fn parse_rfc3339_utc(s: &str) -> Result<i64, &'static str> {
    let b = s.as_bytes();
    if b.len() != 20 {
        return Err("wrong length");
    }
    let sep_ok = b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b'T' || b[10] == b't')
        && b[13] == b':'
        && b[16] == b':';
    if !sep_ok {
        return Err("wrong separators");
    }
    if !(b[19] == b'Z' || b[19] == b'z') {
        return Err("must end in Z (UTC)");
    }
    let num = |from: usize, to: usize| -> Result<i64, &'static str> {
        b[from..to].iter().try_fold(0i64, |acc, &c| {
            if c.is_ascii_digit() {
                Ok(acc * 10 + i64::from(c - b'0'))
            } else {
                Err("a field is not a number")
            }
        })
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month) {
        return Err("month out of range");
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err("day out of range");
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err("time of day out of range");
    }
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Formats unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days, proleptic Gregorian): the
/// inverse of [`parse_rfc3339_utc`] for the UTC form.
pub fn format_rfc3339_utc(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, String> {
        Scenario::parse("scenario.csv", "scenario", text).map_err(|e| e.to_string())
    }

    #[test]
    fn rfc3339_utc_known_instants() {
        assert_eq!(parse_rfc3339_utc("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_rfc3339_utc("2024-06-09T22:00:00Z"), Ok(1_717_970_400));
        assert_eq!(parse_rfc3339_utc("2000-02-29T23:59:59z"), Ok(951_868_799));
        assert_eq!(parse_rfc3339_utc("2012-05-17T07:00:00Z"), Ok(1_337_238_000));
        assert!(parse_rfc3339_utc("2023-02-29T00:00:00Z").is_err());
        assert!(parse_rfc3339_utc("2024-06-09T22:00:00+02:00").is_err());
        assert!(parse_rfc3339_utc("2024-06-09 22:00:00Z").is_err());
        assert!(parse_rfc3339_utc("2024-06-09T24:00:00Z").is_err());
    }

    #[test]
    fn reads_comments_header_and_rows() {
        let s = parse(
            "# a comment\ntime,pv_w,house_w\n2024-06-09T22:00:00Z,0.0,168\r\n\
             2024-06-09T22:01:00Z,12.5,184.0\n\n",
        )
        .unwrap();
        assert_eq!(s.name, "scenario");
        assert_eq!(s.start_unix, 1_717_970_400);
        assert_eq!(s.rows.len(), 2);
        assert_eq!(
            s.rows[1],
            Row {
                pv_w: 12.5,
                house_w: 184.0
            }
        );
        assert_eq!(s.duration_s(), 120);
    }

    const OK: &str = "time,pv_w,house_w\n2024-06-09T22:00:00Z,0,1\n";

    #[test]
    fn a_bad_number_names_file_line_and_column() {
        let e = parse(&format!("# c\n{OK}2024-06-09T22:01:00Z,abc,1\n")).unwrap_err();
        assert_eq!(e, "scenario.csv:4: pv_w \"abc\" is not a number");
    }

    #[test]
    fn negative_nan_and_infinite_powers_are_rejected() {
        for bad in ["-1", "NaN", "inf"] {
            let e = parse(&format!("{OK}2024-06-09T22:01:00Z,0,{bad}\n")).unwrap_err();
            assert_eq!(
                e,
                format!("scenario.csv:3: house_w \"{bad}\" must be a finite number >= 0")
            );
        }
    }

    #[test]
    fn a_wrong_column_count_is_named() {
        let e = parse(&format!("{OK}2024-06-09T22:01:00Z,0\n")).unwrap_err();
        assert_eq!(
            e,
            "scenario.csv:3: expected 3 fields (time,pv_w,house_w), found 2"
        );
        let e = parse(&format!("{OK}2024-06-09T22:01:00Z,0,1,2\n")).unwrap_err();
        assert!(e.starts_with("scenario.csv:3: "), "{e}");
        assert!(e.ends_with("found 4"), "{e}");
    }

    #[test]
    fn a_missing_header_is_named() {
        let e = parse("# c\n2024-06-09T22:00:00Z,0,1\n").unwrap_err();
        assert_eq!(
            e,
            "scenario.csv:2: expected the header \"time,pv_w,house_w\", found \
             \"2024-06-09T22:00:00Z,0,1\""
        );
        let e = parse("# only a comment\n").unwrap_err();
        assert!(e.starts_with("scenario.csv: expected the header"), "{e}");
        let e = parse("time,pv_w,house_w\n").unwrap_err();
        assert_eq!(e, "scenario.csv: no data rows after the header");
    }

    #[test]
    fn written_scenarios_read_back_and_keep_their_comment_on_one_line() {
        let s = Scenario {
            name: "x".into(),
            start_unix: 1_718_056_800,
            rows: vec![
                Row {
                    pv_w: 1234.5,
                    house_w: 0.0,
                },
                Row {
                    pv_w: 0.0,
                    house_w: 300.0,
                },
            ],
        };
        let text = s.to_csv("made\nby a test");
        assert!(text.starts_with("# made by a test\ntime,pv_w,house_w\n2024-06-10T22:00:00Z,"));
        assert_eq!(Scenario::parse("x.csv", "x", &text).ok(), Some(s));
    }

    #[test]
    fn a_time_gap_is_named() {
        let e = parse(&format!("{OK}2024-06-09T22:02:00Z,0,1\n")).unwrap_err();
        assert_eq!(
            e,
            "scenario.csv:3: time \"2024-06-09T22:02:00Z\" is 120 s after the previous row, \
             expected 60 s"
        );
        let e = parse(&format!("{OK}2024-06-09T22:00:00Z,0,1\n")).unwrap_err();
        assert!(e.contains("is 0 s after"), "{e}");
        let e = parse(&format!("{OK}2024-06-09T22:01:00,0,1\n")).unwrap_err();
        assert_eq!(
            e,
            "scenario.csv:3: time \"2024-06-09T22:01:00\" is not YYYY-MM-DDTHH:MM:SSZ: wrong length"
        );
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let e = Scenario::read(Path::new("/nonexistent/x.csv")).unwrap_err();
        assert!(
            e.to_string().starts_with("/nonexistent/x.csv: cannot read"),
            "{e}"
        );
    }
}
