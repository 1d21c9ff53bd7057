// Preview one lead: a pasted payload (or a stored lead) through the draft, the whole decision, nothing written.
"use strict";

(() => {
  const $ = id => document.getElementById(id);
  const draft = LR.data("draft") || {};
  $("preview-form").addEventListener("submit", async ev => {
    ev.preventDefault();
    const body = {files: draft};
    const id = $("lead-id").value.trim();
    if (id) body.lead_id = id;
    else {
      try { body.payload = JSON.parse($("lead-payload").value); } catch (e) {
        $("decision").replaceChildren(LR.h("p", {class: "error", text: "The payload is not JSON: " + e.message})); return;
      }
      body.source = $("lead-source").value;
    }
    const r = await LR.api("POST", "/api/admin/preview/lead", body);
    if (!r.ok) { $("decision").replaceChildren(LR.h("p", {class: "error", text: LR.problemText(r.data)})); return; }
    $("decision").replaceChildren(...LR.decisionSections(r.data));
    document.body.dataset.decided = "1";
  });
})();
