// Decisions: search by email, company, owner, rule and dates; each row opens the lead's trace.
"use strict";

(() => {
  const {h} = LR;
  const form = document.getElementById("search"), out = document.getElementById("results");

  async function search() {
    const q = new URLSearchParams();
    new FormData(form).forEach((v, k) => { if (String(v).trim()) q.set(k, String(v).trim()); });
    const r = await LR.api("GET", "/api/admin/decisions?" + q.toString());
    if (!r.ok) { out.replaceChildren(h("p", {class: "error", text: LR.problemText(r.data)})); return; }
    if (!r.data.length) { out.replaceChildren(h("p", {class: "empty", text: "No decision matches."})); return; }
    out.replaceChildren(h("table", {class: "list"},
      h("thead", {}, h("tr", {}, ["Decided", "Lead", "Company", "Owner", "Rule", "Score", "Source", "Version"].map(t => h("th", {text: t})))),
      h("tbody", {}, r.data.map(d => h("tr", {},
        h("td", {text: LR.fmtTime(d.decided_at)}),
        h("td", {}, h("a", {href: "/admin/decisions/" + encodeURIComponent(d.lead_id), text: d.email || d.lead_id})),
        h("td", {text: d.company || ""}),
        h("td", {text: d.owner || ("queue " + (d.queue || ""))}),
        h("td", {text: d.rule}),
        h("td", {class: "num", text: `${d.score} ${d.grade}`}),
        h("td", {text: d.source || ""}),
        h("td", {}, h("code", {text: d.config_version})))))));
  }

  form.addEventListener("submit", ev => { ev.preventDefault(); search(); });
  search();
})();
