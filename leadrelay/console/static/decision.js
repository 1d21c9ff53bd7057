// One decision's trace: raw payload -> canonical lead -> match -> score -> route -> CRM write and its result.
"use strict";

(async () => {
  const {h} = LR;
  const box = document.getElementById("trace");
  const r = await LR.api("GET", "/api/admin/decisions/" + encodeURIComponent(box.dataset.lead));
  if (!r.ok) { box.replaceChildren(h("p", {class: "error", text: LR.problemText(r.data)})); return; }
  const t = r.data;
  const section = (title, ...body) => h("section", {}, h("h2", {text: title}), ...body);
  const link = t.record_url ? h("a", {href: t.record_url, target: "_blank", rel: "noopener", text: "open the CRM record"}) : null;
  box.replaceChildren(
    h("p", {class: "muted"}, `Decided ${LR.fmtTime(t.decided_at)} under config ${t.config_version}`,
      t.written_at ? ` · written ${LR.fmtTime(t.written_at)}` : "", t.record ? ` · ${t.record} ` : "", link),
    t.dead_letter ? h("p", {class: "error", text: "Dead-lettered: " + t.dead_letter}) : null,
    section("1. Raw payload", t.payload ? h("pre", {class: "json", text: LR.json(t.payload)}) : h("p", {class: "muted", text: "No longer kept (recent payloads are kept for a few days)."})),
    section("2. Canonical lead", h("pre", {class: "json", text: LR.json(t.lead)})),
    ...LR.decisionSections({...t, crm: null}),
    section("CRM result", h("pre", {class: "json", text: t.crm_result ? LR.json(t.crm_result) : "not written yet"}), link));
})();
