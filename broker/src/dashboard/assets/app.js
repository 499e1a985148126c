// The stalk dashboard: plain JavaScript over the broker's /api (the same gRPC services the CLI
// calls). One live event feed drives every view: an event re-reads what it changed, so the page
// follows the broker without reloads.
"use strict";

const view = document.getElementById("view");
const feedState = document.getElementById("feed-state");
const RATE_WINDOW_MS = 60000;
const FEED_KEPT = 200;

const state = {
  events: [],          // newest first, at most FEED_KEPT
  flow: new Map(),     // queue -> {in: [ms], out: [ms]} within RATE_WINDOW_MS
  feed: null,
  refreshTimer: null,
  // What the last replay did: kept across the refreshes live events cause, until the view
  // changes.
  replayNote: "",
};

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

function when(ms) {
  return ms ? new Date(ms).toLocaleString() : "";
}

// How long ago `ms` was, compactly (`42s`, `7m`, `3h`); empty for 0.
function age(ms) {
  if (!ms) return "";
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}

function ago(ms) {
  return ms ? `${age(ms)} ago` : "";
}

class Unauthenticated extends Error {}

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  if (response.status === 401) {
    showSignIn();
    throw new Unauthenticated("sign in first");
  }
  const body = response.status === 204 ? null : await response.json();
  if (!response.ok) {
    throw new Error(body && body.message ? body.message : `HTTP ${response.status}`);
  }
  return body;
}

// --- sign in -------------------------------------------------------------------------------

function showSignIn() {
  document.getElementById("sign-in").hidden = false;
  view.hidden = true;
}

document.getElementById("sign-in-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const token = document.getElementById("sign-in-token").value;
  const error = document.getElementById("sign-in-error");
  try {
    await api("/api/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token }),
    });
    document.getElementById("sign-in").hidden = true;
    view.hidden = false;
    error.textContent = "";
    startFeed();
    route();
  } catch (err) {
    error.textContent = err.message;
  }
});

// --- the live feed -------------------------------------------------------------------------

function startFeed() {
  if (state.feed) state.feed.close();
  const feed = new EventSource("/api/events");
  state.feed = feed;
  feed.addEventListener("open", () => setFeed("live", "live"));
  feed.addEventListener("error", () => setFeed("down", "reconnecting…"));
  feed.addEventListener("lagged", () => setFeed("", "catching up…"));
  feed.addEventListener("live", () => setFeed("live", "live"));
  feed.addEventListener("events", (message) => {
    const batch = JSON.parse(message.data);
    for (const event of batch) take(event);
    scheduleRefresh(batch);
  });
}

function setFeed(kind, text) {
  feedState.className = `feed-state ${kind}`;
  feedState.textContent = text;
}

const INTO = new Set(["task-sent", "task-replayed"]);
const OUT = new Set(["task-succeeded", "task-failed", "task-dead-lettered", "task-revoked", "task-expired"]);

function take(event) {
  state.events.unshift(event);
  if (state.events.length > FEED_KEPT) state.events.length = FEED_KEPT;
  if (!event.queue) return;
  const flow = state.flow.get(event.queue) || { in: [], out: [] };
  if (INTO.has(event.type)) flow.in.push(event.at_ms);
  if (OUT.has(event.type)) flow.out.push(event.at_ms);
  state.flow.set(event.queue, flow);
}

function perMinute(times) {
  const since = Date.now() - RATE_WINDOW_MS;
  while (times.length && times[0] < since) times.shift();
  return times.length;
}

function scheduleRefresh(batch) {
  const current = currentRoute();
  const relevant = current.name !== "task" || batch.some((e) => e.task_id === current.arg);
  if (!relevant) return;
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(route, 250);
}

// --- views ---------------------------------------------------------------------------------

function currentRoute() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [name, ...rest] = hash.split("/");
  return { name: name || "overview", arg: decodeURIComponent(rest.join("/")) };
}

async function route() {
  const { name, arg } = currentRoute();
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("current", link.dataset.nav === name);
  }
  try {
    if (name === "task") await showTask(arg);
    else if (name === "dead") await showDead();
    else if (name === "schedules") await showSchedules();
    else if (name === "limits") await showLimits();
    else await showOverview();
  } catch (err) {
    if (!(err instanceof Unauthenticated)) {
      view.innerHTML = `<section><p class="error" id="view-error">${esc(err.message)}</p></section>`;
    }
  }
}

function table(columns, rows, empty) {
  if (!rows.length) return `<p class="empty">${esc(empty)}</p>`;
  const head = columns.map(([title, numeric]) => `<th${numeric ? ' class="num"' : ""}>${esc(title)}</th>`).join("");
  return `<table><thead><tr>${head}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function taskLink(id) {
  return `<a class="mono" href="#/task/${encodeURIComponent(id)}">${esc(id)}</a>`;
}

async function showOverview() {
  const [{ queues }, { workers }] = await Promise.all([api("/api/queues"), api("/api/workers")]);
  const queueRows = queues.map((q) => {
    const flow = state.flow.get(q.queue) || { in: [], out: [] };
    return `<tr data-queue="${esc(q.queue)}">
      <td>${esc(q.queue)}${q.paused ? ' <span class="paused">paused</span>' : ""}</td>
      <td class="num" data-col="ready">${q.ready}</td>
      <td class="num" data-col="scheduled">${q.scheduled}</td>
      <td class="num" data-col="leased">${q.leased}</td>
      <td class="num" data-col="retrying">${q.retrying}</td>
      <td class="num" data-col="dead">${q.dead}</td>
      <td class="num" data-col="oldest">${esc(age(q.oldest_ready_at_ms))}</td>
      <td class="num" data-col="in">${perMinute(flow.in)}</td>
      <td class="num" data-col="out">${perMinute(flow.out)}</td></tr>`;
  });
  const workerRows = workers.map((w) => `<tr data-worker="${esc(w.worker_id)}">
      <td class="mono">${esc(w.worker_id)}</td><td>${esc(w.hostname)}</td>
      <td>${esc(w.queues.join(", "))}</td>
      <td class="num">${w.running}</td><td class="num">${w.prefetched}</td>
      <td class="num">${w.processed}</td><td>${esc(ago(w.last_seen_ms))}</td></tr>`);
  const eventRows = state.events.slice(0, 50).map((e) => `<tr data-seq="${e.seq}">
      <td class="num mono">${e.seq}</td><td>${esc(new Date(e.at_ms).toLocaleTimeString())}</td>
      <td class="${esc(e.type.replace("task-", ""))}">${esc(e.type)}</td>
      <td>${e.task_id ? taskLink(e.task_id) : esc(e.worker)}</td>
      <td>${esc(e.task_name)}</td><td>${esc(e.queue)}</td>
      <td class="error">${esc(e.error ? e.error.message : e.note)}</td></tr>`);
  view.innerHTML = `
    <section><h2>Queues</h2><div id="queues">${table(
      [["queue"], ["ready", 1], ["scheduled", 1], ["leased", 1], ["retrying", 1], ["dead", 1], ["oldest ready", 1], ["in/min", 1], ["out/min", 1]],
      queueRows, "No queue holds a task.")}</div></section>
    <section><h2>Workers</h2><div id="workers">${table(
      [["worker"], ["host"], ["queues"], ["running", 1], ["prefetched", 1], ["processed", 1], ["last seen"]],
      workerRows, "No worker is connected.")}</div></section>
    <section><h2>Live events</h2><div id="events">${table(
      [["seq", 1], ["at"], ["event"], ["task / worker"], ["name"], ["queue"], ["detail"]],
      eventRows, "No event since this page opened.")}</div></section>`;
}

async function showTask(id) {
  if (!id) {
    view.innerHTML = `<section><p class="empty">Give a task id.</p></section>`;
    return;
  }
  const { task, explain, history, history_truncated } = await api(`/api/tasks/${encodeURIComponent(id)}`);
  const reasons = explain && explain.reasons.length
    ? `<ul id="explain">${explain.reasons.map((r) => `<li data-code="${esc(r.code)}">${esc(r.message)}</li>`).join("")}</ul>`
    : `<p class="empty" id="explain">Nothing holds it.</p>`;
  const result = task.result
    ? (task.result.text !== null ? `<pre class="mono">${esc(task.result.text)}</pre>` : `${task.result.size} bytes (${esc(task.result.content_type)})`)
    : "";
  const historyRows = history.map((e) => `<tr><td class="num mono">${e.seq}</td>
      <td>${esc(when(e.at_ms))}</td><td>${esc(e.type)}</td><td>${esc(e.worker)}</td>
      <td class="num">${e.attempt}</td><td class="error">${esc(e.error ? e.error.message : e.note)}</td></tr>`);
  view.innerHTML = `
    <section><h2>Task <span class="mono" id="task-id">${esc(task.task_id || id)}</span></h2>
      <table><tbody>
        <tr><th>state</th><td id="task-state" class="${esc(task.state)}">${esc(task.state)}</td></tr>
        <tr><th>name</th><td>${esc(task.name)}</td></tr>
        <tr><th>queue</th><td>${esc(task.queue)}</td></tr>
        <tr><th>attempts</th><td>${task.attempts}</td></tr>
        <tr><th>enqueued</th><td>${esc(when(task.enqueued_at_ms))}</td></tr>
        <tr><th>started</th><td>${esc(when(task.started_at_ms))}</td></tr>
        <tr><th>finished</th><td>${esc(when(task.finished_at_ms))}</td></tr>
        <tr><th>error</th><td class="error">${esc(task.error ? `${task.error.kind}: ${task.error.message}` : "")}</td></tr>
        <tr><th>result</th><td>${result}</td></tr>
      </tbody></table></section>
    <section><h2>Why it is where it is</h2>${reasons}</section>
    <section><h2>History</h2>${history_truncated ? '<p class="empty">Retention removed its oldest events.</p>' : ""}
      <div id="history">${table([["seq", 1], ["at"], ["event"], ["worker"], ["attempt", 1], ["detail"]], historyRows, "No event is retained.")}</div></section>`;
}

async function showDead() {
  const { queues } = await api("/api/queues");
  const holding = queues.filter((q) => q.dead > 0);
  const pages = await Promise.all(holding.map((q) => api(`/api/queues/${encodeURIComponent(q.queue)}/dead`)));
  const sections = holding.map((q, i) => {
    const rows = pages[i].tasks.map((t) => `<tr data-task-id="${esc(t.task_id)}">
        <td>${taskLink(t.task_id)}</td><td>${esc(t.name)}</td><td class="num">${t.attempts}</td>
        <td class="error">${esc(t.error ? t.error.message : "")}</td>
        <td><button class="replay" data-queue="${esc(q.queue)}" data-task-id="${esc(t.task_id)}">Replay</button></td></tr>`);
    return `<section data-dead-queue="${esc(q.queue)}"><h2>${esc(q.queue)}: ${q.dead} dead
        <button class="replay-all" data-queue="${esc(q.queue)}">Replay all</button></h2>
      ${table([["task"], ["name"], ["attempts", 1], ["last error"], [""]], rows, "None.")}</section>`;
  });
  view.innerHTML = `<p id="replay-result">${esc(state.replayNote)}</p>${sections.join("") || '<section><p class="empty" id="no-dead">No queue holds a dead letter.</p></section>'}`;
  for (const button of view.querySelectorAll("button.replay, button.replay-all")) {
    button.addEventListener("click", () => replay(button.dataset.queue, button.dataset.taskId));
  }
}

async function replay(queue, taskId) {
  const out = document.getElementById("replay-result");
  try {
    const { task_ids } = await api(`/api/queues/${encodeURIComponent(queue)}/dead/replay`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ task_ids: taskId ? [taskId] : [] }),
    });
    state.replayNote = `Replayed ${task_ids.length} from ${queue}.`;
    await showDead();
  } catch (err) {
    if (out) out.innerHTML = `<span class="error">${esc(err.message)}</span>`;
  }
}

async function showSchedules() {
  const { schedules } = await api("/api/schedules");
  const rows = schedules.map((s) => `<tr data-schedule="${esc(s.name)}"><td>${esc(s.name)}</td>
      <td>${esc(s.when)}</td><td>${esc(s.task_name)}</td><td>${esc(s.queue)}</td>
      <td>${s.paused ? '<span class="paused">paused</span>' : ""}</td>
      <td>${esc(when(s.next_fire_ms))}</td><td>${esc(when(s.last_fire_ms))}</td>
      <td>${s.last_task_id ? taskLink(s.last_task_id) : ""}</td></tr>`);
  view.innerHTML = `<section><h2>Schedules</h2>${table(
    [["name"], ["when"], ["task"], ["queue"], [""], ["next"], ["last"], ["last task"]], rows, "No schedule.")}</section>`;
}

async function showLimits() {
  const { limits } = await api("/api/limits");
  const rows = limits.map((l) => `<tr><td>${esc(l.scope)}</td><td>${esc(l.per_header)}</td>
      <td>${esc(l.rate)}</td><td class="num">${l.burst || ""}</td>
      <td class="num">${l.max_concurrency || ""}</td><td class="num">${l.running}</td>
      <td class="num">${l.waiting}</td></tr>`);
  view.innerHTML = `<section><h2>Limits</h2>${table(
    [["scope"], ["per header"], ["rate"], ["burst", 1], ["max running", 1], ["running", 1], ["waiting", 1]],
    rows, "No limit is set.")}</section>`;
}

document.getElementById("find-task").addEventListener("submit", (e) => {
  e.preventDefault();
  const id = document.getElementById("find-task-id").value.trim();
  if (id) location.hash = `#/task/${encodeURIComponent(id)}`;
});

window.addEventListener("hashchange", () => {
  state.replayNote = "";
  route();
});
// Rates age even when nothing happens: redraw the overview now and then.
setInterval(() => { if (currentRoute().name === "overview" && !view.hidden) route(); }, 5000);

// The first read tells whether a sign-in is needed; the feed starts once reads work.
api("/api/queues").then(() => { startFeed(); route(); }).catch((err) => {
  if (!(err instanceof Unauthenticated)) view.textContent = err.message;
});
