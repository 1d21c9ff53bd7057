// Versions: the history with each version's diff; roll back publishes an old version's files again.
"use strict";

(async () => {
  const {h} = LR;
  const box = document.getElementById("versions");
  const tpl = document.getElementById("rollback-button");
  const r = await LR.api("GET", "/api/admin/config/versions");
  if (!r.ok) { box.replaceChildren(h("p", {class: "error", text: LR.problemText(r.data)})); return; }
  const current = r.data.length ? r.data[0].number : 0;

  function diff(text) {
    return h("div", {class: "diff"}, (text || "(no change)").split("\n").map(line =>
      h("span", {class: line.startsWith("@@") ? "hunk" : line.startsWith("+") && !line.startsWith("+++") ? "add"
                 : line.startsWith("-") && !line.startsWith("---") ? "del" : null, text: line + "\n"})));
  }

  box.replaceChildren(h("table", {class: "list versions"},
    h("thead", {}, h("tr", {}, ["#", "Published", "By", "Message", "Changes", ""].map(t => h("th", {text: t})))),
    h("tbody", {}, r.data.map(v => {
      const btn = tpl.content.firstElementChild.cloneNode(true);
      btn.dataset.number = v.number;
      if (v.number === current) { btn.disabled = true; btn.textContent = "current"; }
      const status = h("span", {class: "small muted"});
      btn.addEventListener("click", async () => {
        const res = await LR.api("POST", "/api/admin/config/rollback", {number: v.number, message: `roll back to version ${v.number}`});
        if (res.ok) { status.textContent = `published as version ${res.data.number}`; setTimeout(() => location.reload(), 800); }
        else status.textContent = LR.problemText(res.data);
      });
      const files = (v.diff.match(/^\+\+\+ b\/(.+)$/gm) || []).map(x => x.slice(6));
      return h("tr", {"data-version": v.number},
        h("td", {class: "num", text: v.number}), h("td", {text: LR.fmtTime(v.at)}), h("td", {text: v.author}),
        h("td", {}, v.message, v.restored_from ? h("div", {class: "small muted", text: `restores version ${v.restored_from}`}) : null),
        h("td", {}, h("details", {open: v.number === current && files.length < 4},
          h("summary", {text: files.length > 3 ? `${files.length} files: ${files.slice(0, 3).join(", ")}, …`
                               : files.length ? files.join(", ") : "no file changed"}), diff(v.diff))),
        h("td", {}, btn, h("br"), status));
    }))));
})();
