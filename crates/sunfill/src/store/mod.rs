//! The store: charging sessions, per-minute history and runtime settings in one SQLite file.
//!
//! - **Sessions** run from plug-in to unplug. Their energy comes from the wallbox's own counter
//!   (`LoadpointView::total_energy_kwh`, kWh since installation): energy = counter now - counter
//!   at the start. The open session is a row with `end_ms` NULL and its start counter, so after a
//!   restart or a `kill -9` the recorder resumes it and the energy charged meanwhile is not lost.
//! - **Solar share** (the rule): between two views the car takes the counter's increase. The
//!   part of it that is solar is `clamp((car power - grid import - battery discharge) / car
//!   power, 0, 1)`, taken from the earlier view (the flows that held during the interval): the
//!   grid import and the home battery's discharge are charged to the car first, so the share is
//!   never flattering. Without a grid reading the interval counts as grid. Energy charged while
//!   sunfill was down is split like the rest of the session. Grid energy = energy - solar.
//! - **History**: one row per minute with the time-weighted mean of the site flows, and per
//!   loadpoint the car's power, the setpoint and the energy (counter increase) of that minute.
//!   Rows older than the retention (default 90 days) are deleted once an hour. Today's and this
//!   month's totals come from these rows, in the machine's local time zone.
//! - **Settings** (mode and current limits changed at runtime) are saved per loadpoint in the
//!   syntax of the MQTT commands, so the daemon restores them with the same parser.
//!
//! The schema is versioned with SQLite's `user_version`; [`Store::open`] migrates older files.
//! [`record`] is the only writer of sessions and history; the web opens its own connection and
//! reads (WAL mode lets readers and the writer work at the same time).

mod error;
mod recorder;
#[cfg(test)]
mod tests;

pub use error::Error;
pub use recorder::{record, solar_fraction, Recorder};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long history is kept unless configured otherwise, days.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;

/// The schema, one entry per version; entry `i` takes a file from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // Version 1.
    "CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        loadpoint TEXT NOT NULL,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER,
        updated_ms INTEGER NOT NULL,
        start_counter_kwh REAL NOT NULL,
        accounted_counter_kwh REAL NOT NULL,
        energy_kwh REAL NOT NULL DEFAULT 0,
        solar_kwh REAL NOT NULL DEFAULT 0,
        grid_kwh REAL NOT NULL DEFAULT 0,
        peak_w REAL NOT NULL DEFAULT 0,
        mode TEXT NOT NULL
    );
    CREATE INDEX sessions_by_start ON sessions(start_ms);
    CREATE UNIQUE INDEX one_open_session_per_loadpoint ON sessions(loadpoint) WHERE end_ms IS NULL;
    CREATE TABLE site_minutes (
        minute_ms INTEGER PRIMARY KEY,
        pv_w REAL, house_w REAL, grid_w REAL, battery_w REAL, battery_soc REAL
    );
    CREATE TABLE car_minutes (
        minute_ms INTEGER NOT NULL,
        loadpoint TEXT NOT NULL,
        power_w REAL NOT NULL,
        setpoint_a REAL NOT NULL,
        energy_kwh REAL NOT NULL,
        solar_kwh REAL NOT NULL,
        PRIMARY KEY (minute_ms, loadpoint)
    ) WITHOUT ROWID;
    CREATE TABLE settings (
        loadpoint TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        changed_ms INTEGER NOT NULL,
        PRIMARY KEY (loadpoint, key)
    ) WITHOUT ROWID;",
];

/// An open database file.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    retention_days: u32,
}

/// One charging session.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Session {
    /// Its number.
    pub id: i64,
    /// The loadpoint.
    pub loadpoint: String,
    /// Plug-in, Unix milliseconds.
    pub start_unix_ms: i64,
    /// Unplug, Unix milliseconds; `None` while the car is plugged in.
    pub end_unix_ms: Option<i64>,
    /// Energy into the car, kWh (wallbox counter).
    pub energy_kwh: f64,
    /// Of that, from solar, kWh.
    pub solar_kwh: f64,
    /// Of that, from the grid (or the home battery), kWh.
    pub grid_kwh: f64,
    /// Solar share, percent; `None` before any energy.
    pub solar_share_pct: Option<f64>,
    /// Highest charging power, W.
    pub peak_power_w: f64,
    /// The mode(s) used, in order, comma separated (`pv`, `pv,now`).
    pub mode: String,
}

/// A page of sessions, newest first.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionPage {
    /// Number of sessions in total (for paging).
    pub total: i64,
    /// The sessions of this page.
    pub sessions: Vec<Session>,
}

/// One minute of the site's flows (means over the minute, W; `None`: no reading).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SiteMinute {
    /// Start of the minute, Unix milliseconds.
    pub t: i64,
    /// PV production, W.
    pub pv_w: Option<f64>,
    /// House without the car, W.
    pub house_w: Option<f64>,
    /// Grid, W, + import.
    pub grid_w: Option<f64>,
    /// Home battery, W, + discharging.
    pub battery_w: Option<f64>,
    /// Home battery state of charge, %.
    pub battery_soc: Option<f64>,
}

/// One minute of one loadpoint.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CarMinute {
    /// Start of the minute, Unix milliseconds.
    pub t: i64,
    /// The loadpoint.
    pub loadpoint: String,
    /// Mean power into the car, W.
    pub power_w: f64,
    /// Mean setpoint, A.
    pub setpoint_a: f64,
}

/// The chart's data.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct History {
    /// The site, oldest first.
    pub site: Vec<SiteMinute>,
    /// The loadpoints, oldest first.
    pub cars: Vec<CarMinute>,
}

/// Energy into the cars over a period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct EnergyTotal {
    /// Start of the period (local midnight), Unix milliseconds.
    pub since_unix_ms: i64,
    /// Energy, kWh.
    pub energy_kwh: f64,
    /// Of that, solar, kWh.
    pub solar_kwh: f64,
    /// Solar share, percent; `None` without energy.
    pub solar_share_pct: Option<f64>,
}

/// Today's and this month's energy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct EnergySummary {
    /// Since local midnight.
    pub today: EnergyTotal,
    /// Since the first of the month, local time.
    pub month: EnergyTotal,
}

/// Paging of [`Store::sessions`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// Sessions per page (at most 1000).
    pub limit: u32,
    /// Sessions to skip.
    pub offset: u32,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            limit: 50,
            offset: 0,
        }
    }
}

fn share(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| (part / whole * 100.0).clamp(0.0, 100.0))
}

impl Store {
    /// Opens (or creates) the database at `path`, switches it to WAL mode and migrates the schema.
    pub fn open(path: &Path) -> Result<Store, Error> {
        let store = Store::connect(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )?;
        store.prepare()?;
        Ok(store)
    }

    /// Opens an existing database only to read it: nothing is created or migrated, so it is safe
    /// beside a running daemon (`sunfill simulate --store`).
    pub fn open_read_only(path: &Path) -> Result<Store, Error> {
        if !path.is_file() {
            return Err(Error::Missing {
                path: path.to_path_buf(),
            });
        }
        let store = Store::connect(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        if store.schema_version()? == 0 {
            return Err(Error::NotOurs {
                path: store.path.clone(),
            });
        }
        Ok(store)
    }

    /// A connection with `flags` and a busy timeout.
    fn connect(path: &Path, flags: OpenFlags) -> Result<Store, Error> {
        let flags = flags | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|source| Error::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
            retention_days: DEFAULT_RETENTION_DAYS,
        };
        store
            .conn
            .busy_timeout(Duration::from_secs(5))
            .map_err(store.err("setting the busy timeout"))?;
        Ok(store)
    }

    /// The file's schema version, refused if newer than this build knows.
    fn schema_version(&self) -> Result<i64, Error> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(self.err("reading the schema version"))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(Error::TooNew {
                path: self.path.clone(),
                found: version,
                known,
            });
        }
        Ok(version)
    }

    fn err(&self, doing: &'static str) -> impl FnOnce(rusqlite::Error) -> Error + '_ {
        move |e| Error::sqlite(&self.path, doing, e)
    }

    fn prepare(&self) -> Result<(), Error> {
        let c = &self.conn;
        // The first statement that reads the file: a damaged file fails here.
        let mode: String = c
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(self.err("switching to WAL mode"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %self.path.display(), mode, "database is not in WAL mode");
        }
        // WAL + NORMAL: a power cut may lose the last commits, never corrupts the file; the
        // energy itself is safe in the wallbox's counter.
        c.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")
            .map_err(self.err("setting pragmas"))?;
        let version = self.schema_version()?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let next = i as i64 + 1;
            let batch = format!("BEGIN IMMEDIATE; {sql}; PRAGMA user_version = {next}; COMMIT;");
            if let Err(e) = c.execute_batch(&batch) {
                let _ = c.execute_batch("ROLLBACK");
                return Err(Error::sqlite(&self.path, "migrating the schema", e));
            }
            tracing::info!(path = %self.path.display(), version = next, "database schema migrated");
        }
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps history for `days` (at least 1) instead of [`DEFAULT_RETENTION_DAYS`]. This
    /// month's total needs at least 31 days.
    pub fn with_retention_days(mut self, days: u32) -> Store {
        self.retention_days = days.max(1);
        self
    }

    /// The history retention, days.
    pub fn retention_days(&self) -> u32 {
        self.retention_days
    }

    /// The settings changed at runtime for `loadpoint`, as (key, value) in the syntax of the
    /// MQTT commands (`mode` = `pv`, `max_current` = `10.5`), in key order. The daemon applies
    /// them before it publishes its first view of the loadpoint.
    pub fn saved_settings(&self, loadpoint: &str) -> Result<Vec<(String, String)>, Error> {
        let mut st = self
            .conn
            .prepare_cached("SELECT key, value FROM settings WHERE loadpoint = ?1 ORDER BY key")
            .map_err(self.err("reading settings"))?;
        let rows = st
            .query_map([loadpoint], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.err("reading settings"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(self.err("reading settings"))
    }

    /// Saves one setting (key and value as in the MQTT commands). The recorder calls this for
    /// the mode and the limits it sees change; the daemon may call it for settings the view
    /// does not show (`battery_priority_soc`).
    pub fn save_setting(
        &self,
        loadpoint: &str,
        key: &str,
        value: &str,
        at_unix_ms: i64,
    ) -> Result<(), Error> {
        self.conn
            .prepare_cached(
                "INSERT INTO settings (loadpoint, key, value, changed_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (loadpoint, key) DO UPDATE SET value = ?3, changed_ms = ?4",
            )
            .and_then(|mut st| st.execute(params![loadpoint, key, value, at_unix_ms]))
            .map_err(self.err("saving a setting"))?;
        Ok(())
    }

    /// Sessions, newest first; all loadpoints or one.
    pub fn sessions(&self, page: Page, loadpoint: Option<&str>) -> Result<SessionPage, Error> {
        let total: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM sessions WHERE ?1 IS NULL OR loadpoint = ?1",
                [loadpoint],
                |r| r.get(0),
            )
            .map_err(self.err("counting sessions"))?;
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT id, loadpoint, start_ms, end_ms, energy_kwh, solar_kwh, grid_kwh, peak_w, \
                 mode FROM sessions WHERE ?1 IS NULL OR loadpoint = ?1 \
                 ORDER BY start_ms DESC, id DESC LIMIT ?2 OFFSET ?3",
            )
            .map_err(self.err("reading sessions"))?;
        let rows = st
            .query_map(
                params![loadpoint, page.limit.min(1000), page.offset],
                session_from_row,
            )
            .map_err(self.err("reading sessions"))?;
        let sessions = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err("reading sessions"))?;
        Ok(SessionPage { total, sessions })
    }

    /// Every session as CSV (RFC 4180, CRLF line ends), newest first. Times are local
    /// (`YYYY-MM-DD HH:MM:SS`) so spreadsheets read them; text cells that a spreadsheet would
    /// take for a formula are prefixed with `'`.
    pub fn sessions_csv(&self) -> Result<String, Error> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT id, loadpoint, \
                   datetime(start_ms / 1000, 'unixepoch', 'localtime'), \
                   CASE WHEN end_ms IS NULL THEN '' \
                        ELSE datetime(end_ms / 1000, 'unixepoch', 'localtime') END, \
                   energy_kwh, solar_kwh, grid_kwh, peak_w, mode \
                 FROM sessions ORDER BY start_ms DESC, id DESC",
            )
            .map_err(self.err("exporting sessions"))?;
        let mut out = String::from(
            "id,loadpoint,start,end,energy_kwh,solar_kwh,grid_kwh,solar_share_pct,peak_power_w,mode\r\n",
        );
        let mut rows = st.query([]).map_err(self.err("exporting sessions"))?;
        while let Some(r) = rows.next().map_err(self.err("exporting sessions"))? {
            let get = |i| -> Result<rusqlite::types::Value, Error> {
                r.get(i)
                    .map_err(|e| Error::sqlite(&self.path, "exporting sessions", e))
            };
            let text = |v: rusqlite::types::Value| match v {
                rusqlite::types::Value::Text(s) => s,
                rusqlite::types::Value::Integer(i) => i.to_string(),
                rusqlite::types::Value::Real(f) => f.to_string(),
                _ => String::new(),
            };
            let num = |v: rusqlite::types::Value| match v {
                rusqlite::types::Value::Real(f) => f,
                rusqlite::types::Value::Integer(i) => i as f64,
                _ => 0.0,
            };
            let (energy, solar) = (num(get(4)?), num(get(5)?));
            let cells = [
                text(get(0)?),
                csv_cell(&text(get(1)?)),
                text(get(2)?),
                text(get(3)?),
                format!("{energy:.3}"),
                format!("{solar:.3}"),
                format!("{:.3}", num(get(6)?)),
                share(solar, energy)
                    .map(|p| format!("{p:.1}"))
                    .unwrap_or_default(),
                format!("{:.0}", num(get(7)?)),
                csv_cell(&text(get(8)?)),
            ];
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        }
        Ok(out)
    }

    /// The site's minutes since `since_unix_ms`, oldest first.
    pub fn site_minutes(&self, since_unix_ms: i64) -> Result<Vec<SiteMinute>, Error> {
        self.conn
            .prepare_cached(
                "SELECT minute_ms, pv_w, house_w, grid_w, battery_w, battery_soc \
                 FROM site_minutes WHERE minute_ms >= ?1 ORDER BY minute_ms",
            )
            .and_then(|mut st| {
                st.query_map([since_unix_ms], |r| {
                    Ok(SiteMinute {
                        t: r.get(0)?,
                        pv_w: r.get(1)?,
                        house_w: r.get(2)?,
                        grid_w: r.get(3)?,
                        battery_w: r.get(4)?,
                        battery_soc: r.get(5)?,
                    })
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            })
            .map_err(self.err("reading history"))
    }

    /// Local time minus UTC on this machine at `unix_ms`, in minutes (SQLite's `localtime`, the
    /// zone the energy totals use).
    pub fn utc_offset_min(&self, unix_ms: i64) -> Result<i32, Error> {
        utc_offset_on(&self.conn, unix_ms).map_err(self.err("finding the local time zone"))
    }

    /// The per-minute history since `since_unix_ms`, oldest first.
    pub fn history(&self, since_unix_ms: i64) -> Result<History, Error> {
        let site = self.site_minutes(since_unix_ms)?;
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT minute_ms, loadpoint, power_w, setpoint_a FROM car_minutes \
                 WHERE minute_ms >= ?1 ORDER BY minute_ms, loadpoint",
            )
            .map_err(self.err("reading history"))?;
        let cars = st
            .query_map([since_unix_ms], |r| {
                Ok(CarMinute {
                    t: r.get(0)?,
                    loadpoint: r.get(1)?,
                    power_w: r.get(2)?,
                    setpoint_a: r.get(3)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(self.err("reading history"))?;
        Ok(History { site, cars })
    }

    /// Energy into the cars today and this month (local time of this machine), at `now_unix_ms`.
    pub fn energy_summary(&self, now_unix_ms: i64) -> Result<EnergySummary, Error> {
        let start = |modifier: &str| -> Result<i64, Error> {
            self.conn
                .query_row(
                    "SELECT CAST(strftime('%s', ?1 / 1000, 'unixepoch', 'localtime', ?2, 'utc') \
                     AS INTEGER) * 1000",
                    params![now_unix_ms, modifier],
                    |r| r.get::<_, Option<i64>>(0),
                )
                .map_err(self.err("finding local midnight"))
                .map(|v| v.unwrap_or(now_unix_ms))
        };
        let total = |since: i64| -> Result<EnergyTotal, Error> {
            let (energy_kwh, solar_kwh): (f64, f64) = self
                .conn
                .query_row(
                    "SELECT coalesce(sum(energy_kwh), 0), coalesce(sum(solar_kwh), 0) \
                     FROM car_minutes WHERE minute_ms >= ?1",
                    [since],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(self.err("adding up energy"))?;
            Ok(EnergyTotal {
                since_unix_ms: since,
                energy_kwh,
                solar_kwh,
                solar_share_pct: share(solar_kwh, energy_kwh),
            })
        };
        Ok(EnergySummary {
            today: total(start("start of day")?)?,
            month: total(start("start of month")?)?,
        })
    }

    /// The open session of `loadpoint`, if any.
    pub fn open_session(&self, loadpoint: &str) -> Result<Option<Session>, Error> {
        self.conn
            .query_row(
                "SELECT id, loadpoint, start_ms, end_ms, energy_kwh, solar_kwh, grid_kwh, peak_w, \
                 mode FROM sessions WHERE loadpoint = ?1 AND end_ms IS NULL",
                [loadpoint],
                session_from_row,
            )
            .optional()
            .map_err(self.err("reading the open session"))
    }

    /// Deletes history older than the retention; returns the rows deleted.
    pub fn prune(&self, now_unix_ms: i64) -> Result<usize, Error> {
        let cutoff = now_unix_ms - i64::from(self.retention_days) * 86_400_000;
        let a = self
            .conn
            .execute("DELETE FROM site_minutes WHERE minute_ms < ?1", [cutoff])
            .map_err(self.err("pruning history"))?;
        let b = self
            .conn
            .execute("DELETE FROM car_minutes WHERE minute_ms < ?1", [cutoff])
            .map_err(self.err("pruning history"))?;
        Ok(a + b)
    }
}

fn session_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Session> {
    let energy_kwh: f64 = r.get(4)?;
    let solar_kwh: f64 = r.get(5)?;
    Ok(Session {
        id: r.get(0)?,
        loadpoint: r.get(1)?,
        start_unix_ms: r.get(2)?,
        end_unix_ms: r.get(3)?,
        energy_kwh,
        solar_kwh,
        grid_kwh: r.get(6)?,
        solar_share_pct: share(solar_kwh, energy_kwh),
        peak_power_w: r.get(7)?,
        mode: r.get(8)?,
    })
}

/// Local time minus UTC on this machine at `unix_ms`, in minutes, as SQLite's `localtime` sees
/// it (the zone the store's energy totals use), without a database file.
pub fn local_utc_offset_min(unix_ms: i64) -> Result<i32, rusqlite::Error> {
    utc_offset_on(&Connection::open_in_memory()?, unix_ms)
}

fn utc_offset_on(conn: &Connection, unix_ms: i64) -> Result<i32, rusqlite::Error> {
    let secs: Option<i64> = conn.query_row(
        "SELECT CAST(strftime('%s', ?1, 'unixepoch', 'localtime') AS INTEGER) - ?1",
        [unix_ms.div_euclid(1000)],
        |r| r.get(0),
    )?;
    Ok(secs.map_or(0, |s| (s / 60).clamp(-24 * 60, 24 * 60) as i32))
}

/// One CSV cell: quoted when it holds a comma, quote or line break (quotes doubled); a leading
/// `=`, `+`, `-`, `@` or tab gets a `'` so a spreadsheet shows text, not a formula.
pub fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}
