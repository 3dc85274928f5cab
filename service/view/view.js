// The live view: draws a served graph and highlights its nodes as a run streams from the LangGraph API:
// the node running now in amber, the nodes done in green, a node that failed in red.
// It is also a workbench: the threads (newest first), an opened thread's run path, checkpoints, state, a fork
// with an edited value, a pending tool call's approve / reject / edit, the run's trace as a timeline, and the
// eval reports and environment episodes of the reports folder.
// Query: ?graph=NAME&input=JSON&run=1 (start at once). An API key may follow in the fragment: #key=KEY.
"use strict";
const params = new URLSearchParams(location.search);
const apiKey = new URLSearchParams(location.hash.slice(1)).get("key");
const api = new URL("..", location.href.split("#")[0].split("?")[0]).href.replace(/\/$/, "");
const $ = (id) => document.getElementById(id);
let states = [];

function headers() {
  const h = { "content-type": "application/json" };
  if (apiKey) h["x-api-key"] = apiKey;
  return h;
}

function nodeElement(name) {
  const svg = $("diagram").querySelector("svg");
  if (!svg) return null;
  const byId = svg.querySelector(`[id="node:${CSS.escape(name)}"]`);
  if (byId) return byId;
  return [...svg.querySelectorAll("g.node")].find((g) => g.querySelector("title")?.textContent === name) || null;
}

function mark(name, kind) {
  const el = nodeElement(name);
  if (!el) return;
  el.classList.remove("gw-visited", "gw-active", "gw-failed");
  el.classList.add(kind);
}

function setStatus(text) {
  $("status").textContent = text;
  document.body.dataset.status = text.split(" ")[0];
}

async function loadGraph(name) {
  const res = await fetch(`${api}/view/graphs/${encodeURIComponent(name)}.svg`);
  if (!res.ok) throw new Error(`graph ${name}: ${res.status} ${await res.text()}`);
  $("diagram").innerHTML = await res.text();
}

function addStep(node, update) {
  const li = document.createElement("li");
  const index = states.length;
  li.textContent = node;
  li.dataset.node = node;
  li.addEventListener("click", () => showState(index, li));
  $("steps").appendChild(li);
  states.push({ node, update, values: null });
  const trail = document.body.dataset.trail;
  document.body.dataset.trail = trail ? `${trail} ${node}` : node;
}

function showState(index, li) {
  document.querySelectorAll("#steps li.chosen").forEach((x) => x.classList.remove("chosen"));
  li.classList.add("chosen");
  const step = states[index];
  $("state-of").textContent = `after ${step.node} (step ${index + 1})`;
  $("state").textContent = JSON.stringify(step.values ?? step.update, null, 2);
}

async function* sse(res) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message", data = "";
      for (const line of frame.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      yield { event, data: data ? JSON.parse(data) : null };
    }
  }
}

async function run() {
  const name = $("graph").value;
  let input;
  try {
    input = JSON.parse($("input").value);
  } catch (err) {
    setStatus(`error: the input is not JSON (${err.message})`);
    return;
  }
  await loadGraph(name);
  states = [];
  $("steps").innerHTML = "";
  document.body.dataset.trail = "";
  setStatus("running");
  const thread = await (await fetch(`${api}/threads`, { method: "POST", headers: headers(), body: "{}" })).json();
  const res = await fetch(`${api}/threads/${thread.thread_id}/runs/stream`, {
    method: "POST",
    headers: headers(),
    body: JSON.stringify({ assistant_id: name, input, stream_mode: ["tasks", "values"] }),
  });
  if (!res.ok) {
    setStatus(`error: ${res.status} ${await res.text()}`);
    return;
  }
  // "tasks" events come in pairs: a node starts (it lights up amber), then its result (green, or red on error).
  let failed = null;
  for await (const { event, data } of sse(res)) {
    if (event === "tasks" && data && !("result" in data) && !("error" in data)) {
      mark(data.name, "gw-active");
    } else if (event === "tasks" && data) {
      if (data.error) {
        mark(data.name, "gw-failed");
      } else if ((data.interrupts ?? []).length) {
        setStatus("waiting for input");
      } else {
        addStep(data.name, data.result);
        mark(data.name, "gw-visited");
      }
    } else if (event === "values" && states.length) {
      states[states.length - 1].values = data;
    } else if (event === "error") {
      failed = `error: ${data?.message ?? JSON.stringify(data)}`;
    }
  }
  document.querySelectorAll(".gw-active").forEach((el) => el.classList.replace("gw-active", "gw-visited"));
  // Where the run stands: failed tasks in red, nodes waiting (an interrupt, or next to run) in amber.
  const state = await (await fetch(`${api}/threads/${thread.thread_id}/state`, { headers: headers() })).json();
  for (const task of state.tasks ?? []) {
    if (task.error) mark(task.name, "gw-failed");
    else if ((task.interrupts ?? []).length || (state.next ?? []).includes(task.name)) {
      mark(task.name, "gw-active");
      if (!failed) setStatus(`waiting at ${task.name}`);
    }
  }
  try {
    await loadThreads();
    await openThreadView(thread.thread_id, false);
  } catch (err) {
    console.warn("workbench:", err);
  }
  if (failed) setStatus(failed);  // set last, once the page shows everything
  else if (document.body.dataset.status === "running") setStatus("done");
}

// ---- The workbench ----
let openThread = null;
let chosenCheckpoint = null;

async function call(path, body) {
  const init = body === undefined ? { headers: headers() } : { method: "POST", headers: headers(), body: JSON.stringify(body) };
  const res = await fetch(`${api}${path}`, init);
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

function choose(list, li) {
  list.querySelectorAll("li.chosen").forEach((x) => x.classList.remove("chosen"));
  li.classList.add("chosen");
}

async function loadThreads() {
  const threads = await call("/threads/search", { limit: 50, sort_by: "created_at", sort_order: "desc" });
  const list = $("threads");
  list.innerHTML = "";
  for (const t of threads) {
    const li = document.createElement("li");
    li.textContent = `${t.thread_id.slice(0, 8)} · ${t.status}`;
    li.title = `${t.thread_id}, created ${t.created_at}`;
    li.dataset.thread = t.thread_id;
    li.dataset.status = t.status;
    li.addEventListener("click", () => openThreadView(t.thread_id, true).catch((err) => setStatus(`error: ${err.message}`)));
    list.appendChild(li);
  }
  document.body.dataset.threads = String(threads.length);
}

function graphOf(thread) {
  return thread?.metadata?.graph_id ?? thread?.metadata?.assistant_id ?? $("graph").value;
}

async function openThreadView(id, redraw) {
  const refresh = !redraw && id === openThread;
  openThread = id;
  const thread = await call(`/threads/${id}`);
  const history = await call(`/threads/${id}/history`, { limit: 200 });  // newest first
  const state = await call(`/threads/${id}/state`);
  $("thread").hidden = false;
  $("thread-id").textContent = id;
  const li = [...$("threads").children].find((x) => x.dataset.thread === id);
  if (li) choose($("threads"), li);
  if (redraw) {
    const name = graphOf(thread);
    if ([...$("graph").options].some((o) => o.value === name)) $("graph").value = name;
    await loadGraph($("graph").value);
    // The run path: what ran from each checkpoint, oldest first, lit as visited; what waits, amber.
    for (const c of history.slice().reverse()) {
      for (const task of c.tasks ?? []) if (task.result !== undefined || task.error) mark(task.name, task.error ? "gw-failed" : "gw-visited");
    }
    for (const task of state.tasks ?? []) if (!task.error) mark(task.name, "gw-active");
    document.body.dataset.path = history.slice().reverse().flatMap((c) => (c.tasks ?? []).map((t) => t.name)).join(" ");
  }
  const list = $("checkpoints");
  list.innerHTML = "";
  const byTask = {};  // task id -> the checkpoint that lists it: the one its step started from
  for (const c of history) {
    const item = document.createElement("li");
    const next = (c.next ?? []).join(", ") || "end";
    item.textContent = `step ${c.metadata?.step ?? "?"} · ${c.metadata?.source ?? ""} · next: ${next}`;
    item.dataset.checkpoint = c.checkpoint.checkpoint_id;
    item.addEventListener("click", () => showCheckpoint(c, item));
    list.appendChild(item);
    for (const task of c.tasks ?? []) byTask[task.id] = { c, item };
  }
  // A refresh of the open thread (after a run ends) keeps the checkpoint the user chose, as it is now, after the
  // awaits above; opening a thread shows its latest.
  const kept = refresh ? history.findIndex((c) => c.checkpoint.checkpoint_id === chosenCheckpoint) : -1;
  if (kept >= 0) showCheckpoint(history[kept], list.children[kept]);
  else if (history.length) showCheckpoint(history[0], list.firstChild);
  showInterrupt(state);
  await showTrace(id, byTask);
  document.body.dataset.thread = id;
  document.body.dataset.checkpoints = String(history.length);
}

function showCheckpoint(c, li) {
  choose($("checkpoints"), li);
  chosenCheckpoint = c.checkpoint.checkpoint_id;
  $("state-of").textContent = `at checkpoint …${chosenCheckpoint.slice(-8)} (step ${c.metadata?.step ?? "?"})`;
  $("state").textContent = JSON.stringify(c.values, null, 2);
}

function showInterrupt(state) {
  const waiting = (state.tasks ?? []).flatMap((t) => t.interrupts ?? []);
  $("interrupt").hidden = waiting.length === 0;
  document.body.dataset.interrupt = waiting.length ? "pending" : "";
  if (!waiting.length) return;
  const value = waiting[0].value;
  $("interrupt-value").textContent = JSON.stringify(value, null, 2);
  $("interrupt-args").value = JSON.stringify(value?.args ?? {});
}

async function resume(answer) {
  setStatus("running");
  const thread = await call(`/threads/${openThread}`);
  await call(`/threads/${openThread}/runs/wait`, { assistant_id: graphOf(thread), command: { resume: answer } });
  await loadThreads();
  await openThreadView(openThread, true);
  setStatus($("interrupt").hidden ? "done" : `waiting at ${(await call(`/threads/${openThread}/state`)).next.join(", ")}`);
}

async function forkHere() {
  let value;
  try {
    value = JSON.parse($("fork-value").value);
  } catch (err) {
    setStatus(`error: the value is not JSON (${err.message})`);
    return;
  }
  const key = $("fork-key").value.trim();
  setStatus("running");
  // The same operation as `graphwright fork`: write the value on top of the checkpoint, then continue.
  const written = await call(`/threads/${openThread}/state`, { checkpoint_id: chosenCheckpoint, values: { [key]: value } });
  const thread = await call(`/threads/${openThread}`);
  const after = await call(`/threads/${openThread}/state/${written.checkpoint.checkpoint_id}`);
  if ((after.next ?? []).length) {
    await call(`/threads/${openThread}/runs/wait`, { assistant_id: graphOf(thread), input: null, checkpoint_id: written.checkpoint.checkpoint_id });
  }
  await loadThreads();
  await openThreadView(openThread, true);
  setStatus("forked");
}

async function showTrace(id, byTask = {}) {
  const res = await fetch(`${api}/view/traces/${encodeURIComponent(id)}`, { headers: headers() });
  const spans = res.ok ? await res.json() : [];
  const box = $("timeline");
  document.body.dataset.spans = String(spans.length);
  if (!spans.length) {
    box.innerHTML = "<small>No spans: tracing is off (graphwright view --trace turns it on).</small>";
    return;
  }
  box.innerHTML = "";
  const start = Math.min(...spans.map((s) => s.start_ns));
  const total = Math.max(1, Math.max(...spans.map((s) => s.end_ns)) - start);
  const byId = Object.fromEntries(spans.map((s) => [s.span_id, s]));
  const depth = (s) => (s.parent_id && byId[s.parent_id] ? 1 + depth(byId[s.parent_id]) : 0);
  for (const s of spans.slice().sort((a, b) => a.start_ns - b.start_ns)) {
    const row = document.createElement("div");
    row.className = "span-row";
    const bar = document.createElement("div");
    bar.className = `span-bar ${s.status}`;
    bar.style.left = `${(100 * (s.start_ns - start)) / total}%`;
    bar.style.width = `${(100 * (s.end_ns - s.start_ns)) / total}%`;
    const a = s.attributes;
    const tokens = a["gen_ai.usage.input_tokens"] !== undefined ? ` · ${a["gen_ai.usage.input_tokens"]}→${a["gen_ai.usage.output_tokens"]} tokens` : "";
    const label = document.createElement("span");
    label.className = "span-label";
    label.style.paddingLeft = `${depth(s) * 10}px`;
    label.textContent = `${s.name} · ${((s.end_ns - s.start_ns) / 1e6).toFixed(1)} ms${tokens}`;
    row.title = JSON.stringify(a, null, 1);
    row.dataset.name = s.name;
    const from = byTask[a["langgraph.task_id"]];
    if (from) {  // a node's span opens the checkpoint its step started from
      row.dataset.checkpoint = from.c.checkpoint.checkpoint_id;
      row.classList.add("linked");
      row.title = `click: the checkpoint this step started from\n${row.title}`;
      row.addEventListener("click", () => showCheckpoint(from.c, from.item));
    }
    row.append(bar, label);
    box.appendChild(row);
  }
}

async function loadReports() {
  const folders = await (await fetch(`${api}/view/reports`)).json();
  const list = $("reports");
  list.innerHTML = folders.length ? "" : "<li><small>none (graphwright view --reports DIR)</small></li>";
  for (const f of folders) {
    const li = document.createElement("li");
    li.textContent = `${f.folder} `;
    const base = `${api}/view/reports/${f.folder.split("/").map(encodeURIComponent).join("/")}`;
    if (f.files.includes("report.html")) {
      const a = document.createElement("a");
      a.href = `${base}/report.html`;
      a.target = "_blank";
      a.textContent = "report";
      a.className = "report";
      li.append(a, " ");
    }
    if (f.files.includes("trajectories.jsonl")) {
      const b = document.createElement("button");
      b.textContent = "episodes";
      b.className = "episodes";
      b.addEventListener("click", () => openEpisodes(`${base}/trajectories.jsonl`));
      li.append(b);
    }
    list.appendChild(li);
  }
}

let episode = null;
let episodeStep = 0;

async function openEpisodes(url) {
  const episodes = await (await fetch(url)).json();
  episode = episodes[0];
  episodeStep = 0;
  $("episode").hidden = false;
  $("episode-title").textContent = `${episode.id}: score ${episode.score}, ${episode.success ? "success" : "no success"}, ${episode.steps} steps`;
  showEpisodeStep();
}

function showEpisodeStep() {
  const steps = episode.trajectory ?? [];
  const step = steps[episodeStep] ?? {};
  $("episode-step").textContent = `step ${episodeStep + 1} of ${steps.length}`;
  $("episode-view").textContent = `observation:\n${step.observation}\n\naction: ${step.action}\nreward: ${step.reward}` +
    (step.valid_actions ? `\nvalid actions: ${step.valid_actions.join(", ")}` : "");
  document.body.dataset.episodeStep = String(episodeStep + 1);
}

function wireWorkbench() {
  const guard = (fn) => () => fn().catch((err) => setStatus(`error: ${err.message}`));
  $("refresh").addEventListener("click", guard(loadThreads));
  $("approve").addEventListener("click", guard(() => resume("approve")));
  $("reject").addEventListener("click", guard(() => resume("reject")));
  $("edit").addEventListener("click", guard(() => resume({ action: "edit", args: JSON.parse($("interrupt-args").value) })));
  $("fork").addEventListener("click", guard(forkHere));
  $("prev").addEventListener("click", () => { episodeStep = Math.max(0, episodeStep - 1); showEpisodeStep(); });
  $("next").addEventListener("click", () => { episodeStep = Math.min((episode.trajectory ?? []).length - 1, episodeStep + 1); showEpisodeStep(); });
}

async function init() {
  const names = await (await fetch(`${api}/view/graphs`)).json();
  for (const name of names) $("graph").add(new Option(name, name));
  if (params.get("graph")) $("graph").value = params.get("graph");
  $("input").value = params.get("input") ?? '{"messages": [{"role": "user", "content": "add 20 and 22"}]}';
  $("graph").addEventListener("change", () => loadGraph($("graph").value));
  $("start").addEventListener("click", () => run().catch((err) => setStatus(`error: ${err.message}`)));
  await loadGraph($("graph").value);
  wireWorkbench();
  await Promise.all([loadThreads(), loadReports()]).catch((err) => console.warn("workbench:", err));
  setStatus("ready");
  if (params.get("run") === "1") await run();
}

init().catch((err) => setStatus(`error: ${err.message}`));
