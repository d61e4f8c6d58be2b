// Dashboard charts: uPlot (vendored) over the embedded /api/stats payload.

const stats = JSON.parse(document.getElementById("stats-data").textContent);
const css = getComputedStyle(document.documentElement);
const color = (name) => css.getPropertyValue(name).trim();

const times = stats.buckets.map((b) => Date.parse(b.start) / 1000);
const series = {
  requests: {
    data: [stats.buckets.map((b) => b.traces), stats.buckets.map((b) => b.errors)],
    labels: ["requests", "errors"],
    colors: ["--bar", "--bar-err"],
  },
  latency: {
    data: ["p50", "p95", "p99"].map((q) => stats.buckets.map((b) => b.latency_ms[q])),
    labels: ["p50 ms", "p95 ms", "p99 ms"],
    colors: ["--ok", "--bar", "--bar-err"],
  },
  tokens: {
    data: [stats.buckets.map((b) => b.input_tokens), stats.buckets.map((b) => b.output_tokens)],
    labels: ["input", "output"],
    colors: ["--bar", "--bar-llm"],
  },
  cost: {
    data: [stats.buckets.map((b) => b.cost)],
    labels: ["USD"],
    colors: ["--bar-tool"],
  },
};

function draw(target, spec) {
  const axis = { stroke: color("--muted"), grid: { stroke: color("--line"), width: 1 }, ticks: { stroke: color("--line") } };
  const options = {
    width: Math.max(target.clientWidth, 200),
    height: 200,
    scales: { x: { time: true } },
    axes: [axis, { ...axis, size: 60 }],
    series: [
      {},
      ...spec.labels.map((label, i) => ({
        label,
        stroke: color(spec.colors[i]),
        width: 2,
        fill: i === 0 && spec.labels.length < 3 ? color(spec.colors[i]) + "22" : undefined,
        points: { show: times.length < 60 },
      })),
    ],
  };
  return new window.uPlot(options, [times, ...spec.data], target);
}

function start() {
  const charts = [];
  for (const target of document.querySelectorAll("[data-chart]")) {
    const spec = series[target.dataset.chart];
    if (spec) charts.push([target, draw(target, spec)]);
  }
  new ResizeObserver(() => {
    for (const [target, chart] of charts) {
      chart.setSize({ width: Math.max(target.clientWidth, 200), height: 200 });
    }
  }).observe(document.querySelector(".charts"));
}

if (window.uPlot) start();
else window.addEventListener("DOMContentLoaded", start);
