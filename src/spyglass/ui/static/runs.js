// Metric charts of the run, comparison and evaluation pages: uPlot (vendored) over the JSON
// island #metric-data: [{key, series: [{label, steps, values, times, total}]}]. Curves of
// several runs share one x axis (the union of their steps); a run without a point at some
// step shows a gap bridged by a line. When every point sits at one step, x is wall time.

const charts = JSON.parse(document.getElementById("metric-data").textContent);
const css = getComputedStyle(document.documentElement);
const color = (name) => css.getPropertyValue(name).trim();
const PALETTE = ["--bar", "--bar-tool", "--ok", "--bar-llm", "--bar-err"];
const EXTRA = ["#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"];
// Whole steps only on a step axis.
const STEP_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5,
  1e6, 2e6, 5e6, 1e7, 1e8, 1e9];

function seriesColor(i) {
  return i < PALETTE.length ? color(PALETTE[i]) : EXTRA[(i - PALETTE.length) % EXTRA.length];
}

function align(spec) {
  const steps = new Set(spec.series.flatMap((s) => s.steps));
  const byTime = steps.size <= 1;
  const xsOf = (s) => (byTime ? s.times.map((t) => t / 1000) : s.steps);
  const xs = Array.from(new Set(spec.series.flatMap(xsOf))).sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const ys = spec.series.map((s) => {
    const column = new Array(xs.length).fill(null);
    xsOf(s).forEach((x, i) => { column[index.get(x)] = s.values[i]; });
    return column;
  });
  return { byTime, data: [xs, ...ys] };
}

function draw(target, spec) {
  const { byTime, data } = align(spec);
  const axis = { stroke: color("--muted"), grid: { stroke: color("--line"), width: 1 }, ticks: { stroke: color("--line") } };
  const options = {
    width: Math.max(target.clientWidth, 200),
    height: 200,
    scales: { x: { time: byTime } },
    axes: [
      byTime ? axis : { ...axis, label: "step", incrs: STEP_INCRS },
      { ...axis, size: 60 },
    ],
    series: [
      { label: byTime ? "time" : "step" },
      ...spec.series.map((s, i) => ({
        label: s.label,
        stroke: seriesColor(i),
        width: 2,
        spanGaps: true,
        points: { show: data[0].length < 60 },
      })),
    ],
  };
  return new window.uPlot(options, data, target);
}

function start() {
  const drawn = [];
  for (const target of document.querySelectorAll("[data-metric-chart]")) {
    const spec = charts[Number(target.dataset.metricChart)];
    if (spec) drawn.push([target, draw(target, spec)]);
  }
  const section = document.querySelector(".metric-charts");
  if (!section) return;
  new ResizeObserver(() => {
    for (const [target, chart] of drawn) {
      chart.setSize({ width: Math.max(target.clientWidth, 200), height: 200 });
    }
  }).observe(section);
}

if (window.uPlot) start();
else window.addEventListener("DOMContentLoaded", start);
