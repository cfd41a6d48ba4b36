// Patron trace viewer. Vanilla JS, no dependencies, no build step: it must
// work offline from the embedded files alone. All text is set through
// textContent, never innerHTML, because span data comes from anyone who can
// reach the OTLP port.
"use strict";

(() => {
  const app = document.getElementById("app");

  // ---------- helpers ----------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "text") el.textContent = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  const SVGNS = "http://www.w3.org/2000/svg";
  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === "text") el.textContent = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v);
    }
    for (const c of children.flat()) if (c) el.append(c);
    return el;
  }

  // Icons are inline SVG, never font glyphs: symbol and emoji code points
  // render as empty boxes where the system lacks a font for them (Debian's
  // headless Chromium has none for U+26D3, the chain).
  const ICONS = {
    link: ["M10 13a5 5 0 0 0 7.54.54l3-3a5 5 0 0 0-7.07-7.07l-1.72 1.71", "M14 11a5 5 0 0 0-7.54-.54l-3 3a5 5 0 0 0 7.07 7.07l1.71-1.71"],
    chevron: ["M9 18l6-6-6-6"],
    back: ["M19 12H5", "M12 19l-7-7 7-7"],
    to: ["M5 12h14", "M12 5l7 7-7 7"],
    external: ["M18 13v6a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2h6", "M15 3h6v6", "M10 14L21 3"],
    logs: ["M4 6h16", "M4 12h16", "M4 18h10"],
  };
  function icon(name, size = 14, extra) {
    return s("svg", { class: `icon icon-${name}${extra ? ` ${extra}` : ""}`, width: size, height: size, viewBox: "0 0 24 24", fill: "none",
      stroke: "currentColor", "stroke-width": "2.2", "stroke-linecap": "round", "stroke-linejoin": "round", "aria-hidden": "true", focusable: "false" },
    ICONS[name].map((d) => s("path", { d })));
  }

  async function api(path) {
    const res = await fetch(path, { headers: { Accept: "application/json" } });
    let body;
    try { body = await res.json(); } catch { throw new Error(`${res.status} ${res.statusText}`); }
    if (!res.ok || (body.errors && body.errors.length && !body.data)) {
      const msg = body.errors && body.errors.length ? body.errors.map((e) => e.msg).join("; ") : res.statusText;
      throw new Error(msg);
    }
    return body;
  }

  // Service colours: 14 hues far enough apart to tell side by side, none of
  // them red (red means error). A name hashes to a slot; when that slot is
  // taken, the name probes on to the least used slot, so up to 14 services
  // on screen never share a colour. Names are registered in sorted order
  // (all known services when the page loads, then any new ones a page
  // shows), so a service keeps its colour across pages and reloads while
  // the set of services stays the same.
  const PALETTE = ["#4f46e5", "#0d9488", "#d97706", "#db2777", "#2563eb", "#16a34a", "#9333ea",
    "#ea580c", "#0891b2", "#65a30d", "#c026d3", "#475569", "#a16207", "#7c2d12"];
  const colorSlot = new Map();
  const slotUse = new Array(PALETTE.length).fill(0);
  function hashName(name) {
    let x = 2166136261;
    for (let i = 0; i < name.length; i++) x = Math.imul(x ^ name.charCodeAt(i), 16777619);
    return x >>> 0;
  }
  // colorDist is the "redmean" approximation of perceived distance.
  function colorDist(a, b) {
    const p = (x) => [1, 3, 5].map((i) => parseInt(x.slice(i, i + 2), 16));
    const [r1, g1, b1] = p(a), [r2, g2, b2] = p(b), rm = (r1 + r2) / 2;
    return Math.sqrt((2 + rm / 256) * (r1 - r2) ** 2 + 4 * (g1 - g2) ** 2 + (2 + (255 - rm) / 256) * (b1 - b2) ** 2);
  }
  function registerServices(names) {
    for (const name of [...new Set(names)].sort()) {
      if (colorSlot.has(name)) continue;
      const min = Math.min(...slotUse);
      const start = hashName(name) % PALETTE.length;
      // Among the least used slots, in probe order from the hash, take the
      // one farthest from the colours in use: near hues (teal and cyan,
      // amber and orange) go to the same screen last.
      let slot = -1, best = -1;
      for (let i = 0; i < PALETTE.length; i++) {
        const c = (start + i) % PALETTE.length;
        if (slotUse[c] !== min) continue;
        let d = Infinity;
        for (let u = 0; u < PALETTE.length; u++) if (slotUse[u] > min) d = Math.min(d, colorDist(PALETTE[c], PALETTE[u]));
        if (d > best) { best = d; slot = c; }
      }
      slotUse[slot]++;
      colorSlot.set(name, slot);
    }
  }
  function colorOf(service) {
    if (!colorSlot.has(service)) registerServices([service]);
    return PALETTE[colorSlot.get(service)];
  }
  // Every page waits for the known services once, so colours do not depend
  // on which page was opened first.
  const servicesKnown = fetch("/api/services", { headers: { Accept: "application/json" } })
    .then((r) => r.json()).then((b) => registerServices(b.data || [])).catch(() => {});

  // Durations arrive in microseconds.
  function fmtDur(us) {
    if (us < 1) return "0µs";
    if (us < 1000) return `${Math.round(us)}µs`;
    if (us < 1e6) return `${+(us / 1000).toFixed(us < 1e4 ? 2 : 1)}ms`;
    if (us < 60e6) return `${+(us / 1e6).toFixed(2)}s`;
    const m = Math.floor(us / 60e6);
    return `${m}m ${Math.round((us - m * 60e6) / 1e6)}s`;
  }
  function fmtTime(us) {
    const d = new Date(us / 1000);
    const pad = (n, w = 2) => String(n).padStart(w, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }
  function fmtAgo(us) {
    const sec = Math.round((Date.now() - us / 1000) / 1000);
    if (sec < 5) return "just now";
    if (sec < 60) return `${sec} seconds ago`;
    if (sec < 3600) return `${Math.round(sec / 60)} minute${sec < 90 ? "" : "s"} ago`;
    if (sec < 86400) return `${Math.round(sec / 3600)} hour${sec < 5400 ? "" : "s"} ago`;
    return `${Math.round(sec / 86400)} days ago`;
  }
  function tagValue(t) {
    if (t.value === null || t.value === undefined) return "";
    return typeof t.value === "object" ? JSON.stringify(t.value) : String(t.value);
  }
  function isErrorSpan(span) {
    return span.tags.some((t) => t.key === "error" && (t.value === true || t.value === "true"));
  }
  function spanKind(span) {
    const t = span.tags.find((x) => x.key === "span.kind");
    return t ? String(t.value) : "";
  }

  // Log records: the API's shapes are read loosely, so a record from any
  // OTLP sender shows. Timestamps become microseconds whatever their unit
  // (RFC 3339 text, or epoch seconds, ms, µs or ns), severities one of the
  // OTel short names, attributes a list of {key, value}.
  function toMicros(ts) {
    if (ts === null || ts === undefined || ts === "") return 0;
    if (typeof ts === "string" && !/^\d+$/.test(ts)) { const ms = Date.parse(ts); return Number.isNaN(ms) ? 0 : ms * 1000; }
    const n = Number(ts);
    if (n > 1e17) return n / 1000;
    if (n > 1e14) return n;
    if (n > 1e11) return n * 1000;
    return n * 1e6;
  }
  const SEVERITIES = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
  function sevName(v) {
    if (typeof v === "number") return v <= 0 ? "UNSET" : SEVERITIES[Math.min(5, Math.floor((v - 1) / 4))];
    const t = String(v || "").toUpperCase();
    if (t.startsWith("WARN")) return "WARN";
    if (t.startsWith("ERR")) return "ERROR";
    for (const x of SEVERITIES) if (t.startsWith(x)) return x;
    return t || "UNSET";
  }
  function attrList(a) {
    if (!a) return [];
    if (Array.isArray(a)) return a.map((x) => ({ key: String(x.key), value: x.value }));
    return Object.entries(a).map(([key, value]) => ({ key, value }));
  }
  function normLog(r) {
    return { ts: toMicros(r.timestamp), sev: sevName(r.severity), body: typeof r.body === "object" && r.body !== null ? JSON.stringify(r.body) : String(r.body ?? ""),
      attrs: attrList(r.attributes), traceID: r.traceID || "", spanID: r.spanID || "", service: r.service || "unknown" };
  }
  const traceHref = (traceID, spanID) => `/trace/${encodeURIComponent(traceID)}${spanID ? `?span=${encodeURIComponent(spanID)}` : ""}`;
  function sevBadge(sev) { return h("span", { class: `sev sev-${sev.toLowerCase()}`, text: sev }); }
  function logLine(lg, base, opts = {}) {
    return h("div", { class: "log-rec", dataset: { spanId: lg.spanID, sev: lg.sev } },
      h("span", { class: "log-ts", text: base ? `+${fmtDur(Math.max(0, lg.ts - base))}` : fmtTime(lg.ts) }),
      sevBadge(lg.sev),
      opts.service ? h("span", { class: "chip" }, dotOf(lg.service), lg.service) : null,
      h("span", { class: "log-body", text: lg.body }),
      lg.attrs.length ? h("span", { class: "log-attrs" }, lg.attrs.map((a) => h("span", { class: "log-attr" },
        h("span", { class: "k", text: a.key }), "=", h("span", { class: "v", text: tagValue(a) })))) : null,
      opts.link || null);
  }

  function go(path, replace) {
    if (replace) history.replaceState(null, "", path);
    else history.pushState(null, "", path);
    route();
  }

  // Links inside the app navigate without reloading.
  document.addEventListener("click", (e) => {
    const a = e.target.closest("a[href^='/']");
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || a.target) return;
    if (a.getAttribute("href").startsWith("/api/")) return;
    e.preventDefault();
    go(a.getAttribute("href"));
  });
  window.addEventListener("popstate", route);

  document.getElementById("lookup").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = document.getElementById("lookup-id");
    const id = input.value.trim().toLowerCase();
    if (id) { input.value = ""; input.blur(); go(`/trace/${encodeURIComponent(id)}`); }
  });

  // "/" focuses the page's search box, as in Jaeger and GitHub.
  document.addEventListener("keydown", (e) => {
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) return;
    const target = document.querySelector("[data-slash]") || document.getElementById("lookup-id");
    if (target) { e.preventDefault(); target.focus(); if (target.select) target.select(); }
  });

  function setNav(name) {
    for (const a of document.querySelectorAll(".nav a")) a.classList.toggle("active", a.dataset.nav === name);
  }

  let routeToken = 0;
  async function route() {
    const token = ++routeToken;
    await servicesKnown;
    if (stale(token)) return;
    const path = location.pathname;
    app.replaceChildren();
    if (path.startsWith("/trace/")) {
      setNav("");
      renderTrace(decodeURIComponent(path.slice(7)), token);
    } else if (path.startsWith("/logs")) {
      setNav("logs");
      renderLogs(token);
    } else if (path.startsWith("/monitor")) {
      setNav("monitor");
      renderMonitor(token);
    } else if (path.startsWith("/metrics")) {
      setNav("metrics");
      renderMetrics(token);
    } else if (path.startsWith("/compare")) {
      setNav("compare");
      renderCompare(token);
    } else if (path.startsWith("/dependencies")) {
      setNav("dependencies");
      renderDependencies(token);
    } else {
      setNav("search");
      renderSearch(token);
    }
  }
  const stale = (token) => token !== routeToken;

  // ---------- search ----------
  const LOOKBACKS = [["5m", "Last 5 minutes"], ["15m", "Last 15 minutes"], ["30m", "Last 30 minutes"],
    ["1h", "Last hour"], ["2h", "Last 2 hours"], ["6h", "Last 6 hours"], ["12h", "Last 12 hours"],
    ["24h", "Last 24 hours"], ["48h", "Last 2 days"], ["168h", "Last 7 days"]];

  // Tags are typed logfmt-style, as in Jaeger: key=value key2="a b".
  function parseLogfmt(text) {
    const out = {};
    const re = /([^\s=]+)=("((?:[^"\\]|\\.)*)"|\S*)/g;
    let m;
    while ((m = re.exec(text)) !== null) out[m[1]] = m[3] !== undefined ? m[3].replace(/\\(.)/g, "$1") : m[2];
    return out;
  }

  async function renderSearch(token) {
    document.title = "Search · Patron Traces";
    const params = new URLSearchParams(location.search);
    const field = (label, input, hint) => h("div", { class: "field" },
      h("label", { for: input.id, text: label }), input, hint ? h("span", { class: "hint", text: hint }) : null);

    const service = h("select", { id: "service", name: "service", "data-slash": true, "aria-label": "Service" });
    const operation = h("select", { id: "operation", name: "operation" }, h("option", { value: "", text: "All" }));
    const tags = h("input", { id: "tags", name: "tags", placeholder: "http.status_code=500 error=true", spellcheck: "false", value: params.get("tags") || "" });
    const lookback = h("select", { id: "lookback", name: "lookback" },
      LOOKBACKS.map(([v, t]) => h("option", { value: v, text: t })));
    lookback.value = params.get("lookback") || "1h";
    const minD = h("input", { id: "minDuration", name: "minDuration", placeholder: "e.g. 1.2s, 100ms", value: params.get("minDuration") || "" });
    const maxD = h("input", { id: "maxDuration", name: "maxDuration", placeholder: "e.g. 1.2s, 100ms", value: params.get("maxDuration") || "" });
    const limit = h("input", { id: "limit", name: "limit", type: "number", min: "1", max: "5000", value: params.get("limit") || "20" });
    const submit = h("button", { class: "btn primary", type: "submit", id: "find", text: "Find Traces" });

    const form = h("form", { class: "panel search-form", id: "search-form" },
      h("h2", { text: "Search" }),
      field("Service", service),
      field("Operation", operation),
      field("Tags", tags, "logfmt: key=value, space separated"),
      field("Lookback", lookback),
      h("div", { class: "row2" }, field("Min Duration", minD), field("Max Duration", maxD)),
      field("Limit Results", limit),
      submit);
    const results = h("section", { class: "results", id: "results", "aria-live": "polite" });
    app.append(h("div", { class: "page search-layout" }, form, results));

    async function loadOperations(svc, selected) {
      operation.replaceChildren(h("option", { value: "", text: "All" }));
      if (!svc) return;
      try {
        const body = await api(`/api/operations?service=${encodeURIComponent(svc)}`);
        const names = [...new Set(body.data.map((o) => o.name))].sort();
        for (const n of names) operation.append(h("option", { value: n, text: n }));
        operation.value = names.includes(selected) ? selected : "";
      } catch { /* the search itself reports errors */ }
    }
    service.addEventListener("change", () => loadOperations(service.value, ""));

    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const q = new URLSearchParams();
      if (service.value) q.set("service", service.value);
      if (operation.value) q.set("operation", operation.value);
      if (tags.value.trim()) q.set("tags", tags.value.trim());
      q.set("lookback", lookback.value);
      if (minD.value.trim()) q.set("minDuration", minD.value.trim());
      if (maxD.value.trim()) q.set("maxDuration", maxD.value.trim());
      q.set("limit", limit.value || "20");
      history.pushState(null, "", `/search?${q}`);
      runSearch(q, results, token);
    });
    // Enter in any field submits (selects do not do it natively).
    form.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && e.target.tagName === "SELECT") { e.preventDefault(); form.requestSubmit(); }
    });

    let services = [];
    try { services = (await api("/api/services")).data || []; } catch (err) {
      results.append(h("div", { class: "error-box", text: `Could not load services: ${err.message}` }));
    }
    if (stale(token)) return;
    if (!services.length) service.append(h("option", { value: "", text: "No services yet" }));
    for (const sv of services) service.append(h("option", { value: sv, text: sv }));
    const wanted = params.get("service");
    service.value = wanted && services.includes(wanted) ? wanted : (services[0] || "");
    await loadOperations(service.value, params.get("operation") || "");
    if (stale(token)) return;
    if (params.has("service") || params.has("tags")) runSearch(params, results, token);
    else if (!services.length) results.append(h("div", { class: "panel empty" },
      h("p", { text: "No traces received yet." }),
      h("p", { class: "faint", text: "Point an OpenTelemetry exporter at this viewer (OTLP gRPC :4317 or HTTP :4318) and search again." })));
    else results.append(h("div", { class: "panel empty", text: "Pick a service and press Find Traces (or Enter)." }));
    service.focus();
  }

  function traceSummary(tr) {
    const byId = new Map(tr.spans.map((sp) => [sp.spanID, sp]));
    let start = Infinity, end = -Infinity, errors = 0;
    const services = new Map();
    let root = null;
    for (const sp of tr.spans) {
      start = Math.min(start, sp.startTime);
      end = Math.max(end, sp.startTime + sp.duration);
      if (isErrorSpan(sp)) errors++;
      const svc = (tr.processes[sp.processID] || {}).serviceName || "unknown";
      services.set(svc, (services.get(svc) || 0) + 1);
      const parent = sp.references.find((r) => r.refType === "CHILD_OF" && byId.has(r.spanID));
      if (!parent && (!root || sp.startTime < root.startTime)) root = sp;
    }
    root = root || tr.spans[0];
    const rootSvc = root ? (tr.processes[root.processID] || {}).serviceName : "";
    return { id: tr.traceID, start, duration: end - start, errors, services, spans: tr.spans.length,
      title: root ? `${rootSvc}: ${root.operationName}` : tr.traceID, rootSvc, rootOp: root ? root.operationName : "" };
  }

  async function runSearch(params, results, token) {
    results.replaceChildren(h("div", { class: "empty", text: "Searching…" }));
    const q = new URLSearchParams();
    for (const k of ["service", "operation", "lookback", "minDuration", "maxDuration", "limit"]) {
      if (params.get(k)) q.set(k, params.get(k));
    }
    const tags = parseLogfmt(params.get("tags") || "");
    if (Object.keys(tags).length) q.set("tags", JSON.stringify(tags));
    const lb = params.get("lookback");
    if (lb) {
      const now = Date.now() * 1000;
      q.set("end", String(now));
    }
    let body;
    try { body = await api(`/api/traces?${q}`); } catch (err) {
      if (stale(token)) return;
      results.replaceChildren(h("div", { class: "error-box", text: `Search failed: ${err.message}` }));
      return;
    }
    if (stale(token)) return;
    const traces = (body.data || []).map(traceSummary);
    const sortSel = h("select", { id: "sort", "aria-label": "Sort results" },
      [["recent", "Most Recent"], ["longest", "Longest First"], ["shortest", "Shortest First"],
        ["spans", "Most Spans"], ["errors", "Most Errors"]].map(([v, t]) => h("option", { value: v, text: t })));
    const list = h("div", { class: "trace-list", id: "trace-list" });
    const draw = () => {
      const sorted = [...traces];
      const by = {
        recent: (a, b) => b.start - a.start, longest: (a, b) => b.duration - a.duration,
        shortest: (a, b) => a.duration - b.duration, spans: (a, b) => b.spans - a.spans, errors: (a, b) => b.errors - a.errors,
      }[sortSel.value];
      sorted.sort(by);
      const maxDur = Math.max(1, ...traces.map((t) => t.duration));
      list.replaceChildren(...sorted.map((t) => {
        const pick = h("input", { type: "checkbox", class: "cmp-pick", "aria-label": `Compare trace ${t.id.slice(0, 7)}`, value: t.id,
          checked: picked.includes(t.id), onchange: () => {
            const i = picked.indexOf(t.id);
            if (pick.checked && i < 0) picked.push(t.id);
            if (!pick.checked && i >= 0) picked.splice(i, 1);
            while (picked.length > 2) picked.shift();
            for (const c of list.querySelectorAll(".cmp-pick")) c.checked = picked.includes(c.value);
            cmpBtn.disabled = picked.length !== 2;
          } });
        return h("div", { class: "result-wrap" }, resultItem(t, maxDur), h("label", { class: "cmp-label", title: "Pick two traces to compare" }, pick, "Compare"));
      }));
    };
    const picked = [];
    const cmpBtn = h("button", { class: "btn small", id: "compare-picked", type: "button", disabled: true, text: "Compare selected",
      title: "Tick two traces, then compare them side by side",
      onclick: () => { if (picked.length === 2) go(`/compare?a=${picked[0]}&b=${picked[1]}`); } });
    sortSel.addEventListener("change", draw);
    results.replaceChildren(
      h("div", { class: "results-head" }, h("h2", { text: `${traces.length} Trace${traces.length === 1 ? "" : "s"}` }), cmpBtn, sortSel),
      traces.length ? scatter(traces) : null,
      list);
    if (!traces.length) list.append(h("div", { class: "panel empty", text: "No trace matches. Widen the lookback or remove filters." }));
    else draw();
  }

  function resultItem(t, maxDur) {
    const bar = h("div", { class: "bar" });
    bar.style.width = `${Math.max(0.5, (t.duration / maxDur) * 100)}%`;
    const chips = [...t.services.entries()].sort((a, b) => b[1] - a[1]).map(([svc, n]) => {
      const dot = h("span", { class: "dot" });
      dot.style.background = colorOf(svc);
      return h("span", { class: "chip" }, dot, `${svc} (${n})`);
    });
    return h("a", { class: "panel result", href: `/trace/${t.id}`, "data-trace-id": t.id },
      h("div", { class: "result-top" }, bar,
        h("span", { class: "result-title", text: t.title }),
        h("span", { class: "result-id", text: t.id.slice(0, 7) }),
        h("span", { class: "result-dur", text: fmtDur(t.duration) })),
      h("div", { class: "result-body" },
        h("div", { class: "result-badges" },
          h("span", { class: "badge", text: `${t.spans} Span${t.spans === 1 ? "" : "s"}` }),
          t.errors ? h("span", { class: "badge err", text: `${t.errors} Error${t.errors === 1 ? "" : "s"}` }) : null),
        h("div", { class: "result-services" }, chips),
        h("div", { class: "result-time" }, h("strong", { text: fmtTime(t.start) }), h("br"), fmtAgo(t.start))));
  }

  // A duration-over-time scatter plot of the results, as in Jaeger.
  function scatter(traces) {
    const W = 1000, H = 150, L = 56, R = 12, T = 10, B = 22;
    const x0 = Math.min(...traces.map((t) => t.start)), x1 = Math.max(...traces.map((t) => t.start));
    const yMax = Math.max(1, ...traces.map((t) => t.duration));
    const sx = (v) => L + (x1 === x0 ? (W - L - R) / 2 : ((v - x0) / (x1 - x0)) * (W - L - R));
    const sy = (v) => H - B - (v / yMax) * (H - T - B);
    const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": "Trace durations over time" });
    for (const f of [0, 0.5, 1]) {
      const y = sy(yMax * f);
      svg.append(s("line", { x1: L, x2: W - R, y1: y, y2: y }), s("text", { x: L - 6, y: y + 3, "text-anchor": "end", text: fmtDur(yMax * f) }));
    }
    svg.append(s("text", { x: L, y: H - 6, text: fmtTime(x0).slice(11, 19) }), s("text", { x: W - R, y: H - 6, "text-anchor": "end", text: fmtTime(x1).slice(11, 19) }));
    for (const t of traces) {
      const c = t.errors ? "#dc2626" : colorOf(t.rootSvc || "");
      const dot = s("circle", { cx: sx(t.start), cy: sy(t.duration), r: Math.min(12, 3 + Math.sqrt(t.spans)), fill: c, stroke: c,
        onclick: () => go(`/trace/${t.id}`) });
      dot.append(s("title", { text: `${t.title}\n${fmtDur(t.duration)} · ${t.spans} spans` }));
      svg.append(dot);
    }
    return h("div", { class: "panel scatter" }, svg);
  }

  // ---------- trace ----------
  async function renderTrace(id, token) {
    remoteTraces.clear(); // linked traces may have grown since the last visit
    document.title = `Trace ${id.slice(0, 7)} · Patron Traces`;
    app.append(h("div", { class: "page" }, h("div", { class: "empty", text: "Loading trace…" })));
    let tr;
    try { tr = (await api(`/api/traces/${encodeURIComponent(id)}`)).data[0]; } catch (err) {
      if (stale(token)) return;
      app.replaceChildren(h("div", { class: "page" }, h("div", { class: "error-box", text: `Trace ${id}: ${err.message}` }),
        h("a", { href: "/search", class: "btn" }, icon("back"), "Back to search")));
      return;
    }
    if (stale(token)) return;
    const tv = new TraceView(tr);
    tv.mount();
    // Logs come second: the trace shows at once, and a viewer without logs
    // (or an older one) still shows the trace.
    try {
      const body = await api(`/api/traces/${encodeURIComponent(tr.traceID)}/logs`);
      if (!stale(token)) tv.setLogs((body.data || []).map(normLog));
    } catch { /* no logs */ }
  }

  // resolveRemote finds the span a link in another trace points at, so the
  // link can name it; one request per trace, however many links point there.
  const remoteTraces = new Map();
  function resolveRemote(traceID, spanID) {
    if (!remoteTraces.has(traceID)) {
      remoteTraces.set(traceID, api(`/api/traces/${encodeURIComponent(traceID)}`).then((b) => b.data && b.data[0]).catch(() => null));
    }
    return remoteTraces.get(traceID).then((tr) => {
      if (!tr) return null;
      const sp = tr.spans.find((x) => x.spanID === spanID);
      const title = traceSummary(tr).title;
      return { title, span: sp, service: sp ? (tr.processes[sp.processID] || {}).serviceName || "unknown" : "" };
    });
  }

  // criticalPath finds the chain of spans that sets the trace's end-to-end
  // latency. A span's successors are its children and the spans of this
  // trace that link to it (a consumer linked to its producer), so the path
  // follows asynchronous hand-offs that end after the span that started
  // them. Walking back from the end of the trace, each span on the path
  // waits on the successor that finished last before the cursor; the time
  // before that, back to the successor's start, is spent on earlier
  // successors or in the span itself. The result maps each span on the path
  // to the intervals (µs) in which it is the one holding up the trace.
  // Iterative, with guards, so a hostile trace (deep, or with cycles)
  // cannot overflow the stack or loop.
  function criticalPath(tv) {
    const end = (n) => n.span.startTime + n.span.duration;
    const next = new Map();
    for (const n of tv.byId.values()) next.set(n, new Set(n.children));
    for (const n of tv.byId.values()) {
      for (const r of n.span.references) {
        if (r.refType !== "FOLLOWS_FROM" || r.traceID !== tv.tr.traceID || r.spanID === n.span.spanID) continue;
        const from = tv.byId.get(r.spanID);
        if (from) next.get(from).add(n);
      }
    }
    // Effective end: when a span and everything it set off are done.
    const eff = new Map();
    for (const root of tv.byId.values()) {
      if (eff.has(root)) continue;
      const stack = [[root, false]];
      const onStack = new Set();
      while (stack.length) {
        const [n, done] = stack.pop();
        if (done) {
          let e = end(n);
          for (const c of next.get(n)) if (eff.has(c)) e = Math.max(e, eff.get(c));
          eff.set(n, e); onStack.delete(n);
          continue;
        }
        if (eff.has(n) || onStack.has(n)) continue; // done, or a cycle
        onStack.add(n);
        stack.push([n, true]);
        for (const c of next.get(n)) if (!eff.has(c) && !onStack.has(c)) stack.push([c, false]);
      }
    }
    const roots = tv.roots.length ? tv.roots : [...tv.byId.values()];
    let start = null;
    for (const r of roots) if (!start || eff.get(r) > eff.get(start) || (eff.get(r) === eff.get(start) && r.span.startTime < start.span.startTime)) start = r;
    const path = new Map();
    if (!start) return path;
    const seg = (n, a, b) => {
      a = Math.max(a, n.span.startTime); b = Math.min(b, end(n));
      if (b > a) path.get(n).push([a, b]);
    };
    const frames = [];
    const enter = (n, cursor) => {
      path.set(n, []);
      const kids = [...next.get(n)].filter((k) => !path.has(k)).sort((a, b) => eff.get(b) - eff.get(a) || b.span.startTime - a.span.startTime);
      frames.push({ n, cursor: Math.min(cursor, eff.get(n)), kids, i: 0 });
    };
    enter(start, eff.get(start));
    while (frames.length) {
      const f = frames[frames.length - 1];
      let k = null;
      while (f.i < f.kids.length) {
        const c = f.kids[f.i++];
        if (!path.has(c) && eff.get(c) <= f.cursor) { k = c; break; }
      }
      if (!k) { seg(f.n, f.n.span.startTime, f.cursor); frames.pop(); continue; }
      seg(f.n, eff.get(k), f.cursor);
      const c = f.cursor;
      f.cursor = Math.min(f.cursor, k.span.startTime);
      enter(k, c);
    }
    for (const segs of path.values()) segs.reverse();
    return path;
  }

  class TraceView {
    constructor(tr) {
      this.tr = tr;
      this.sum = traceSummary(tr);
      registerServices([...this.sum.services.keys()]);
      this.byId = new Map();
      this.collapsed = new Set();
      this.openDetails = new Set();
      for (const sp of tr.spans) {
        const proc = tr.processes[sp.processID] || { serviceName: "unknown", tags: [] };
        this.byId.set(sp.spanID, { span: sp, proc, service: proc.serviceName, children: [], depth: 0, parent: null,
          error: isErrorSpan(sp), kind: spanKind(sp) });
      }
      this.roots = [];
      for (const n of this.byId.values()) {
        const ref = n.span.references.find((r) => r.refType === "CHILD_OF" && r.traceID === tr.traceID && this.byId.has(r.spanID));
        if (ref && ref.spanID !== n.span.spanID) { n.parent = this.byId.get(ref.spanID); n.parent.children.push(n); }
        else this.roots.push(n);
      }
      const byStart = (a, b) => a.span.startTime - b.span.startTime;
      this.roots.sort(byStart);
      this.order = [];
      const seen = new Set();
      const walk = (n, d) => {
        if (seen.has(n)) return; // a cycle in hostile data must not hang the page
        seen.add(n); n.depth = d; this.order.push(n);
        n.children.sort(byStart);
        for (const c of n.children) walk(c, d + 1);
      };
      for (const r of this.roots) walk(r, 0);
      for (const n of this.byId.values()) if (!seen.has(n)) { n.parent = null; walk(n, 0); }
      this.start = this.sum.start;
      this.total = Math.max(1, this.sum.duration);
      this.maxDepth = Math.max(0, ...this.order.map((n) => n.depth)) + 1;
      this.cp = criticalPath(this);
      this.showCP = true;
      this.logs = [];
      this.logsBySpan = new Map();
      this.tab = new URLSearchParams(location.search).get("tab") === "logs" ? "logs" : "timeline";
    }

    mount() {
      const sum = this.sum;
      const svcChips = [...sum.services.entries()].map(([svc, n]) => {
        const dot = h("span", { class: "dot" }); dot.style.background = colorOf(svc);
        return h("span", { class: "chip" }, dot, `${svc} (${n})`);
      });
      this.find = h("input", { type: "search", placeholder: "Find in trace…", "data-slash": true, "aria-label": "Find spans in this trace", spellcheck: "false" });
      this.find.addEventListener("input", () => this.applyFind());
      this.find.addEventListener("keydown", (e) => {
        if (e.key === "Enter") { e.preventDefault(); const m = this.rowsEl.querySelector(".wf-row.match"); if (m) m.focus(); }
        if (e.key === "Escape") { this.find.value = ""; this.applyFind(); this.focusRow(this.order[0]); }
      });
      const head = h("div", { class: "panel trace-head" },
        h("div", { class: "trace-title" },
          h("h1", { text: sum.title }),
          h("code", { class: "muted", text: this.tr.traceID }),
          h("div", { class: "trace-tools" }, this.find,
            h("button", { class: "btn small", type: "button", text: "Expand all", onclick: () => { this.collapsed.clear(); this.draw(); } }),
            h("button", { class: "btn small", type: "button", text: "Collapse all",
              onclick: () => { for (const n of this.order) if (n.children.length && n.depth > 0) this.collapsed.add(n.span.spanID); this.draw(); } }),
            this.cpButton = h("button", { class: "btn small cp-toggle", type: "button", "aria-pressed": "true", title: "Highlight the chain of spans that sets the trace's latency",
              onclick: () => { this.showCP = !this.showCP; this.cpButton.setAttribute("aria-pressed", String(this.showCP)); this.draw(); } },
            h("span", { class: "cp-swatch" }), "Critical path"),
            h("a", { class: "btn small", href: `/compare?a=${this.tr.traceID}`, text: "Compare" }),
            h("a", { class: "btn small", href: `/api/traces/${this.tr.traceID}`, target: "_blank", text: "JSON" }))),
        h("div", { class: "trace-meta" },
          h("span", {}, "Trace Start ", h("b", { text: fmtTime(sum.start) })),
          h("span", {}, "Duration ", h("b", { text: fmtDur(sum.duration) })),
          h("span", {}, "Services ", h("b", { text: String(sum.services.size) })),
          h("span", {}, "Depth ", h("b", { text: String(this.maxDepth) })),
          h("span", {}, "Total Spans ", h("b", { text: String(sum.spans) })),
          h("span", { class: "cp-meta" }, "Critical Path ", h("b", { text: `${this.cp.size} span${this.cp.size === 1 ? "" : "s"}` })),
          sum.errors ? h("span", { class: "status-err", text: `${sum.errors} error${sum.errors === 1 ? "" : "s"}` }) : null),
        h("div", { class: "trace-services" }, svcChips));

      const ticks = h("div", { class: "ticks" });
      for (let i = 0; i <= 4; i++) {
        const t = h("div", { class: `tick${i === 4 ? " last" : ""}`, text: fmtDur((this.total * i) / 4) });
        t.style.left = `${i * 25}%`;
        ticks.append(t);
      }
      this.rowsEl = h("div", { class: "wf-rows", role: "tree", "aria-label": "Spans" });
      this.rowsEl.addEventListener("keydown", (e) => this.onKey(e));
      const wf = h("div", { class: "panel waterfall", id: "waterfall" },
        h("div", { class: "wf-head" }, h("div", { class: "name-cell", text: "Service & Operation" }), ticks), this.rowsEl);
      this.tabTimeline = h("button", { class: "tab", type: "button", role: "tab", id: "tab-timeline", text: "Timeline", onclick: () => this.setTab("timeline") });
      this.tabLogs = h("button", { class: "tab", type: "button", role: "tab", id: "tab-logs", text: "Logs (0)", onclick: () => this.setTab("logs") });
      this.logsPanel = h("div", { class: "panel trace-logs", id: "trace-logs", role: "tabpanel" });
      this.wf = wf;
      app.replaceChildren(h("div", { class: "page" }, head, h("div", { class: "tabs", role: "tablist" }, this.tabTimeline, this.tabLogs), wf, this.logsPanel));
      this.setTab(this.tab);

      // A link from another trace may name a span: open and show it.
      const want = new URLSearchParams(location.search).get("span") || (location.hash.startsWith("#span-") ? location.hash.slice(6) : "");
      if (want && this.byId.has(want)) {
        this.openDetails.add(want);
        for (let p = this.byId.get(want).parent; p; p = p.parent) this.collapsed.delete(p.span.spanID);
      }
      this.draw();
      const target = want && this.byId.has(want) ? this.byId.get(want) : this.order[0];
      if (target) {
        const row = this.focusRow(target);
        if (row && want) { row.scrollIntoView({ block: "center" }); row.classList.add("flash"); }
      }
    }

    setLogs(logs) {
      this.logs = logs.filter((l) => !l.traceID || l.traceID === this.tr.traceID).sort((a, b) => a.ts - b.ts);
      this.logsBySpan = new Map();
      for (const l of this.logs) if (l.spanID) (this.logsBySpan.get(l.spanID) || this.logsBySpan.set(l.spanID, []).get(l.spanID)).push(l);
      this.tabLogs.textContent = `Logs (${this.logs.length})`;
      this.drawLogs();
      this.draw();
    }

    setTab(tab) {
      this.tab = tab;
      this.tabTimeline.setAttribute("aria-selected", String(tab === "timeline"));
      this.tabLogs.setAttribute("aria-selected", String(tab === "logs"));
      this.wf.hidden = tab !== "timeline";
      this.logsPanel.hidden = tab !== "logs";
    }

    // drawLogs lists the trace's records in time order; each names its span,
    // which opens in the timeline.
    drawLogs() {
      if (!this.logs.length) { this.logsPanel.replaceChildren(h("div", { class: "empty", text: "No log records for this trace." })); return; }
      this.logsPanel.replaceChildren(h("div", { class: "trace-logs-head" },
        h("a", { href: `/logs?traceID=${encodeURIComponent(this.tr.traceID)}&lookback=168h`, text: "Search these records on the Logs page" })), ...this.logs.map((l) => {
        const n = this.byId.get(l.spanID);
        const link = n ? h("a", { class: "log-span", href: traceHref(this.tr.traceID, l.spanID), dataset: { spanId: l.spanID },
          onclick: (e) => { e.preventDefault(); e.stopPropagation(); this.setTab("timeline"); this.reveal(n); } },
        icon("to", 12), n.span.operationName) : null;
        return logLine(l, this.start, { service: true, link });
      }));
    }

    visible() {
      const out = [];
      const hidden = (n) => { for (let p = n.parent; p; p = p.parent) if (this.collapsed.has(p.span.spanID)) return true; return false; };
      for (const n of this.order) if (!hidden(n)) out.push(n);
      return out;
    }

    draw() {
      const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.spanId : null;
      const frag = document.createDocumentFragment();
      for (const n of this.visible()) {
        frag.append(this.row(n));
        if (this.openDetails.has(n.span.spanID)) frag.append(this.detail(n));
      }
      this.rowsEl.replaceChildren(frag);
      this.applyFind();
      if (focused && this.byId.has(focused)) this.focusRow(this.byId.get(focused));
    }

    row(n) {
      const sp = n.span;
      const hasKids = n.children.length > 0;
      const open = !this.collapsed.has(sp.spanID);
      const toggle = h("button", { class: `toggle${hasKids ? (open ? " open" : "") : " leaf"}`, type: "button", tabindex: "-1",
        "aria-label": open ? "Collapse" : "Expand",
        onclick: (e) => { e.stopPropagation(); this.toggleCollapse(n); } }, icon("chevron", 12));
      const indent = h("span", { class: "indent" }); indent.style.width = `${n.depth * 14}px`;
      const stripe = h("span", { class: "svc-stripe" }); stripe.style.background = colorOf(n.service);
      const left = ((sp.startTime - this.start) / this.total) * 100;
      const width = (sp.duration / this.total) * 100;
      const bar = h("div", { class: `span-bar${n.error ? " error" : ""}`, title: `${n.service}: ${sp.operationName} · ${fmtDur(sp.duration)}` });
      bar.style.left = `${left}%`; bar.style.width = `${Math.max(width, 0.15)}%`; bar.style.background = colorOf(n.service);
      // The duration label goes after the bar, before it when the bar ends
      // near the right edge, or inside it when the bar fills the row.
      const place = left + width <= 80 ? "right" : left >= 12 ? "left" : "inside";
      const label = h("span", { class: `span-label ${place}`, text: fmtDur(sp.duration) });
      if (place === "right") label.style.left = `${left + width}%`;
      else if (place === "left") label.style.left = `${left}%`;
      else label.style.right = `${Math.max(0, 100 - left - width)}%`;
      const cell = h("div", { class: "bar-cell" });
      for (const f of [25, 50, 75]) { const g = h("div", { class: "gridline" }); g.style.left = `${f}%`; cell.append(g); }
      cell.append(bar, label);
      const cp = this.showCP ? this.cp.get(n) : null;
      if (this.showCP && !cp) bar.classList.add("off-cp");
      for (const [a, b] of cp || []) {
        const g = h("div", { class: "cp-seg", title: `critical path: ${fmtDur(b - a)}` });
        g.style.left = `${((a - this.start) / this.total) * 100}%`;
        g.style.width = `${Math.max(((b - a) / this.total) * 100, 0.15)}%`;
        cell.append(g);
      }
      for (const lg of sp.logs || []) {
        const ev = h("div", { class: "span-ev", title: lg.fields.map((f) => `${f.key}=${tagValue(f)}`).join("\n") });
        ev.style.left = `${((lg.timestamp - this.start) / this.total) * 100}%`;
        cell.append(ev);
      }
      for (const lg of this.logsBySpan.get(sp.spanID) || []) {
        const m = h("div", { class: `span-log sev-${lg.sev.toLowerCase()}`, title: `${lg.sev} ${lg.body}` });
        m.style.left = `${((lg.ts - this.start) / this.total) * 100}%`;
        cell.append(m);
      }
      const links = sp.references.filter((r) => r.refType === "FOLLOWS_FROM");
      const row = h("div", { class: `wf-row${this.openDetails.has(sp.spanID) ? " selected" : ""}${cp ? " cp" : ""}`, role: "treeitem", tabindex: "-1",
        "aria-level": String(n.depth + 1), "aria-expanded": hasKids ? String(open) : null,
        "aria-selected": String(this.openDetails.has(sp.spanID)),
        dataset: { spanId: sp.spanID }, onclick: () => this.toggleDetail(n) },
      h("div", { class: "name-cell" }, indent, toggle, stripe,
        h("span", { class: "svc", text: n.service }),
        h("span", { class: "op", text: sp.operationName, title: sp.operationName }),
        n.kind && n.kind !== "internal" ? h("span", { class: `kind ${n.kind}`, title: `span.kind = ${n.kind}`, text: n.kind.toUpperCase() }) : null,
        links.length ? this.linkBadge(links) : null,
        this.logsBySpan.has(sp.spanID) ? h("span", { class: "log-badge", title: `${this.logsBySpan.get(sp.spanID).length} log record${this.logsBySpan.get(sp.spanID).length === 1 ? "" : "s"}` },
          icon("logs", 12), String(this.logsBySpan.get(sp.spanID).length)) : null,
        n.error ? h("span", { class: "err-icon", title: "error", text: "!" }) : null),
      cell);
      return row;
    }

    detail(n) {
      const sp = n.span;
      const kv = (tags, errKeys) => h("table", { class: "kv" }, h("tbody", {}, tags.map((t) =>
        h("tr", { class: errKeys && errKeys.has(t.key) ? "err" : "" }, h("td", { class: "k", text: t.key }), h("td", { class: "v", text: tagValue(t) })))));
      const section = (title, count, body, open) => h("details", { class: "section", open: open || false },
        h("summary", {}, title, h("span", { class: "count", text: `(${count})` })), body);
      const status = sp.tags.find((t) => t.key === "otel.status_code");
      const errKeys = new Set(n.error ? ["error", "otel.status_code", "otel.status_description", "exception.message"] : []);

      const refs = sp.references.map((r) => this.refItem(r));
      // Spans of this trace that link here make the relation visible both ways.
      const backlinks = [...this.byId.values()].filter((o) => o.span.references.some((r) => r.refType === "FOLLOWS_FROM" && r.traceID === this.tr.traceID && r.spanID === sp.spanID))
        .map((o) => this.refItem({ refType: "LINKED_FROM", traceID: this.tr.traceID, spanID: o.span.spanID }));

      const events = (sp.logs || []).map((lg) => {
        const name = lg.fields.find((f) => f.key === "event");
        const rest = lg.fields.filter((f) => f !== name);
        return h("div", { class: "event" },
          h("div", { class: "event-head" }, h("span", { class: "faint", text: `+${fmtDur(lg.timestamp - this.start)}` }), name ? tagValue(name) : "event"),
          rest.length ? kv(rest) : null);
      });

      return h("div", { class: "detail", role: "group", "aria-label": `Details of ${sp.operationName}`, onclick: (e) => e.stopPropagation() },
        h("div", { class: "detail-head" },
          h("h3", { text: sp.operationName }),
          h("div", { class: "meta" },
            h("span", {}, "Service ", h("b", { text: n.service })),
            h("span", {}, "Duration ", h("b", { text: fmtDur(sp.duration) })),
            h("span", {}, "Start ", h("b", { text: `+${fmtDur(sp.startTime - this.start)}` })),
            n.kind ? h("span", {}, "Kind ", h("b", { text: n.kind })) : null,
            this.cp.has(n) ? h("span", { class: "cp-meta" }, "On critical path ", h("b", { text: fmtDur(this.cp.get(n).reduce((a, [x, y]) => a + y - x, 0)) })) : null,
            status ? h("span", { class: n.error ? "status-err" : "" }, "Status ", h("b", { text: String(status.value) })) : null)),
        section("Attributes", sp.tags.length, kv(sp.tags, errKeys), true),
        section(`Resource · ${n.service}`, n.proc.tags.length, kv(n.proc.tags), false),
        events.length ? section("Events", events.length, events, true) : null,
        this.logsBySpan.has(sp.spanID) ? section("Logs", this.logsBySpan.get(sp.spanID).length,
          h("div", { class: "span-logs" }, this.logsBySpan.get(sp.spanID).map((l) => logLine(l, this.start))), true) : null,
        refs.length || backlinks.length ? section("References & Links", refs.length + backlinks.length, h("ul", { class: "refs" }, refs, backlinks), true) : null,
        h("div", { class: "span-ids" }, "Span ID ", h("code", { text: sp.spanID }), " · Trace ID ", h("code", { text: sp.traceID })));
    }

    // linkBadge marks a row whose span has links, saying where they go.
    linkBadge(links) {
      const here = links.filter((r) => r.traceID === this.tr.traceID).length;
      const parts = [];
      if (here) parts.push(`${here} to this trace`);
      if (links.length - here) parts.push(`${links.length - here} to ${links.length - here === 1 ? "another trace" : "other traces"}`);
      return h("span", { class: `link-badge${here === links.length ? "" : " external"}`, title: `${links.length} link${links.length === 1 ? "" : "s"}: ${parts.join(", ")}` },
        icon("link", 12), links.length > 1 ? String(links.length) : null);
    }

    // refItem is one reference in the span details: what kind it is, whether
    // it stays in this trace, the span it points at (looked up in the store
    // for other traces) and the IDs, as a link that opens that span.
    refItem(r) {
      const same = r.traceID === this.tr.traceID;
      const target = same ? this.byId.get(r.spanID) : null;
      const kind = { CHILD_OF: "Parent", FOLLOWS_FROM: "Link", LINKED_FROM: "Linked from" }[r.refType] || r.refType;
      const what = h("span", { class: "ref-target" });
      if (target) what.append(dotOf(target.service), h("b", { text: target.service }), " ", target.span.operationName);
      else if (same) what.append(h("span", { class: "faint", text: "span not received (yet)" }));
      else {
        what.append(h("span", { class: "faint", text: "looking up…" }));
        resolveRemote(r.traceID, r.spanID).then((res) => {
          if (!res) what.replaceChildren(h("span", { class: "faint", text: "trace not in the store" }));
          else if (!res.span) what.replaceChildren(h("span", { class: "faint", text: `span not in that trace (${res.title})` }));
          else what.replaceChildren(dotOf(res.service), h("b", { text: res.service }), " ", res.span.operationName);
        });
      }
      const scope = h("span", { class: `scope ${same ? "same" : "other"}`, text: same ? "this trace" : "other trace" });
      const ids = h("span", { class: "ref-ids" },
        same ? null : h("span", {}, "trace ", h("code", { title: r.traceID, text: r.traceID })),
        h("span", {}, "span ", h("code", { text: r.spanID })));
      const a = h("a", { class: `ref${same ? "" : " other"}`, href: `/trace/${r.traceID}?span=${r.spanID}`, "data-ref": r.refType,
        "data-same-trace": String(same), title: same ? "Show this span" : `Open trace ${r.traceID} at span ${r.spanID}`,
        onclick: (e) => {
          if (!same) return; // the global handler navigates to the other trace
          e.preventDefault(); e.stopPropagation();
          if (target) this.reveal(target);
        } },
      h("span", { class: `badge ref-kind ${r.refType.toLowerCase()}`, text: kind }), icon(same ? "to" : "external", 13, "faint"), scope, what, ids);
      return h("li", {}, a);
    }

    reveal(n) {
      for (let p = n.parent; p; p = p.parent) this.collapsed.delete(p.span.spanID);
      this.openDetails.add(n.span.spanID);
      this.draw();
      const row = this.focusRow(n);
      if (row) { row.scrollIntoView({ block: "center" }); row.classList.remove("flash"); void row.offsetWidth; row.classList.add("flash"); }
    }

    rowOf(n) { return this.rowsEl.querySelector(`.wf-row[data-span-id="${CSS.escape(n.span.spanID)}"]`); }
    focusRow(n) {
      if (!n) return null;
      const row = this.rowOf(n);
      if (row) { for (const r of this.rowsEl.querySelectorAll(".wf-row[tabindex='0']")) r.tabIndex = -1; row.tabIndex = 0; row.focus({ preventScroll: false }); }
      return row;
    }
    toggleCollapse(n) {
      if (!n.children.length) return;
      if (this.collapsed.has(n.span.spanID)) this.collapsed.delete(n.span.spanID); else this.collapsed.add(n.span.spanID);
      this.draw(); this.focusRow(n);
    }
    toggleDetail(n) {
      if (this.openDetails.has(n.span.spanID)) this.openDetails.delete(n.span.spanID); else this.openDetails.add(n.span.spanID);
      this.draw(); this.focusRow(n);
    }

    // Tree keyboard model (WAI-ARIA): Up/Down move, Right expands or enters,
    // Left collapses or goes to the parent, Enter/Space opens details.
    onKey(e) {
      const row = e.target.closest(".wf-row");
      if (!row || e.target !== row) return;
      const n = this.byId.get(row.dataset.spanId);
      const vis = this.visible();
      const i = vis.indexOf(n);
      let handled = true;
      switch (e.key) {
        case "ArrowDown": case "j": this.focusRow(vis[Math.min(vis.length - 1, i + 1)]); break;
        case "ArrowUp": case "k": this.focusRow(vis[Math.max(0, i - 1)]); break;
        case "Home": this.focusRow(vis[0]); break;
        case "End": this.focusRow(vis[vis.length - 1]); break;
        case "ArrowRight":
          if (n.children.length && this.collapsed.has(n.span.spanID)) this.toggleCollapse(n);
          else if (n.children.length) this.focusRow(n.children[0]);
          break;
        case "ArrowLeft":
          if (n.children.length && !this.collapsed.has(n.span.spanID)) this.toggleCollapse(n);
          else if (n.parent) this.focusRow(n.parent);
          break;
        case "Enter": case " ": this.toggleDetail(n); break;
        default: handled = false;
      }
      if (handled) e.preventDefault();
    }

    applyFind() {
      const q = (this.find.value || "").trim().toLowerCase();
      for (const row of this.rowsEl.querySelectorAll(".wf-row")) {
        const n = this.byId.get(row.dataset.spanId);
        const hit = q && (n.service.toLowerCase().includes(q) || n.span.operationName.toLowerCase().includes(q) || n.span.spanID.startsWith(q) ||
          n.span.tags.some((t) => t.key.toLowerCase().includes(q) || tagValue(t).toLowerCase().includes(q)));
        row.classList.toggle("match", !!hit);
        row.classList.toggle("dim", !!q && !hit);
      }
    }
  }

  // ---------- logs ----------
  // Search by service, severity (at least), text, attribute (key=value,
  // logfmt like the trace search) and time range, all matched by the API,
  // so that the limit counts matching records: filtering the returned page
  // here would miss matches older than the page.
  async function renderLogs(token) {
    document.title = "Logs · Patron Traces";
    const params = new URLSearchParams(location.search);
    const field = (label, input) => h("div", { class: "field" }, h("label", { for: input.id, text: label }), input);
    const service = h("select", { id: "log-service", name: "service" }, h("option", { value: "", text: "All services" }));
    const severity = h("select", { id: "log-severity", name: "severity" }, h("option", { value: "", text: "Any" }),
      SEVERITIES.map((x) => h("option", { value: x, text: `${x} and above` })));
    severity.value = params.get("severity") || "";
    const q = h("input", { id: "log-q", name: "q", type: "search", placeholder: "text in the message", value: params.get("q") || "", "data-slash": true, spellcheck: "false" });
    const attr = h("input", { id: "log-attr", name: "attr", placeholder: "user.id=42 http.route=/api", value: params.get("attr") || "", spellcheck: "false" });
    const traceID = h("input", { id: "log-trace", name: "traceID", placeholder: "trace ID", value: params.get("traceID") || "", spellcheck: "false" });
    const lookback = h("select", { id: "log-lookback", name: "lookback" }, LOOKBACKS.map(([v, t]) => h("option", { value: v, text: t })));
    lookback.value = params.get("lookback") || "1h";
    const limit = h("input", { id: "log-limit", name: "limit", type: "number", min: "1", max: "5000", value: params.get("limit") || "200" });
    const form = h("form", { class: "panel search-form", id: "log-form" }, h("h2", { text: "Search logs" }),
      field("Service", service), field("Severity", severity), field("Text", q), field("Attributes", attr), field("Trace ID", traceID),
      field("Lookback", lookback), field("Limit", limit), h("button", { class: "btn primary", type: "submit", id: "log-find", text: "Find Logs" }));
    const results = h("section", { class: "results", id: "log-results", "aria-live": "polite" });
    app.append(h("div", { class: "page search-layout" }, form, results));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const p = new URLSearchParams();
      for (const [k, el] of [["service", service], ["severity", severity], ["q", q], ["attr", attr], ["traceID", traceID], ["lookback", lookback], ["limit", limit]]) {
        if (el.value.trim()) p.set(k, el.value.trim());
      }
      history.pushState(null, "", `/logs?${p}`);
      runLogSearch(p, results, token);
    });
    let services = [];
    try { services = (await api("/api/services")).data || []; } catch { /* the search reports errors */ }
    if (stale(token)) return;
    for (const sv of services) service.append(h("option", { value: sv, text: sv }));
    service.value = services.includes(params.get("service")) ? params.get("service") : "";
    runLogSearch(params, results, token);
  }

  const LOOKBACK_US = (v) => {
    const m = /^(\d+)([mhd])$/.exec(v || "");
    return m ? Number(m[1]) * { m: 60e6, h: 3600e6, d: 86400e6 }[m[2]] : 3600e6;
  };

  async function runLogSearch(params, results, token) {
    results.replaceChildren(h("div", { class: "empty", text: "Searching…" }));
    const end = Date.now() * 1000;
    const q = new URLSearchParams();
    for (const k of ["service", "severity", "q", "traceID"]) if (params.get(k)) q.set(k, params.get(k));
    const want = parseLogfmt(params.get("attr") || "");
    if (Object.keys(want).length) q.set("tags", JSON.stringify(want));
    q.set("start", String(Math.floor(end - LOOKBACK_US(params.get("lookback") || "1h"))));
    q.set("end", String(end));
    q.set("limit", params.get("limit") || "200");
    let recs;
    try { recs = ((await api(`/api/logs?${q}`)).data || []).map(normLog); } catch (err) {
      if (!stale(token)) results.replaceChildren(h("div", { class: "error-box", text: `Log search failed: ${err.message}` }));
      return;
    }
    if (stale(token)) return;
    recs.sort((a, b) => b.ts - a.ts);
    registerServices(recs.map((r) => r.service));
    const bySev = new Map();
    for (const r of recs) bySev.set(r.sev, (bySev.get(r.sev) || 0) + 1);
    results.replaceChildren(
      h("div", { class: "results-head" }, h("h2", { text: `${recs.length} Log record${recs.length === 1 ? "" : "s"}` }),
        h("div", { class: "sev-counts" }, SEVERITIES.filter((x) => bySev.has(x)).map((x) => h("span", {}, sevBadge(x), ` ${bySev.get(x)}`)))),
      recs.length ? logHistogram(recs) : null,
      h("div", { class: "panel log-list", id: "log-list" }, recs.length ? recs.map((r) => logLine(r, 0, { service: true,
        link: r.traceID ? h("a", { class: "log-trace", href: traceHref(r.traceID, r.spanID), dataset: { traceId: r.traceID, spanId: r.spanID },
          title: `Open trace ${r.traceID}${r.spanID ? ` at span ${r.spanID}` : ""}` }, icon("to", 12), `trace ${r.traceID.slice(0, 7)}`) : null }))
          : h("div", { class: "empty", text: "No log record matches. Widen the lookback or remove filters." })));
  }

  // logHistogram: records per time bucket, stacked by severity.
  function logHistogram(recs) {
    const W = 1000, H = 90, B = 18, N = 60;
    const t0 = Math.min(...recs.map((r) => r.ts)), t1 = Math.max(...recs.map((r) => r.ts)) + 1;
    const step = (t1 - t0) / N;
    const buckets = Array.from({ length: N }, () => ({}));
    for (const r of recs) { const b = buckets[Math.min(N - 1, Math.floor((r.ts - t0) / step))]; b[r.sev] = (b[r.sev] || 0) + 1; }
    const max = Math.max(1, ...buckets.map((b) => Object.values(b).reduce((a, x) => a + x, 0)));
    const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": "Log records over time" });
    const bw = W / N;
    buckets.forEach((b, i) => {
      let y = H - B;
      for (const sev of SEVERITIES) {
        if (!b[sev]) continue;
        const hh = (b[sev] / max) * (H - B - 6);
        y -= hh;
        const r = s("rect", { class: `hist sev-${sev.toLowerCase()}`, x: i * bw + 1, y, width: bw - 2, height: hh });
        r.append(s("title", { text: `${b[sev]} ${sev}` }));
        svg.append(r);
      }
    });
    svg.append(s("text", { x: 2, y: H - 4, text: fmtTime(t0).slice(11, 19) }), s("text", { x: W - 2, y: H - 4, "text-anchor": "end", text: fmtTime(t1).slice(11, 19) }));
    return h("div", { class: "panel scatter log-hist" }, svg);
  }

  // ---------- charts ----------
  // lineChart draws series of [time µs, value] as SVG polylines; a NaN or
  // missing value breaks the line. Drawn here, not by a library, so the
  // page works offline.
  function lineChart(series, opts = {}) {
    const W = opts.width || 360, H = opts.height || 130, L = 48, R = 8, T = 8, B = 20;
    const pts = series.flatMap((x) => x.points);
    const xs = pts.map((p) => p[0]);
    const x0 = opts.x0 ?? Math.min(...xs), x1 = opts.x1 ?? Math.max(...xs);
    const vals = pts.map((p) => p[1]).filter((v) => Number.isFinite(v));
    const yMax = Math.max(opts.yMin || 0, ...vals) || 1;
    const sx = (v) => L + (x1 === x0 ? (W - L - R) / 2 : ((v - x0) / (x1 - x0)) * (W - L - R));
    const sy = (v) => H - B - (v / yMax) * (H - T - B);
    const fmt = opts.fmt || ((v) => String(+v.toPrecision(3)));
    const svg = s("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": opts.label || "chart" });
    for (const f of [0, 0.5, 1]) {
      const y = sy(yMax * f);
      svg.append(s("line", { class: "grid", x1: L, x2: W - R, y1: y, y2: y }), s("text", { class: "axis", x: L - 5, y: y + 3, "text-anchor": "end", text: fmt(yMax * f) }));
    }
    if (Number.isFinite(x0) && Number.isFinite(x1)) {
      svg.append(s("text", { class: "axis", x: L, y: H - 5, text: fmtTime(x0).slice(11, 16) }),
        s("text", { class: "axis", x: W - R, y: H - 5, "text-anchor": "end", text: fmtTime(x1).slice(11, 16) }));
    }
    for (const sr of series) {
      let d = "", pen = false, n = 0;
      for (const [t, v] of sr.points) {
        if (!Number.isFinite(v)) { pen = false; continue; }
        d += `${pen ? "L" : "M"}${sx(t).toFixed(1)},${sy(v).toFixed(1)} `; pen = true; n++;
      }
      const g = s("g", { class: "series", "data-series": sr.name });
      if (d) g.append(s("path", { d, stroke: sr.color, fill: "none", "stroke-width": "1.8" }));
      if (n <= 30) for (const [t, v] of sr.points) if (Number.isFinite(v)) g.append(s("circle", { cx: sx(t), cy: sy(v), r: 2.2, fill: sr.color }));
      g.append(s("title", { text: `${sr.name}: ${n} point${n === 1 ? "" : "s"}` }));
      svg.append(g);
    }
    if (!vals.length) svg.append(s("text", { class: "axis", x: W / 2, y: H / 2, "text-anchor": "middle", text: "no data" }));
    return svg;
  }
  function chartBox(title, series, opts) {
    const legend = series.length > 1 ? h("div", { class: "legend" }, series.map((x) => {
      const sw = h("span", { class: "sw" }); sw.style.background = x.color;
      return h("span", {}, sw, x.name);
    })) : null;
    return h("div", { class: "chart-box", dataset: { chart: opts.id || title } }, h("div", { class: "chart-title", text: title }), legend, lineChart(series, opts));
  }

  // ---------- monitor ----------
  // RED per service, then per operation of a service, from Jaeger's metrics
  // query API (so Jaeger UI's Monitor tab reads the same endpoints). Each
  // point covers a sliding window of a twelfth of the range (ratePer), so a
  // service called every few minutes draws a line rather than spikes; calls
  // come per second and are shown per minute.
  function metricSeries(body) {
    const fam = body && body.metrics ? body : (body && body.data) || {};
    return (fam.metrics || []).map((m) => {
      const labels = Object.fromEntries((m.labels || []).map((l) => [l.name, l.value]));
      const points = (m.metricPoints || []).map((p) => {
        const g = p.gaugeValue || {};
        const v = g.doubleValue ?? g.value ?? p.value;
        return [toMicros(p.timestamp), v === "NaN" || v === null || v === undefined ? NaN : Number(v)];
      }).sort((a, b) => a[0] - b[0]);
      return { service: labels.service_name || labels.service || "", operation: labels.operation || "", points };
    });
  }
  const MONITOR_RANGES = [["15m", "Last 15 minutes", 15 * 60e3, 30e3], ["1h", "Last hour", 3600e3, 60e3], ["6h", "Last 6 hours", 6 * 3600e3, 5 * 60e3], ["24h", "Last 24 hours", 86400e3, 20 * 60e3]];

  async function renderMonitor(token) {
    document.title = "Monitor · Patron Traces";
    const params = new URLSearchParams(location.search);
    const service = h("select", { id: "mon-service", "aria-label": "Service", "data-slash": true }, h("option", { value: "", text: "All services" }));
    const range = h("select", { id: "mon-range", "aria-label": "Time range" }, MONITOR_RANGES.map(([v, t]) => h("option", { value: v, text: t })));
    range.value = params.get("lookback") || "1h";
    const body = h("div", { id: "monitor" }, h("div", { class: "empty", text: "Loading…" }));
    const nav = () => go(`/monitor?${new URLSearchParams({ ...(service.value ? { service: service.value } : {}), lookback: range.value })}`, true);
    service.addEventListener("change", nav); range.addEventListener("change", nav);
    app.append(h("div", { class: "page" }, h("div", { class: "deps-head" }, h("h2", { text: "Monitor" }),
      h("span", { class: "muted", text: "Rate, errors and duration of SERVER and CONSUMER spans" }), service, range), body));
    let services = [];
    try { services = (await api("/api/services")).data || []; } catch (err) {
      if (!stale(token)) body.replaceChildren(h("div", { class: "error-box", text: `Could not load services: ${err.message}` }));
      return;
    }
    if (stale(token)) return;
    for (const sv of services) service.append(h("option", { value: sv, text: sv }));
    const svc = services.includes(params.get("service")) ? params.get("service") : "";
    service.value = svc;
    if (!services.length) { body.replaceChildren(h("div", { class: "panel empty", text: "No spans received yet." })); return; }
    const [, , lookback, step] = MONITOR_RANGES.find((r) => r[0] === range.value) || MONITOR_RANGES[1];
    const endTs = Date.now();
    const x0 = (endTs - lookback) * 1000, x1 = endTs * 1000;
    // No service asks for all of them at once: one series per service.
    const q = (kind, sv, extra) => api(`/api/metrics/${kind}?${new URLSearchParams({ ...(sv ? { service: sv } : {}), endTs: String(endTs), lookback: String(lookback), step: String(step), ratePer: String(lookback / 12), ...extra })}`)
      .then(metricSeries);
    const fetchRED = async (sv, byOp) => {
      const g = { groupByOperation: String(byOp) };
      const [calls, errors, p50, p95, p99] = await Promise.all([q("calls", sv, g), q("errors", sv, g),
        q("latencies", sv, { ...g, quantile: "0.5" }), q("latencies", sv, { ...g, quantile: "0.95" }), q("latencies", sv, { ...g, quantile: "0.99" })]);
      const keyOf = (m) => (byOp ? m.operation : m.service || sv);
      const rows = new Map();
      const put = (list, k) => { for (const m of list) { const key = keyOf(m); if (!rows.has(key)) rows.set(key, {}); rows.get(key)[k] = m.points; } };
      put(calls, "calls"); put(errors, "errors"); put(p50, "p50"); put(p95, "p95"); put(p99, "p99");
      return rows;
    };
    const fmtMs = (v) => (v >= 1000 ? `${+(v / 1000).toPrecision(2)}s` : `${+v.toPrecision(2)}ms`);
    // The latest value of a series: what the service does now.
    const last = (pts) => { for (let i = (pts || []).length - 1; i >= 0; i--) if (Number.isFinite(pts[i][1])) return pts[i][1]; return NaN; };
    const redRow = (name, r, color, href) => {
      const opts = { x0, x1 };
      return h("div", { class: "panel red-row", dataset: { name } },
        h("div", {}, h("div", { class: "red-name" }, color ? h("span", { class: "svc-stripe" }) : null,
          href ? h("a", { href, text: name }) : h("b", { text: name })),
        h("dl", { class: "red-now" }, [["Rate", last(r.calls), (v) => `${+(v * 60).toPrecision(2)}/min`],
          ["Errors", last(r.errors), (v) => `${+(v * 100).toPrecision(2)}%`], ["p95", last(r.p95), fmtMs]].map(([k, v, f]) =>
          h("div", {}, h("dt", { text: k }), h("dd", { text: Number.isFinite(v) ? f(v) : "-" }))))),
        h("div", { class: "red-charts" },
          chartBox("Requests per minute", [{ name: "rate", color: color || "#4f46e5", points: (r.calls || []).map(([t, v]) => [t, v * 60]) }], { ...opts, id: "rate" }),
          chartBox("Error rate (%)", [{ name: "errors", color: "#dc2626", points: (r.errors || []).map(([t, v]) => [t, v * 100]) }], { ...opts, id: "errors", fmt: (v) => `${+v.toPrecision(2)}%` }),
          chartBox("Latency", [{ name: "p50", color: "#0d9488", points: r.p50 || [] }, { name: "p95", color: "#d97706", points: r.p95 || [] },
            { name: "p99", color: "#9333ea", points: r.p99 || [] }], { ...opts, id: "latency", fmt: fmtMs })));
    };
    let out;
    try {
      if (svc) {
        const [whole, ops] = await Promise.all([fetchRED(svc, false), fetchRED(svc, true)]);
        out = [h("h3", { class: "red-head", text: `${svc}: whole service` }), redRow(svc, whole.get(svc) || {}, colorOf(svc)),
          h("h3", { class: "red-head", text: `Operations (${ops.size})` }),
          ...[...ops.keys()].sort().map((op) => redRow(op, ops.get(op)))];
      } else {
        const all = await fetchRED("", false);
        out = [...all.keys()].sort().map((sv) => [sv, all.get(sv)]).map(([sv, r]) => redRow(sv, r, colorOf(sv), `/monitor?service=${encodeURIComponent(sv)}&lookback=${range.value}`));
      }
    } catch (err) {
      if (!stale(token)) body.replaceChildren(h("div", { class: "error-box", text: `Could not load metrics: ${err.message}` }));
      return;
    }
    if (stale(token)) return;
    if (!out.length) out = [h("div", { class: "panel empty", text: "No server or consumer spans in this time range." })];
    body.replaceChildren(...out);
    for (const row of body.querySelectorAll(".red-row")) {
      const st = row.querySelector(".svc-stripe");
      if (st) st.style.background = colorOf(row.dataset.name);
    }
  }

  // ---------- metrics ----------
  // The instruments each service exported, a chart each: sums and gauges by
  // value, histograms by their mean (sum / count) with the latest bucket
  // counts; exemplars are dots on the chart and links to their traces.
  const SERIES_COLORS = ["#4f46e5", "#0d9488", "#d97706", "#db2777", "#2563eb", "#16a34a", "#9333ea", "#ea580c"];
  async function fetchInstruments(svc) {
    const qs = svc ? `?service=${encodeURIComponent(svc)}` : "";
    return (await api(`/api/instruments${qs}`)).data || [];
  }

  async function renderMetrics(token) {
    document.title = "Metrics · Patron Traces";
    const params = new URLSearchParams(location.search);
    const service = h("select", { id: "met-service", "aria-label": "Service", "data-slash": true });
    const filter = h("input", { id: "met-filter", type: "search", placeholder: "Filter instruments…", "aria-label": "Filter instruments", spellcheck: "false", value: params.get("q") || "" });
    const body = h("div", { id: "metrics" }, h("div", { class: "empty", text: "Loading…" }));
    app.append(h("div", { class: "page" }, h("div", { class: "deps-head" }, h("h2", { text: "Metrics" }), filter, service), body));
    let services = [];
    try { services = (await api("/api/services")).data || []; } catch { /* instruments may still load */ }
    if (stale(token)) return;
    let insts;
    try { insts = await fetchInstruments(""); } catch (err) {
      if (!stale(token)) body.replaceChildren(h("div", { class: "error-box", text: `Could not load metrics: ${err.message}` }));
      return;
    }
    if (stale(token)) return;
    const withMetrics = [...new Set(insts.map((i) => i.service))].sort();
    const all = [...new Set([...withMetrics, ...services])].sort();
    for (const sv of withMetrics) service.append(h("option", { value: sv, text: sv }));
    if (!withMetrics.length) {
      body.replaceChildren(h("div", { class: "panel empty" }, h("p", { text: "No metrics received yet." }),
        h("p", { class: "faint", text: "Services export metrics here over OTLP (/v1/metrics on :4318, or gRPC on :4317)." })));
      return;
    }
    registerServices(all);
    service.value = withMetrics.includes(params.get("service")) ? params.get("service") : withMetrics[0];
    const draw = () => {
      const f = filter.value.trim().toLowerCase();
      const list = insts.filter((i) => i.service === service.value && (!f || i.name.toLowerCase().includes(f)))
        .sort((a, b) => a.name.localeCompare(b.name));
      body.replaceChildren(h("div", { class: "met-grid" }, list.map(instrumentCard)));
      if (!list.length) body.append(h("div", { class: "panel empty", text: "No instrument matches." }));
    };
    service.addEventListener("change", () => { history.replaceState(null, "", `/metrics?service=${encodeURIComponent(service.value)}`); draw(); });
    filter.addEventListener("input", draw);
    draw();
  }

  function seriesLabel(attrs) {
    const a = attrList(attrs);
    return a.length ? a.map((x) => `${x.key}=${tagValue(x)}`).join(" ") : "(no attributes)";
  }

  function instrumentCard(inst) {
    const hist = inst.type === "histogram" || inst.type === "exponential_histogram";
    const series = (inst.series || []).slice(0, SERIES_COLORS.length).map((sr, i) => ({
      name: seriesLabel(sr.attributes), color: SERIES_COLORS[i],
      points: (sr.points || []).map((p) => [toMicros(p.timestamp), hist ? (p.count ? p.value / p.count : NaN) : Number(p.value)]) }));
    const exemplars = (inst.series || []).flatMap((sr) => (sr.points || []).flatMap((p) => p.exemplars || [])).filter((e) => e.traceID);
    const unit = inst.unit ? ` (${inst.unit})` : "";
    const chart = chartBox(hist ? `Mean per interval${unit}` : `Value${unit}`, series, { width: 520, height: 150, id: inst.name });
    const svg = chart.querySelector("svg");
    if (exemplars.length && svg) {
      // Exemplar dots sit on the chart's time and value scales.
      const pts = series.flatMap((x) => x.points);
      const ts = [...pts.map((p) => p[0]), ...exemplars.map((e) => toMicros(e.timestamp))];
      const vals = [...pts.map((p) => p[1]), ...exemplars.map((e) => e.value)].filter(Number.isFinite);
      const W = 520, H = 150, L = 48, R = 8, T = 8, B = 20, x0 = Math.min(...ts), x1 = Math.max(...ts), yMax = Math.max(...vals) || 1;
      chart.replaceChild(lineChart(series, { width: W, height: H, x0, x1, yMin: yMax }), svg);
      const nsvg = chart.querySelector("svg");
      for (const e of exemplars.slice(0, 50)) {
        const cx = L + (x1 === x0 ? (W - L - R) / 2 : ((toMicros(e.timestamp) - x0) / (x1 - x0)) * (W - L - R));
        const cy = H - B - (e.value / yMax) * (H - T - B);
        const a = s("a", { href: traceHref(e.traceID, e.spanID), class: "exemplar" },
          s("rect", { x: cx - 3.5, y: cy - 3.5, width: 7, height: 7, transform: `rotate(45 ${cx} ${cy})` }));
        a.append(s("title", { text: `exemplar ${+Number(e.value).toPrecision(4)}${inst.unit || ""}: trace ${e.traceID}` }));
        nsvg.append(a);
      }
    }
    let buckets = null;
    if (hist) { // the latest point's distribution, of the first series
      const last = ((inst.series || [])[0] || { points: [] }).points.slice(-1)[0];
      if (last && last.counts && last.counts.length) {
        const max = Math.max(1, ...last.counts);
        buckets = h("div", { class: "buckets", title: "Latest bucket counts" }, last.counts.map((c, i) => {
          const b = h("div", { class: "bucket", title: `${i < (last.bounds || []).length ? `up to ${last.bounds[i]}` : "> last bound"}: ${c}` });
          b.style.height = `${Math.max(2, (c / max) * 40)}px`;
          return b;
        }));
      }
    }
    return h("div", { class: "panel met-card", dataset: { instrument: inst.name, type: inst.type } },
      h("div", { class: "met-head" }, h("b", { class: "mono", text: inst.name }), h("span", { class: "badge", text: inst.type }),
        inst.monotonic ? h("span", { class: "badge", text: "monotonic" }) : null,
        h("span", { class: "faint", text: `${(inst.series || []).length} series` })),
      inst.description ? h("div", { class: "muted met-desc", text: inst.description }) : null,
      chart, buckets,
      exemplars.length ? h("div", { class: "exemplars" }, h("span", { class: "faint", text: "Exemplars: " }),
        exemplars.slice(-5).reverse().map((e) => h("a", { class: "exemplar-link", href: traceHref(e.traceID, e.spanID), dataset: { traceId: e.traceID } },
          icon("to", 12), `${+Number(e.value).toPrecision(3)}${inst.unit || ""} · ${e.traceID.slice(0, 7)}`))) : null);
  }

  // ---------- compare ----------
  // Two traces side by side. Spans are grouped by service and operation: a
  // group with more spans in B than in A is "added", with fewer "missing";
  // with as many, "slower" or "faster" when B's mean duration differs by at
  // least 10% and 1 ms, else unchanged.
  function compareGroups(a, b) {
    const groups = new Map();
    const add = (tr, side) => {
      for (const sp of tr.spans) {
        const service = (tr.processes[sp.processID] || {}).serviceName || "unknown";
        const key = `${service}\u0000${sp.operationName}`;
        if (!groups.has(key)) groups.set(key, { key, service, op: sp.operationName, a: { n: 0, total: 0 }, b: { n: 0, total: 0 } });
        const g = groups.get(key)[side];
        g.n++; g.total += sp.duration;
      }
    };
    add(a, "a"); add(b, "b");
    for (const g of groups.values()) {
      g.a.mean = g.a.n ? g.a.total / g.a.n : 0;
      g.b.mean = g.b.n ? g.b.total / g.b.n : 0;
      const d = g.b.mean - g.a.mean;
      g.delta = g.a.n && g.b.n ? d : 0;
      if (g.b.n > g.a.n) g.status = "added";
      else if (g.b.n < g.a.n) g.status = "missing";
      else if (d >= 1000 && d >= 0.1 * g.a.mean) g.status = "slower";
      else if (-d >= 1000 && -d >= 0.1 * g.a.mean) g.status = "faster";
      else g.status = "same";
    }
    const rank = { added: 0, missing: 1, slower: 2, faster: 3, same: 4 };
    const timed = (g) => (g.status === "slower" || g.status === "faster" ? Math.abs(g.delta) : 0);
    return [...groups.values()].sort((x, y) => rank[x.status] - rank[y.status] || timed(y) - timed(x) || x.key.localeCompare(y.key));
  }

  async function renderCompare(token) {
    document.title = "Compare traces · Patron Traces";
    const params = new URLSearchParams(location.search);
    const ida = (params.get("a") || "").trim().toLowerCase(), idb = (params.get("b") || "").trim().toLowerCase();
    const inA = h("input", { id: "cmp-a", name: "a", placeholder: "Trace ID A", value: ida, spellcheck: "false", "aria-label": "Trace A" });
    const inB = h("input", { id: "cmp-b", name: "b", placeholder: "Trace ID B", value: idb, spellcheck: "false", "aria-label": "Trace B", "data-slash": true });
    const form = h("form", { class: "panel cmp-form", id: "compare-form",
      onsubmit: (e) => { e.preventDefault(); go(`/compare?a=${encodeURIComponent(inA.value.trim())}&b=${encodeURIComponent(inB.value.trim())}`); } },
    h("h2", { text: "Compare traces" }), inA, h("span", { class: "faint", text: "with" }), inB,
    h("button", { class: "btn primary", type: "submit", text: "Compare" }));
    const body = h("div", { id: "compare" });
    app.append(h("div", { class: "page" }, form, body));
    if (!ida) { body.append(h("div", { class: "panel empty", text: "Enter two trace IDs, or tick two traces in the search results." })); return; }
    const fetchOne = (id) => api(`/api/traces/${encodeURIComponent(id)}`).then((r) => r.data[0]);
    let ta, tb;
    try { ta = await fetchOne(ida); } catch (err) {
      if (!stale(token)) body.append(h("div", { class: "error-box", text: `Trace ${ida}: ${err.message}` }));
      return;
    }
    if (stale(token)) return;
    if (!idb) { // offer traces of the same root operation
      const sa = traceSummary(ta);
      body.append(h("div", { class: "empty", text: "Loading similar traces…" }));
      let list = [];
      try {
        list = (await api(`/api/traces?service=${encodeURIComponent(sa.rootSvc)}&operation=${encodeURIComponent(sa.rootOp)}&lookback=24h&limit=20&end=${Date.now() * 1000}`)).data || [];
      } catch { /* the form still works */ }
      if (stale(token)) return;
      const others = list.map(traceSummary).filter((x) => x.id !== ta.traceID);
      const maxDur = Math.max(1, sa.duration, ...others.map((x) => x.duration));
      body.replaceChildren(h("h3", { class: "cmp-pick-head", text: `Compare ${sa.title} (${fmtDur(sa.duration)}) with:` }),
        others.length ? h("div", { class: "trace-list" }, others.map((x) => {
          const item = resultItem(x, maxDur);
          item.setAttribute("href", `/compare?a=${ta.traceID}&b=${x.id}`);
          return item;
        })) : h("div", { class: "panel empty", text: "No other trace of this operation is stored; enter a trace ID above." }));
      return;
    }
    try { tb = await fetchOne(idb); } catch (err) {
      if (!stale(token)) body.append(h("div", { class: "error-box", text: `Trace ${idb}: ${err.message}` }));
      return;
    }
    if (stale(token)) return;
    registerServices([ta, tb].flatMap((tr) => Object.values(tr.processes).map((p) => p.serviceName)));
    const groups = compareGroups(ta, tb);
    const byKey = new Map(groups.map((g) => [g.key, g]));
    const sa = traceSummary(ta), sb = traceSummary(tb);
    const counts = { added: 0, missing: 0, slower: 0, faster: 0 };
    for (const g of groups) if (g.status in counts) counts[g.status]++;
    const dd = sb.duration - sa.duration;
    const sign = (v) => (v > 0 ? "+" : v < 0 ? "-" : "");
    const summary = h("div", { class: "panel cmp-summary" },
      h("div", { class: "cmp-total" }, dd ? "B takes " : "", h("b", { class: dd > 0 ? "worse" : dd < 0 ? "better" : "", text: dd ? `${fmtDur(Math.abs(dd))} ${dd > 0 ? "longer" : "less"}` : "Same duration" }),
        ` (${fmtDur(sa.duration)} in A, ${fmtDur(sb.duration)} in B); ${sa.spans} spans in A, ${sb.spans} in B`),
      h("div", { class: "cmp-counts" }, Object.entries(counts).map(([k, v]) => h("span", { class: `cmp-badge ${k}`, dataset: { status: k }, text: `${v} ${k}` }))));
    const onlyChanged = h("input", { type: "checkbox", id: "cmp-changed", checked: true });
    const tbody = h("tbody", {});
    const drawTable = () => tbody.replaceChildren(...groups.filter((g) => !onlyChanged.checked || g.status !== "same").map((g) => h("tr", { class: `cmp-row ${g.status}`, dataset: { status: g.status, service: g.service, op: g.op } },
      h("td", {}, h("span", { class: `cmp-badge ${g.status}`, text: g.status })),
      h("td", {}, h("span", { class: "chip" }, dotOf(g.service), g.service), " ", h("span", { class: "op", text: g.op })),
      h("td", { class: "num", text: g.a.n ? `${g.a.n} × ${fmtDur(g.a.mean)}` : "—" }),
      h("td", { class: "num", text: g.b.n ? `${g.b.n} × ${fmtDur(g.b.mean)}` : "—" }),
      h("td", { class: "num", text: g.b.n !== g.a.n ? `${sign(g.b.n - g.a.n)}${Math.abs(g.b.n - g.a.n)} span${Math.abs(g.b.n - g.a.n) === 1 ? "" : "s"}` : g.delta ? `${sign(g.delta)}${fmtDur(Math.abs(g.delta))}` : "" }))));
    onlyChanged.addEventListener("change", drawTable);
    drawTable();
    const table = h("div", { class: "panel cmp-table" },
      h("div", { class: "cmp-table-head" }, h("h3", { text: "Per service and operation" }),
        h("label", {}, onlyChanged, " Changes only")),
      h("table", {}, h("thead", {}, h("tr", {}, h("th", { text: "" }), h("th", { text: "Service & operation" }),
        h("th", { class: "num", text: "A" }), h("th", { class: "num", text: "B" }), h("th", { class: "num", text: "Δ" }))), tbody));
    const side = (tr, sum, label, which) => {
      const tv = new TraceView(tr);
      const total = Math.max(sa.duration, sb.duration, 1);
      const rows = tv.order.map((n) => {
        const g = byKey.get(`${n.service}\u0000${n.span.operationName}`);
        const st = g.status === "added" ? (which === "b" ? "added" : "same") : g.status === "missing" ? (which === "a" ? "missing" : "same") : g.status;
        const bar = h("div", { class: "span-bar" });
        bar.style.left = `${((n.span.startTime - sum.start) / total) * 100}%`;
        bar.style.width = `${Math.max((n.span.duration / total) * 100, 0.3)}%`;
        bar.style.background = colorOf(n.service);
        const indent = h("span", { class: "indent" }); indent.style.width = `${n.depth * 10}px`;
        return h("div", { class: `cmp-span ${st}`, dataset: { status: st, spanId: n.span.spanID }, title: `${n.service}: ${n.span.operationName} · ${fmtDur(n.span.duration)}` },
          h("div", { class: "name-cell" }, indent, h("span", { class: "svc", text: n.service }), h("span", { class: "op", text: n.span.operationName })),
          h("div", { class: "bar-cell" }, bar), h("span", { class: "cmp-dur", text: fmtDur(n.span.duration) }));
      });
      return h("div", { class: "panel cmp-side", id: `cmp-side-${which}` },
        h("div", { class: "cmp-side-head" }, h("span", { class: "cmp-letter", text: label }),
          h("a", { href: `/trace/${tr.traceID}`, text: sum.title }), h("code", { class: "faint", text: tr.traceID.slice(0, 7) }),
          h("b", { class: "cmp-side-dur", text: fmtDur(sum.duration) })), rows);
    };
    body.replaceChildren(summary, h("div", { class: "cmp-sides" }, side(ta, sa, "A", "a"), side(tb, sb, "B", "b")), table);
  }

  // ---------- dependencies ----------
  async function renderDependencies(token) {
    document.title = "System Architecture · Patron Traces";
    const params = new URLSearchParams(location.search);
    const sel = h("select", { id: "deps-lookback", "aria-label": "Time range", "data-slash": true },
      [["1h", "Last hour"], ["6h", "Last 6 hours"], ["24h", "Last 24 hours"], ["168h", "Last 7 days"], ["all", "Everything stored"]]
        .map(([v, t]) => h("option", { value: v, text: t })));
    sel.value = params.get("lookback") || "all";
    sel.addEventListener("change", () => go(`/dependencies?lookback=${sel.value}`, true));
    const body = h("div", {}, h("div", { class: "empty", text: "Loading…" }));
    app.append(h("div", { class: "page" }, h("div", { class: "deps-head" }, h("h2", { text: "Service Dependencies" }), sel), body));
    const ms = { "1h": 3600e3, "6h": 6 * 3600e3, "24h": 86400e3, "168h": 7 * 86400e3 }[sel.value];
    let deps;
    try {
      deps = (await api(`/api/dependencies?endTs=${Date.now()}${ms ? `&lookback=${ms}` : ""}`)).data || [];
    } catch (err) {
      if (!stale(token)) body.replaceChildren(h("div", { class: "error-box", text: `Could not load dependencies: ${err.message}` }));
      return;
    }
    if (stale(token)) return;
    if (!deps.length) {
      body.replaceChildren(h("div", { class: "panel empty", text: "No calls between services in this time range." }));
      return;
    }
    const graph = h("div", { class: "panel graph" });
    body.replaceChildren(graph, depTable(deps));
    graph.append(depGraph(deps, graph.clientWidth - 22)); // minus padding and border
  }

  // Layered layout, left to right: each service sits one column right of
  // its furthest caller (cycles are cut by bounding the relaxation); within a
  // column, services are ordered by the mean position of their callers and
  // callees, which removes most edge crossings; the columns are spaced to fit
  // the page; and call-count labels move along their edge until they overlap
  // neither a service nor another label.
  function depGraph(deps, avail) {
    const names = [...new Set(deps.flatMap((d) => [d.parent, d.child]))].sort();
    const layer = new Map(names.map((n) => [n, 0]));
    for (let iter = 0; iter < names.length; iter++) {
      let changed = false;
      for (const d of deps) {
        if (d.parent === d.child) continue;
        if (layer.get(d.child) < layer.get(d.parent) + 1 && layer.get(d.parent) + 1 < names.length) {
          layer.set(d.child, layer.get(d.parent) + 1); changed = true;
        }
      }
      if (!changed) break;
    }
    const cols = [];
    for (const n of names) { const l = layer.get(n); (cols[l] = cols[l] || []).push(n); }
    for (let i = 0; i < cols.length; i++) cols[i] = cols[i] || [];
    const callers = new Map(names.map((n) => [n, []])), callees = new Map(names.map((n) => [n, []]));
    for (const d of deps) if (d.parent !== d.child) { callers.get(d.child).push(d.parent); callees.get(d.parent).push(d.child); }
    const rank = new Map();
    const setRanks = () => cols.forEach((c) => c.forEach((n, i) => rank.set(n, i - (c.length - 1) / 2)));
    setRanks();
    const mean = (list, fallback) => (list.length ? list.reduce((a, n) => a + rank.get(n), 0) / list.length : fallback);
    for (let sweep = 0; sweep < 4; sweep++) {
      for (let ci = 1; ci < cols.length; ci++) {
        cols[ci].sort((a, b) => mean(callers.get(a), rank.get(a)) - mean(callers.get(b), rank.get(b)) || a.localeCompare(b));
        setRanks();
      }
      for (let ci = cols.length - 2; ci >= 0; ci--) {
        cols[ci].sort((a, b) => mean(callees.get(a), rank.get(a)) - mean(callees.get(b), rank.get(b)) || a.localeCompare(b));
        setRanks();
      }
    }

    const CH = 7.6; // width of a character of the 13px bold label, roughly
    const longest = Math.max(...names.map((n) => n.length));
    const NW = Math.min(220, Math.max(136, Math.round(longest * CH) + 34));
    const maxChars = Math.floor((NW - 30) / CH);
    const NH = 46, GY = 28, PAD = 24;
    const nc = cols.length;
    const GX = nc > 1 ? Math.min(130, Math.max(64, Math.floor(((avail || 1400) - PAD * 2 - nc * NW) / (nc - 1)))) : 0;
    const rows = Math.max(...cols.map((c) => c.length));
    const W = PAD * 2 + nc * NW + (nc - 1) * GX;
    const H = PAD * 2 + rows * NH + (rows - 1) * GY + 24; // room below for back edges
    const pos = new Map();
    cols.forEach((c, ci) => {
      const off = (H - 24 - (c.length * NH + (c.length - 1) * GY)) / 2;
      c.forEach((n, ri) => pos.set(n, { x: PAD + ci * (NW + GX), y: off + ri * (NH + GY) }));
    });
    const calls = new Map();
    for (const d of deps) calls.set(d.child, (calls.get(d.child) || 0) + d.callCount);

    const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": "Service dependency graph" },
      s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" },
        s("path", { d: "M 0 0 L 10 5 L 0 10 z" }))));
    // Too wide for the page even with tight columns: scale down rather than
    // hide services behind a scroll bar.
    if (avail && W > avail) { svg.setAttribute("width", avail); svg.setAttribute("height", Math.round((H * avail) / W)); }

    const boxes = names.map((n) => ({ x: pos.get(n).x, y: pos.get(n).y, w: NW, h: NH }));
    const overlaps = (b) => boxes.some((o) => b.x < o.x + o.w && o.x < b.x + b.w && b.y < o.y + o.h && o.y < b.y + b.h);
    const cubic = (p, t) => {
      const u = 1 - t;
      return [0, 1].map((k) => u * u * u * p[0][k] + 3 * u * u * t * p[1][k] + 3 * u * t * t * p[2][k] + t * t * t * p[3][k]);
    };
    const edges = [], labels = [];
    for (const d of deps) {
      const a = pos.get(d.parent), b = pos.get(d.child);
      let pts;
      if (d.parent === d.child) {
        pts = [[a.x + NW - 30, a.y], [a.x + NW - 30, a.y - 30], [a.x + NW + 10, a.y - 30], [a.x + NW, a.y + 10]];
      } else if (b.x > a.x) {
        const x1 = a.x + NW, y1 = a.y + NH / 2, x2 = b.x, y2 = b.y + NH / 2, mx = (x1 + x2) / 2;
        pts = [[x1, y1], [mx, y1], [mx, y2], [x2, y2]];
      } else { // back edge (a cycle): route below
        const x1 = a.x + NW / 2, y1 = a.y + NH, x2 = b.x + NW / 2, y2 = b.y + NH, low = Math.max(y1, y2) + 40;
        pts = [[x1, y1], [x1, low], [x2, low], [x2, y2]];
      }
      const e = s("path", { class: "edge", d: `M ${pts[0]} C ${pts[1]}, ${pts[2]}, ${pts[3]}`, "marker-end": "url(#arrow)" });
      e.append(s("title", { text: `${d.parent} calls ${d.child}: ${d.callCount} call${d.callCount === 1 ? "" : "s"}` }));
      edges.push(e);
      const text = String(d.callCount), lw = text.length * 6.6 + 10, lh = 16;
      let box = null;
      for (const t of [0.5, 0.38, 0.62, 0.28, 0.72, 0.2, 0.8]) {
        const [cx, cy] = cubic(pts, t);
        const cand = { x: cx - lw / 2, y: cy - lh / 2, w: lw, h: lh };
        if (!overlaps(cand)) { box = cand; break; }
      }
      if (!box) { const [cx, cy] = cubic(pts, 0.5); box = { x: cx - lw / 2, y: cy - lh / 2, w: lw, h: lh }; }
      boxes.push(box);
      labels.push(s("g", { class: "edge-label" },
        s("rect", { x: box.x, y: box.y, width: box.w, height: box.h, rx: 8 }),
        s("text", { x: box.x + box.w / 2, y: box.y + 12, "text-anchor": "middle", text })));
    }
    svg.append(...edges, ...labels);
    for (const n of names) {
      const p = pos.get(n);
      const g = s("g", { class: "node", tabindex: "0", role: "link", "aria-label": `Search traces of ${n}`,
        onclick: () => go(`/search?service=${encodeURIComponent(n)}&lookback=1h&limit=20`),
        onkeydown: (e) => { if (e.key === "Enter") go(`/search?service=${encodeURIComponent(n)}&lookback=1h&limit=20`); } },
      s("rect", { x: p.x, y: p.y, width: NW, height: NH, rx: 9, stroke: colorOf(n) }),
      s("rect", { x: p.x, y: p.y + 8, width: 5, height: NH - 16, rx: 2, fill: colorOf(n), stroke: "none" }),
      s("text", { x: p.x + 16, y: p.y + 20, text: n.length > maxChars ? `${n.slice(0, maxChars - 1)}…` : n }),
      s("text", { class: "sub", x: p.x + 16, y: p.y + 36, text: calls.has(n) ? `${calls.get(n)} incoming call${calls.get(n) === 1 ? "" : "s"}` : "entry point" }));
      g.append(s("title", { text: n }));
      svg.append(g);
    }
    return svg;
  }

  function depTable(deps) {
    return h("div", { class: "panel deps-table" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", { text: "Caller" }), h("th", { text: "Callee" }), h("th", { class: "num", text: "Calls" }))),
      h("tbody", {}, [...deps].sort((a, b) => b.callCount - a.callCount).map((d) => h("tr", {},
        h("td", {}, h("span", { class: "chip" }, dotOf(d.parent), d.parent)),
        h("td", {}, h("span", { class: "chip" }, dotOf(d.child), d.child)),
        h("td", { class: "num", text: String(d.callCount) }))))));
  }
  function dotOf(svc) { const d = h("span", { class: "dot" }); d.style.background = colorOf(svc); return d; }

  route();
})();
