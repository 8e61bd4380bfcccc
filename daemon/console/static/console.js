// Refreshes the live parts of a console page (the elements marked
// data-live) every few seconds, so that a rollout shows as it happens.
// Without JavaScript the pages work the same; they only do not refresh.
(function () {
  "use strict";
  const live = () => document.querySelectorAll("[data-live][id]");
  if (live().length === 0) return;
  async function refresh() {
    try {
      const res = await fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } });
      if (!res.ok) return;
      const doc = new DOMParser().parseFromString(await res.text(), "text/html");
      for (const el of live()) {
        const next = doc.getElementById(el.id);
        if (next && next.innerHTML !== el.innerHTML) el.innerHTML = next.innerHTML;
      }
    } catch (e) {
      // The daemon may be restarting; try again on the next tick.
    }
  }
  setInterval(refresh, 2000);
})();
