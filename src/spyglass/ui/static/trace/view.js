// Virtualized tree + waterfall: a fixed row height, and only the rows in view (plus a margin)
// exist in the DOM, recycled as the list scrolls. All span text goes in through textContent.

export const ROW_HEIGHT = 26;
const OVERSCAN = 12;
const INDENT_PX = 14;

export function formatMs(ms) {
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(2)} s`;
  const m = Math.floor(ms / 60000);
  return `${m}m ${String(Math.round((ms % 60000) / 1000)).padStart(2, "0")}s`;
}

function el(tag, className) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  return e;
}

export class TreeView {
  constructor(viewport, sizer, tree, { onOpen, onActive }) {
    this.viewport = viewport;
    this.sizer = sizer;
    this.tree = tree;
    this.onOpen = onOpen;
    this.onActive = onActive;
    this.nodes = [];
    this.depths = [];
    this.position = new Map();  // node -> row number in `nodes`
    this.matches = new Set();
    this.query = "";
    this.active = -1;    // row number with keyboard focus
    this.selected = -1;  // node shown in the span panel
    this.pool = [];
    this.total = 1;
    this.pending = false;
    viewport.addEventListener("scroll", () => this.schedule(), { passive: true });
    viewport.addEventListener("click", (e) => this.click(e));
    viewport.addEventListener("keydown", (e) => this.key(e));
    new ResizeObserver(() => this.schedule()).observe(viewport);
    viewport.addEventListener("focus", () => {
      if (this.active < 0 && this.nodes.length) this.setActive(0);
    });
  }

  /** Recompute the visible rows (after loading, searching, expanding or collapsing). */
  refresh(query = this.query, onlyMatches = false) {
    const keep = this.active >= 0 ? this.nodes[this.active] : -1;
    this.query = query;
    this.matches = new Set();
    [this.nodes, this.depths] = this.tree.visible(query, onlyMatches, this.matches);
    this.position = new Map();
    for (let i = 0; i < this.nodes.length; i++) this.position.set(this.nodes[i], i);
    this.total = Math.max(this.tree.end, 0.001);
    this.sizer.style.height = `${this.nodes.length * ROW_HEIGHT}px`;
    this.active = keep >= 0 && this.position.has(keep) ? this.position.get(keep) : this.active;
    if (this.active >= this.nodes.length) this.active = this.nodes.length - 1;
    for (const row of this.pool) row.node = -1;  // force a redraw of every row
    this.render();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.render();
    });
  }

  render() {
    const top = this.viewport.scrollTop;
    const height = this.viewport.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.nodes.length, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
    const needed = last - first;
    while (this.pool.length < needed) this.pool.push(this.makeRow());
    for (let k = 0; k < this.pool.length; k++) {
      const row = this.pool[k];
      const i = first + k;
      if (i >= last) {
        row.el.hidden = true;
        row.node = -1;
        continue;
      }
      row.el.hidden = false;
      this.fill(row, i);
    }
    const activeRow = this.pool.find((r) => r.index === this.active && !r.el.hidden);
    this.viewport.setAttribute("aria-activedescendant", activeRow ? activeRow.el.id : "");
  }

  makeRow() {
    const e = el("div", "row");
    e.setAttribute("role", "treeitem");
    const label = el("div", "label");
    const toggle = el("span", "toggle");
    toggle.setAttribute("aria-hidden", "true");
    const name = el("span", "name");
    const kind = el("span", "kind");
    const dur = el("span", "dur");
    label.append(toggle, name, kind, dur);
    const lane = el("div", "lane");
    const bar = el("div", "bar");
    lane.append(bar);
    e.append(label, lane);
    this.sizer.append(e);
    return { el: e, label, toggle, name, kind, dur, bar, node: -1, index: -1, state: "" };
  }

  fill(row, i) {
    const t = this.tree, node = this.nodes[i];
    const open = t.hasChildren(node) ? !t.collapsed.has(node) : null;
    const state = `${open}|${i === this.active}|${node === this.selected}|${this.matches.has(node)}`;
    if (row.node === node && row.index === i && row.state === state) return;
    row.index = i;
    row.state = state;
    const e = row.el;
    e.style.transform = `translateY(${i * ROW_HEIGHT}px)`;
    e.classList.toggle("active", i === this.active);
    e.classList.toggle("selected", node === this.selected);
    e.setAttribute("aria-selected", String(node === this.selected));
    if (open === null) e.removeAttribute("aria-expanded");
    else e.setAttribute("aria-expanded", String(open));
    row.toggle.textContent = open === null ? "" : open ? "▾" : "▸";
    if (row.node === node) return;
    row.node = node;
    e.id = `span-${t.ids[node]}`;
    e.dataset.spanId = t.ids[node];
    e.dataset.row = String(i);
    e.setAttribute("aria-level", String(this.depths[i] + 1));
    e.classList.toggle("err", t.error[node]);
    row.label.style.paddingLeft = `${this.depths[i] * INDENT_PX}px`;
    this.writeName(row.name, t.names[node], this.matches.has(node));
    row.name.title = t.names[node];
    row.kind.textContent = t.model[node] || (t.type[node] !== "UNKNOWN" ? t.type[node] : "");
    row.kind.hidden = !row.kind.textContent;
    row.dur.textContent = formatMs(t.duration[node]);
    const left = (t.start[node] / this.total) * 100;
    const width = Math.max((t.duration[node] / this.total) * 100, 0.2);
    row.bar.style.left = `${Math.min(left, 99.8)}%`;
    row.bar.style.width = `${Math.min(width, 100 - Math.min(left, 99.8))}%`;
    const type = t.type[node];
    row.bar.className = `bar${t.error[node] ? " err" : ""}${type === "LLM" ? " t-llm" : ""}${type === "TOOL" ? " t-tool" : ""}`;
  }

  writeName(target, name, matched) {
    target.textContent = "";
    const at = matched && this.query ? name.toLowerCase().indexOf(this.query.toLowerCase()) : -1;
    if (at < 0) {
      target.textContent = name;
      return;
    }
    const mark = document.createElement("mark");
    mark.textContent = name.slice(at, at + this.query.length);
    target.append(name.slice(0, at), mark, name.slice(at + this.query.length));
  }

  rowAt(event) {
    const e = event.target.closest(".row");
    return e ? Number(e.dataset.row) : -1;
  }

  click(event) {
    const i = this.rowAt(event);
    if (i < 0) return;
    this.setActive(i);
    if (event.target.classList.contains("toggle")) this.toggle(this.nodes[i]);
    else this.open(i);
  }

  toggle(node, expand = null) {
    const t = this.tree;
    if (!t.hasChildren(node)) return;
    const collapse = expand === null ? !t.collapsed.has(node) : !expand;
    if (collapse) t.collapsed.add(node);
    else t.collapsed.delete(node);
    this.refresh();
  }

  open(i) {
    if (i < 0 || i >= this.nodes.length) return;
    this.selected = this.nodes[i];
    this.onOpen(this.tree.ids[this.selected]);
    this.schedule();
  }

  setActive(i) {
    if (!this.nodes.length) return;
    this.active = Math.max(0, Math.min(this.nodes.length - 1, i));
    const top = this.active * ROW_HEIGHT, view = this.viewport;
    if (top < view.scrollTop) view.scrollTop = top;
    else if (top + ROW_HEIGHT > view.scrollTop + view.clientHeight) {
      view.scrollTop = top + ROW_HEIGHT - view.clientHeight;
    }
    this.onActive?.(this.nodes[this.active]);
    this.schedule();
  }

  /** Select a node by span id, expanding its ancestors; false if not loaded (yet). */
  focusSpan(spanId, openIt = true) {
    const node = this.tree.index.get(spanId);
    if (node === undefined) return false;
    this.tree.reveal(node);
    this.refresh();
    const i = this.position.get(node);
    if (i === undefined) return false;
    this.setActive(i);
    if (openIt) this.open(i);
    return true;
  }

  key(event) {
    const t = this.tree, i = Math.max(this.active, 0), node = this.nodes[i];
    const page = Math.max(1, Math.floor(this.viewport.clientHeight / ROW_HEIGHT) - 1);
    const moves = {
      ArrowDown: () => this.setActive(this.active < 0 ? 0 : i + 1),
      ArrowUp: () => this.setActive(i - 1),
      PageDown: () => this.setActive(i + page),
      PageUp: () => this.setActive(i - page),
      Home: () => this.setActive(0),
      End: () => this.setActive(this.nodes.length - 1),
      ArrowRight: () => {
        if (t.hasChildren(node) && t.collapsed.has(node)) this.toggle(node, true);
        else if (t.hasChildren(node)) this.setActive(i + 1);
      },
      ArrowLeft: () => {
        if (t.hasChildren(node) && !t.collapsed.has(node)) this.toggle(node, false);
        else if (t.parent[node] >= 0) this.setActive(this.position.get(t.parent[node]));
      },
      Enter: () => this.open(i),
      " ": () => this.open(i),
    };
    const move = moves[event.key];
    if (!move || node === undefined) return;
    event.preventDefault();
    move();
  }
}
