// The live view: draws a served graph and highlights its nodes as a run streams from the LangGraph API:
// the node running now in amber, the nodes done in green, a node that failed in red.
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
  if (failed) setStatus(failed);  // set last, once the page shows everything
  else if (document.body.dataset.status === "running") setStatus("done");
}

async function init() {
  const names = await (await fetch(`${api}/view/graphs`)).json();
  for (const name of names) $("graph").add(new Option(name, name));
  if (params.get("graph")) $("graph").value = params.get("graph");
  $("input").value = params.get("input") ?? '{"messages": [{"role": "user", "content": "add 20 and 22"}]}';
  $("graph").addEventListener("change", () => loadGraph($("graph").value));
  $("start").addEventListener("click", () => run().catch((err) => setStatus(`error: ${err.message}`)));
  await loadGraph($("graph").value);
  setStatus("ready");
  if (params.get("run") === "1") await run();
}

init().catch((err) => setStatus(`error: ${err.message}`));
