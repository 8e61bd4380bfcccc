// Refreshes the live parts of a console page (the elements marked
// data-live) every few seconds, so that a rollout shows as it happens.
// Without JavaScript the pages work the same; they only do not refresh.
(function () {
  "use strict";
  // The diff summary of a preview takes a render of every site: it is
  // asked for apart, once the replicas are shown.
  for (const el of document.querySelectorAll("[data-summary]")) {
    fetch(el.dataset.summary, { credentials: "same-origin" })
      .then((res) => (res.ok ? res.text() : Promise.reject(res.status)))
      .then((html) => {
        const next = new DOMParser().parseFromString(html, "text/html").getElementById("summary");
        if (next) el.replaceWith(next);
      })
      .catch(() => {});
  }
  const live = () => document.querySelectorAll("[data-live][id]");
  if (live().length === 0) return;
  async function refresh() {
    try {
      // The page without its query: a preview is not worked out again.
      const url = document.body.dataset.refresh || location.pathname;
      const res = await fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } });
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
