// The trace page island: tree + waterfall from the embedded outline, further outline pages
// fetched in the background, a search box, and the span panel (server-rendered, escaped HTML).

import { SpanTree } from "./trace/model.js";
import { TreeView, formatMs } from "./trace/view.js";

// Past this many spans, further pages load only when asked (a browser holds ~100 bytes each).
const AUTO_LOAD_LIMIT = 500_000;

const meta = JSON.parse(document.getElementById("trace-meta").textContent);
const firstRows = JSON.parse(document.getElementById("trace-rows").textContent);
const viewport = document.getElementById("tree");
const status = document.getElementById("tree-status");
const search = document.getElementById("span-search");
const onlyMatches = document.getElementById("only-matches");
const panel = document.getElementById("span-panel");
const base = `/traces/${encodeURIComponent(meta.trace_id)}`;
const projectQuery = `project=${encodeURIComponent(meta.project)}`;

const tree = new SpanTree();
tree.add(firstRows);
let cursor = meta.next_cursor;
let loading = false;
let wantedSpan = new URLSearchParams(location.search).get("span");

function openSpan(spanId) {
  const url = `${base}/spans/${encodeURIComponent(spanId)}?${projectQuery}`;
  const params = new URLSearchParams(location.search);
  params.set("span", spanId);
  history.replaceState(null, "", `${location.pathname}?${params}`);
  if (window.htmx) {
    window.htmx.ajax("GET", url, { target: "#span-panel", swap: "innerHTML" });
  } else {
    panel.textContent = "Loading…";
    fetch(url).then((r) => r.text()).then((html) => {
      // Server-rendered with autoescape; parsed inert, then adopted (same as an htmx swap).
      const doc = new DOMParser().parseFromString(html, "text/html");
      panel.replaceChildren(...doc.body.childNodes);
    });
  }
}

const view = new TreeView(viewport, document.getElementById("tree-sizer"), tree, {
  onOpen: openSpan,
});

function describe() {
  const loaded = tree.size, total = Math.max(meta.total, loaded);
  const parts = [loaded < total ? `${loaded.toLocaleString()} of ${total.toLocaleString()} spans loaded` : `${loaded.toLocaleString()} spans`];
  if (view.query) parts.push(`${view.matches.size.toLocaleString()} match${view.matches.size === 1 ? "" : "es"} “${view.query}”`);
  status.textContent = parts.join(" · ");
  viewport.dataset.loaded = String(loaded);
  viewport.dataset.complete = cursor ? "0" : "1";
}

function drawAxis() {
  const axis = document.getElementById("time-axis");
  const total = Math.max(tree.end, meta.duration_ms || 0);
  axis.replaceChildren(...[0, 0.25, 0.5, 0.75, 1].map((f) => {
    const s = document.createElement("span");
    s.textContent = formatMs(total * f);
    return s;
  }));
}

function refresh() {
  view.refresh(search.value.trim(), onlyMatches.checked);
  drawAxis();
  describe();
}

async function loadMore() {
  if (loading || !cursor) return;
  loading = true;
  try {
    const params = new URLSearchParams({ project: meta.project, t0: meta.t0, cursor, limit: String(meta.page_rows) });
    const response = await fetch(`${base}/outline?${params}`);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const page = await response.json();
    cursor = page.next_cursor;
    const top = viewport.scrollTop;
    tree.add(page.rows);
    refresh();
    viewport.scrollTop = top;
    if (wantedSpan && view.focusSpan(wantedSpan)) wantedSpan = null;
  } catch (error) {
    status.textContent = `Could not load more spans: ${error.message}`;
    loading = false;
    return;
  }
  loading = false;
  if (cursor && tree.size < AUTO_LOAD_LIMIT) setTimeout(loadMore, 0);
  else if (cursor) addLoadButton();
  else performance.mark("spyglass:all-rows");
}

function addLoadButton() {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = "Load more spans";
  button.addEventListener("click", () => { button.remove(); loadMore(); });
  status.after(button);
}

let searchTimer = 0;
search.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(refresh, 120);
});
search.addEventListener("keydown", (event) => {
  if (event.key !== "Enter") return;
  event.preventDefault();
  // Enter jumps to the next match below the current row.
  const start = view.active + 1;
  for (let k = 0; k < view.nodes.length; k++) {
    const i = (start + k) % view.nodes.length;
    if (view.matches.has(view.nodes[i])) {
      view.setActive(i);
      viewport.focus();
      return;
    }
  }
});
onlyMatches.addEventListener("change", refresh);
document.getElementById("expand-all").addEventListener("click", () => { tree.setAll(false); refresh(); });
document.getElementById("collapse-all").addEventListener("click", () => { tree.setAll(true); refresh(); });

refresh();
performance.mark("spyglass:first-rows");
viewport.dataset.ready = "1";
if (wantedSpan && view.focusSpan(wantedSpan)) wantedSpan = null;
if (cursor) setTimeout(loadMore, 0);
else performance.mark("spyglass:all-rows");
