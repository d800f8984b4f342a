"use strict";
// The sunfill dashboard: renders the state embedded in the page at once, then follows the
// daemon through server-sent events. No framework, no external file.
(function () {
  const $ = (sel, el) => (el || document).querySelector(sel);
  const boot = JSON.parse($("#state").textContent);
  // The daemon's clock, which need not be this computer's: the demo's runs faster than real
  // time on a model day. Its time at the last message from the server, advanced by the real
  // time since then times its speed; never Date.now().
  const speed = boot.clock_speed > 0 ? boot.clock_speed : 1;
  let synced = { server: boot.server_unix_ms, real: performance.now() };
  const syncClock = (ms) => { if (typeof ms === "number") synced = { server: ms, real: performance.now() }; };
  const serverNow = () => synced.server + (performance.now() - synced.real) * speed;
  let view = boot.view;
  let sessions = boot.sessions || [];
  let live = false;
  let hours = 6;
  let offset = 0;
  const pageSize = 10;
  const TOKEN_KEY = "sunfill-token";

  const kw = (w) => w == null ? "–" : Math.abs(w) >= 1000 ? (w / 1000).toFixed(1) + " kW" : Math.round(w) + " W";
  const kwh = (v) => v == null ? "–" : (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + " kWh";
  const pct = (p) => p == null ? "" : Math.round(p) + " % solar";
  const setText = (el, t) => { if (el && el.textContent !== t) el.textContent = t; };
  const MODE_WORDS = { off: "Off", pv: "Solar", minpv: "Min + solar", now: "Fast", fixed: "Fixed" };
  const VEHICLE = {
    disconnected: ["no car", ""], connected: ["car connected", "warn"], charging: ["charging", "ok"],
    error: ["wallbox error", "bad"], unknown: ["unknown", "bad"],
  };

  // --- power flow ----------------------------------------------------------------------
  function node(id, value, text) {
    const g = $("#n-" + id);
    g.classList.toggle("missing", value == null);
    setText($(".val", g), value == null ? "no reading" : text);
  }
  function wire(id, w, towardsHub) {
    const p = $("#w-" + id);
    const on = w != null && Math.abs(w) >= 30;
    p.classList.toggle("on", on);
    p.classList.toggle("rev", on && !towardsHub);
  }
  function renderFlow() {
    const s = view.site || {};
    const car = (view.loadpoints || []).reduce((a, l) => a + (l.power_w || 0), 0);
    node("pv", s.pv_w, kw(s.pv_w));
    node("house", s.house_w, kw(s.house_w));
    node("grid", s.grid_w, kw(s.grid_w == null ? null : Math.abs(s.grid_w)));
    node("battery", s.battery_w, s.battery_soc != null ? Math.round(s.battery_soc) + " %" : kw(s.battery_w));
    node("car", view.loadpoints.length ? car : null, kw(car));
    wire("pv", s.pv_w, true);
    wire("house", s.house_w, false);
    wire("grid", s.grid_w, s.grid_w > 0);
    wire("battery", s.battery_w, s.battery_w > 0);
    wire("car", car, false);
    const fill = $("#soc-fill");
    if (fill) {
      const soc = Math.max(0, Math.min(100, s.battery_soc || 0));
      fill.setAttribute("height", (15 * soc / 100).toFixed(1));
      fill.setAttribute("y", (9 - 15 * soc / 100).toFixed(1));
    }
    setText($("#v-pv"), kw(s.pv_w));
    setText($("#v-house"), kw(s.house_w));
    setText($("#t-grid"), s.grid_w == null ? "Grid" : s.grid_w > 0 ? "Grid import" : "Grid export");
    setText($("#v-grid"), kw(s.grid_w == null ? null : Math.abs(s.grid_w)));
    setText($("#t-battery"), s.battery_w == null ? "Battery" : s.battery_w > 30 ? "Battery out" : s.battery_w < -30 ? "Battery in" : "Battery");
    setText($("#v-battery"), s.battery_w == null ? "–" : kw(Math.abs(s.battery_w)));
    setText($("#v-car"), view.loadpoints.length ? kw(car) : "–");
  }

  // --- loadpoints ------------------------------------------------------------------------
  const cards = new Map();
  function card(name) {
    let c = cards.get(name);
    if (c) return c;
    c = $("#lp-template").content.firstElementChild.cloneNode(true);
    c.dataset.loadpoint = name;
    setText($(".lp-name", c), name);
    c.querySelectorAll(".modes button").forEach((b) => b.addEventListener("click", () => setMode(name, b.dataset.mode, c)));
    $(".limits-form", c).addEventListener("submit", (e) => { e.preventDefault(); setLimits(name, e.target, c); });
    $("#loadpoints").appendChild(c);
    cards.set(name, c);
    return c;
  }
  function renderLoadpoints() {
    for (const lp of view.loadpoints || []) {
      const c = card(lp.name);
      const [word, cls] = lp.wallbox_online ? (VEHICLE[lp.vehicle] || [lp.vehicle, ""]) : ["wallbox offline", "bad"];
      const st = $(".lp-state", c);
      setText(st, word);
      st.className = "chip lp-state " + cls;
      const reason = $(".reason", c);
      setText(reason, lp.reason || "waiting for the first decision");
      reason.classList.toggle("warn", /stale|error|offline|no reading|does not answer/i.test(lp.reason_code + " " + lp.reason) || !lp.wallbox_online);
      c.querySelectorAll(".modes button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.mode === lp.mode)));
      c.dataset.mode = lp.mode;
      setText($(".lp-power", c), lp.power_w > 0 ? kw(lp.power_w) : "not charging");
      setText($(".lp-setpoint", c), lp.setpoint_a > 0 ? lp.setpoint_a.toFixed(1) + " A × " + lp.phases + " phases" : MODE_WORDS[lp.mode] ? "mode " + MODE_WORDS[lp.mode] : "");
      const stored = sessions.find((s) => s.loadpoint === lp.name);
      let energy = lp.session_energy_kwh, solar = lp.session_solar_kwh;
      if (stored && stored.energy_kwh > energy) { energy = stored.energy_kwh; solar = stored.solar_kwh; }
      setText($(".lp-energy", c), kwh(energy));
      const share = energy > 0 ? 100 * Math.min(solar, energy) / energy : null;
      setText($(".lp-share", c), share == null ? "no energy yet" : pct(share));
      $(".sharebar .solar", c).style.width = (share == null ? 0 : share) + "%";
      $(".sharebar .grid", c).style.width = (share == null ? 0 : 100 - share) + "%";
      const vs = lp.vs_classic, vsEl = $(".vs-classic", c);
      const compared = vs && (vs.solar_kwh > 0 || vs.classic_solar_kwh > 0 || vs.starts > 0 || vs.classic_starts > 0);
      vsEl.hidden = !compared;
      if (compared) {
        const k = (v) => (v < 10 ? v.toFixed(2) : v.toFixed(1)) + " kWh";
        setText(vsEl, "This session vs. a classic 60 s / 180 s controller: solar " + k(vs.solar_kwh) + " vs " + k(vs.classic_solar_kwh) +
          " · grid " + k(vs.grid_kwh) + " vs " + k(vs.classic_grid_kwh) + " · starts " + vs.starts + " vs " + vs.classic_starts);
      }
      const f = $(".limits-form", c);
      for (const [k, v] of [["min_current", lp.min_current_a], ["max_current", lp.max_current_a], ["fixed_current", lp.fixed_current_a]]) {
        const input = f.elements[k];
        if (document.activeElement !== input && !f.dataset.dirty) input.value = v.toFixed(1);
      }
    }
  }

  // --- status ----------------------------------------------------------------------------
  function renderStatus() {
    const chip = $("#chip-live");
    // How old the view is on the daemon's clock; stale after 90 s of it, and at least 10 s of
    // real time (a fast clock would otherwise flag every pause of the browser).
    const age = serverNow() - view.at_unix_ms;
    if (!view.at_unix_ms) { setText(chip, "waiting for sunfill"); chip.className = "chip warn"; }
    else if (age > Math.max(90000, 10000 * speed)) { setText(chip, "no update for " + duration(age)); chip.className = "chip bad"; }
    else if (!live) { setText(chip, "reconnecting"); chip.className = "chip warn"; }
    else { setText(chip, "live"); chip.className = "chip ok"; }
    const m = $("#chip-mqtt");
    setText(m, view.mqtt_connected ? "MQTT connected" : "MQTT disconnected");
    m.className = "chip " + (view.mqtt_connected ? "ok" : "bad");
    const problems = [];
    const s = view.site || {};
    if (view.at_unix_ms) {
      for (const [k, w] of [["pv_w", "solar"], ["house_w", "house"], ["grid_w", "grid"]]) if (s[k] == null) problems.push("no current " + w + " reading");
      for (const lp of view.loadpoints || []) if (!lp.wallbox_online) problems.push("wallbox " + lp.name + " does not answer");
      if (!view.mqtt_connected) problems.push("not connected to the MQTT broker");
    }
    if (boot.store_error) problems.push("database: " + boot.store_error);
    const b = $("#banner");
    b.hidden = problems.length === 0;
    setText(b, problems.length ? "Attention: " + problems.join("; ") + "." : "");
  }

  function render() { renderFlow(); renderLoadpoints(); renderStatus(); }

  // --- energy and sessions ---------------------------------------------------------------
  function renderEnergy(e) {
    if (!e) return;
    setText($("#e-today"), kwh(e.today.energy_kwh));
    setText($("#s-today"), e.today.solar_share_pct == null ? "nothing charged yet" : pct(e.today.solar_share_pct));
    setText($("#e-month"), kwh(e.month.energy_kwh));
    setText($("#s-month"), e.month.solar_share_pct == null ? "nothing charged yet" : pct(e.month.solar_share_pct));
  }
  function duration(ms) {
    const m = Math.round(ms / 60000);
    return m < 60 ? m + " min" : Math.floor(m / 60) + " h " + String(m % 60).padStart(2, "0");
  }
  const dateFmt = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  async function loadSessions() {
    const r = await api("GET", "/api/sessions?limit=" + pageSize + "&offset=" + offset);
    if (!r.ok) return;
    const body = $("#sessions tbody");
    body.textContent = "";
    if (!r.data.sessions.length) {
      const tr = body.insertRow(); const td = tr.insertCell();
      td.colSpan = 6; td.className = "empty"; td.textContent = "No charging sessions yet.";
    }
    const multi = (view.loadpoints || []).length > 1;
    for (const s of r.data.sessions) {
      const tr = body.insertRow();
      if (s.end_unix_ms == null) tr.className = "open";
      const end = s.end_unix_ms == null ? Math.max(s.start_unix_ms, serverNow()) : s.end_unix_ms;
      const cells = [
        dateFmt.format(new Date(s.start_unix_ms)) + (multi ? " · " + s.loadpoint : ""),
        duration(end - s.start_unix_ms), kwh(s.energy_kwh),
        s.solar_share_pct == null ? "–" : Math.round(s.solar_share_pct) + " %", kw(s.peak_power_w),
        s.mode.split(",").map((m) => MODE_WORDS[m] || m).join(" → "),
      ];
      cells.forEach((t, i) => { const td = tr.insertCell(); td.textContent = t; if (i >= 2 && i <= 4) td.className = "num"; });
    }
    $("#newer").disabled = offset === 0;
    $("#older").disabled = offset + pageSize >= r.data.total;
    setText($("#page-info"), r.data.total ? (offset + 1) + "–" + Math.min(offset + pageSize, r.data.total) + " of " + r.data.total : "");
  }
  $("#newer").addEventListener("click", () => { offset = Math.max(0, offset - pageSize); loadSessions(); });
  $("#older").addEventListener("click", () => { offset += pageSize; loadSessions(); });

  // --- chart -----------------------------------------------------------------------------
  const SVGNS = "http://www.w3.org/2000/svg";
  function el(name, attrs, parent, text) {
    const e = document.createElementNS(SVGNS, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text != null) e.textContent = text;
    parent.appendChild(e);
    return e;
  }
  let history = null;
  function drawChart() {
    const svg = $("#chart");
    const W = Math.max(300, Math.round(svg.clientWidth || 640)), H = 220;
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.textContent = "";
    const L = 42, R = 8, T = 8, B = 22;
    const now = serverNow(), t0 = now - hours * 3600000;
    const car = new Map();
    for (const c of (history && history.cars) || []) car.set(c.t, (car.get(c.t) || 0) + c.power_w);
    const site = ((history && history.site) || []).filter((m) => m.t >= t0);
    const series = { pv: [], house: [], grid: [], car: [] };
    // What of the car's power the sun did not cover, as the session's solar share counts it:
    // grid import and battery discharge, at most what the car drew.
    const bought = [];
    let battery = false;
    for (const m of site) {
      const c = car.get(m.t) || 0;
      series.pv.push([m.t, m.pv_w]); series.house.push([m.t, m.house_w]);
      series.grid.push([m.t, m.grid_w]); series.car.push([m.t, c]);
      if (m.battery_w != null) battery = true;
      bought.push([m.t, m.grid_w == null ? null : Math.min(c, Math.max(m.grid_w, 0) + Math.max(m.battery_w || 0, 0))]);
    }
    setText($("#k-bought"), battery ? "Car from grid or battery" : "Car from grid");
    let lo = 0, hi = 1000;
    for (const k in series) for (const [, v] of series[k]) if (v != null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const step = [500, 1000, 2000, 2500, 5000, 10000, 20000].find((s) => (hi - lo) / s <= 5) || 50000;
    lo = Math.floor(lo / step) * step; hi = Math.ceil(hi / step) * step;
    const x = (t) => L + (W - L - R) * (t - t0) / (now - t0);
    const y = (v) => T + (H - T - B) * (hi - v) / (hi - lo);
    for (let v = lo; v <= hi + 1; v += step) {
      el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "gridline" }, svg);
      el("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" }, svg, (v / 1000) + (v === hi ? " kW" : ""));
    }
    const tickH = hours <= 6 ? 1 : hours <= 12 ? 2 : 4;
    const first = new Date(t0); first.setMinutes(0, 0, 0);
    for (let t = first.getTime() + 3600000; t < now; t += 3600000) {
      const d = new Date(t);
      if (d.getHours() % tickH) continue;
      el("text", { x: x(t), y: H - 5, "text-anchor": "middle", class: "axis" }, svg, String(d.getHours()).padStart(2, "0") + ":00");
    }
    if (!site.length) {
      el("text", { x: (L + W) / 2, y: H / 2, class: "empty" }, svg, "No history yet: sunfill records one point per minute.");
      return;
    }
    // The points as stretches without a gap (a missing value or more than 3 min between two).
    const stretches = (pts) => {
      const out = [];
      let run = [], prev = null;
      for (const [t, v] of pts) {
        if ((v == null || (prev != null && t - prev > 180000)) && run.length) { out.push(run); run = []; }
        if (v != null) run.push([t, v]);
        prev = t;
      }
      if (run.length) out.push(run);
      return out;
    };
    const at = (t, v) => x(t).toFixed(1) + " " + y(v).toFixed(1);
    const path = (pts) => stretches(pts).map((r) => r.map(([t, v], i) => (i ? "L" : "M") + at(t, v)).join("")).join("");
    // An area from zero, one piece per stretch.
    const area = (pts) => stretches(pts).map((r) =>
      "M" + at(r[0][0], 0) + r.map(([t, v]) => "L" + at(t, v)).join("") + "L" + at(r[r.length - 1][0], 0) + "Z").join("");
    el("path", { d: area(series.pv), class: "pvfill" }, svg);
    for (const k of ["house", "grid", "car", "pv"]) el("path", { d: path(series[k]), class: "s " + k }, svg);
    // Over the lines, where they crowd near zero.
    if (bought.some(([, v]) => v > 0)) el("path", { d: area(bought), class: "boughtfill" }, svg);
  }
  async function loadHistory() {
    const r = await api("GET", "/api/history?hours=" + hours);
    if (r.ok) { history = r.data; drawChart(); }
  }
  document.querySelectorAll("#hours button").forEach((b) => b.addEventListener("click", () => {
    hours = Number(b.dataset.hours);
    document.querySelectorAll("#hours button").forEach((o) => o.setAttribute("aria-pressed", String(o === b)));
    loadHistory();
  }));
  let resizeTimer = null;
  window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(drawChart, 150); });

  // --- changes ---------------------------------------------------------------------------
  async function api(method, url, body) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const token = localStorage.getItem(TOKEN_KEY);
    if (method !== "GET" && token) headers["Authorization"] = "Bearer " + token;
    try {
      const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      const data = await res.json().catch(() => null);
      if (res.status === 401) $("#auth").hidden = false;
      return { ok: res.ok, status: res.status, data, error: (data && data.error) || (res.ok ? "" : "HTTP " + res.status) };
    } catch (e) {
      return { ok: false, status: 0, data: null, error: "sunfill does not answer (" + e.message + ")" };
    }
  }
  function message(c, text, cls) { const m = $(".msg", c); m.textContent = text; m.className = "msg " + (cls || ""); }
  async function setMode(name, mode, c) {
    const buttons = c.querySelectorAll(".modes button");
    buttons.forEach((b) => { b.disabled = true; });
    message(c, "Switching to " + MODE_WORDS[mode] + "…");
    const r = await api("POST", "/api/loadpoints/" + encodeURIComponent(name) + "/mode", { mode });
    buttons.forEach((b) => { b.disabled = false; });
    message(c, r.ok ? "Mode " + MODE_WORDS[mode] + " set." : r.error, r.ok ? "ok" : "bad");
  }
  async function setLimits(name, form, c) {
    const body = {};
    for (const k of ["min_current", "max_current", "fixed_current"]) {
      const v = form.elements[k].value.trim();
      if (v !== "") body[k] = Number(v);
    }
    const r = await api("POST", "/api/loadpoints/" + encodeURIComponent(name) + "/limits", body);
    delete form.dataset.dirty;
    message(c, r.ok ? "Limits saved." : r.error, r.ok ? "ok" : "bad");
  }
  document.addEventListener("input", (e) => { const f = e.target.form; if (f && f.classList.contains("limits-form")) f.dataset.dirty = "1"; });
  $("#auth").addEventListener("submit", (e) => {
    e.preventDefault();
    localStorage.setItem(TOKEN_KEY, $("#token").value);
    $("#auth").hidden = true;
  });
  if (boot.token_required && !localStorage.getItem(TOKEN_KEY)) $("#auth").hidden = false;

  // --- live updates ----------------------------------------------------------------------
  function connect() {
    const es = new EventSource("/api/events");
    es.addEventListener("open", () => { live = true; renderStatus(); });
    es.addEventListener("view", (e) => {
      const v = JSON.parse(e.data);
      syncClock(v.server_unix_ms);
      delete v.server_unix_ms;
      view = v; live = true; render();
    });
    es.addEventListener("error", () => { live = false; renderStatus(); });
  }
  async function refresh() {
    const r = await api("GET", "/api/state");
    if (r.ok) { syncClock(r.data.server_unix_ms); sessions = r.data.sessions || []; boot.store_error = r.data.store_error; renderEnergy(r.data.energy); render(); }
    loadSessions();
    loadHistory();
  }

  render();
  renderEnergy(boot.energy);
  connect();
  loadSessions();
  loadHistory();
  // Once a minute, or every 5 s when the daemon's clock runs fast (the demo).
  setInterval(refresh, Math.max(5000, 60000 / speed));
  setInterval(renderStatus, 5000);
  // For tests: the live view, and the chart drawn from a given history.
  window.sunfill = { get view() { return view; }, chart(h) { history = h; drawChart(); } };
})();
