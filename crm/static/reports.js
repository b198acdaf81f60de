/* The report pages' charts, drawn with the vendored Chart.js (static/vendor/chartjs) from the
   JSON blocks the page carries: <canvas data-chart="ID"> reads <script type="application/json"
   id="ID">{"type", "horizontal", "labels", "series": [{"label", "data"}]}</script>. A file, not
   an inline script, so the pages can forbid inline scripts (CSP). Every figure is also in a
   table beside its chart, so the page reads the same without script. */
(function () {
  "use strict";

  var PALETTE = ["#0a5a9c", "#2e7d43", "#b7791f", "#7b3fa0", "#a12b1f", "#0d7a73"];
  var MAX_LABEL = 28;

  function each(nodes, fn) { Array.prototype.forEach.call(nodes, fn); }

  function spec(id) {
    var node = document.getElementById(id);
    if (!node) { return null; }
    try { return JSON.parse(node.textContent); } catch (e) { return null; }
  }

  function shorten(text) {
    text = String(text);
    return text.length > MAX_LABEL ? text.slice(0, MAX_LABEL - 1) + "…" : text;
  }

  function draw(canvas) {
    var s = spec(canvas.getAttribute("data-chart"));
    if (!s || typeof window.Chart === "undefined" || !s.labels || !s.labels.length) { return; }
    var horizontal = !!s.horizontal;
    var box = canvas.parentNode;
    if (horizontal) {
      // Bars need room: one band per label, whatever the screen's width.
      var band = 14 + 12 * s.series.length;
      box.style.height = Math.max(180, 70 + s.labels.length * band) + "px";
    }
    var line = s.type === "line";
    var datasets = s.series.map(function (serie, i) {
      var color = PALETTE[i % PALETTE.length];
      return {
        label: serie.label,
        data: serie.data,
        backgroundColor: color,
        borderColor: color,
        borderWidth: line ? 2 : 0,
        pointRadius: line ? 2 : 0,
        cubicInterpolationMode: "monotone",  // smooth, never below zero between points
        fill: false
      };
    });
    var counts = { beginAtZero: true, ticks: { precision: 0 } };
    var names = { ticks: { autoSkip: !horizontal, callback: function (value) {
      return shorten(this.getLabelForValue(value));
    } } };
    var reduce = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    new window.Chart(canvas, {
      type: line ? "line" : "bar",
      data: { labels: s.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: reduce ? false : { duration: 400 },
        indexAxis: horizontal ? "y" : "x",
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { display: datasets.length > 1, position: "bottom" },
          tooltip: { callbacks: { title: function (items) {
            return items.length ? s.labels[items[0].dataIndex] : "";
          } } }
        },
        scales: horizontal ? { x: counts, y: names } : { x: names, y: counts }
      }
    });
    canvas.setAttribute("data-drawn", "true");
  }

  if (window.Chart) {
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    window.Chart.defaults.color = "#4d5863";
  }
  each(document.querySelectorAll("canvas[data-chart]"), draw);

  // The funder report's Print button (hidden without script: the browser's menu prints too).
  each(document.querySelectorAll("[data-print]"), function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
})();
