/* Phoenix dashboard: filters on the summary, and (under 'phoenix ui') the live panel, polled without reload.
   Plain browser JavaScript, no library, nothing fetched but this server's own /api/status. */
(function () {
  "use strict";

  function applyFilters() {
    var wanted = {};
    document.querySelectorAll("[data-filter]").forEach(function (sel) { wanted[sel.dataset.filter] = sel.value; });
    var shown = 0, rows = document.querySelectorAll("#summary tr.exp");
    rows.forEach(function (row) {
      var ok = Object.keys(wanted).every(function (k) { return !wanted[k] || row.dataset[k] === wanted[k]; });
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    var count = document.getElementById("shown-count");
    if (count) { count.textContent = shown + " of " + rows.length + " shown"; }
  }
  document.querySelectorAll("[data-filter]").forEach(function (sel) { sel.addEventListener("change", applyFilters); });
  if (document.getElementById("summary")) { applyFilters(); }

  if (!document.body.dataset.live || location.protocol.indexOf("http") !== 0) { return; }
  var token = new URLSearchParams(location.search).get("token");
  var url = "/api/status" + (token ? "?token=" + encodeURIComponent(token) : "");
  var results = null;  // what the summary shows; a change means new final results

  function cell(text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) { td.className = cls; }
    return td;
  }
  function pct(v) { return (typeof v === "number") ? (100 * v).toFixed(1) + " %" : "n/a"; }
  function kpiText(k) {
    var parts = [];
    ["cost_reduction", "cardinality_reduction", "critical_retention"].forEach(function (name) {
      if (k && name in k) { parts.push(name + " " + pct(k[name])); }
    });
    return parts.join(", ") || "not yet";
  }

  function render(data) {
    var body = document.querySelector("#live-table tbody");
    var rows = data.experiments || [];
    document.getElementById("live-state").textContent =
      rows.filter(function (r) { return r.state === "running"; }).length + " running, updated " +
      new Date(data.now * 1000).toLocaleTimeString();
    rows.forEach(function (r) {
      var tr = body.querySelector("tr[data-name='" + CSS.escape(r.name) + "']");
      if (!tr) {
        tr = document.createElement("tr");
        tr.dataset.name = r.name;
        tr.dataset.phases = "";
        body.appendChild(tr);
      }
      var seen = tr.dataset.phases ? tr.dataset.phases.split(",") : [];
      if (seen[seen.length - 1] !== r.phase) { seen.push(r.phase); }
      tr.dataset.phases = seen.join(",");
      tr.dataset.phase = r.phase;
      tr.dataset.state = r.state;
      tr.className = "live-" + r.state;
      tr.replaceChildren(
        cell(r.name), cell(r.state + (r.verdict ? ": " + r.verdict : ""), "state"), cell(r.phase, "phase"),
        cell(r.state === "running" ? Math.round(r.remaining_s || 0) + " s" : "", "left"),
        cell((r.load || "") + (r.load_size ? " (" + r.load_size + ")" : "") +
             (r.state === "running" && r.detail ? "; now " + r.detail : ""), "load"),
        cell(kpiText(r.kpis), "kpis"));
    });
    if (results !== null && data.results !== results) {
      var news = document.getElementById("live-news");
      news.innerHTML = "";
      var a = document.createElement("a");
      a.href = location.href;
      a.textContent = "new results are in: reload the summary";
      news.appendChild(a);
    }
    results = data.results;
  }

  function poll() {
    fetch(url, {cache: "no-store"}).then(function (resp) {
      if (!resp.ok) { throw new Error("HTTP " + resp.status); }
      return resp.json();
    }).then(render).catch(function (err) {
      document.getElementById("live-state").textContent = "not connected (" + err.message + ")";
    }).finally(function () { setTimeout(poll, 1000); });
  }
  poll();
})();
