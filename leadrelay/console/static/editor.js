// leadrelay console: the editing pages' core. Each file is a JSON document; inputs write at their data-path,
// structural changes are asked of /admin/fragment, the server turns documents into YAML (/admin/yaml), and the
// admin API validates, keeps the draft and publishes. Errors are shown beside the input they name.
"use strict";

const Editor = (() => {
  const state = LR.data("editor");
  if (!state) return null;
  const docs = state.docs;
  const dirty = new Set();
  const listeners = [];
  const UNSET = Symbol("unset");
  let invalid = false;

  // ---- paths ("rules[2].when.all[0].field") -------------------------------------------------------------------
  function steps(path) {
    const out = [];
    (path || "").replace(/\.?([^.\[\]]+)|\[(\d+)\]/g, (_, key, index) => { out.push(index !== undefined ? Number(index) : key); });
    return out;
  }

  function setAt(doc, path, value) {
    const parts = steps(path);
    if (!parts.length) return;
    let node = doc;
    for (let i = 0; i < parts.length - 1; i++) {
      if (node[parts[i]] === undefined || node[parts[i]] === null || typeof node[parts[i]] !== "object") {
        if (value === UNSET) return;
        node[parts[i]] = typeof parts[i + 1] === "number" ? [] : {};
      }
      node = node[parts[i]];
    }
    const last = parts[parts.length - 1];
    if (value === UNSET) { if (Array.isArray(node)) node[last] = null; else delete node[last]; }
    else node[last] = value;
  }

  function getAt(doc, path) {
    return steps(path).reduce((node, s) => (node === undefined || node === null ? undefined : node[s]), doc);
  }

  function read(el) {
    const kind = el.dataset.k, opt = el.hasAttribute("data-opt"), v = el.value;
    if (kind === "bool") return el.checked;
    if (kind === "num") return v.trim() === "" ? UNSET : Number(v);
    if (kind === "list") {
      const items = v.split(",").map(s => s.trim()).filter(Boolean);
      return items.length || !opt ? items : UNSET;
    }
    if (kind === "yaml") return v.trim() === "" ? (opt ? UNSET : null) : {__yaml__: v};
    if (kind === "path") return v.trim() === "" ? UNSET : (v.trim().startsWith("[") ? {__yaml__: v} : v.trim());
    return v === "" && opt ? UNSET : v;
  }

  function onInput(ev) {
    const el = ev.target;
    if (!el.dataset || !el.dataset.k) return;
    const section = el.closest("section.editor");
    if (!section) return;
    const key = section.dataset.key;
    if (el.dataset.k === "rest") {
      const node = el.dataset.path ? getAt(docs[key], el.dataset.path) : docs[key];
      if (node) node.__rest__ = {text: el.value, keep: (el.dataset.keep || "").split(",")};
    } else {
      setAt(docs[key], el.dataset.path, read(el));
      const label = el.closest("label.f");
      if (label) label.classList.toggle("has-value", el.value !== "");
      const card = el.closest("article.card[data-strategy]");
      if (card && el.dataset.path.endsWith(".strategy")) card.dataset.strategy = el.value;
    }
    clearError(el);
    changed(key);
  }

  function changed(key) {
    dirty.add(key);
    const status = document.getElementById("draft-status");
    if (status) { status.textContent = "Unsaved changes…"; status.classList.add("dirty"); }
    listeners.forEach(fn => fn(key));
    autosave();
  }

  // ---- YAML texts and the bundle --------------------------------------------------------------------------------
  async function texts(keys) {
    const list = keys || [...dirty];
    if (!list.length) return {};
    const files = {};
    list.forEach(k => { files[k] = docs[k]; });
    const r = await LR.api("POST", "/admin/yaml", {files});
    if (!r.ok) { showErrors((r.data && r.data.errors) || [], r.data); return null; }
    return r.data.files;
  }

  // the draft's files with this page's edits over them (the admin API merges them over the published version)
  async function changedFiles() {
    const edited = await texts();
    return edited === null ? null : {...state.draft, ...edited};
  }

  // ---- errors beside fields ---------------------------------------------------------------------------------------
  // the message goes right under its input: inside the input's label, else just after the input
  function clearError(el) {
    el.classList.remove("invalid");
    const label = el.closest("label");
    const old = label ? label.querySelector(".field-error") : el.nextElementSibling;
    if (old && old.classList.contains("field-error")) old.remove();
  }

  function clearErrors() {
    document.querySelectorAll(".field-error").forEach(e => e.remove());
    document.querySelectorAll(".invalid").forEach(e => e.classList.remove("invalid"));
  }

  function inputFor(error) {
    const section = [...document.querySelectorAll("section.editor")].find(s => s.dataset.key === error.file);
    if (!section) return null;
    const field = error.field || "";
    const inputs = [...section.querySelectorAll("[data-path]")].filter(el => el.dataset.k);
    const exact = inputs.find(el => el.dataset.path === field);
    if (exact) return exact;
    const boundary = (p, q) => q.startsWith(p) && (p === "" || q.length === p.length || ".[".includes(q[p.length]));
    let best = null;
    for (const el of inputs) {  // the deepest input above the field, or the first one inside it
      const p = el.dataset.path;
      if (boundary(p, field) && (!best || p.length > best.dataset.path.length)) best = el;
    }
    return best || inputs.find(el => boundary(field, el.dataset.path)) || null;
  }

  function showErrors(errors, problem) {
    clearErrors();
    const loose = [];
    let first = null;
    for (const e of errors) {
      const el = inputFor(e);
      const text = (e.field ? e.field + ": " : "") + e.message;
      if (!el) { loose.push(`${e.file}${e.line ? ":" + e.line : ""}: ${text}`); continue; }
      el.classList.add("invalid");
      const note = LR.h("span", {class: "field-error", role: "alert", text: e.message + (e.line ? ` (line ${e.line})` : "")});
      const label = el.closest("label");
      if (label) label.append(note); else el.after(note);
      if (!first) first = el;
    }
    if (first) {
      const panel = first.closest(".panel");
      const tab = panel && document.querySelector(`[data-tab="${panel.id}"]`);
      if (tab && panel.hidden) LR.showTab(tab);
      first.scrollIntoView({block: "center"});
    }
    const summary = errors.length ? `${errors.length} problem${errors.length > 1 ? "s" : ""} in the draft: it cannot be published.`
                                  : LR.problemText(problem);
    LR.message([summary, ...loose].join(" "), "bad");
  }

  function setInvalid(flag) {
    invalid = flag;
    const btn = document.getElementById("publish");
    if (btn && LR.role === "admin") {
      btn.disabled = flag;
      btn.title = flag ? "fix the problems shown beside the fields first" : "";
    }
  }

  async function validate(files) {
    const r = await LR.api("POST", "/api/admin/config/validate", {files});
    if (r.ok) { clearErrors(); setInvalid(false); return true; }
    showErrors((r.data && r.data.errors) || [], r.data);
    setInvalid(r.status === 422);
    return false;
  }

  // ---- draft, publish ---------------------------------------------------------------------------------------------
  async function saveDraft() {
    if (LR.role !== "admin" || !dirty.size) return;
    const files = await changedFiles();
    if (files === null) { setInvalid(true); return; }
    const r = await LR.api("PUT", "/api/admin/config/draft", {files, base: state.base});
    const status = document.getElementById("draft-status");
    if (r.ok) {
      state.draft = files;
      document.body.dataset.saves = String(Number(document.body.dataset.saves || 0) + 1);  // tests wait on it
      if (status) { status.textContent = `Draft saved ${new Date().toLocaleTimeString()}, based on version ${state.base}.`; status.classList.remove("dirty"); }
    } else {
      LR.message("The draft was not saved: " + LR.problemText(r.data), "bad");
    }
    await validate(files);
  }
  const autosave = LR.debounce(saveDraft, 700);

  async function publish() {
    const files = await changedFiles();
    if (files === null) return;
    if (!Object.keys(files).length) { LR.message("Nothing to publish: no changes.", "bad"); return; }
    const message = (document.getElementById("publish-message") || {}).value || "";
    const r = await LR.api("POST", "/api/admin/config/publish", {files, base: state.base, message});
    if (r.status === 201 || r.ok) {
      await LR.api("DELETE", "/api/admin/config/draft");
      clearErrors();
      LR.message(`Published version ${r.data.number}. Every worker uses it for the next lead.`, "ok");
      document.body.dataset.published = String(r.data.number);
      setTimeout(() => location.reload(), 1200);
    } else if (r.status === 422) {
      showErrors(r.data.errors || [], r.data);
      setInvalid(true);
    } else {
      LR.message("Not published: " + LR.problemText(r.data), "bad");
    }
  }

  async function discard() {
    await LR.api("DELETE", "/api/admin/config/draft");
    location.reload();
  }

  // ---- structural changes ---------------------------------------------------------------------------------------
  async function fragment(section, doc, op, path, arg) {
    const r = await LR.api("POST", "/admin/fragment", {view: section.dataset.view, key: section.dataset.key, doc, op, path, arg});
    if (!r.ok) { showErrors((r.data && r.data.errors) || [], r.data); return null; }
    return r.data;
  }

  function replaceSection(section, html) {
    const tpl = document.createElement("template");
    tpl.innerHTML = html;
    const fresh = tpl.content.firstElementChild;
    if (LR.role !== "admin") fresh.querySelectorAll("fieldset.edits").forEach(f => { f.disabled = true; });
    section.replaceWith(fresh);
    document.dispatchEvent(new CustomEvent("lr:redrawn", {detail: {key: fresh.dataset.key}}));
    return fresh;
  }

  async function applyOp(section, op, path, arg) {
    const key = section.dataset.key;
    const out = await fragment(section, docs[key], op, path, arg);
    if (!out) return false;
    docs[key] = out.doc;
    replaceSection(section, out.html);
    changed(key);
    return true;
  }

  // one click, published at once: the change applied to the published file alone (not to the rest of the draft)
  async function publishNow(section, op, path, arg, message) {
    const key = section.dataset.key;
    const out = await fragment(section, state.published[key], op, path, arg);
    if (!out) return;
    const r1 = await LR.api("POST", "/admin/yaml", {files: {[key]: out.doc}});
    if (!r1.ok) { showErrors(r1.data.errors || [], r1.data); return; }
    const r = await LR.api("POST", "/api/admin/config/publish", {files: r1.data.files, base: state.number, message});
    if (!(r.status === 201 || r.ok)) { LR.message("Not published: " + LR.problemText(r.data), "bad"); return; }
    const hadDraft = dirty.size || Object.keys(state.draft).length;
    state.published[key] = out.doc;
    state.number = r.data.number;
    state.base = r.data.number;
    const mine = await fragment(section, docs[key], op, path, arg);
    if (mine) {
      docs[key] = mine.doc;
      replaceSection(section, mine.html);
      if (hadDraft) changed(key);
    }
    LR.message(`Published version ${r.data.number}: ${message}.`, "ok");
    const status = document.getElementById("draft-status");
    if (status && !hadDraft) status.textContent = `Editing version ${r.data.number} (published). Changes are kept as your draft.`;
    document.body.dataset.published = String(r.data.number);
  }

  document.addEventListener("click", async ev => {
    const btn = ev.target.closest("button[data-op]");
    if (!btn || btn.disabled) return;
    const section = btn.closest("section.editor");
    const arg = btn.dataset.arg ? JSON.parse(btn.dataset.arg) : null;
    if (btn.dataset.publish) await publishNow(section, btn.dataset.op, btn.dataset.path, arg, btn.dataset.publish);
    else await applyOp(section, btn.dataset.op, btn.dataset.path, arg);
  });

  // ---- drag and drop (by the handle: the row number or the card's grip, so text in the inputs still selects) ----
  let dragging = null;
  document.addEventListener("dragstart", ev => {
    const grip = ev.target.closest && ev.target.closest(".handle, td.n");
    dragging = grip && LR.role === "admin" ? grip.closest("[data-drag]") : null;
    if (!dragging) return;
    dragging.classList.add("dragging");
    ev.dataTransfer.effectAllowed = "move";
    ev.dataTransfer.setData("text/plain", dragging.dataset.drag);
    ev.dataTransfer.setDragImage(dragging, 12, 12);
  });
  document.addEventListener("dragover", ev => {
    const over = dragging && ev.target.closest("[data-drag]");
    if (!over || over.parentElement !== dragging.parentElement) return;
    ev.preventDefault();
    document.querySelectorAll(".drop-target").forEach(e => e.classList.remove("drop-target"));
    over.classList.add("drop-target");
  });
  document.addEventListener("drop", async ev => {
    const over = dragging && ev.target.closest("[data-drag]");
    if (!over || over === dragging || over.parentElement !== dragging.parentElement) return;
    ev.preventDefault();
    const to = steps(over.dataset.drag).pop();
    await applyOp(dragging.closest("section.editor"), "move", dragging.dataset.drag, to);
  });
  document.addEventListener("dragend", () => {
    document.querySelectorAll(".dragging, .drop-target").forEach(e => e.classList.remove("dragging", "drop-target"));
    dragging = null;
  });

  document.addEventListener("input", onInput);
  document.addEventListener("change", ev => { if (ev.target.type === "checkbox" || ev.target.tagName === "SELECT" || ev.target.type === "date") onInput(ev); });
  const pub = document.getElementById("publish");
  if (pub) pub.addEventListener("click", publish);
  const dis = document.getElementById("discard-draft");
  if (dis) dis.addEventListener("click", discard);
  if (LR.role !== "admin") document.querySelectorAll("fieldset.edits").forEach(f => { f.disabled = true; });
  if (Object.keys(state.draft).length) validate(state.draft);

  return {state, docs, dirty, texts, changedFiles, showErrors, clearErrors, validate, onChange: fn => listeners.push(fn)};
})();
