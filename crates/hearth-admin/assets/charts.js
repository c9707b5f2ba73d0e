// Hearth dashboard charts: /api/v1/stats drawn with the vendored uPlot (assets/vendor/uplot). One chart per
// figure: per channel messages/min by status and ACK latency p50/p99; per destination deliveries/min and the
// outbox (depth, oldest pending age). Every chart's data is also written to the hidden table #chart-data (one
// row per series: its sum, number of points with a value, last value), the values the chart holds, for
// screen readers and tests.
"use strict";

const CHART_POLL_MS = 10000;
const COLORS = {
  received: "#2749a8", processed: "#1b7f3b", filtered: "#8a8aa0", error: "#b3261e", rejected: "#b26a00",
  ack_p50_ms: "#2749a8", ack_p99_ms: "#b3261e",
  sent: "#1b7f3b", failed: "#b26a00", dead: "#b3261e",
  depth: "#2749a8", oldest_pending_s: "#b26a00",
};

const hearthCharts = (() => {
  let apiGet = null;
  let windowName = "1h";
  let timer = null;
  const plots = new Map(); // chart id -> uPlot

  // What each chart shows, from one channel's or destination's series.
  function chartsOf(kind, s) {
    if (kind === "channel") {
      return [
        { id: "channel/" + s.name + "/messages", title: s.name + " · messages/min", series: ["received", "processed", "filtered", "error", "rejected"] },
        { id: "channel/" + s.name + "/ack", title: s.name + " · ACK latency ms", series: ["ack_p50_ms", "ack_p99_ms"] },
      ];
    }
    return [
      { id: "destination/" + s.name + "/deliveries", title: s.name + " · deliveries/min", series: ["sent", "failed", "dead"] },
      { id: "destination/" + s.name + "/outbox", title: s.name + " · outbox depth / oldest pending s", series: ["depth", "oldest_pending_s"] },
    ];
  }

  // The indices of a series' non-zero values when there are few of them (then each gets a dot), else none.
  function sparsePoints(self, i) {
    const idx = [];
    self.data[i].forEach((v, k) => { if (v != null && v !== 0) idx.push(k); });
    return idx.length < 90 ? idx : [];
  }

  function draw(chart, time, s) {
    const data = [time, ...chart.series.map((name) => s[name])];
    let u = plots.get(chart.id);
    if (u && u.series.length === data.length) {
      u.setData(data);
      return u;
    }
    const box = el("div", { class: "chart", "data-chart": chart.id });
    $("charts").append(box);
    const width = Math.max(320, Math.min(640, ($("charts").clientWidth || 1200) / 2 - 16));
    u = new uPlot({
      title: chart.title,
      width,
      height: 180,
      scales: { x: { time: true } },
      // Points where a series has few values (a minute alone between gaps draws no line).
      series: [{}, ...chart.series.map((name) => ({
        label: name, stroke: COLORS[name] || "#333", width: 1.5, spanGaps: false,
        points: { show: true, size: 6, filter: sparsePoints },
      }))],
      axes: [{}, { size: 56 }],
    }, data, box);
    plots.set(chart.id, u);
    return u;
  }

  // The hidden table: what each drawn series holds (read from the chart itself, not from the API answer).
  function tabulate(chartId, u) {
    const rows = [];
    u.series.forEach((series, i) => {
      if (i === 0) return;
      const values = u.data[i] || [];
      let sum = 0, points = 0, last = null;
      for (const v of values) {
        if (v == null) continue;
        sum += v; points += 1; last = v;
      }
      rows.push(el("tr", { "data-series": chartId + "/" + series.label },
        el("th", {}, chartId + "/" + series.label),
        el("td", { "data-field": "sum" }, String(Math.round(sum * 1000) / 1000)),
        el("td", { "data-field": "points" }, String(points)),
        el("td", { "data-field": "last" }, last == null ? "" : String(last))));
    });
    return rows;
  }

  async function refresh() {
    try {
      const r = await apiGet("/stats?window=" + windowName);
      const rows = [];
      const seen = new Set();
      for (const [kind, list] of [["channel", r.channels], ["destination", r.destinations]]) {
        for (const s of list) {
          for (const chart of chartsOf(kind, s)) {
            const u = draw(chart, r.time, s);
            seen.add(chart.id);
            rows.push(...tabulate(chart.id, u));
          }
        }
      }
      for (const [id, u] of plots) {
        if (!seen.has(id)) { u.root.parentNode.remove(); u.destroy(); plots.delete(id); }
      }
      $("chart-data").tBodies[0].replaceChildren(...rows);
      $("charts-panel").dataset.window = r.window;
      $("charts-panel").dataset.updated = String(Date.now());
      $("charts-panel").dataset.ready = "1";
    } catch (e) {
      $("charts-status").textContent = "charts not updated: " + e.message;
    }
  }

  function setWindow(name) {
    windowName = name;
    for (const b of document.querySelectorAll("#charts-panel [data-window]")) b.classList.toggle("on", b.dataset.window === name);
    refresh();
  }

  function start(get) {
    apiGet = get;
    const wanted = new URLSearchParams(location.search).get("window");
    if (wanted === "24h") windowName = "24h";
    for (const b of document.querySelectorAll("#charts-panel [data-window]")) {
      b.addEventListener("click", () => setWindow(b.dataset.window));
      b.classList.toggle("on", b.dataset.window === windowName);
    }
    if (!timer) timer = setInterval(refresh, CHART_POLL_MS);
    return refresh();
  }

  return { start };
})();
