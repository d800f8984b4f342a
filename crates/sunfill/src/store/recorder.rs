//! The recorder: turns the stream of [`View`]s into sessions, minutes and settings.
//!
//! [`Recorder`] holds no clock: every step takes its time from `View::at_unix_ms`, so tests feed
//! it views with any timestamps. [`record`] is the thin async loop the daemon spawns; SQLite work
//! runs on a blocking thread so a slow SD card never stalls the runtime.

use super::{share, Error, Store};
use crate::hub::{self, LoadpointView, SiteView, View};
use rusqlite::params;
use std::collections::HashMap;
use std::future::Future;

/// An open session is written at least this often (and at once on start, end and mode
/// change). Between writes only the solar/grid split of the last seconds is at risk; the
/// energy itself is in the wallbox counter.
const SESSION_WRITE_MS: i64 = 30_000;
/// History is pruned this often.
const PRUNE_EVERY_MS: i64 = 3_600_000;
/// A gap between two views longer than this does not count towards a minute's mean.
const MAX_SAMPLE_MS: i64 = 300_000;
/// Counter decreases smaller than this are rounding noise, not a counter reset, kWh.
const COUNTER_NOISE_KWH: f64 = 0.001;

/// The part of the car's power that is solar, 0..=1, for the flows of one view; see the
/// module documentation of [`crate::store`] for the rule.
pub fn solar_fraction(site: &SiteView, car_power_w: f64) -> f64 {
    let Some(grid) = site.grid_w else {
        return 0.0;
    };
    if car_power_w <= 0.0 {
        return 0.0;
    }
    let battery_discharge = site.battery_w.unwrap_or(0.0).max(0.0);
    ((car_power_w - grid.max(0.0) - battery_discharge) / car_power_w).clamp(0.0, 1.0)
}

#[derive(Debug)]
struct OpenSession {
    id: i64,
    start_counter: f64,
    accounted_counter: f64,
    energy: f64,
    solar: f64,
    peak_w: f64,
    mode: String,
    /// The counter increase before the first view after a restart is split by the session's
    /// share so far, not by the (unknown) flows of the time sunfill was down.
    resumed: bool,
    written_ms: i64,
    dirty: bool,
}

/// The settings of a loadpoint that the view shows, in command syntax.
fn settings_of(lp: &LoadpointView) -> [(&'static str, String); 4] {
    [
        ("mode", lp.mode.clone()),
        ("min_current", format!("{:.1}", lp.min_current_a)),
        ("max_current", format!("{:.1}", lp.max_current_a)),
        ("fixed_current", format!("{:.1}", lp.fixed_current_a)),
    ]
}

#[derive(Debug, Default)]
struct Loadpoint {
    session: Option<OpenSession>,
    /// The last counter reading of an online wallbox.
    counter: Option<f64>,
    /// The settings last seen (the first view's are the configured or restored ones).
    settings: Option<[(&'static str, String); 4]>,
    /// Power and setpoint of the previous view.
    power_w: f64,
    setpoint_a: f64,
}

/// Time-weighted sums for one field.
#[derive(Clone, Copy, Debug, Default)]
struct Mean {
    sum: f64,
    weight: f64,
    last: Option<f64>,
}

impl Mean {
    fn add(&mut self, v: Option<f64>, dt_ms: i64) {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            self.sum += v * dt_ms as f64;
            self.weight += dt_ms as f64;
            self.last = Some(v);
        }
    }

    fn value(&self) -> Option<f64> {
        if self.weight > 0.0 {
            Some(self.sum / self.weight)
        } else {
            self.last
        }
    }
}

#[derive(Debug, Default)]
struct CarAcc {
    power: Mean,
    setpoint: Mean,
    energy: f64,
    solar: f64,
}

#[derive(Debug, Default)]
struct Minute {
    start_ms: i64,
    pv: Mean,
    house: Mean,
    grid: Mean,
    battery: Mean,
    soc: Mean,
    cars: HashMap<String, CarAcc>,
}

/// Records views into a [`Store`]. Dropping it without [`Recorder::finish`] is what a crash
/// does: the next recorder resumes from what was written.
#[derive(Debug, Default)]
pub struct Recorder {
    loadpoints: HashMap<String, Loadpoint>,
    minute: Option<Minute>,
    last: Option<View>,
    last_prune_ms: Option<i64>,
}

impl Recorder {
    /// A recorder with nothing seen yet.
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// Takes one view: updates the sessions, the minute being collected and the settings.
    pub fn observe(&mut self, store: &Store, view: &View) -> Result<(), Error> {
        let now = view.at_unix_ms;
        if now <= 0 {
            return Ok(()); // The hub's empty initial view.
        }
        let (prev_site, dt) = match &self.last {
            Some(p) => (p.site.clone(), (now - p.at_unix_ms).clamp(0, MAX_SAMPLE_MS)),
            None => (view.site.clone(), 0),
        };
        // The interval since the previous view belongs to the minute it started in.
        if let Some(prev) = &self.last {
            let m = self.minute.get_or_insert_with(|| Minute {
                start_ms: minute_of(prev.at_unix_ms),
                ..Minute::default()
            });
            m.pv.add(prev.site.pv_w, dt);
            m.house.add(prev.site.house_w, dt);
            m.grid.add(prev.site.grid_w, dt);
            m.battery.add(prev.site.battery_w, dt);
            m.soc.add(prev.site.battery_soc, dt);
            for lp in &prev.loadpoints {
                let c = m.cars.entry(lp.name.clone()).or_default();
                c.power.add(Some(lp.power_w), dt);
                c.setpoint.add(Some(lp.setpoint_a), dt);
            }
        }
        if self.minute.as_ref().map(|m| m.start_ms) != Some(minute_of(now)) {
            if let Some(m) = self.minute.take() {
                write_minute(store, &m)?;
            }
            // A minute with a single view still has values: those of the view.
            let mut m = Minute {
                start_ms: minute_of(now),
                ..Minute::default()
            };
            m.pv.last = view.site.pv_w;
            m.house.last = view.site.house_w;
            m.grid.last = view.site.grid_w;
            m.battery.last = view.site.battery_w;
            m.soc.last = view.site.battery_soc;
            for lp in &view.loadpoints {
                let c = m.cars.entry(lp.name.clone()).or_default();
                c.power.last = Some(lp.power_w);
                c.setpoint.last = Some(lp.setpoint_a);
            }
            self.minute = Some(m);
        }
        for lp in &view.loadpoints {
            self.observe_loadpoint(store, now, &prev_site, lp)?;
        }
        if self
            .last_prune_ms
            .map_or(true, |t| now - t >= PRUNE_EVERY_MS || now < t)
        {
            let n = store.prune(now)?;
            if n > 0 {
                tracing::info!(rows = n, "pruned history older than the retention");
            }
            self.last_prune_ms = Some(now);
        }
        self.last = Some(view.clone());
        Ok(())
    }

    fn observe_loadpoint(
        &mut self,
        store: &Store,
        now: i64,
        prev_site: &SiteView,
        lp: &LoadpointView,
    ) -> Result<(), Error> {
        let first_sight = !self.loadpoints.contains_key(&lp.name);
        let state = self.loadpoints.entry(lp.name.clone()).or_default();
        if first_sight {
            state.session = resume(store, &lp.name)?;
            state.power_w = lp.power_w;
            state.setpoint_a = lp.setpoint_a;
        }

        // Settings: the first view shows the configured (or restored) ones; save changes.
        let settings = settings_of(lp);
        if let Some(before) = &state.settings {
            for ((key, old), (_, new)) in before.iter().zip(settings.iter()) {
                if old != new && !new.is_empty() {
                    store.save_setting(&lp.name, key, new, now)?;
                }
            }
        }
        state.settings = Some(settings);

        // The counter: trusted only from an online wallbox, and 0.0 means "not read yet".
        let counter = (lp.wallbox_online && lp.total_energy_kwh > 0.0)
            .then_some(lp.total_energy_kwh)
            .filter(|c| c.is_finite());
        let fraction = solar_fraction(prev_site, state.power_w);
        let mut delta = 0.0;
        if let (Some(c), Some(before)) = (counter, state.counter) {
            if c >= before {
                delta = c - before;
            }
        }
        if let Some(c) = counter {
            state.counter = Some(c);
        }
        if let Some(m) = &mut self.minute {
            let acc = m.cars.entry(lp.name.clone()).or_default();
            acc.energy += delta;
            acc.solar += delta * fraction;
        }

        let plugged = matches!(lp.vehicle.as_str(), "connected" | "charging");
        let unplugged = lp.vehicle == "disconnected";
        if let (Some(s), Some(c)) = (&mut state.session, counter) {
            if c + COUNTER_NOISE_KWH < s.accounted_counter {
                // A new or reset wallbox: keep the energy so far, count on from here.
                tracing::warn!(
                    loadpoint = %lp.name,
                    counter = c,
                    expected_at_least = s.accounted_counter,
                    "wallbox energy counter went backwards; continuing the session from the new value"
                );
                s.start_counter = c - s.energy;
                s.accounted_counter = c;
            }
            let gap = (c - s.accounted_counter).max(0.0);
            let f = if s.resumed {
                share(s.solar, s.energy).map_or(fraction, |p| p / 100.0)
            } else {
                fraction
            };
            s.resumed = false;
            s.solar += gap * f;
            s.accounted_counter = c;
            s.energy = (c - s.start_counter).max(0.0);
            s.solar = s.solar.min(s.energy);
            s.dirty |= gap > 0.0;
        }
        if let Some(s) = &mut state.session {
            if lp.power_w > s.peak_w {
                s.peak_w = lp.power_w;
                s.dirty = true;
            }
            let mut mode_changed = false;
            if !lp.mode.is_empty() && s.mode.rsplit(',').next() != Some(lp.mode.as_str()) {
                if s.mode.is_empty() {
                    s.mode = lp.mode.clone();
                } else {
                    s.mode = format!("{},{}", s.mode, lp.mode);
                }
                mode_changed = true;
            }
            if unplugged {
                write_session(store, s, now, Some(now))?;
                tracing::info!(loadpoint = %lp.name, id = s.id, energy_kwh = s.energy, "session ended");
                state.session = None;
            } else if mode_changed || (s.dirty && now - s.written_ms >= SESSION_WRITE_MS) {
                write_session(store, s, now, None)?;
            }
        } else if plugged {
            if let Some(c) = counter {
                let id = store
                    .conn
                    .prepare_cached(
                        "INSERT INTO sessions (loadpoint, start_ms, updated_ms, start_counter_kwh, \
                         accounted_counter_kwh, peak_w, mode) VALUES (?1, ?2, ?2, ?3, ?3, ?4, ?5)",
                    )
                    .and_then(|mut st| {
                        st.insert(params![lp.name, now, c, lp.power_w.max(0.0), lp.mode])
                    })
                    .map_err(|e| Error::sqlite(store.path(), "starting a session", e))?;
                tracing::info!(loadpoint = %lp.name, id, counter_kwh = c, "session started");
                state.session = Some(OpenSession {
                    id,
                    start_counter: c,
                    accounted_counter: c,
                    energy: 0.0,
                    solar: 0.0,
                    peak_w: lp.power_w.max(0.0),
                    mode: lp.mode.clone(),
                    resumed: false,
                    written_ms: now,
                    dirty: false,
                });
            }
        }
        state.power_w = lp.power_w;
        state.setpoint_a = lp.setpoint_a;
        Ok(())
    }

    /// Writes what is not yet written: the minute being collected and the open sessions.
    pub fn finish(&mut self, store: &Store) -> Result<(), Error> {
        let now = self.last.as_ref().map_or(0, |v| v.at_unix_ms);
        if let Some(m) = self.minute.take() {
            write_minute(store, &m)?;
        }
        for state in self.loadpoints.values_mut() {
            if let Some(s) = &mut state.session {
                write_session(store, s, now, None)?;
            }
        }
        Ok(())
    }
}

fn minute_of(ms: i64) -> i64 {
    ms - ms.rem_euclid(60_000)
}

fn resume(store: &Store, loadpoint: &str) -> Result<Option<OpenSession>, Error> {
    let row = store.conn.query_row(
        "SELECT id, start_counter_kwh, accounted_counter_kwh, energy_kwh, solar_kwh, peak_w, \
             mode, updated_ms FROM sessions WHERE loadpoint = ?1 AND end_ms IS NULL",
        [loadpoint],
        |r| {
            Ok(OpenSession {
                id: r.get(0)?,
                start_counter: r.get(1)?,
                accounted_counter: r.get(2)?,
                energy: r.get(3)?,
                solar: r.get(4)?,
                peak_w: r.get(5)?,
                mode: r.get(6)?,
                resumed: true,
                written_ms: r.get(7)?,
                dirty: false,
            })
        },
    );
    match row {
        Ok(s) => {
            tracing::info!(
                loadpoint,
                id = s.id,
                energy_kwh = s.energy,
                "resuming open session"
            );
            Ok(Some(s))
        }
        Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
        Err(e) => Err(Error::sqlite(store.path(), "resuming the open session", e)),
    }
}

fn write_session(
    store: &Store,
    s: &mut OpenSession,
    now: i64,
    end: Option<i64>,
) -> Result<(), Error> {
    store
        .conn
        .prepare_cached(
            "UPDATE sessions SET end_ms = ?2, updated_ms = ?3, start_counter_kwh = ?4, \
             accounted_counter_kwh = ?5, energy_kwh = ?6, solar_kwh = ?7, grid_kwh = ?8, \
             peak_w = ?9, mode = ?10 WHERE id = ?1",
        )
        .and_then(|mut st| {
            st.execute(params![
                s.id,
                end,
                now,
                s.start_counter,
                s.accounted_counter,
                s.energy,
                s.solar,
                (s.energy - s.solar).max(0.0),
                s.peak_w,
                s.mode
            ])
        })
        .map_err(|e| Error::sqlite(store.path(), "saving a session", e))?;
    s.written_ms = now;
    s.dirty = false;
    Ok(())
}

fn write_minute(store: &Store, m: &Minute) -> Result<(), Error> {
    let err = |e| Error::sqlite(store.path(), "saving a minute of history", e);
    let tx = store.conn.unchecked_transaction().map_err(err)?;
    tx.prepare_cached(
        "INSERT OR REPLACE INTO site_minutes (minute_ms, pv_w, house_w, grid_w, battery_w, \
         battery_soc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut st| {
        st.execute(params![
            m.start_ms,
            m.pv.value(),
            m.house.value(),
            m.grid.value(),
            m.battery.value(),
            m.soc.value()
        ])
    })
    .map_err(err)?;
    for (name, c) in &m.cars {
        tx.prepare_cached(
            "INSERT INTO car_minutes (minute_ms, loadpoint, power_w, setpoint_a, energy_kwh, \
             solar_kwh) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (minute_ms, loadpoint) DO \
             UPDATE SET power_w = ?3, setpoint_a = ?4, energy_kwh = energy_kwh + ?5, \
             solar_kwh = solar_kwh + ?6",
        )
        .and_then(|mut st| {
            st.execute(params![
                m.start_ms,
                name,
                c.power.value().unwrap_or(0.0),
                c.setpoint.value().unwrap_or(0.0),
                c.energy,
                c.solar
            ])
        })
        .map_err(err)?;
    }
    tx.commit().map_err(err)
}

/// Records every view the daemon publishes until `shutdown` completes (or the daemon drops its
/// side of the hub), then writes what is pending. SQLite runs on a blocking thread.
pub async fn record(
    store: Store,
    hub: hub::ObserverSide,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let path = store.path().to_path_buf();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<View>(64);
    let writer = tokio::task::spawn_blocking(move || -> Result<(), Error> {
        let mut recorder = Recorder::new();
        let mut failing = false;
        while let Some(view) = rx.blocking_recv() {
            // Keep recording after an error (a full disk may be freed); say so on each change.
            match recorder.observe(&store, &view) {
                Err(e) if !failing => {
                    tracing::error!(
                        "{e}; sunfill keeps charging and retries with the next reading"
                    );
                    failing = true;
                }
                Ok(()) if failing => {
                    tracing::info!(path = %store.path().display(), "database writable again");
                    failing = false;
                }
                _ => {}
            }
        }
        recorder.finish(&store)
    });
    let mut view = hub.view;
    tokio::pin!(shutdown);
    loop {
        let v = view.borrow_and_update().clone();
        if tx.send(v).await.is_err() {
            break; // The writer ended; its result says why.
        }
        tokio::select! {
            changed = view.changed() => if changed.is_err() { break },
            () = &mut shutdown => {
                // The last view published before the shutdown is recorded too.
                if view.has_changed().unwrap_or(false) {
                    let v = view.borrow_and_update().clone();
                    let _ = tx.send(v).await;
                }
                break;
            }
        }
    }
    drop(tx);
    match writer.await {
        Ok(r) => r,
        Err(e) => Err(Error::Recorder {
            path,
            why: e.to_string(),
        }),
    }
}
