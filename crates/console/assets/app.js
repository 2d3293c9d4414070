// The console's UI: plain DOM, no framework, nothing fetched but our own
// JSON API. Every piece of data is put on the page with textContent, never
// as markup, so an attribute value cannot inject HTML or script.
"use strict";

const token = new URLSearchParams(location.search).get("token");
const view = document.getElementById("view");
let timer = null;

function api(path) {
  const url = new URL(path, location.origin);
  if (token) url.searchParams.set("token", token);
  return fetch(url).then((r) => {
    if (!r.ok) throw new Error(path + ": " + r.status);
    return r.json();
  });
}

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c != null) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function chip(text, kind) { return el("span", { class: "chip" + (kind ? " " + kind : ""), text }); }
function ms(ns) { const v = ns / 1e6; return v >= 100 ? v.toFixed(0) + " ms" : v >= 1 ? v.toFixed(1) + " ms" : (ns / 1e3).toFixed(0) + " µs"; }
function when(ns) { return new Date(ns / 1e6).toLocaleTimeString(); }
function usd(v) { return v ? "$" + v.toFixed(v < 0.01 ? 6 : 4) : ""; }
function attr(span, key) { const a = span.attributes.find((kv) => kv[0] === key); return a ? a[1] : undefined; }
function str(v) { return v === undefined || v === null ? "" : typeof v === "string" ? v : JSON.stringify(v); }

function setNav(name) {
  for (const id of ["traces", "overview", "llm", "stats"]) document.getElementById("nav-" + id).classList.toggle("active", id === name);
}
function stopLive() { if (timer) clearInterval(timer); timer = null; document.getElementById("live").classList.add("paused"); }
function startLive(fn) { stopLive(); timer = setInterval(fn, 2000); document.getElementById("live").classList.remove("paused"); }

// ---------- Trace list ----------
const filters = { service: "", workflow: "", status: "", min_duration_ms: "", attr: "", q: "", primitive: "", span_min_ms: "", span_max_ms: "", from_ns: "", to_ns: "" };
// The trace list's time range: "" (any time) or seconds back from now.
let windowSeconds = "";
let pageSize = 50;

function traceQuery() {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(filters)) if (v !== "") p.set(k, v);
  if (windowSeconds !== "" && filters.from_ns === "") p.set("from_ns", String((Date.now() - Number(windowSeconds) * 1000) * 1e6));
  p.set("limit", String(pageSize));
  return "/api/traces?" + p.toString();
}

// Filters given in the hash (`#/traces?workflow=quote&primitive=tax_retry`),
// as the overview's links set them.
function filtersFromHash() {
  const query = location.hash.split("?")[1];
  if (!query) return;
  for (const k of Object.keys(filters)) filters[k] = "";
  for (const [k, v] of new URLSearchParams(query)) if (k in filters) filters[k] = v;
}

async function showTraces() {
  setNav("traces");
  filtersFromHash();
  const facets = await api("/api/facets");
  const select = (name, values) => {
    const s = el("select", { id: "filter-" + name, onchange: () => { filters[name] = s.value; refresh(); } },
      el("option", { value: "", text: "any " + name }), ...values.map((v) => el("option", { value: v, text: v })));
    s.value = filters[name];
    return s;
  };
  const input = (name, placeholder) => {
    const i = el("input", { id: "filter-" + name, placeholder, value: filters[name] });
    i.addEventListener("change", () => { filters[name] = i.value.trim(); refresh(); });
    return i;
  };
  const status = el("select", { id: "filter-status", onchange: () => { filters.status = status.value; refresh(); } },
    el("option", { value: "", text: "any status" }), el("option", { value: "ok", text: "ok" }), el("option", { value: "error", text: "error" }));
  status.value = filters.status;
  const range = el("select", { id: "filter-window", onchange: () => { windowSeconds = range.value; refresh(); } },
    ...[["", "any time"], ["300", "last 5 min"], ["900", "last 15 min"], ["3600", "last hour"], ["21600", "last 6 hours"]].map(([v, t]) => el("option", { value: v, text: t })));
  range.value = windowSeconds;
  const narrowed = ["primitive", "span_min_ms", "span_max_ms", "from_ns", "to_ns"].filter((k) => filters[k] !== "");
  const active = narrowed.length ? el("span", { id: "active-filters" },
    ...narrowed.map((k) => chip(k + " " + (k.endsWith("_ns") ? when(Number(filters[k])) : filters[k]), "type")),
    el("button", { text: "clear", onclick: () => { for (const k of narrowed) filters[k] = ""; location.hash = "#/traces"; } })) : null;
  const compare = el("button", { id: "compare", text: "Compare selected", onclick: () => {
    const picked = [...document.querySelectorAll("input.pick:checked")].map((c) => c.value);
    if (picked.length === 2) location.hash = "#/compare/" + picked[0] + "/" + picked[1];
  } });
  const body = el("tbody", { id: "trace-rows" });
  const more = el("button", { id: "more", text: "Load more", onclick: () => { pageSize += 50; refresh(); } });
  view.replaceChildren(
    el("div", { class: "filters" }, select("service", facets.services), select("workflow", facets.workflows), status,
      input("min_duration_ms", "min duration ms"), input("attr", "attribute key=value"), input("q", "search text"), range, active, compare),
    el("table", {}, el("thead", {}, el("tr", {}, ...["", "root", "service", "workflow", "start", "duration", "spans", "status", "LLM tokens", "cost"].map((h) => el("th", { text: h })))), body),
    more);
  async function refresh() {
    const page = await api(traceQuery());
    const rows = page.traces.map((t) => {
      const status = t.status === "error" ? chip(t.error_type || "error", "err") : chip("ok", "ok");
      const tr = el("tr", { class: "trace-row", "data-trace": t.trace_id },
        el("td", {}, el("input", { type: "checkbox", class: "pick", value: t.trace_id, onclick: (e) => e.stopPropagation() })),
        el("td", { class: "root", text: t.root_name }, t.partial ? chip("partial", "warn") : null),
        el("td", { text: t.services.join(", ") }),
        el("td", { text: t.workflow || "" }),
        el("td", { text: when(t.start_ns) }),
        el("td", { text: ms(t.duration_ns) }),
        el("td", { text: String(t.span_count) }),
        el("td", {}, status),
        el("td", { class: "tokens", text: t.llm_tokens ? String(t.llm_tokens) : "" }),
        el("td", { class: "cost", text: usd(t.llm_cost_usd) }));
      tr.addEventListener("click", () => { location.hash = "#/trace/" + t.trace_id; });
      return tr;
    });
    const checked = new Set([...document.querySelectorAll("input.pick:checked")].map((c) => c.value));
    body.replaceChildren(...rows);
    for (const c of document.querySelectorAll("input.pick")) c.checked = checked.has(c.value);
    more.hidden = !page.has_more;
  }
  await refresh();
  startLive(refresh);
}

// ---------- Trace view ----------
function tree(spans) {
  const byId = new Map(spans.map((s) => [s.span_id, { span: s, children: [] }]));
  const roots = [];
  for (const node of byId.values()) {
    const parent = node.span.parent_span_id && byId.get(node.span.parent_span_id);
    if (parent) parent.children.push(node); else roots.push(node);
  }
  const order = (a, b) => a.span.start_ns - b.span.start_ns;
  for (const node of byId.values()) node.children.sort(order);
  roots.sort(order);
  return roots;
}

// The workflow-aware labels of a span, from our conventions.
function badges(span, siblings) {
  const out = [];
  const type = attr(span, "tta.primitive.type");
  if (type) out.push(chip(type, "type"));
  const attempt = attr(span, "tta.retry.attempt");
  if (attempt !== undefined) out.push(chip("attempt " + attempt, "type"));
  const attempts = attr(span, "tta.retry.attempts");
  if (attempts !== undefined) out.push(chip(attempts + " attempts"));
  const result = attr(span, "tta.retry.result");
  if (result !== undefined) out.push(chip(str(result)));
  const leg = attr(span, "tta.fallback.leg");
  if (leg !== undefined) out.push(chip("leg " + leg + (attr(span, "tta.fallback.leg_name") ? " " + attr(span, "tta.fallback.leg_name") : "")));
  if (leg !== undefined && span.status !== "error" && siblings && !siblings.some((s) => s !== span && attr(s, "tta.fallback.leg") > leg)) out.push(chip("answered", "ok"));
  const hit = attr(span, "tta.cache.hit");
  if (hit !== undefined) out.push(chip(hit === true || hit === "true" ? "cache hit" : "cache miss", hit === true || hit === "true" ? "ok" : ""));
  if (attr(span, "tta.cache.coalesced") === true) out.push(chip("coalesced"));
  const breaker = attr(span, "tta.circuit_breaker.state");
  if (breaker !== undefined) out.push(chip("breaker " + breaker, breaker === "closed" ? "" : "warn"));
  const to = attr(span, "tta.circuit_breaker.to");
  if (to !== undefined) out.push(chip(str(attr(span, "tta.circuit_breaker.from")) + " → " + to, "warn"));
  const route = attr(span, "tta.router.route");
  if (route !== undefined) out.push(chip("route " + route));
  const phase = attr(span, "tta.saga.phase");
  if (phase !== undefined) out.push(chip(str(phase), phase === "compensation" ? "warn" : ""));
  if (attr(span, "tta.cancelled") === true) out.push(chip("cancelled", "warn"));
  const errorType = attr(span, "error.type");
  if (errorType !== undefined) out.push(chip(str(errorType), errorType === "circuit_open" ? "warn" : "err"));
  if (attr(span, "gen_ai.operation.name") !== undefined) {
    const model = attr(span, "gen_ai.response.model") || attr(span, "gen_ai.request.model");
    const tokens = (attr(span, "gen_ai.usage.input_tokens") || 0) + (attr(span, "gen_ai.usage.output_tokens") || 0);
    out.push(chip(str(model) + " · " + tokens + " tokens", "llm"));
  }
  return out;
}

function details(span) {
  const groups = new Map();
  for (const [k, v] of span.attributes) {
    const ns = ["tta.", "gen_ai.", "langfuse.", "http.", "url.", "rpc."].find((p) => k.startsWith(p)) || "other";
    if (!groups.has(ns)) groups.set(ns, []);
    groups.get(ns).push([k, v]);
  }
  const kv = (list) => el("table", { class: "kv" }, el("tbody", {}, ...list.map(([k, v]) => el("tr", {}, el("td", { text: k }), el("td", { text: str(v) })))));
  const parts = [
    el("h2", { text: span.name }),
    el("div", {}, chip(span.kind), span.status === "error" ? chip("error: " + span.status_message, "err") : chip(span.status, "ok"), el("span", { class: "muted", text: " " + ms(span.end_ns - span.start_ns) + " · " + span.service })),
  ];
  for (const [ns, list] of groups) parts.push(el("h3", { text: ns === "other" ? "attributes" : ns + "*" }), kv(list));
  if (span.events.length) {
    parts.push(el("h3", { text: "events" }));
    for (const e of span.events) parts.push(el("div", {}, el("strong", { text: e.name }), " ", el("span", { class: "muted", text: when(e.time_ns) })), kv(e.attributes));
  }
  if (span.logs.length) {
    parts.push(el("h3", { text: "logs" }));
    for (const l of span.logs) parts.push(el("div", { class: "log" }, chip(l.severity || "log"), " ", el("span", { text: l.body })));
  }
  if (span.links.length) {
    parts.push(el("h3", { text: "links" }));
    for (const l of span.links) parts.push(el("div", {}, el("a", { href: "#/trace/" + l.trace_id, text: l.trace_id + " / " + l.span_id })));
  }
  parts.push(el("h3", { text: "resource" }), kv(span.resource));
  return parts;
}

async function showTrace(traceId) {
  setNav("traces");
  stopLive();
  const data = await api("/api/traces/" + traceId);
  const spans = data.spans;
  const start = Math.min(...spans.map((s) => s.start_ns));
  const end = Math.max(...spans.map((s) => s.end_ns));
  const total = Math.max(end - start, 1);
  const pct = (ns) => ((ns - start) / total * 100).toFixed(3) + "%";
  const detail = el("div", { class: "detail", id: "detail" }, el("p", { class: "muted", text: "Select a span." }));
  const rows = el("div", { class: "waterfall", id: "waterfall" });
  const collapsed = new Set();
  const fragment = document.createDocumentFragment();
  const all = [];
  function add(node, depth, parentRow, siblings) {
    const s = node.span;
    const toggle = el("span", { class: "wf-toggle", text: node.children.length ? "▾" : "" });
    const name = el("div", { class: "wf-name", style: "padding-left:" + (4 + depth * 14) + "px" }, toggle, el("span", { class: "wf-label", text: s.name }), ...badges(s, siblings));
    const track = el("div", { class: "wf-track" });
    const bar = el("div", { class: "wf-bar" + (s.status === "error" ? " error" : "") + (attr(s, "gen_ai.operation.name") !== undefined ? " llm" : ""), style: "left:" + pct(s.start_ns) + ";width:" + ((s.end_ns - s.start_ns) / total * 100).toFixed(3) + "%" });
    track.append(bar);
    const row = el("div", { class: "wf-row", "data-span": s.span_id, "data-depth": String(depth), "data-parent": parentRow ? parentRow.dataset.span : "" }, name, track);
    // Retry attempts: the backoff gap before this attempt, drawn and labelled.
    const attempt = attr(s, "tta.retry.attempt");
    if (attempt !== undefined && attempt > 1 && siblings) {
      const previous = siblings.filter((x) => attr(x, "tta.retry.attempt") === attempt - 1)[0];
      if (previous && s.start_ns > previous.end_ns) {
        track.append(el("div", { class: "wf-gap", title: "backoff", style: "left:" + pct(previous.end_ns) + ";width:" + ((s.start_ns - previous.end_ns) / total * 100).toFixed(3) + "%" }));
        name.append(chip("backoff " + ms(s.start_ns - previous.end_ns), "warn"));
      }
    }
    row.addEventListener("click", () => {
      for (const r of rows.querySelectorAll(".wf-row.selected")) r.classList.remove("selected");
      row.classList.add("selected");
      detail.replaceChildren(...details(s));
    });
    toggle.addEventListener("click", (e) => {
      e.stopPropagation();
      const hide = !collapsed.has(s.span_id);
      if (hide) collapsed.add(s.span_id); else collapsed.delete(s.span_id);
      toggle.textContent = hide ? "▸" : "▾";
      const hidden = new Set([s.span_id]);
      for (const r of all) {
        if (hidden.has(r.dataset.parent)) {
          r.hidden = hide || [...collapsed].some((c) => c !== s.span_id && r.dataset.ancestors.includes(c));
          hidden.add(r.dataset.span);
        }
      }
    });
    row.dataset.ancestors = parentRow ? parentRow.dataset.ancestors + " " + parentRow.dataset.span : "";
    fragment.append(row);
    all.push(row);
    return row;
  }
  const roots = tree(spans);
  const partial = roots.filter((r) => r.span.parent_span_id).length;
  view.replaceChildren(
    el("h2", {}, el("span", { text: "Trace " + traceId }), el("span", { class: "muted", text: " · " + spans.length + " spans · " + ms(total) }), partial ? chip("partial: " + partial + " span(s) whose parent never arrived", "warn") : null),
    el("div", { class: "split" }, rows, detail));
  // Depth first, in slices of 200 rows with a pause between them, so a
  // large trace never blocks the page for long.
  const stack = roots.slice().reverse().map((n) => [n, 0, null, null]);
  let made = 0;
  while (stack.length) {
    const [node, depth, parentRow, siblings] = stack.pop();
    const row = add(node, depth, parentRow, siblings);
    const childSpans = node.children.map((c) => c.span);
    for (let i = node.children.length - 1; i >= 0; i--) stack.push([node.children[i], depth + 1, row, childSpans]);
    if (++made % 200 === 0) {
      rows.append(fragment);
      await new Promise((resolve) => setTimeout(resolve));
    }
  }
  rows.append(fragment);
}

// ---------- Compare ----------
// Spans are matched by their path of names from the root (with the index
// among same-named siblings), so the same workflow's traces line up.
function paths(spans) {
  const out = new Map();
  function walk(node, prefix) {
    const seen = new Map();
    for (const child of node.children) {
      const n = (seen.get(child.span.name) || 0) + 1;
      seen.set(child.span.name, n);
      const path = prefix + " / " + child.span.name + (n > 1 ? " #" + n : "");
      out.set(path, child.span);
      walk(child, path);
    }
  }
  for (const root of tree(spans)) { out.set(root.span.name, root.span); walk(root, root.span.name); }
  return out;
}

async function showCompare(a, b) {
  setNav("traces");
  stopLive();
  const [ta, tb] = await Promise.all([api("/api/traces/" + a), api("/api/traces/" + b)]);
  const pa = paths(ta.spans), pb = paths(tb.spans);
  const keys = [...new Set([...pa.keys(), ...pb.keys()])];
  const rows = keys.map((k) => {
    const sa = pa.get(k), sb = pb.get(k);
    const da = sa ? sa.end_ns - sa.start_ns : null, db = sb ? sb.end_ns - sb.start_ns : null;
    let cls = "", delta = "";
    if (!sb) { cls = "diff-only-a"; delta = "only in A"; }
    else if (!sa) { cls = "diff-only-b"; delta = "only in B"; }
    else { const d = db - da; delta = (d >= 0 ? "+" : "−") + ms(Math.abs(d)); cls = Math.abs(d) > 0.2 * Math.max(da, 1) ? (d > 0 ? "diff-slower" : "diff-faster") : ""; }
    return el("tr", { class: "cmp-row " + cls, "data-path": k }, el("td", { text: k }), el("td", { text: da === null ? "—" : ms(da) }), el("td", { text: db === null ? "—" : ms(db) }), el("td", { class: "delta", text: delta }));
  });
  view.replaceChildren(
    el("h2", { text: "Compare" }),
    el("p", {}, el("a", { href: "#/trace/" + a, text: "A " + a }), " · ", el("a", { href: "#/trace/" + b, text: "B " + b })),
    el("table", { id: "compare-table" }, el("thead", {}, el("tr", {}, ...["span path", "A", "B", "difference"].map((h) => el("th", { text: h })))), el("tbody", {}, ...rows)));
}

// ---------- Workflow overview ----------
const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}
// Bars, each a link: `values` heights, `errors` (optional) drawn over them.
function bars(values, errors, cls, title, href) {
  const step = 6, width = step * values.length, height = 28, max = Math.max(1, ...values);
  const chart = svg("svg", { width, height, class: cls, viewBox: "0 0 " + width + " " + height });
  values.forEach((v, i) => {
    const h = Math.max(v ? 1 : 0, Math.round(v / max * height));
    const link = svg("a", { href: href(i), "data-index": i });
    // The whole column is the link's target, however short the bar.
    link.append(svg("rect", { class: "hit", x: i * step, y: 0, width: step, height, fill: "transparent" }));
    const bar = svg("rect", { x: i * step, y: height - h, width: step - 1, height: h, fill: "#7aa2ff" });
    const tip = svg("title", {});
    tip.textContent = title(i, v);
    link.append(tip, bar);
    if (errors && errors[i]) {
      const e = Math.max(1, Math.round(errors[i] / max * height));
      link.append(svg("rect", { x: i * step, y: height - e, width: step - 1, height: e, fill: "#e5675e" }));
    }
    chart.append(link);
  });
  return chart;
}

let overviewWindow = "900";
async function showOverview() {
  setNav("overview");
  const render = async () => {
    const data = await api("/api/overview?window_s=" + overviewWindow);
    const traces = (n, extra) => "#/traces?" + new URLSearchParams({ workflow: n.workflow, primitive: n.primitive, ...extra }).toString();
    const rows = data.nodes.map((n) => el("tr", { class: "overview-row", "data-workflow": n.workflow, "data-primitive": n.primitive, "data-type": n.primitive_type },
      el("td", { text: n.workflow }),
      el("td", { class: "primitive" }, el("a", { href: traces(n, {}), text: n.primitive }), chip(n.primitive_type, "type")),
      el("td", { text: n.rate_per_s.toFixed(2) + "/s" }),
      el("td", { class: "rate-chart" }, bars(n.series, n.error_series, "series", (i, v) => v + " executions from " + when(data.from_ns + i * data.bucket_ns),
        (i) => traces(n, { from_ns: String(data.from_ns + i * data.bucket_ns), to_ns: String(data.from_ns + (i + 1) * data.bucket_ns) }))),
      el("td", {}, el("span", { text: (n.error_ratio * 100).toFixed(1) + "%" }), ...Object.entries(n.error_types).map(([t, c]) => chip(t + " " + c, "err"))),
      el("td", { text: n.p50_ms.toFixed(1) }), el("td", { text: n.p95_ms.toFixed(1) }), el("td", { text: n.p99_ms.toFixed(1) }),
      el("td", { class: "latency-chart" }, bars(n.latency.map((b) => b.count), null, "latency", (i, v) => v + " between " + n.latency[i].from_ms + " and " + (n.latency[i].to_ms === null ? "∞" : n.latency[i].to_ms) + " ms",
        (i) => traces(n, { span_min_ms: String(n.latency[i].from_ms), ...(n.latency[i].to_ms === null ? {} : { span_max_ms: String(n.latency[i].to_ms) }) })))));
    const windowSelect = el("select", { id: "overview-window", onchange: () => { overviewWindow = windowSelect.value; render(); } },
      ...[["300", "last 5 min"], ["900", "last 15 min"], ["3600", "last hour"], ["21600", "last 6 hours"], ["86400", "last day"]].map(([v, t]) => el("option", { value: v, text: t })));
    windowSelect.value = overviewWindow;
    view.replaceChildren(el("div", { class: "filters" }, el("h2", { text: "Workflows and primitives" }), windowSelect,
      el("span", { class: "muted", text: "computed from the stored spans; a bar or a latency bucket lists its traces" })),
      el("table", { id: "overview" }, el("thead", {}, el("tr", {}, ...["workflow", "primitive", "rate", "executions over time", "errors", "p50 ms", "p95 ms", "p99 ms", "latency buckets"].map((h) => el("th", { text: h })))), el("tbody", {}, ...rows)));
  };
  await render();
  startLive(render);
}

// ---------- LLM view ----------
async function showLlm() {
  setNav("llm");
  const render = async () => {
    const data = await api("/api/llm");
    const totalsTable = (id, title, list) => el("div", {}, el("h2", { text: title }),
      el("table", { id }, el("thead", {}, el("tr", {}, ...["", "calls", "errors", "input tokens", "output tokens", "cost", "p50", "p95"].map((h) => el("th", { text: h })))),
        el("tbody", {}, ...list.map((t) => el("tr", {}, el("td", { class: "key", text: t.key }), el("td", { text: String(t.calls) }), el("td", { text: String(t.errors) }), el("td", { class: "in", text: String(t.input_tokens) }), el("td", { class: "out", text: String(t.output_tokens) }), el("td", { class: "cost", text: usd(t.cost_usd) }), el("td", { text: t.p50_latency_s.toFixed(3) + " s" }), el("td", { text: t.p95_latency_s.toFixed(3) + " s" }))))));
    const calls = el("table", { id: "llm-calls" }, el("thead", {}, el("tr", {}, ...["start", "provider", "model", "in", "out", "cached", "reasoning", "cost", "TTFT", "latency", "finish", "session", "user", "status", "prompt / completion"].map((h) => el("th", { text: h })))),
      el("tbody", {}, ...data.calls.map((c) => {
        const tr = el("tr", { class: "trace-row llm-call", "data-trace": c.trace_id }, el("td", { text: when(c.start_ns) }), el("td", { text: c.provider || "" }), el("td", { class: "model", text: c.model || "" }), el("td", { class: "in", text: String(c.input_tokens) }), el("td", { class: "out", text: String(c.output_tokens) }), el("td", { text: String(c.cached_tokens) }), el("td", { text: String(c.reasoning_tokens) }), el("td", { class: "cost", text: c.cost_usd === null ? "unpriced" : usd(c.cost_usd) }), el("td", { text: c.time_to_first_token_s === null ? "" : (c.time_to_first_token_s * 1000).toFixed(0) + " ms" }), el("td", { text: (c.latency_s * 1000).toFixed(0) + " ms" }), el("td", { text: c.finish_reasons || "" }), el("td", { text: c.session || "" }), el("td", { text: c.user || "" }), el("td", {}, c.status === "error" ? chip(c.error_type || "error", "err") : chip("ok", "ok")),
          el("td", { class: "capture" }, c.prompt || c.completion
            ? el("details", { onclick: (e) => e.stopPropagation() }, el("summary", { text: "show" }),
                el("div", { class: "muted", text: "prompt" }), el("pre", { class: "prompt", text: c.prompt || "" }),
                el("div", { class: "muted", text: "completion" }), el("pre", { class: "completion", text: c.completion || "" }))
            : el("span", { class: "muted", text: "not captured" })));
        tr.addEventListener("click", () => { location.hash = "#/trace/" + c.trace_id; });
        return tr;
      })));
    view.replaceChildren(totalsTable("llm-models", "Per model", data.models), totalsTable("llm-sessions", "Per session", data.sessions), totalsTable("llm-users", "Per user", data.users), el("h2", { text: "Calls" }), calls);
  };
  await render();
  startLive(render);
}

// ---------- Store ----------
async function showStats() {
  setNav("stats");
  const render = async () => {
    const s = await api("/api/stats");
    const rows = (obj) => el("table", { class: "kv" }, el("tbody", {}, ...Object.entries(obj).map(([k, v]) => el("tr", {}, el("td", { text: k }), el("td", { text: str(v) })))));
    view.replaceChildren(el("h2", { text: "Store" }), rows(s.store), el("h2", { text: "Received" }), rows(s.ingest));
  };
  await render();
  startLive(render);
}

function route() {
  const parts = location.hash.replace(/^#\//, "").split("?")[0].split("/");
  const go = parts[0] === "trace" && parts[1] ? showTrace(parts[1])
    : parts[0] === "compare" && parts[2] ? showCompare(parts[1], parts[2])
    : parts[0] === "llm" ? showLlm()
    : parts[0] === "overview" ? showOverview()
    : parts[0] === "stats" ? showStats()
    : showTraces();
  go.catch((e) => view.replaceChildren(el("p", { class: "chip err", text: String(e) })));
}
window.addEventListener("hashchange", route);
route();
