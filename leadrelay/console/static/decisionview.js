// One decision drawn as sections: outcome, score with every reason, tags, route path with skipped candidates,
// match and CRM write. Used by "Preview a lead" and a decision's trace.
"use strict";

LR.decisionSections = (d) => {
  const {h} = LR;
  const a = (d.route && d.route.assignment) || {};
  const section = (title, ...body) => h("section", {}, h("h2", {text: title}), ...body);
  const table = (head, rows) => rows.length
    ? h("table", {class: "list"}, h("thead", {}, h("tr", {}, head.map(t => h("th", {text: t})))),
        h("tbody", {}, rows.map(r => h("tr", {}, r.map((c, i) => h("td", {class: typeof c === "number" && i ? "num" : null, text: c === null || c === undefined ? "" : String(c)}))))))
    : h("p", {class: "muted", text: "none"});
  const owner = a.owner ? `${a.owner}` : `queue ${a.queue || "?"}`;
  const out = [];
  out.push(section("Outcome",
    h("p", {}, h("b", {class: "owner", "data-owner": a.owner || "", text: owner}), ` — rule `, h("code", {class: "rule", text: a.rule || "(none)"}),
      a.strategy ? ` (${a.strategy})` : "", a.hold_until ? ` · held until ${LR.fmtTime(a.hold_until)}` : ""),
    a.reason ? h("p", {text: a.reason}) : null,
    d.explanation ? h("p", {class: "muted", text: d.explanation}) : null));
  const s = d.score || {};
  out.push(section(`Score ${s.total} · ${s.grade} · ${s.stage}`,
    h("p", {class: "muted", text: `fit ${s.fit}, behaviour ${s.behaviour}, intent ${s.intent}${s.action ? " — " + s.action : ""}`}),
    table(["Rule", "Category", "Points", "Why"], (s.hits || []).map(x => [x.rule, x.category, x.points, x.reason]))));
  const t = d.tags || {};
  out.push(section("Tags and segments",
    h("p", {}, [...(t.tags || []), ...(t.segments || []).map(x => "segment:" + x)].map(x => h("span", {class: "tag", text: x, title: (t.reasons || {})[x] || ""}))),
    table(["Tag or segment", "Applied by"], Object.entries(t.reasons || {}))));
  out.push(section("Route path",
    h("ol", {class: "trace-steps"}, ((d.route && d.route.trace) || []).map(x => h("li", {text: x}))),
    h("h3", {text: "Skipped candidates"}),
    table(["Rep", "Rule", "Why skipped"], ((d.route && d.route.skipped) || []).map(x => [x.rep, x.rule, x.reason]))));
  const m = d.match;
  out.push(section("Match", m ? h("p", {text: `${m.kind} ${m.record_id} in ${m.crm} by ${m.rule} (confidence ${m.confidence})${m.owner_id ? ", owner " + m.owner_id : ""}`})
                              : h("p", {class: "muted", text: "No existing record or account matched: a new lead."})));
  if (d.write || d.crm) {
    const w = d.write || {};
    out.push(section("CRM write", w.summary ? h("p", {text: w.summary}) : null,
      Object.keys(w.kept || {}).length ? table(["Field kept", "Why"], Object.entries(w.kept)) : null,
      ...Object.entries(d.crm || {}).map(([name, p]) => h("details", {open: name === w.crm},
        h("summary", {text: `${name} · ${p.object}`}), h("pre", {class: "json", text: LR.json(p.fields)})))));
  }
  return out;
};
