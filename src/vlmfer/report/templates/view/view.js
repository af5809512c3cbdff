// vlmfer view: fills the page from the JSON endpoints.
// Run data is untrusted (a model can answer "<script>"): it is only ever written with
// textContent, text nodes or setAttribute, never parsed as HTML.
"use strict";

const NON_ANSWERS = ["invalid", "refused", "blocked", "error"];
const FIELDS = ["focus", "gold", "pred", "outcome", "q", "disagree", "page", "size"];
const DEFAULTS = { focus: "0", gold: "", pred: "", outcome: "", q: "", disagree: "", page: "0", size: "20" };
let RUNS = [];
let N_SAMPLES = 0;
let state = { ...DEFAULTS };
let loading = 0;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) q.set(k, String(v));
  return q.toString();
}

async function getJSON(url) {
  const response = await fetch(url);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  state = { ...DEFAULTS };
  for (const f of FIELDS) if (params.has(f)) state[f] = params.get(f);
}

function setState(changes, keepPage) {
  state = { ...state, ...changes };
  if (!keepPage) state.page = "0";
  const params = new URLSearchParams();
  for (const f of FIELDS) if (state[f] !== DEFAULTS[f]) params.set(f, state[f]);
  const hash = params.toString();
  // Loading from now on: the hashchange that loads comes later, in another task.
  document.body.dataset.loading = "1";
  if (location.hash.slice(1) === hash) load();
  else location.hash = hash;  // hashchange loads
}

function fmt(x, digits) {
  return x === null || x === undefined ? "—" : Number(x).toFixed(digits);
}

function showError(message) {
  const box = document.getElementById("error");
  box.hidden = !message;
  box.textContent = message || "";
}

// ---------------------------------------------------------------- overview

function fillSelect(id, values, current) {
  const select = document.getElementById(id);
  if (!select) return;
  select.replaceChildren(el("option", { value: "" }, "any"));
  for (const v of values) select.append(el("option", { value: v }, v));
  select.value = current;
}

function renderOverview() {
  const run = RUNS[Number(state.focus)] || RUNS[0];
  const cm = run.confusion;
  document.getElementById("matrix-of").textContent = `(${run.name}, ${cm.n} samples)`;
  document.querySelectorAll(".run-card").forEach((card, i) => {
    const r = RUNS[i];
    if (!r) return;
    const o = r.confusion.outcomes;
    card.querySelector(".run-n").textContent =
      `${r.confusion.n} samples · ` + Object.entries(o).map(([k, v]) => `${k} ${v}`).join(", ");
  });
  const table = el("table", { id: "confusion" });
  const head = el("tr", {}, el("th", {}, "gold \\ predicted"));
  for (const c of cm.cols) head.append(el("th", { class: NON_ANSWERS.includes(c) && !run.labels.includes(c) ? "na" : null }, c));
  table.append(el("thead", {}, head));
  const body = el("tbody");
  cm.rows.forEach((gold, i) => {
    const tr = el("tr", {}, el("th", { scope: "row" }, gold));
    cm.cols.forEach((col, j) => {
      const n = cm.counts[i][j];
      const isOutcome = NON_ANSWERS.includes(col) && !run.labels.includes(col);
      const selected = state.gold === gold &&
        (isOutcome ? state.outcome === col && !state.pred : state.pred === col);
      const button = el("button", {
        type: "button", class: (n ? "" : "zero") + (selected ? " selected" : ""),
        "data-gold": gold, "data-col": col, title: `gold ${gold}, ${isOutcome ? "outcome" : "predicted"} ${col}: ${n}`,
      }, n);
      button.addEventListener("click", () => {
        if (isOutcome) setState({ gold, pred: "", outcome: col });
        else setState({ gold, pred: col, outcome: "" });
      });
      tr.append(el("td", { class: gold === col ? "diag" : null }, button));
    });
    body.append(tr);
  });
  table.append(body);
  document.getElementById("matrix").replaceChildren(table);
  const counts = Object.entries(cm.outcomes).map(([k, v]) => `${k}: ${v}`).join(" · ");
  document.getElementById("outcome-counts").textContent =
    `Outcomes — ${counts}` + (cm.no_gold ? ` · ${cm.no_gold} without a gold label` : "");
  const labels = [...new Set(RUNS.flatMap((r) => r.confusion.rows))];
  const preds = [...new Set(RUNS.flatMap((r) => r.confusion.cols.filter((c) => !NON_ANSWERS.includes(c) || r.labels.includes(c))))];
  fillSelect("f-gold", labels, state.gold);
  fillSelect("f-pred", preds, state.pred);
  fillSelect("f-outcome", ["ok", ...NON_ANSWERS], state.outcome);
  const focus = document.getElementById("f-focus");
  if (focus) focus.value = state.focus;
  const q = document.getElementById("f-q");
  if (document.activeElement !== q) q.value = state.q;
  const disagree = document.getElementById("f-disagree");
  if (disagree) disagree.checked = state.disagree === "1";
}

// ---------------------------------------------------------------- samples

function mediaParts(run, id, box) {
  getJSON("/api/media?" + query({ run, id })).then((info) => {
    const parts = el("div", { class: "parts" });
    const how = { image: "the encoded still", frames: "sampled frames, in time order", video: "the clip" }[info.as] || "no media";
    box.append(el("p", { class: "kv" }, `sent as ${how}`));
    for (const note of info.notes || []) box.append(el("p", { class: "kv" }, note));
    if (info.error) box.append(el("p", { class: "error" }, info.error));
    for (const part of info.parts || []) {
      const src = "/media/part?" + query({ run, id, k: part.index });
      const bits = [];
      if (part.frame_index !== null && part.frame_index !== undefined) bits.push(`frame ${part.frame_index}`);
      if (part.time_s !== null && part.time_s !== undefined) bits.push(`at ${fmt(part.time_s, 2)} s`);
      if (part.width) bits.push(`${part.width}×${part.height}`);
      bits.push(part.mime_type);
      let shown;
      if (part.kind === "video") {
        shown = ["video/mp4", "video/webm"].includes(part.mime_type)
          ? el("video", { src, controls: "", preload: "metadata" })
          : el("a", { href: src, download: "" }, `download the clip (${part.mime_type}: browsers cannot play it)`);
      } else {
        shown = el("img", { src, alt: bits.join(" "), loading: "lazy" });
      }
      parts.append(el("figure", {}, shown, el("figcaption", {}, bits.join(" · "))));
    }
    box.append(parts);
  }).catch((e) => box.append(el("p", { class: "error" }, String(e.message || e))));
}

function stepView(step) {
  const usage = step.usage || {};
  const snapshot = step.model_version || (step.details || {}).model_version || "not recorded";
  const template = step.template ? `${step.template.name} v${step.template.version}` : "no template";
  const parsed = step.parsed;
  return el("div", { class: "step" },
    el("div", { class: "kv" },
      `step ${step.name} · ${step.model} · status ${step.status}` +
      (step.reason ? ` (${step.reason})` : "") +
      ` · finish ${step.finish_reason || "—"} · ${step.attempts} attempt${step.attempts === 1 ? "" : "s"}` +
      (step.cached ? " · from cache" : "")),
    el("details", { class: "prompt" }, el("summary", {}, `prompt (${template})`),
      el("pre", { class: "prompt-text" }, step.text_sent)),
    el("div", { class: "kv" }, "answer"),
    el("pre", { class: "answer" }, step.response_text === null ? "(no text)" : step.response_text),
    el("div", { class: "kv parsed" }, parsed
      ? `parsed: ${parsed.label === null ? "no label" : parsed.label} (how: ${parsed.how})` +
        (parsed.candidates && parsed.candidates.length ? ` · candidates: ${parsed.candidates.join(", ")}` : "")
      : "parsed: —"),
    el("div", { class: "kv" },
      `tokens in ${usage.input_tokens ?? 0} / out ${usage.output_tokens ?? 0}` +
      (usage.thinking_tokens ? ` / thinking ${usage.thinking_tokens}` : "") +
      ` · latency ${fmt(step.latency_s, 2)} s · cost $${fmt(step.cost_usd, 5)} · snapshot ${snapshot}`));
}

function predictionView(pred, runIndex, gold) {
  const name = RUNS[runIndex].name;
  if (!pred) return el("div", { class: "col missing" }, el("div", { class: "kv" }, name), "not in this run");
  const right = pred.outcome === "ok" ? (pred.pred === gold ? " right" : " wrong") : "";
  const verdict = pred.outcome === "ok" ? pred.pred : pred.outcome;
  const col = el("div", { class: "col", "data-run": runIndex },
    el("div", { class: "kv" }, name),
    el("div", { class: `verdict outcome-${pred.outcome}${right}` }, verdict),
    el("div", { class: "kv" }, `outcome ${pred.outcome}` + (pred.reason ? ` — ${pred.reason}` : "")));
  if (pred.scores) {
    const top = Object.entries(pred.scores).sort((a, b) => b[1] - a[1]).slice(0, 4);
    col.append(el("div", { class: "kv" }, "scores: " + top.map(([k, v]) => `${k} ${fmt(v, 3)}`).join(", ")));
  }
  col.append(el("div", { class: "kv" }, `cost $${fmt(pred.cost_usd, 5)} · ${pred.steps.length} step${pred.steps.length === 1 ? "" : "s"}`));
  for (const step of pred.steps) col.append(stepView(step));
  return col;
}

function sampleView(item) {
  const runIndex = item.runs.findIndex((p) => p !== null);
  const id = item.sample_id;
  const thumb = el("img", { class: "thumb", loading: "lazy", alt: `thumbnail of ${id}`,
    src: "/thumb?" + query({ run: runIndex, id }) });
  thumb.addEventListener("error", () => { thumb.alt = "no thumbnail"; });
  const seen = el("details", { class: "seen" }, el("summary", {}, "as the model saw it"));
  const seenBox = el("div", { class: "seen-box", hidden: "" });
  let loaded = false;
  seen.addEventListener("toggle", () => {
    seenBox.hidden = !seen.open;
    if (seen.open && !loaded) { loaded = true; mediaParts(runIndex, id, seenBox); }
  });
  const cols = el("div", { class: "cols" });
  item.runs.forEach((pred, i) => cols.append(predictionView(pred, i, item.gold)));
  return el("article", { class: "sample", "data-id": id },
    el("div", { class: "media" }, thumb, seen),
    el("div", { class: "body" },
      el("h3", { class: "sample-id" }, id),
      el("div", { class: "gold" }, "gold: ", el("strong", {}, item.gold === null ? "none" : item.gold)),
      cols),
    seenBox);
}

async function load() {
  readHash();
  renderOverview();
  const ticket = ++loading;
  const count = document.getElementById("count");
  document.body.dataset.loading = "1";
  try {
    const data = await getJSON("/api/samples?" + query(Object.fromEntries(FIELDS.map((f) => [f, state[f]]))));
    if (ticket !== loading) return;
    showError("");
    count.dataset.total = String(data.total);
    count.textContent = `${data.total} of ${N_SAMPLES} samples · page ${data.page + 1} of ${data.pages}`;
    state.page = String(data.page);
    document.querySelector(".pager").dataset.pages = String(data.pages);
    document.getElementById("samples").replaceChildren(...data.items.map(sampleView));
  } catch (e) {
    if (ticket === loading) showError(String(e.message || e));
  } finally {
    if (ticket === loading) document.body.dataset.loading = "0";
  }
}

function wire() {
  for (const [id, field] of [["f-gold", "gold"], ["f-pred", "pred"], ["f-outcome", "outcome"], ["f-focus", "focus"]]) {
    const select = document.getElementById(id);
    if (select) select.addEventListener("change", () => setState({ [field]: select.value }));
  }
  const disagree = document.getElementById("f-disagree");
  if (disagree) disagree.addEventListener("change", () => setState({ disagree: disagree.checked ? "1" : "" }));
  const q = document.getElementById("f-q");
  let timer = 0;
  q.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => setState({ q: q.value }), 250);
  });
  document.getElementById("f-clear").addEventListener("click", () => setState({ ...DEFAULTS, focus: state.focus }));
  document.querySelectorAll(".pager button").forEach((button) => {
    button.addEventListener("click", () => {
      const pages = Number(document.querySelector(".pager").dataset.pages || "1");
      const page = Number(state.page);
      const target = { first: 0, prev: Math.max(0, page - 1), next: Math.min(pages - 1, page + 1), last: pages - 1 }[button.dataset.go];
      setState({ page: String(target) }, true);
    });
  });
  window.addEventListener("hashchange", load);
}

async function main() {
  try {
    const summary = await getJSON("/api/runs");
    RUNS = summary.runs;
    N_SAMPLES = summary.n_samples;
  } catch (e) {
    showError(String(e.message || e));
    return;
  }
  wire();
  await load();
}

main();
