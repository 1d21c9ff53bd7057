// Backtest: the draft against the published version over stored leads or a CSV: owner diff table, per-rep
// before/after chart, unassigned share, stage and tag changes.
"use strict";

(() => {
  const $ = id => document.getElementById(id);
  const {h} = LR;
  const draft = LR.data("draft") || {};
  const pct = v => { const p = 100 * (v || 0); return `${Number.isInteger(p) ? p : p.toFixed(1)} %`; };

  function summary(o) {
    const stat = (value, label, cls) => h("div", {class: "stat" + (cls ? " " + cls : "")},
      h("b", {class: String(value).length > 8 ? "long" : null, text: String(value)}), h("span", {text: label}));
    $("bt-summary").replaceChildren(
      stat(o.leads, "leads decided twice"),
      stat(o.changed.length, "change owner", o.changed.length ? "bad" : ""),
      stat(`${pct(o.unassigned_before)} → ${pct(o.unassigned_after)}`, "unassigned share"),
      stat((o.stage_changes || []).length, "change stage or grade"),
      stat((o.tag_changes || []).length, "change tags"));
  }

  function chart(o) {
    const reps = [...new Set([...Object.keys(o.before || {}), ...Object.keys(o.after || {})])];
    const groups = reps.map(r => ({label: r === "null" ? "(unassigned)" : r, before: (o.before || {})[r] || 0, after: (o.after || {})[r] || 0}))
      .sort((x, y) => (y.before + y.after) - (x.before + x.after));
    $("bt-chart").replaceChildren(LR.pairedBars(groups), LR.legend([["before", "before (published)"], ["after", "after (draft)"]]));
    $("bt-chart-fig").hidden = false;
  }

  const table = (id, head, rows) => h("table", {class: "list", id},
    h("thead", {}, h("tr", {}, head.map(t => h("th", {text: t})))), h("tbody", {}, rows));

  function others(o) {
    const out = [];
    if ((o.stage_changes || []).length) {
      out.push(h("h2", {text: "Stage and grade changes"}), table("stage-diff", ["Lead", "Before", "After"],
        o.stage_changes.map(c => h("tr", {}, h("td", {text: c.email || c.lead}),
          h("td", {text: `${c.before} · ${c.before_grade} (${c.before_score})`}), h("td", {text: `${c.after} · ${c.after_grade} (${c.after_score})`})))));
    }
    if ((o.tag_changes || []).length) {
      out.push(h("h2", {text: "Tag changes"}), table("tag-diff", ["Lead", "Added", "Removed"],
        o.tag_changes.map(c => h("tr", {}, h("td", {text: c.email || c.lead}), h("td", {text: c.added.join(", ")}), h("td", {text: c.removed.join(", ")})))));
    }
    return out;
  }

  function changes(o) {
    if (!o.changed.length) { $("bt-changes").replaceChildren(h("p", {class: "empty", text: "No lead changes owner under the draft."}), ...others(o)); return; }
    const rows = o.changed.map(c => h("tr", {},
      h("td", {text: c.email || c.lead}),
      h("td", {}, h("span", {class: "before-owner", text: c.before || "(queue)"}), h("br"), h("small", {class: "muted", text: c.before_rule})),
      h("td", {}, h("b", {class: "after-owner", text: c.after || "(queue)"}), h("br"), h("small", {class: "muted", text: c.after_rule})),
      h("td", {text: c.why})));
    $("bt-changes").replaceChildren(h("h2", {text: "Owner changes"}), table("owner-diff", ["Lead", "Before", "After", "Why"], rows), ...others(o));
  }

  $("backtest-form").addEventListener("submit", async ev => {
    ev.preventDefault();
    const body = {files: draft};
    const file = $("bt-csv").files[0];
    if (file) { body.csv = await file.text(); body.source = $("bt-source").value; }
    else body.days = Number($("bt-days").value) || 7;
    $("bt-summary").replaceChildren(h("p", {class: "muted", text: "Running…"}));
    const r = await LR.api("POST", "/api/admin/backtest", body);
    if (!r.ok) { $("bt-summary").replaceChildren(h("p", {class: "error", text: LR.problemText(r.data)})); return; }
    summary(r.data); chart(r.data); changes(r.data);
    document.body.dataset.backtested = "1";
  });
})();
