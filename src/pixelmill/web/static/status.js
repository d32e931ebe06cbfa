// The operations dashboard: GET /api/admin/status every few seconds (while the tab is
// visible), drawn as tiles, tables and small inline SVG charts; the dead letters of
// GET /api/admin/dead-letters with buttons to inspect, requeue and delete them.
// No chart library: each chart is a few <polyline>s scaled to a 300×100 viewBox.
import { ApiError, clearError, getJSON, showError, withKey } from "./app.js";

const EVERY = 3000;
const LETTERS_SHOWN = 50;
const W = 300;
const H = 100;
const state = document.getElementById("status-state");
const errorBox = document.getElementById("status-error");
const deadError = document.getElementById("dead-error");
const pause = document.getElementById("status-pause");
const requeueAll = document.getElementById("dead-requeue-all");
let timer = null;
let paused = false;

pause.addEventListener("click", () => {
  paused = !paused;
  pause.setAttribute("aria-pressed", String(paused));
  pause.textContent = paused ? "Resume" : "Pause";
  if (!paused) refresh();
});
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && !paused) refresh();
});
document.addEventListener("pixelmill:api-key", () => refresh({ letters: true }));
requeueAll.addEventListener("click", () =>
  act(requeueAll, "POST", "/api/admin/dead-letters/requeue", (body) => `Requeued ${body.count}.`),
);

// The letters are read again only when the dead counts change, after an action, or every
// 30 s: on Redis a listing reads every listed letter (images too) inside the server.
const LETTERS_EVERY = 30000;
let lettersSeen = { counts: "", at: 0 };

async function refresh({ letters = false } = {}) {
  clearTimeout(timer);
  try {
    const { data: status } = await getJSON("/api/admin/status");
    clearError(errorBox);
    render(status);
    const counts = status.queues.map((q) => q.dead).join(",");
    if (letters || counts !== lettersSeen.counts || Date.now() - lettersSeen.at > LETTERS_EVERY) {
      const { data: dead } = await getJSON(`/api/admin/dead-letters?limit=${LETTERS_SHOWN}`);
      renderDead(dead);
      lettersSeen = { counts, at: Date.now() };
    }
    const seconds = status.window_seconds;
    const window = !seconds ? "" : seconds < 120 ? `, charts over ${Math.round(seconds)} s` : `, charts over ${Math.round(seconds / 60)} min`;
    state.textContent = `${status.mode === "redis" ? "Redis" : "Embedded"} · updated ${new Date(status.time).toLocaleTimeString()}${window}`;
  } catch (error) {
    showError(errorBox, error);
    state.textContent = "Not updated";
    if (!(error instanceof ApiError)) console.error(error);
  }
  if (!paused && !document.hidden) timer = setTimeout(refresh, EVERY);
}

function render(status) {
  renderQueues(status.queues);
  renderServices(status.services, status.cache);
  renderRoutes(status.routes);
  const h = status.history;
  chart("chart-jobs", h.t, h.jobs_per_second);
  chart("chart-depth", h.t, h.depth);
  chart("chart-latency", h.t, { "p95 (all routes)": h.latency_p95_ms });
  chart("chart-cache", h.t, { "hit rate": h.cache_hit_rate.map((v) => (v == null ? null : v * 100)) });
}

function renderQueues(queues) {
  const list = document.getElementById("queues");
  list.replaceChildren(
    ...queues.map((q) => {
      const li = el("li", { class: "tile" + (q.dead ? " has-dead" : "") });
      li.append(el("h3", {}, q.stream), el("p", { class: "hint" }, q.service));
      const numbers = el("dl");
      for (const [label, value] of [["depth", q.depth], ["pending", q.pending], ["dead", q.dead]]) {
        numbers.append(el("div", {}, el("dt", {}, label), el("dd", { "data-key": label }, value == null ? "—" : String(value))));
      }
      li.append(numbers);
      return li;
    }),
  );
}

function renderServices(services, cache) {
  const body = document.querySelector("#services tbody");
  body.replaceChildren(
    ...services.map((s) => {
      const workers = s.workers.length
        ? s.workers.map((w) => `${w.consumer} (${w.seconds_ago} s ago)`).join(", ")
        : "none";
      return row([
        s.service,
        s.totals.done,
        s.totals.retried,
        s.totals.failed,
        s.jobs_per_second == null ? "—" : s.jobs_per_second.toFixed(2),
        workers,
      ]);
    }),
  );
  const rate = (v) => (v == null ? "—" : `${(v * 100).toFixed(1)}%`);
  document.getElementById("cache-line").textContent =
    `Delivery cache: ${cache.hits} hits, ${cache.misses} misses; hit rate ${rate(cache.hit_rate)} in all, ${rate(cache.window_hit_rate)} over the charts' window.`;
}

function renderRoutes(routes) {
  document.getElementById("routes-empty").hidden = routes.length > 0;
  document.querySelector("#routes tbody").replaceChildren(
    ...routes.map((r) => row([el("code", {}, r.route), r.requests, r.p50_ms, r.p95_ms, r.p99_ms])),
  );
}

function renderDead(dead) {
  const total = Object.values(dead.counts).reduce((a, b) => a + b, 0);
  document.getElementById("dead-empty").hidden = total > 0;
  document.getElementById("dead").hidden = total === 0;
  requeueAll.disabled = total === 0;
  const shown = total > dead.letters.length ? ` · the oldest ${dead.letters.length} shown` : "";
  document.getElementById("dead-state").textContent = total
    ? Object.entries(dead.counts).filter(([, n]) => n).map(([s, n]) => `${s}: ${n}`).join(" · ") + shown
    : "";
  const body = document.querySelector("#dead tbody");
  body.replaceChildren(
    ...dead.letters.map((letter) => {
      const path = `/api/admin/dead-letters/${encodeURIComponent(letter.stream)}/${encodeURIComponent(letter.id)}`;
      const actions = el("div", { class: "row-actions" });
      const inspect = el("button", { type: "button", class: "secondary small" }, "Inspect");
      const requeue = el("button", { type: "button", class: "small" }, "Requeue");
      const drop = el("button", { type: "button", class: "secondary small danger" }, "Delete");
      for (const [button, verb] of [[inspect, "Inspect"], [requeue, "Requeue"], [drop, "Delete"]]) {
        button.setAttribute("aria-label", `${verb} the dead letter of job ${letter.job_id}`);
      }
      inspect.addEventListener("click", () => showLetter(path));
      requeue.addEventListener("click", () => act(requeue, "POST", `${path}/requeue`, () => `Requeued job ${letter.job_id}.`));
      drop.addEventListener("click", () => act(drop, "DELETE", path, () => `Deleted the letter of job ${letter.job_id}.`));
      actions.append(inspect, requeue, drop);
      const job = letter.job_id || letter.id;
      const tr = row([
        letter.stream,
        el("code", { class: "id", title: job }, job.length > 12 ? `${job.slice(0, 12)}…` : job),
        el("span", { class: "reason" }, letter.reason),
        letter.deliveries,
        time(letter.first_failure),
        time(letter.last_failure),
        actions,
      ]);
      const labels = ["Stream", "Job", "Reason", "Deliveries", "First failure", "Last failure", ""];
      [...tr.children].forEach((td, i) => td.setAttribute("data-label", labels[i]));
      tr.dataset.letter = letter.id;
      tr.dataset.job = letter.job_id;
      return tr;
    }),
  );
}

async function showLetter(path) {
  const dialog = document.getElementById("letter-dialog");
  try {
    const { data } = await getJSON(path);
    document.getElementById("letter-json").textContent = JSON.stringify(data, null, 2);
    dialog.showModal();
  } catch (error) {
    showError(deadError, error);
  }
}

async function act(button, method, url, said) {
  button.disabled = true;
  clearError(deadError);
  try {
    const response = await fetch(url, { method, headers: withKey({ Accept: "application/json" }) });
    const text = await response.text();
    if (!response.ok) throw await ApiError.from(response.status, response.statusText, text);
    state.textContent = said(text ? JSON.parse(text) : {});
  } catch (error) {
    showError(deadError, error);
    if (!(error instanceof ApiError)) console.error(error);
  } finally {
    button.disabled = false;
  }
  await refresh({ letters: true });
}

// --- charts ------------------------------------------------------------------------------

/** Draw SERIES ({name: [values]}) over times T into the figure ID: one polyline each. */
function chart(id, t, series) {
  const figure = document.getElementById(id);
  const svg = figure.querySelector("svg");
  const names = Object.keys(series);
  const values = names.flatMap((name) => series[name].filter((v) => v != null));
  const peak = values.length ? Math.max(...values) : 0;
  const top = niceCeiling(peak);
  const ns = "http://www.w3.org/2000/svg";
  const children = [];
  for (const y of [0, 0.5, 1]) {
    const line = document.createElementNS(ns, "line");
    setAttrs(line, { x1: 0, x2: W, y1: H - y * H, y2: H - y * H, class: "gridline" });
    children.push(line);
  }
  const start = t.length ? t[0] : 0;
  const span = t.length > 1 ? t[t.length - 1] - start : 1;
  names.forEach((name, i) => {
    const points = [];
    series[name].forEach((v, k) => {
      if (v == null) return;
      const x = t.length > 1 ? ((t[k] - start) / span) * W : W;
      points.push(`${x.toFixed(1)},${(H - (top ? v / top : 0) * H).toFixed(1)}`);
    });
    if (points.length === 1) {
      // one sample so far: a short dash ending at it, so that it shows
      const [x, y] = points[0].split(",").map(Number);
      points.unshift(`${Math.max(x - 8, 0).toFixed(1)},${y}`);
    }
    const line = document.createElementNS(ns, "polyline");
    setAttrs(line, { points: points.join(" "), class: `series s${i % 6}`, "data-series": name });
    children.push(line);
  });
  svg.replaceChildren(...children);
  svg.dataset.peak = String(peak);
  svg.dataset.points = String(t.length);
  const unit = figure.dataset.unit;
  const legend = figure.querySelector(".legend");
  legend.replaceChildren(
    ...names.map((name, i) => {
      const last = [...series[name]].reverse().find((v) => v != null);
      return el("li", { class: `s${i % 6}` }, `${name}: ${last == null ? "—" : round(last)}${unit}`);
    }),
    el("li", { class: "scale" }, `top ${round(top)}${unit}`),
  );
}

function niceCeiling(value) {
  if (!(value > 0)) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 5, 10]) if (m * step >= value) return m * step;
  return 10 * step;
}

function round(v) {
  return Math.abs(v) >= 10 ? Math.round(v) : Math.round(v * 100) / 100;
}

// --- DOM helpers -----------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  node.append(...children.map((c) => (c instanceof Node ? c : String(c))));
  return node;
}

function setAttrs(node, attrs) {
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    td.append(cell instanceof Node ? cell : String(cell ?? "—"));
    tr.append(td);
  }
  return tr;
}

function time(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  const node = el("time", { datetime: iso, title: date.toLocaleString() }, date.toLocaleTimeString());
  return node;
}

refresh();
