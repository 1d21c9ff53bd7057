// Field mappings: the live preview (a recent or pasted payload through the draft's mapping: canonical lead and the
// exact CRM payload, redrawn as a row changes, the lines that changed marked) and the CRM field lists.
"use strict";

(() => {
  const E = Editor;
  const $ = id => document.getElementById(id);
  const src = $("pv-source"), recent = $("pv-recent"), pasted = $("pv-payload"), err = $("pv-error");
  const sources = Object.entries(E.state.views).filter(([, v]) => v === "source_mapping")
    .map(([k]) => (E.docs[k] && E.docs[k].name) || k.split("/").pop().replace(/\.yaml$/, ""));
  src.replaceChildren(...sources.map(s => LR.h("option", {value: s, text: s})));
  let previous = {};

  function emailIn(payload) {
    const m = JSON.stringify(payload || {}).match(/[\w.+-]+@[\w-]+\.[\w.-]+/);
    return m ? m[0] : "";
  }

  async function loadRecent() {
    const r = await LR.api("GET", "/api/admin/payloads?source=" + encodeURIComponent(src.value));
    const items = r.ok ? r.data : [];
    recent.replaceChildren(LR.h("option", {value: "", text: items.length ? "— paste one below —" : "none kept yet: paste one below"}),
      ...items.map(p => LR.h("option", {value: p.id, text: `${LR.fmtTime(p.at)} · ${emailIn(p.payload) || p.id}`})));
    if (items.length && !pasted.value.trim()) recent.value = items[0].id;
    run();
  }

  const prune = LR.prune;

  // the first marked line scrolled into view inside its box (not the page)
  function reveal(box) {
    const first = box.querySelector(".chg");
    if (first) box.scrollTop = Math.max(0, first.offsetTop - box.clientHeight / 3);
  }

  // a <pre> of JSON whose lines that were not in the last preview are marked
  function pre(name, value) {
    const text = value === null || value === undefined ? "—" : LR.json(prune(value));
    const before = new Set(previous[name] || []);
    const lines = text.split("\n");
    const first = previous[name] === undefined;
    previous[name] = lines;
    return LR.h("pre", {class: "json", "data-preview": name},
                lines.map(l => LR.h("span", {class: !first && !before.has(l) ? "chg" : null, text: l + "\n"})));
  }

  async function run() {
    err.hidden = true;
    const body = {source: src.value};
    const text = pasted.value.trim();
    if (text) {
      try { body.payload = JSON.parse(text); } catch (e) { err.textContent = "The payload is not JSON: " + e.message; err.hidden = false; return; }
    } else if (recent.value) {
      body.recent_id = recent.value;
    } else {
      $("pv-lead").replaceChildren("Pick a recent payload or paste one.");
      return;
    }
    const files = await E.changedFiles();
    if (files === null) return;
    body.files = files;
    const r = await LR.api("POST", "/api/admin/preview/mapping", body);
    if (!r.ok) {
      if (r.data && r.data.errors) E.showErrors(r.data.errors, r.data);
      err.textContent = LR.problemText(r.data); err.hidden = false;
      return;
    }
    const problems = (r.data.errors || []).map(e => `${e.field}: ${e.message}`);
    if (problems.length) { err.textContent = problems.join("; "); err.hidden = false; }
    const lead = Object.assign(pre("lead", r.data.lead), {id: "pv-lead"});
    $("pv-lead").replaceWith(lead);
    const crm = $("pv-crm");
    crm.replaceChildren(...Object.entries(r.data.crm || {}).flatMap(([name, p]) => [
      LR.h("div", {class: "crm-name", text: `${name} · ${p.object}`}), pre("crm:" + name, p.fields)]));
    [lead, ...crm.querySelectorAll("pre")].forEach(reveal);
    document.body.dataset.previewed = String(Number(document.body.dataset.previewed || 0) + 1);
  }

  const schedule = LR.debounce(run, 350);
  E.onChange(schedule);
  src.addEventListener("change", () => { previous = {}; loadRecent(); });
  recent.addEventListener("change", () => { if (recent.value) pasted.value = ""; schedule(); });
  pasted.addEventListener("input", schedule);
  document.addEventListener("lr:tab", ev => {
    const panel = document.getElementById(ev.detail.panel);
    if (panel && panel.dataset.source && panel.dataset.source !== src.value && sources.includes(panel.dataset.source)) {
      src.value = panel.dataset.source;
      previous = {};
      loadRecent();
    }
  });

  // the CRM's own field list (when it can say) for the CRM field dropdowns
  Object.entries(E.state.views).filter(([, v]) => v === "crm_mapping").forEach(async ([key]) => {
    const crm = E.docs[key] && E.docs[key].crm;
    const list = crm && document.getElementById("crm-fields-" + crm);
    if (!list) return;
    const r = await LR.api("GET", "/api/admin/crm/fields?crm=" + encodeURIComponent(crm));
    if (!r.ok) return;
    const have = new Set([...list.options].map(o => o.value));
    r.data.filter(f => !have.has(f.name)).forEach(f => list.append(LR.h("option", {value: f.name, label: `${f.label} (${f.type})`})));
  });

  loadRecent();
})();
