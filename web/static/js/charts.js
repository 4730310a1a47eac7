/* Park overview chart: generation by material family (bars, t/a) and the utilisation targets of the
   knowledge base (points, %). Data comes from the element's data-chart attribute; no inline script. */
(function () {
  "use strict";

  function compact(v) {
    if (document.body.dataset.locale === "en") {
      return v >= 1e6 ? (v / 1e6) + " M" : v >= 1e3 ? (v / 1e3) + " k" : String(v);
    }
    return v >= 1e4 ? (v / 1e4) + " 万" : String(v);
  }

  function draw(el) {
    if (!window.echarts) { return; }
    var data = JSON.parse(el.dataset.chart);
    var labels = data.labels;
    var chart = window.echarts.init(el, null, { renderer: "svg" });
    var series = [{
      name: labels.generation, type: "bar", data: data.generation, yAxisIndex: 0,
      itemStyle: { color: "#2b6cb0" }, barMaxWidth: 40
    }];
    var colours = { "2020": "#b7410e", "2025": "#2f7d32" };
    Object.keys(data.targets).forEach(function (year) {
      series.push({
        name: labels[year], type: "scatter", data: data.targets[year], yAxisIndex: 1, symbolSize: 14,
        symbol: year === "2020" ? "diamond" : "triangle", itemStyle: { color: colours[year] || "#444" }
      });
    });
    chart.setOption({
      animation: false,
      aria: { enabled: true },
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 70, right: 60, top: 40, bottom: 50 },
      xAxis: { type: "category", data: data.families, axisLabel: { interval: 0 } },
      yAxis: [
        { type: "value", name: labels.tonnes, axisLabel: { formatter: compact } },
        { type: "value", name: labels.rate, min: 0, max: 100, axisLabel: { formatter: "{value} %" } }
      ],
      series: series
    });
    window.addEventListener("resize", function () { chart.resize(); });
    el.dataset.ready = "true";
  }

  function init() { document.querySelectorAll("[data-chart]").forEach(draw); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
