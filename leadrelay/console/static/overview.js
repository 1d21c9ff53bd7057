// Overview: today's leads by source and rule, speed to lead, unassigned and dead letters, as SVG charts.
"use strict";

(async () => {
  const $ = id => document.getElementById(id);
  const r = await LR.api("GET", "/api/admin/overview");
  if (!r.ok) { $("stats").replaceChildren(LR.h("p", {class: "error", text: LR.problemText(r.data)})); return; }
  const o = r.data;
  const secs = v => (v === null || v === undefined ? "—" : v < 10 ? `${v.toFixed(2)} s` : `${Math.round(v)} s`);
  const stat = (value, label, bad) => LR.h("div", {class: "stat" + (bad ? " bad" : "")}, LR.h("b", {text: String(value)}), LR.h("span", {text: label}));
  $("stats").replaceChildren(
    stat(o.leads_today, "leads today"),
    stat(o.unassigned, "with no rep today (a queue)"),
    stat(o.dead_letters, "dead letters", o.dead_letters > 0),
    stat(`${secs(o.speed_p50_hour)} / ${secs(o.speed_p95_hour)}`, `speed to lead p50 / p95, last hour (${o.speed_leads_hour} leads)`),
    stat(`${secs(o.speed_p50_day)} / ${secs(o.speed_p95_day)}`, `speed to lead p50 / p95, last day (${o.speed_leads_day} leads)`));
  const pairs = obj => Object.entries(obj || {}).sort((a, b) => b[1] - a[1]);
  $("by-source").replaceChildren(LR.barChart(pairs(o.today_by_source)));
  $("by-rule").replaceChildren(LR.barChart(pairs(o.today_by_rule).map(([k, v]) => [k || "(no rule)", v])));
  const hour = s => (s.at || "").slice(11, 16);
  const series = o.series || [];
  $("speed").replaceChildren(
    LR.lineChart([{label: "p50", points: series.map(s => [hour(s), s.speed_p50])},
                  {label: "p95", cls: "p95", points: series.map(s => [hour(s), s.speed_p95])}], {unit: " s"}),
    LR.legend([["after", "p50"], ["warn", "p95"]]));
  $("series").replaceChildren(
    LR.columnChart(series.map(s => ({label: hour(s), total: s.leads, part: s.unassigned}))),
    LR.legend([["after", "leads per hour"], ["before", "of which no rep (a queue)"]]));
  document.body.dataset.loaded = "1";
})();
