/**
 * `node --import tsx scripts/bench/heap-summary.ts FILE.heapsnapshot [--top N] [--paths N]`:
 * what a V8 heap snapshot (BENCH_HEAPSNAPSHOT=dir npm run bench) holds, as Chrome DevTools'
 * summary view would show it, on the command line:
 * - by constructor (object kind): count, self size and retained size (the memory freed if
 *   every object of that kind went, counted once where one holds another);
 * - the single objects that retain the most, each with its dominator chain (who keeps it).
 *
 * Retained sizes come from the dominator tree (Lengauer-Tarjan over the strong edges from the
 * snapshot's root; weak edges hold nothing), as in DevTools. Large snapshots need a large heap:
 * `node --max-old-space-size=8192 --import tsx scripts/bench/heap-summary.ts ...`.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] }; node_count: number };
  nodes: number[];
  edges: number[];
  strings: string[];
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '30' }, paths: { type: 'string', default: '25' }, expand: { type: 'string', multiple: true, default: [] } } });
const file = positionals[0];
if (!file) throw new Error('usage: heap-summary.ts FILE.heapsnapshot [--top N] [--paths N] [--expand CONSTRUCTOR ...]');
const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const { meta } = snap.snapshot;
const NF = meta.node_fields.length;
const EF = meta.edge_fields.length;
const nType = meta.node_fields.indexOf('type');
const nName = meta.node_fields.indexOf('name');
const nSelf = meta.node_fields.indexOf('self_size');
const nEdges = meta.node_fields.indexOf('edge_count');
const eType = meta.edge_fields.indexOf('type');
const eName = meta.edge_fields.indexOf('name_or_index');
const eTo = meta.edge_fields.indexOf('to_node');
const nodeTypes = meta.node_types[0];
const edgeTypes = meta.edge_types[0];
const WEAK = edgeTypes.indexOf('weak');
const SHORTCUT = edgeTypes.indexOf('shortcut');
const ELEMENT = edgeTypes.indexOf('element');
const HIDDEN = edgeTypes.indexOf('hidden');
const { nodes, edges, strings } = snap;
const count = nodes.length / NF;

// First edge of each node.
const firstEdge = new Uint32Array(count + 1);
for (let i = 0, e = 0; i < count; i++) {
  firstEdge[i] = e;
  e += nodes[i * NF + nEdges]! * EF;
  firstEdge[i + 1] = e;
}
const strong = (e: number) => edges[e + eType] !== WEAK && edges[e + eType] !== SHORTCUT;

// Lengauer-Tarjan dominators (simple version, path compression), iterative DFS from node 0.
const UNSEEN = 0xffffffff;
const dfnum = new Uint32Array(count).fill(UNSEEN);
const vertex = new Uint32Array(count);
const parent = new Uint32Array(count);
let n = 0;
{
  const stack = new Uint32Array(count);
  const edgeAt = new Uint32Array(count);
  let top = 0;
  stack[0] = 0;
  edgeAt[0] = firstEdge[0]!;
  dfnum[0] = n;
  vertex[n++] = 0;
  while (top >= 0) {
    const v = stack[top]!;
    let e = edgeAt[top]!;
    let pushed = false;
    for (; e < firstEdge[v + 1]!; e += EF) {
      if (!strong(e)) continue;
      const w = edges[e + eTo]! / NF;
      if (dfnum[w] === UNSEEN) {
        edgeAt[top] = e + EF;
        parent[w] = v;
        dfnum[w] = n;
        vertex[n++] = w;
        stack[++top] = w;
        edgeAt[top] = firstEdge[w]!;
        pushed = true;
        break;
      }
    }
    if (!pushed) top--;
  }
}
// Predecessors over strong edges (of reachable nodes only).
const predCount = new Uint32Array(count + 1);
for (let v = 0; v < count; v++) {
  if (dfnum[v] === UNSEEN) continue;
  for (let e = firstEdge[v]!; e < firstEdge[v + 1]!; e += EF) if (strong(e)) predCount[edges[e + eTo]! / NF + 1]!++;
}
for (let i = 0; i < count; i++) predCount[i + 1]! += predCount[i]!;
const predStart = predCount.slice();
const preds = new Uint32Array(predCount[count]!);
for (let v = 0; v < count; v++) {
  if (dfnum[v] === UNSEEN) continue;
  for (let e = firstEdge[v]!; e < firstEdge[v + 1]!; e += EF) if (strong(e)) preds[predStart[edges[e + eTo]! / NF]!++] = v;
}
const semi = new Uint32Array(count);
const ancestor = new Uint32Array(count).fill(UNSEEN);
const best = new Uint32Array(count);
const idom = new Uint32Array(count).fill(UNSEEN);
const samedom = new Uint32Array(count).fill(UNSEEN);
const bucketHead = new Uint32Array(count).fill(UNSEEN);
const bucketNext = new Uint32Array(count).fill(UNSEEN);
for (let i = 0; i < count; i++) best[i] = i;
const pathStack: number[] = [];
function ancestorWithLowestSemi(v: number): number {
  // Iterative path compression.
  let a = v;
  while (ancestor[a] !== UNSEEN && ancestor[ancestor[a]!] !== UNSEEN) {
    pathStack.push(a);
    a = ancestor[a]!;
  }
  while (pathStack.length > 0) {
    const x = pathStack.pop()!;
    const anc = ancestor[x]!;
    if (dfnum[semi[best[anc]!]!]! < dfnum[semi[best[x]!]!]!) best[x] = best[anc]!;
    ancestor[x] = ancestor[anc]!;
  }
  return best[v]!;
}
for (let v = 0; v < count; v++) semi[v] = v;
for (let i = n - 1; i >= 1; i--) {
  const w = vertex[i]!;
  const p = parent[w]!;
  let s = p;
  for (let k = predCount[w]!; k < predCount[w + 1]!; k++) {
    const v = preds[k]!;
    const candidate = dfnum[v]! <= dfnum[w]! ? v : semi[ancestorWithLowestSemi(v)]!;
    if (dfnum[candidate]! < dfnum[s]!) s = candidate;
  }
  semi[w] = s;
  bucketNext[w] = bucketHead[s]!;
  bucketHead[s] = w;
  ancestor[w] = p;
  best[w] = w;
  for (let v = bucketHead[p]!; v !== UNSEEN; v = bucketNext[v]!) {
    const y = ancestorWithLowestSemi(v);
    if (semi[y] === semi[v]) idom[v] = p;
    else samedom[v] = y;
  }
  bucketHead[p] = UNSEEN;
}
for (let i = 1; i < n; i++) {
  const w = vertex[i]!;
  if (samedom[w] !== UNSEEN) idom[w] = idom[samedom[w]!]!;
}
idom[0] = 0;

// Retained sizes: children before parents (reverse DFS order).
const retained = new Float64Array(count);
for (let v = 0; v < count; v++) retained[v] = nodes[v * NF + nSelf]!;
for (let i = n - 1; i >= 1; i--) {
  const w = vertex[i]!;
  retained[idom[w]!]! += retained[w]!;
}

const typeOf = (v: number) => nodeTypes[nodes[v * NF + nType]!]!;
const nameOf = (v: number) => strings[nodes[v * NF + nName]!]!;
/** What DevTools groups by: a constructor for objects, the kind in brackets otherwise. */
function classOf(v: number): string {
  const type = typeOf(v);
  if (type === 'object' || type === 'native') return nameOf(v);
  if (type === 'closure') return '(closure)';
  if (type === 'string' || type === 'concatenated string' || type === 'sliced string') return '(string)';
  if (type === 'code') return '(compiled code)';
  if (type === 'hidden' && nameOf(v) === 'system / Context') return '(context)';
  return `(${type}${type === 'hidden' || type === 'array' || type === 'synthetic' ? ` ${nameOf(v)}` : ''})`;
}
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(2).padStart(8);

let totalSelf = 0;
const byClass = new Map<string, { count: number; self: number; retained: number }>();
for (let i = 0; i < n; i++) {
  const v = vertex[i]!;
  const cls = classOf(v);
  const entry = byClass.get(cls) ?? { count: 0, self: 0, retained: 0 };
  entry.count++;
  entry.self += nodes[v * NF + nSelf]!;
  // Counted once: only where no dominator up the chain is of the same class.
  let d = idom[v]!;
  let nested = false;
  while (d !== 0) {
    if (classOf(d) === cls) {
      nested = true;
      break;
    }
    d = idom[d]!;
  }
  if (!nested) entry.retained += retained[v]!;
  byClass.set(cls, entry);
  totalSelf += nodes[v * NF + nSelf]!;
}
const top = Number(values.top);
console.log(`${file}: ${n} reachable objects, ${mb(totalSelf).trim()} MB (of ${count} in the snapshot)\n`);
console.log('by constructor, most retained first:');
console.log(`${'constructor'.padEnd(50)} ${'count'.padStart(9)} ${'self MB'.padStart(8)} ${'retained MB'.padStart(11)}`);
for (const [cls, e] of [...byClass].sort((a, b) => b[1].retained - a[1].retained).slice(0, top)) {
  console.log(`${cls.slice(0, 50).padEnd(50)} ${String(e.count).padStart(9)} ${mb(e.self)} ${mb(e.retained).padStart(11)}`);
}
console.log('\nby constructor, most self size first:');
for (const [cls, e] of [...byClass].sort((a, b) => b[1].self - a[1].self).slice(0, top)) {
  console.log(`${cls.slice(0, 50).padEnd(50)} ${String(e.count).padStart(9)} ${mb(e.self)} ${mb(e.retained).padStart(11)}`);
}

/** The name of the edge from `from` to `to` (a property, an index, a variable of a closure). */
function edgeName(from: number, to: number): string {
  for (let e = firstEdge[from]!; e < firstEdge[from + 1]!; e += EF) {
    if (edges[e + eTo]! / NF !== to) continue;
    const t = edges[e + eType]!;
    return t === ELEMENT || t === HIDDEN ? `[${edges[e + eName]}]` : String(strings[edges[e + eName]!]);
  }
  return '?';
}
/** A retainer chain: each dominator, named by the edge it is reached through when it holds it directly. */
function chain(v: number): string {
  const parts: string[] = [];
  for (let d = v, depth = 0; d !== 0 && depth < 12; d = idom[d]!, depth++) {
    const up = idom[d]!;
    const name = up !== 0 ? edgeName(up, d) : '?';
    parts.push(`${classOf(d)}${name !== '?' ? ` .${name}` : ''}`);
  }
  return parts.join(' <- ');
}

// Children in the dominator tree, for --expand.
const childStart = new Uint32Array(count + 1);
for (let i = 1; i < n; i++) childStart[idom[vertex[i]!]! + 1]!++;
for (let i = 0; i < count; i++) childStart[i + 1]! += childStart[i]!;
const childFill = childStart.slice();
const children = new Uint32Array(Math.max(0, n - 1));
for (let i = 1; i < n; i++) children[childFill[idom[vertex[i]!]!]!++] = vertex[i]!;

/** What the objects `vs` hold, as the dominator tree says: their children grouped by (edge, class), summed over all of them, the largest first, `depth` levels down. */
function expand(vs: number[], depth: number, indent: string): void {
  const groups = new Map<string, { retained: number; members: number[] }>();
  for (const v of vs) {
    for (let k = childStart[v]!; k < childStart[v + 1]!; k++) {
      const c = children[k]!;
      const direct = edgeName(v, c);
      const label = `${direct === '?' ? '' : `.${/^\[\d+\]$/.test(direct) ? '[i]' : direct} `}${classOf(c)}`;
      const g = groups.get(label) ?? { retained: 0, members: [] };
      g.retained += retained[c]!;
      g.members.push(c);
      groups.set(label, g);
    }
  }
  for (const [label, g] of [...groups].sort((a, b) => b[1].retained - a[1].retained).slice(0, 10)) {
    if (g.retained < 64 * 1024) break;
    const each = g.members.length > 1 ? `, ${Math.round(g.retained / g.members.length)} B each` : '';
    console.log(`${indent}${mb(g.retained)} MB  ${g.members.length} x ${label}${each}`);
    if (depth > 1) expand(g.members, depth - 1, `${indent}    `);
  }
}

// The largest single retainers that are not just the chain of a bigger one: skip the roots and
// any node whose retained size is mostly one child's.
const paths = Number(values.paths);
const candidates = Array.from({ length: n }, (_, i) => vertex[i]!)
  .filter((v) => v !== 0 && typeOf(v) !== 'synthetic')
  .sort((a, b) => retained[b]! - retained[a]!);
console.log('\nlargest retainers (retained MB, self MB, and who keeps each):');
const shown: number[] = [];
for (const v of candidates) {
  if (shown.length >= paths) break;
  // A node inside one already shown, holding most of it, adds nothing new.
  let inside = false;
  for (let d = idom[v]!; d !== 0; d = idom[d]!) if (shown.includes(d) && retained[v]! > retained[d]! * 0.8) inside = true;
  if (inside) continue;
  shown.push(v);
  console.log(`${mb(retained[v]!)} ${mb(nodes[v * NF + nSelf]!)}  ${chain(v)}`);
}

for (const name of values.expand ?? []) {
  let largest = -1;
  for (let i = 0; i < n; i++) if (classOf(vertex[i]!) === name && (largest < 0 || retained[vertex[i]!]! > retained[largest]!)) largest = vertex[i]!;
  if (largest < 0) continue;
  console.log(`\n${name} (the largest, ${mb(retained[largest]!).trim()} MB retained), held by ${chain(largest)}; what it holds:`);
  expand([largest], 6, '  ');
}
