// Rules: each rule's hit count over the last N days beside it.
"use strict";

(() => {
  const days = document.getElementById("hit-days");
  let counts = {};

  function paint() {
    document.querySelectorAll(".hits[data-hits]").forEach(el => {
      const n = counts[el.dataset.hits] || 0;
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
