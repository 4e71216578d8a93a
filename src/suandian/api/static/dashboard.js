// The situational-awareness dashboard: asks for an API token (kept in sessionStorage), reads
// /v1/dashboard/{days,day,jobs} with it and draws the figures with Plotly. zh-CN by default,
// English on the toggle; every label is in both.
"use strict";

const TOKEN_KEY = "suandian.token";
const LANG_KEY = "suandian.lang";
const REFRESH_MS = 60_000;

const TEXT = {
  zh: {
    title: "绿电态势感知大屏",
    date: "日期",
    logout: "退出",
    token_prompt: "请输入 API 令牌（由 suandian admin create-token 签发）",
    connect: "连接",
    composition: "电源构成（逐时，kWh）",
    today: "今日",
    yesterday: "昨日",
    gauges: "绿电占比与无碳电力",
    green_share: "小时匹配绿电占比 %",
    cfe: "无碳电力 CFE %",
    load: "用电量",
    avoided: "CO₂ 减排量",
    reference: "减排基准因子",
    certificates: "绿证状态（kWh）",
    issued: "已签发",
    claimed: "已声明使用",
    available: "可用",
    into_storage: "转入储能",
    other_retired: "其他注销",
    consumers: "企业用能与绿电构成（今日）",
    completeness: "数据完整率",
    storage: "储能状态",
    charge: "充电 kWh",
    discharge: "放电 kWh",
    soe: "储能电量 kWh",
    green_soe: "其中园区绿电 kWh",
    jobs: "算力任务计划（按站点）",
    unplanned: "待排程任务",
    no_jobs: "当日无计划任务",
    no_data: "无数据",
    scope_park: "园区视图",
    scope_tenant: "租户视图",
    lang_button: "English",
    bad_token: "令牌无效或已撤销，请重新输入",
    hour: "北京时间",
    sources: {
      onsite_pv: "园区光伏",
      onsite_wind: "园区风电",
      onsite_hydro: "园区水电",
      storage: "储能放电",
      grid_green: "电网清洁电",
      grid_fossil: "电网火电",
    },
    kinds: {
      generation: "发电",
      storage_charge: "储能充电",
      storage_discharge: "储能放电",
      consumption: "用电",
      grid_import: "下网",
      grid_export: "上网",
    },
    columns: {
      consumer: "用户",
      name: "名称",
      load_kwh: "用电量 kWh",
      onsite_kwh: "园区绿电 kWh",
      storage_kwh: "储能 kWh",
      grid_green_kwh: "电网清洁电 kWh",
      grid_fossil_kwh: "电网火电 kWh",
      green_share_pct: "绿电占比 %",
      cfe_pct: "CFE %",
      avoided_kgco2: "减排 kgCO₂",
      completeness_pct: "完整率 %",
    },
    job_columns: { tenant: "租户", job_id: "任务", status: "状态", window: "时间窗（北京时间）", power_mw: "功率 MW" },
    status: { queued: "排队", failed: "失败", planned: "已计划", running: "运行中", done: "完成" },
  },
  en: {
    title: "Green-power situational awareness",
    date: "Date",
    logout: "Sign out",
    token_prompt: "Enter an API token (issued by suandian admin create-token)",
    connect: "Connect",
    composition: "Source composition (hourly, kWh)",
    today: "Today",
    yesterday: "Yesterday",
    gauges: "Green share and carbon-free energy",
    green_share: "Hourly-matched green %",
    cfe: "Carbon-free energy CFE %",
    load: "Consumption",
    avoided: "CO₂ avoided",
    reference: "Avoided against",
    certificates: "Certificates (kWh)",
    issued: "Issued",
    claimed: "Claimed",
    available: "Available",
    into_storage: "Into storage",
    other_retired: "Otherwise retired",
    consumers: "Enterprises: consumption and green-power composition (today)",
    completeness: "Data completeness",
    storage: "Storage state",
    charge: "Charge kWh",
    discharge: "Discharge kWh",
    soe: "Energy stored kWh",
    green_soe: "of which on-site green kWh",
    jobs: "Compute job plan (per site)",
    unplanned: "Jobs waiting for a plan",
    no_jobs: "No jobs planned this day",
    no_data: "no data",
    scope_park: "Park view",
    scope_tenant: "Tenant view",
    lang_button: "中文",
    bad_token: "Invalid or revoked token; enter another",
    hour: "Beijing time",
    sources: {
      onsite_pv: "On-site PV",
      onsite_wind: "On-site wind",
      onsite_hydro: "On-site hydro",
      storage: "Storage discharge",
      grid_green: "Grid clean",
      grid_fossil: "Grid fossil",
    },
    kinds: {
      generation: "Generation",
      storage_charge: "Storage charge",
      storage_discharge: "Storage discharge",
      consumption: "Consumption",
      grid_import: "Grid import",
      grid_export: "Grid export",
    },
    columns: {
      consumer: "Consumer",
      name: "Name",
      load_kwh: "Load kWh",
      onsite_kwh: "On-site green kWh",
      storage_kwh: "Storage kWh",
      grid_green_kwh: "Grid clean kWh",
      grid_fossil_kwh: "Grid fossil kWh",
      green_share_pct: "Green share %",
      cfe_pct: "CFE %",
      avoided_kgco2: "Avoided kgCO₂",
      completeness_pct: "Completeness %",
    },
    job_columns: { tenant: "Tenant", job_id: "Job", status: "Status", window: "Window (Beijing time)", power_mw: "Power MW" },
    status: { queued: "queued", failed: "failed", planned: "planned", running: "running", done: "done" },
  },
};

const COLORS = {
  onsite_pv: "#f6c344",
  onsite_wind: "#4fc3f7",
  onsite_hydro: "#1e88e5",
  storage: "#ab7df8",
  grid_green: "#3ecf8e",
  grid_fossil: "#7d8a99",
};

const state = { lang: localStorage.getItem(LANG_KEY) || "zh", day: null, jobs: null, days: null };

function t() {
  return TEXT[state.lang];
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

class HttpError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function api(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token()}` } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new HttpError(response.status, body.detail || response.statusText);
  }
  return body;
}

function fmt(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  return value.toLocaleString(state.lang === "zh" ? "zh-CN" : "en-US", {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
  });
}

// Plotly has no time zones: show Beijing time as naive local strings.
function beijing(isoUtc) {
  return new Date(Date.parse(isoUtc) + 8 * 3600e3).toISOString().slice(0, 16).replace("T", " ");
}

const LAYOUT = {
  paper_bgcolor: "rgba(0,0,0,0)",
  plot_bgcolor: "rgba(0,0,0,0)",
  font: { color: "#dbe7f3", size: 11 },
  margin: { l: 60, r: 20, t: 10, b: 40 },
  legend: { orientation: "h", y: -0.2 },
  xaxis: { gridcolor: "#1f3a5a" },
  yaxis: { gridcolor: "#1f3a5a" },
};
const CONFIG = { displaylogo: false, responsive: true };

// A fresh copy per chart: Plotly writes ranges into the layout objects it is given.
function layout(extra) {
  return Object.assign(JSON.parse(JSON.stringify(LAYOUT)), extra);
}

function drawComposition(id, day) {
  const el = document.getElementById(id);
  if (!day) {
    Plotly.react(el, [], layout({ annotations: [{ text: t().no_data, showarrow: false }] }), CONFIG);
    return;
  }
  const traces = day.composition.map((s) => ({
    type: "scatter",
    mode: "lines",
    stackgroup: "one",
    name: t().sources[s.source] || s.source,
    x: state.day.hours_local,
    y: s.kwh,
    line: { width: 0.5, color: COLORS[s.source] },
    meta: s.source,
  }));
  Plotly.react(el, traces, layout({ xaxis: { title: t().hour, gridcolor: "#1f3a5a" } }), CONFIG);
}

function drawGauges(day) {
  const gauge = (value, title, x0, x1) => ({
    type: "indicator",
    mode: "gauge+number",
    value: value === null ? 0 : value,
    number: { suffix: " %", valueformat: ".1f" },
    title: { text: title, font: { size: 12 } },
    gauge: { axis: { range: [0, 100] }, bar: { color: "#3ecf8e" }, bgcolor: "#0b1622" },
    domain: { x: [x0, x1], y: [0, 1] },
  });
  Plotly.react(
    "chart-gauges",
    [gauge(day.green_share_pct, t().green_share, 0, 0.45), gauge(day.cfe_pct, t().cfe, 0.55, 1)],
    layout({ margin: { l: 30, r: 30, t: 30, b: 10 } }),
    CONFIG,
  );
}

function drawCertificates(c) {
  const keys = ["claimed", "available", "into_storage", "other_retired"];
  Plotly.react(
    "chart-certificates",
    [
      {
        type: "pie",
        hole: 0.55,
        labels: keys.map((k) => t()[k]),
        values: keys.map((k) => c[`${k}_kwh`]),
        marker: { colors: ["#3ecf8e", "#4fc3f7", "#ab7df8", "#7d8a99"] },
        textinfo: "percent",
        sort: false,
      },
    ],
    layout({
      margin: { l: 10, r: 10, t: 10, b: 10 },
      legend: { orientation: "v" },
      annotations: [{ text: `${t().issued}<br>${fmt(c.issued_kwh)}`, showarrow: false }],
    }),
    CONFIG,
  );
}

function drawCompleteness(rows) {
  Plotly.react(
    "chart-completeness",
    [
      {
        type: "bar",
        orientation: "h",
        y: rows.map((r) => t().kinds[r.kind] || r.kind),
        x: rows.map((r) => r.share_pct),
        text: rows.map((r) => `${r.present}/${r.expected}`),
        textposition: "auto",
        marker: { color: "#3ecf8e" },
      },
    ],
    layout({ margin: { l: 90, r: 20, t: 10, b: 30 }, xaxis: { range: [0, 100], gridcolor: "#1f3a5a" } }),
    CONFIG,
  );
}

function drawStorage(batteries) {
  const traces = [];
  const hours = Array.from({ length: 24 }, (_, h) => h + 0.5);
  const bounds = Array.from({ length: 25 }, (_, h) => h);
  for (const b of batteries) {
    const tag = batteries.length > 1 ? ` · ${b.battery}` : "";
    traces.push({ type: "bar", name: t().charge + tag, x: hours, y: b.charge_kwh, marker: { color: "#4fc3f7" } });
    traces.push({
      type: "bar",
      name: t().discharge + tag,
      x: hours,
      y: b.discharge_kwh.map((v) => (v === null ? null : -v)),
      marker: { color: "#ab7df8" },
    });
    traces.push({ type: "scatter", mode: "lines", name: t().soe + tag, x: bounds, y: b.soe_kwh, yaxis: "y2", line: { color: "#f6c344" } });
    traces.push({
      type: "scatter",
      mode: "lines",
      name: t().green_soe + tag,
      x: bounds,
      y: b.green_soe_kwh,
      yaxis: "y2",
      line: { color: "#3ecf8e", dash: "dot" },
    });
  }
  Plotly.react(
    "chart-storage",
    traces,
    layout({
      barmode: "relative",
      xaxis: { title: t().hour, range: [0, 24], dtick: 3, gridcolor: "#1f3a5a" },
      yaxis: { title: "kWh", gridcolor: "#1f3a5a" },
      // Energy held, from empty to the largest battery's usable capacity.
      yaxis2: {
        title: t().soe,
        overlaying: "y",
        side: "right",
        range: [0, Math.max(1, ...batteries.map((b) => b.e_kwh))],
        tickmode: "auto",
        showgrid: false,
      },
      margin: { l: 60, r: 60, t: 10, b: 40 },
    }),
    CONFIG,
  );
}

const PALETTE = ["#4fc3f7", "#f6c344", "#ab7df8", "#3ecf8e", "#ff8a65", "#90a4ae"];

function tenantColor(tenant) {
  let h = 0;
  for (const ch of tenant) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length];
}

function drawJobs(jobs) {
  const traces = [];
  for (const site of jobs.sites) {
    for (const j of site.jobs) {
      const start = beijing(j.start_utc);
      traces.push({
        type: "bar",
        orientation: "h",
        base: [start],
        x: [Date.parse(j.end_utc) - Date.parse(j.start_utc)],
        y: [[site.site], [`${j.tenant}/${j.job_id}`]],
        name: `${j.tenant}/${j.job_id}`,
        marker: { color: tenantColor(j.tenant), opacity: 0.85 },
        text: [`${j.job_id} · ${fmt(j.power_mw, 1)} MW`],
        textposition: "inside",
        hovertemplate: `${j.tenant}/${j.job_id} (${t().status[j.status] || j.status})<br>%{base} → ${beijing(j.end_utc)}<extra></extra>`,
        showlegend: false,
      });
    }
  }
  const extra = {
    barmode: "overlay",
    xaxis: { type: "date", range: [beijing(jobs.day_start_utc), beijing(jobs.day_end_utc)], title: t().hour, gridcolor: "#1f3a5a" },
    yaxis: { type: "multicategory", autorange: "reversed", gridcolor: "#1f3a5a" },
    margin: { l: 160, r: 20, t: 10, b: 40 },
  };
  if (!traces.length) extra.annotations = [{ text: t().no_jobs, showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5 }];
  Plotly.react("chart-jobs", traces, layout(extra), CONFIG);
}

function fillTable(id, columns, rows) {
  const table = document.getElementById(id);
  table.tHead.innerHTML = "";
  const head = table.tHead.insertRow();
  for (const [, label] of columns) {
    const th = document.createElement("th");
    th.textContent = label;
    head.appendChild(th);
  }
  const body = table.tBodies[0];
  body.innerHTML = "";
  for (const row of rows) {
    const tr = body.insertRow();
    tr.dataset.key = row.key;
    for (const [key] of columns) tr.insertCell().textContent = row[key];
  }
}

function drawConsumers(consumers) {
  const c = t().columns;
  const columns = Object.keys(c).map((k) => [k, c[k]]);
  const rows = consumers.map((r) => ({
    key: r.consumer,
    consumer: r.consumer,
    name: state.lang === "zh" ? r.name_zh || r.name : r.name,
    load_kwh: fmt(r.load_kwh),
    onsite_kwh: fmt(r.onsite_kwh),
    storage_kwh: fmt(r.storage_kwh),
    grid_green_kwh: fmt(r.grid_green_kwh),
    grid_fossil_kwh: fmt(r.grid_fossil_kwh),
    green_share_pct: fmt(r.green_share_pct, 1),
    cfe_pct: fmt(r.cfe_pct, 1),
    avoided_kgco2: fmt(r.avoided_kgco2),
    completeness_pct: fmt(r.completeness_pct, 1),
  }));
  fillTable("consumers", columns, rows);
}

function drawUnplanned(jobs) {
  const c = t().job_columns;
  const columns = Object.keys(c).map((k) => [k, c[k]]);
  const rows = jobs.unplanned.map((j) => ({
    key: `${j.tenant}/${j.job_id}`,
    tenant: j.tenant,
    job_id: j.job_id,
    status: t().status[j.status] || j.status,
    window: `${beijing(j.start_utc)} → ${beijing(j.end_utc)}`,
    power_mw: fmt(j.power_mw, 1),
  }));
  fillTable("unplanned", columns, rows);
}

function translateStatic() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.title = `${t().title} · suandian`;
  for (const el of document.querySelectorAll("[data-i18n]")) {
    el.textContent = t()[el.dataset.i18n];
  }
  document.getElementById("lang").textContent = t().lang_button;
}

function render() {
  translateStatic();
  const d = state.day;
  if (!d) return;
  document.getElementById("park").textContent = state.lang === "zh" ? d.park_title_zh : d.park_title;
  document.getElementById("scope").textContent = d.scope === "park" ? t().scope_park : t().scope_tenant;
  document.getElementById("today-date").textContent = d.date;
  document.getElementById("yesterday-date").textContent = d.yesterday_date;
  document.getElementById("kpi-load").textContent = fmt(d.today.load_kwh);
  document.getElementById("kpi-avoided").textContent = fmt(d.today.avoided_kgco2);
  document.getElementById("reference").textContent =
    `${d.reference_factor.name} (${fmt(d.reference_factor.ef_kgco2_per_kwh, 4)} kgCO₂/kWh)`;
  drawComposition("chart-today", d.today);
  drawComposition("chart-yesterday", d.yesterday);
  drawGauges(d.today);
  drawCertificates(d.certificates);
  drawCompleteness(d.completeness);
  drawStorage(d.storage);
  drawConsumers(d.consumers);
  if (state.jobs) {
    drawJobs(state.jobs);
    drawUnplanned(state.jobs);
  }
  document.body.dataset.lang = state.lang;
  document.body.dataset.ready = "1";
}

function showError(message) {
  const el = document.getElementById("error");
  el.textContent = message;
  el.hidden = !message;
}

function showLogin(message) {
  document.getElementById("board").hidden = true;
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = message || "";
}

async function load(date) {
  document.body.dataset.ready = "0";
  try {
    if (!state.days) {
      state.days = await api("/v1/dashboard/days");
      const input = document.getElementById("date");
      input.min = state.days.first_local_date;
      input.max = state.days.last_local_date;
    }
    const day = date || state.days.last_local_date;
    const query = `?date=${encodeURIComponent(day)}`;
    const [dayBody, jobsBody] = await Promise.all([api(`/v1/dashboard/day${query}`), api(`/v1/dashboard/jobs${query}`)]);
    state.day = dayBody;
    state.jobs = jobsBody;
    document.getElementById("date").value = dayBody.date;
    document.getElementById("login").hidden = true;
    document.getElementById("board").hidden = false;
    showError("");
    render();
  } catch (err) {
    if (err instanceof HttpError && err.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      state.days = null;
      showLogin(t().bad_token);
      return;
    }
    showError(err.message);
  }
}

function start() {
  translateStatic();
  document.getElementById("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value.trim());
    document.getElementById("token").value = "";
    load();
  });
  document.getElementById("lang").addEventListener("click", () => {
    state.lang = state.lang === "zh" ? "en" : "zh";
    localStorage.setItem(LANG_KEY, state.lang);
    render();
  });
  document.getElementById("logout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    state.days = null;
    state.day = null;
    showLogin("");
  });
  document.getElementById("date").addEventListener("change", (event) => {
    if (event.target.value) load(event.target.value);
  });
  if (token()) load();
  else showLogin("");
  // On the latest day, follow new readings: a new day appears once its readings arrive.
  setInterval(() => {
    if (token() && state.day && state.days && state.day.date === state.days.last_local_date) {
      state.days = null;
      load();
    }
  }, REFRESH_MS);
}

start();
