// One decision's trace: raw payload -> canonical lead -> match -> score -> route -> CRM write and its result.
"use strict";

(async () => {
  const {h} = LR;
  const box = document.getElementById("trace");
  const r = await LR.api("GET", "/api/admin/decisions/" + encodeURIComponent(box.dataset.lead));
  if (!r.ok) { box.replaceChildren(h("p", {class: "error", text: LR.problemText(r.data)})); return; }
  const t = r.data;
  const a = (t.route && t.route.assignment) || {};
  const section = (title, ...body) => h("section", {}, h("h2", {text: title}), ...body);
  const link = t.record_url ? h("a", {href: t.record_url, target: "_blank", rel: "noopener", text: "open the CRM record"}) : null;
  const step = (label, value) => h("div", {class: "step"}, h("span", {text: label}), h("b", {text: value}));
  const written = t.crm_result ? (t.record || "written") : (t.dead_letter ? "dead-lettered" : "not written yet");
  box.replaceChildren(...[
    h("p", {class: "muted"}, `Decided ${LR.fmtTime(t.decided_at)} under config ${t.config_version}`,
      t.written_at ? ` · written ${LR.fmtTime(t.written_at)}` : "", " ", link),
    h("div", {class: "steps"},
      step("Source", (t.lead.origin && (t.lead.origin.form || t.lead.origin.source)) || "?"),
      step("Match", t.match ? `${t.match.kind} ${t.match.record_id}` : "new lead"),
      step("Score", `${t.score.total} · ${t.score.grade}`),
      step("Route", `${a.owner || "queue " + (a.queue || "?")} by ${a.rule || "?"}`),
      step("CRM", written)),
    t.dead_letter ? (t.crm_result && t.written_at
      ? h("p", {class: "muted", text: `Dead-lettered once (${t.dead_letter}); written since.`})
      : h("p", {class: "error", text: "Dead-lettered: " + t.dead_letter + " — see Dead letters to fix and replay it."})) : null,
    h("div", {class: "two"},
      section("1. Raw payload", t.payload ? h("pre", {class: "json", text: LR.json(t.payload)})
                                          : h("p", {class: "muted", text: "No longer kept (recent payloads are kept for a few days)."})),
      section("2. Canonical lead", h("pre", {class: "json", text: LR.json(LR.prune(t.lead))}))),
    ...LR.decisionSections({...t, crm: null}),
    section("CRM result", h("pre", {class: "json", text: t.crm_result ? LR.json(t.crm_result) : "not written yet"}), link),
  ].filter(Boolean));
})();
