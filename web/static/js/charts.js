/* Charts (Apache ECharts) of the park overview and the KPI pages: each element with data-kpi-chart holds its
   chart as JSON, built by the page route (no inline script under the CSP). Shape:
   {categories: [...], axes: [{name, percent?}], series: [{name, type: "bar"|"scatter", data, axis?, symbol?}]} */
(function () {
  "use strict";

  var COLOURS = ["#2b6cb0", "#2f7d32", "#b7410e", "#6b46c1", "#a16207"];

  function compact(v) {
    // axis labels in the page's locale: 万/亿 in Chinese, k/M/B in English (Intl compact notation)
    var zh = document.body.dataset.locale !== "en";
    return new Intl.NumberFormat(zh ? "zh-CN" : "en", { notation: "compact", maximumFractionDigits: 1 }).format(v);
  }

  function node(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) { n.className = cls; }
    if (text !== undefined && text !== null) { n.textContent = String(text); }
    return n;
  }

  // The tooltip as DOM nodes (text and classes; the colour set through the CSSOM, which the CSP allows).
  // ECharts' own formatter writes HTML with style="" attributes, which the CSP (style-src 'self') refuses,
  // and would parse names as markup.
  function tooltip(params) {
    var items = Array.isArray(params) ? params : [params];
    var box = node("div", "chart-tip");
    if (items.length) { box.appendChild(node("div", "chart-tip-title", items[0].axisValueLabel || items[0].name)); }
    items.forEach(function (p) {
      if (p.value === null || p.value === undefined || p.value === "-") { return; }
      var row = node("div", "chart-tip-row");
      var dot = node("span", "chart-tip-dot");
      dot.style.backgroundColor = p.color;
      row.appendChild(dot);
      row.appendChild(node("span", "chart-tip-name", p.seriesName));
      row.appendChild(node("span", "chart-tip-value", typeof p.value === "number" ? compact(p.value) : p.value));
      box.appendChild(row);
    });
    return box;
  }

  function draw(el) {
    if (!window.echarts) { return; }
    var spec = JSON.parse(el.dataset.kpiChart);
    var chart = window.echarts.init(el, null, { renderer: "svg" });
    var axes = spec.axes.map(function (a) {
      return a.percent
        ? { type: "value", name: a.name, min: 0, max: 100, axisLabel: { formatter: "{value} %" } }
        : { type: "value", name: a.name, axisLabel: { formatter: compact } };
    });
    var series = spec.series.map(function (s, i) {
      var out = { name: s.name, type: s.type, data: s.data, yAxisIndex: s.axis || 0,
                  itemStyle: { color: COLOURS[i % COLOURS.length] } };
      if (s.type === "bar") { out.barMaxWidth = 36; }
      if (s.type === "scatter") { out.symbol = s.symbol || "diamond"; out.symbolSize = 16; }
      return out;
    });
    chart.setOption({
      animation: false,
      aria: { enabled: true },
      tooltip: { trigger: "axis", formatter: tooltip, className: "chart-tooltip" },
      legend: { top: 0 },
      grid: { left: 110, right: 70, top: 40, bottom: 110 },
      xAxis: { type: "category", data: spec.categories, axisLabel: { interval: 0, rotate: spec.categories.length > 4 ? 25 : 0 } },
      yAxis: axes,
      series: series
    });
    window.addEventListener("resize", function () { chart.resize(); });
    el.dataset.ready = "true";
  }

  function init() { document.querySelectorAll("[data-kpi-chart]").forEach(draw); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
