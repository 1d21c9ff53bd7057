// Rules: each rule's hit count over the last N days beside it.
"use strict";

(() => {
  const days = document.getElementById("hit-days");
  let counts = {};

  function paint() {
    document.querySelectorAll(".hits[data-hits]").forEach(el => {
      // counts are keyed kind:name (a scoring rule and a tag rule may share a name); the kind is the file's
      const file = (el.closest("section[data-key]") || {dataset: {}}).dataset.key || "";
      const kind = file.replace(/^rules\//, "").replace(/\.yaml$/, "");
      const name = el.dataset.hits;
      const n = counts[`${kind}:${name}`] || (kind === "tags" ? counts[`segments:${name}`] : 0) || 0;
      el.textContent = `${n} hit${n === 1 ? "" : "s"}`;
      el.title = `leads this rule applied to in the last ${days.value} days`;
    });
  }

  async function load() {
    const r = await LR.api("GET", "/api/admin/rules/hits?days=" + encodeURIComponent(days.value || 7));
    counts = r.ok ? r.data : {};
    paint();
  }

  days.addEventListener("change", load);
  document.addEventListener("lr:redrawn", paint);
  load();
})();
