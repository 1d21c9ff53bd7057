// leadrelay console: shared helpers (fetch with the CSRF header, small DOM builder, messages, SVG charts, tabs).
"use strict";

const LR = (() => {
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const role = document.body.dataset.role || "viewer";
  const SVG = "http://www.w3.org/2000/svg";

  async function api(method, url, body) {
    const opts = {method, credentials: "same-origin", headers: {"Accept": "application/json", "X-CSRF-Token": csrf}};
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    let r;
    try {
      r = await fetch(url, opts);
    } catch (err) {
      return {ok: false, status: 0, data: {title: "The server did not answer", detail: String(err)}};
    }
    if (r.status === 401 && url.startsWith("/api/")) {
      location.href = "/admin/login?next=" + encodeURIComponent(location.pathname);
    }
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
    return {ok: r.ok, status: r.status, data};
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  }

  function data(id) {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  // h("td", {class: "num", text: "3"}, child, ...): an element; strings become text (never HTML)
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") el.textContent = v;
      else if (k === "class") el.className = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function problemText(p) {
    if (!p) return "no answer";
    if (typeof p === "string") return p;
    const parts = [p.title, p.detail, p.hint].filter(Boolean);
    return parts.join(" — ") || JSON.stringify(p);
  }

  function message(text, kind) {
    const box = document.getElementById("messages");
    if (!box) { if (kind === "bad") console.error(text); return; }
    box.replaceChildren(h("div", {class: "msg " + (kind || "ok"), text}));
  }

  function fmtTime(epoch) {
    if (epoch === null || epoch === undefined || epoch === "") return "";
    const d = typeof epoch === "number" ? new Date(epoch * 1000) : new Date(epoch);
    return isNaN(d) ? String(epoch) : d.toLocaleString();
  }

  function json(value) { return JSON.stringify(value, null, 2); }

  // nulls and empty values left out: a lead reads as what was found
  function prune(value) {
    if (Array.isArray(value)) return value.map(prune);
    if (value && typeof value === "object") {
      const out = {};
      for (const [k, v] of Object.entries(value)) {
        const p = prune(v);
        const empty = p === null || p === "" || (Array.isArray(p) && !p.length) ||
                      (typeof p === "object" && p && !Array.isArray(p) && !Object.keys(p).length);
        if (!empty) out[k] = p;
      }
      return out;
    }
    return value;
  }

  // ---- charts (inline SVG) ----------------------------------------------------------------------------------------
  function svg(tag, attrs, ...children) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") el.textContent = v; else el.setAttribute(k, v);
    }
    children.forEach(c => c && el.append(c));
    return el;
  }

  // pairs: [[label, value], ...] as horizontal bars
  function barChart(pairs, {width = 460, unit = ""} = {}) {
    if (!pairs.length) return h("p", {class: "empty", text: "Nothing yet today."});
    const rowH = 24, labelW = 150, max = Math.max(...pairs.map(p => p[1]), 1);
    const root = svg("svg", {width, height: pairs.length * rowH + 6, role: "img", viewBox: `0 0 ${width} ${pairs.length * rowH + 6}`});
    pairs.forEach(([label, value], i) => {
      const y = i * rowH + 3, w = Math.max(2, (width - labelW - 60) * value / max);
      root.append(svg("text", {x: labelW - 6, y: y + 15, "text-anchor": "end", text: String(label).slice(0, 24)}),
                  svg("rect", {class: "bar", x: labelW, y: y + 3, width: w, height: rowH - 8, rx: 3},
                      svg("title", {text: `${label}: ${value}${unit}`})),
                  svg("text", {x: labelW + w + 6, y: y + 15, text: `${value}${unit}`}));
    });
    return root;
  }

  // groups: [{label, before, after}] as paired vertical bars (backtest)
  function pairedBars(groups, {width = 1000, height = 240} = {}) {
    if (!groups.length) return h("p", {class: "empty", text: "No leads."});
    const pad = 28, bottom = 70, max = Math.max(...groups.flatMap(g => [g.before, g.after]), 1);
    const slot = Math.min(110, (width - pad) / groups.length), bw = Math.min(26, slot / 2 - 3);
    const rotate = slot < 90;
    const root = svg("svg", {width, height, role: "img", viewBox: `0 0 ${width} ${height}`});
    root.append(svg("line", {class: "axis", x1: pad, x2: width, y1: height - bottom, y2: height - bottom}));
    groups.forEach((g, i) => {
      const x = pad + i * slot + slot / 2;
      [["before", g.before, x - bw - 1], ["after", g.after, x + 1]].forEach(([cls, v, bx]) => {
        const bh = (height - bottom - 16) * v / max;
        root.append(svg("rect", {class: "bar " + cls, x: bx, y: height - bottom - bh, width: bw, height: Math.max(bh, 0.5)},
                        svg("title", {text: `${g.label} ${cls}: ${v}`})),
                    svg("text", {x: bx + bw / 2, y: height - bottom - bh - 3, "text-anchor": "middle", text: String(v)}));
      });
      root.append(svg("text", rotate
        ? {x, y: height - bottom + 12, "text-anchor": "end", transform: `rotate(-35 ${x} ${height - bottom + 12})`, text: String(g.label).slice(0, 18)}
        : {x, y: height - bottom + 16, "text-anchor": "middle", text: String(g.label).slice(0, 18)}));
    });
    return root;
  }

  // series: [{label, points: [[x, y], ...], cls}] as lines over a shared x axis (index-based); a null y is a gap
  function lineChart(series, {width = 1000, height = 200, unit = ""} = {}) {
    const all = series.flatMap(s => s.points.map(p => p[1]).filter(v => v !== null && v !== undefined));
    if (!all.length) return h("p", {class: "empty", text: "No data yet."});
    const pad = 40, bottom = 24, max = Math.max(...all, 1), n = Math.max(...series.map(s => s.points.length), 2);
    const root = svg("svg", {width, height, role: "img", viewBox: `0 0 ${width} ${height}`});
    const X = i => pad + (width - pad - 24) * i / (n - 1), Y = v => height - bottom - (height - bottom - 10) * v / max;
    root.append(svg("line", {class: "axis", x1: pad, x2: width, y1: height - bottom, y2: height - bottom}),
                svg("text", {x: pad - 4, y: 14, "text-anchor": "end", text: `${Math.round(max)}${unit}`}),
                svg("text", {x: pad - 4, y: height - bottom, "text-anchor": "end", text: "0"}));
    series.forEach(s => {
      let d = "", pen = "M";
      s.points.forEach((p, i) => {
        if (p[1] === null || p[1] === undefined) { pen = "M"; return; }
        d += `${pen}${X(i).toFixed(1)},${Y(p[1]).toFixed(1)} `;
        pen = "L";
        root.append(svg("circle", {class: "dot " + (s.cls || ""), cx: X(i).toFixed(1), cy: Y(p[1]).toFixed(1), r: 2.5},
                        svg("title", {text: `${s.label} ${p[0]}: ${p[1]}${unit}`})));
      });
      root.append(svg("path", {class: "line " + (s.cls || ""), d: d.trim()}, svg("title", {text: s.label})));
    });
    const first = series[0].points;
    [0, Math.floor((first.length - 1) / 2), first.length - 1].forEach(i => {
      if (first[i]) root.append(svg("text", {x: X(i), y: height - 6, "text-anchor": "middle", text: String(first[i][0])}));
    });
    return root;
  }

  // points: [{label, total, part}] as columns (total) with the part of each drawn inside it (unassigned of leads)
  function columnChart(points, {width = 1000, height = 180} = {}) {
    if (!points.some(p => p.total)) return h("p", {class: "empty", text: "No leads in this window."});
    const pad = 40, bottom = 24, max = Math.max(...points.map(p => p.total), 1);
    const slot = (width - pad - 10) / points.length, bw = Math.max(2, slot - 4);
    const Y = v => (height - bottom - 10) * v / max;
    const root = svg("svg", {width, height, role: "img", viewBox: `0 0 ${width} ${height}`});
    root.append(svg("line", {class: "axis", x1: pad, x2: width, y1: height - bottom, y2: height - bottom}),
                svg("text", {x: pad - 4, y: 14, "text-anchor": "end", text: String(max)}),
                svg("text", {x: pad - 4, y: height - bottom, "text-anchor": "end", text: "0"}));
    points.forEach((p, i) => {
      const x = pad + i * slot + 2;
      if (p.total) root.append(svg("rect", {class: "bar", x, y: height - bottom - Y(p.total), width: bw, height: Y(p.total)},
                                   svg("title", {text: `${p.label}: ${p.total} leads, ${p.part} with no rep`})));
      if (p.part) root.append(svg("rect", {class: "bar before", x, y: height - bottom - Y(p.part), width: bw, height: Y(p.part)}));
      if (i % 3 === 0) root.append(svg("text", {x: x + bw / 2, y: height - 8, "text-anchor": "middle", text: p.label}));
    });
    return root;
  }

  function legend(items) {
    return h("div", {class: "legend"}, items.map(([cls, label]) => h("span", {}, h("i", {class: "sw " + cls}), label)));
  }

  // ---- tabs --------------------------------------------------------------------------------------------------------
  function showTab(button) {
    const bar = button.closest("[data-tabs]");
    bar.querySelectorAll("[data-tab]").forEach(b => {
      b.classList.toggle("on", b === button);
      const panel = document.getElementById(b.dataset.tab);
      if (panel) panel.hidden = b !== button;
    });
    document.dispatchEvent(new CustomEvent("lr:tab", {detail: {panel: button.dataset.tab}}));
  }
  document.addEventListener("click", ev => {
    const b = ev.target.closest("[data-tab]");
    if (b) showTab(b);
  });

  return {csrf, role, api, debounce, data, h, svg, problemText, message, fmtTime, json, prune, barChart, pairedBars,
          lineChart, columnChart, legend, showTab};
})();
