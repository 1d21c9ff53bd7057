// Dead letters: the list with reasons; fix the payload (or the mapping, then publish) and replay.
"use strict";

(async () => {
  const {h} = LR;
  const box = document.getElementById("letters");
  const tpl = document.getElementById("replay-buttons");
  const r = await LR.api("GET", "/api/admin/dead-letters");
  if (!r.ok) { box.replaceChildren(h("p", {class: "error", text: LR.problemText(r.data)})); return; }
  if (!r.data.length) { box.replaceChildren(h("p", {class: "empty", text: "No dead letters. Everything went through."})); return; }
  const short = text => (text.length > 220 ? text.slice(0, 220) + "…" : text);
  box.replaceChildren(h("table", {class: "list letters"},
    h("thead", {}, h("tr", {}, ["When", "Kind", "Source", "Reason", "Payload", ""].map(t => h("th", {text: t})))),
    h("tbody", {}, r.data.map(d => {
      const area = h("textarea", {rows: 8, spellcheck: "false", "aria-label": "payload to replay"});
      area.value = LR.json(d.payload);
      const status = h("span", {class: "small muted"});
      const btn = tpl.content.firstElementChild.cloneNode(true);
      btn.addEventListener("click", async () => {
        let payload;
        try { payload = JSON.parse(area.value); } catch (e) { status.textContent = "not JSON: " + e.message; return; }
        const same = LR.json(payload) === LR.json(d.payload);
        const res = await LR.api("POST", `/api/admin/dead-letters/${encodeURIComponent(d.id)}/replay`, same ? {} : {payload});
        status.textContent = res.ok ? "queued again" + (res.data && res.data.replanned ? " (fields planned with the current mapping)" : "") : LR.problemText(res.data);
        if (res.ok) btn.disabled = true;
      });
      return h("tr", {},
        h("td", {text: LR.fmtTime(d.at)}), h("td", {text: d.kind}), h("td", {text: d.source}),
        h("td", {}, h("b", {text: short(d.reason)}), d.reason.length > 220 ? h("details", {}, h("summary", {class: "small", text: "whole reason"}), h("pre", {class: "json", text: d.reason})) : null,
          d.error_code ? h("div", {class: "small muted", text: d.error_code}) : null,
          h("div", {class: "small muted", text: `${d.attempts} attempts · ${d.replay_command}`})),
        h("td", {}, h("details", {}, h("summary", {text: "fix the payload"}), area)),
        h("td", {}, btn, h("br"), status));
    }))));
})();
