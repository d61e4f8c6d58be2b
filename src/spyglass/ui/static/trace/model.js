// The span tree of one trace, built from flat outline rows (parent ids), grown page by page.
// Flat arrays indexed by node number keep 100k+ spans cheap; nothing here touches the DOM.

// Outline row columns (see spyglass/store/outline.py).
const ID = 0, PARENT = 1, NAME = 2, OFFSET = 3, DURATION = 4, STATUS = 5, TYPE = 6,
  MODEL = 7, TOKENS = 8, COST = 9;

export class SpanTree {
  constructor() {
    this.ids = [];
    this.parentIds = [];
    this.names = [];
    this.lowerNames = [];
    this.start = [];     // ms from the trace start
    this.duration = [];  // ms
    this.error = [];
    this.type = [];
    this.model = [];
    this.tokens = [];
    this.cost = [];
    this.index = new Map();  // span id -> node
    this.parent = [];        // node -> parent node, or -1 (root, or parent not loaded yet)
    this.children = [];      // node -> child nodes in start order
    this.roots = [];
    this.collapsed = new Set();
    this.end = 0;            // latest span end, ms
  }

  get size() {
    return this.ids.length;
  }

  /** Add outline rows (in start order) and relink the tree. */
  add(rows) {
    for (const r of rows) {
      const id = String(r[ID]);
      if (this.index.has(id)) continue;
      const node = this.ids.length;
      this.index.set(id, node);
      this.ids.push(id);
      this.parentIds.push(r[PARENT] || "");
      const name = String(r[NAME] ?? "");
      this.names.push(name);
      this.lowerNames.push(name.toLowerCase());
      const start = Number(r[OFFSET]) / 1e6, duration = Number(r[DURATION]) / 1e6;
      this.start.push(start);
      this.duration.push(duration);
      this.end = Math.max(this.end, start + duration);
      this.error.push(r[STATUS] === "ERROR");
      this.type.push(String(r[TYPE] ?? ""));
      this.model.push(String(r[MODEL] ?? ""));
      this.tokens.push(Number(r[TOKENS]) || 0);
      this.cost.push(Number(r[COST]) || 0);
    }
    this.link();
  }

  /** Recompute parents and children: a span whose parent arrives later moves under it. */
  link() {
    const n = this.ids.length;
    this.parent = new Array(n);
    this.children = new Array(n);
    this.roots = [];
    for (let i = 0; i < n; i++) this.children[i] = [];
    for (let i = 0; i < n; i++) {
      const p = this.parentIds[i] ? this.index.get(this.parentIds[i]) : undefined;
      if (p === undefined || p === i) {
        this.parent[i] = -1;
        this.roots.push(i);
      } else {
        this.parent[i] = p;
        this.children[p].push(i);
      }
    }
    this.breakCycles();
  }

  /** Spans whose parent chain loops (bad data) would never be reached from a root. */
  breakCycles() {
    const seen = new Uint8Array(this.ids.length);
    const stack = [...this.roots];
    while (stack.length) {
      const node = stack.pop();
      seen[node] = 1;
      for (const c of this.children[node]) stack.push(c);
    }
    for (let i = 0; i < seen.length; i++) {
      if (!seen[i]) {
        const p = this.parent[i];
        if (p >= 0) this.children[p] = this.children[p].filter((c) => c !== i);
        this.parent[i] = -1;
        this.roots.push(i);
        const again = [i];
        while (again.length) {
          const node = again.pop();
          seen[node] = 1;
          for (const c of this.children[node]) if (!seen[c]) again.push(c);
        }
      }
    }
  }

  /**
   * The rows to show, in tree order: [nodes, depths]. With a query, `matches` gets the nodes
   * whose name contains it; `onlyMatches` keeps just them and their ancestors (expanded).
   */
  visible(query = "", onlyMatches = false, matches = null) {
    const nodes = [], depths = [];
    const q = query.toLowerCase();
    let keep = null;
    if (q) {
      for (let i = 0; i < this.ids.length; i++) {
        if (this.lowerNames[i].includes(q)) matches?.add(i);
      }
      if (onlyMatches) {
        keep = new Uint8Array(this.ids.length);
        for (const m of matches ?? []) {
          for (let node = m; node >= 0 && !keep[node]; node = this.parent[node]) keep[node] = 1;
        }
      }
    }
    const stack = [];
    for (let r = this.roots.length - 1; r >= 0; r--) stack.push(this.roots[r], 0);
    while (stack.length) {
      const depth = stack.pop(), node = stack.pop();
      if (keep && !keep[node]) continue;
      nodes.push(node);
      depths.push(depth);
      if (this.collapsed.has(node) && !keep) continue;
      const kids = this.children[node];
      for (let k = kids.length - 1; k >= 0; k--) stack.push(kids[k], depth + 1);
    }
    return [nodes, depths];
  }

  hasChildren(node) {
    return this.children[node].length > 0;
  }

  setAll(collapsed) {
    this.collapsed.clear();
    if (!collapsed) return;
    for (let i = 0; i < this.ids.length; i++) if (this.children[i].length) this.collapsed.add(i);
  }

  /** Expand every ancestor of a node so it becomes visible. */
  reveal(node) {
    for (let p = this.parent[node]; p >= 0; p = this.parent[p]) this.collapsed.delete(p);
  }
}
