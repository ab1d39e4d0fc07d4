/**
 * The API reference page at `/docs`, rendered on the server from the OpenAPI document: one
 * self-contained HTML page (inline CSS, no script, nothing fetched from a CDN), operations
 * grouped by tag with their parameters, request bodies and answers. Schemas are shown as
 * compact type sketches (`{ name: string, tags?: string[] }`); the full detail stays in
 * `/openapi.json`, which the page links to.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Schema = { [key: string]: Json };

interface Operation {
  summary?: string;
  description?: string;
  tags?: string[];
  parameters?: { name: string; in: string; required?: boolean; description?: string; schema?: Schema }[];
  requestBody?: { content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Schema }> }>;
}

/** The parts of an OpenAPI 3.1 document the page reads. */
export interface DocsDocument {
  info: { title: string; version: string; description?: string };
  paths?: Record<string, Record<string, Operation | unknown>>;
  components?: { schemas?: Record<string, Schema> };
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const isObject = (value: unknown): value is Schema => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Constraints worth a glance (formats, bounds, defaults), as `(min 1, max 500)`. */
function constraints(schema: Schema): string {
  const parts: string[] = [];
  if (typeof schema.format === 'string') parts.push(schema.format);
  if (typeof schema.pattern === 'string') parts.push(`pattern ${schema.pattern}`);
  for (const [key, label] of [
    ['minLength', 'min length'],
    ['maxLength', 'max length'],
    ['minimum', 'min'],
    ['maximum', 'max'],
    ['minItems', 'min items'],
    ['maxItems', 'max items'],
  ] as const) {
    if (typeof schema[key] === 'number') parts.push(`${label} ${schema[key]}`);
  }
  if (schema.default !== undefined) parts.push(`default ${JSON.stringify(schema.default)}`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/**
 * A JSON Schema as a short, indented type sketch. Depth-limited, and `$ref`s are named rather
 * than expanded, so a recursive schema cannot loop.
 */
export function sketchSchema(schema: Json | undefined, indent = 0): string {
  if (!isObject(schema)) return 'any';
  const pad = '  '.repeat(indent);
  if (typeof schema.$ref === 'string') return schema.$ref.split('/').pop()!;
  if ('const' in schema) return JSON.stringify(schema.const);
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  for (const key of ['anyOf', 'oneOf'] as const) {
    const options = schema[key];
    if (Array.isArray(options)) return options.map((s) => sketchSchema(s, indent)).join(' | ');
  }
  if (Array.isArray(schema.allOf)) return schema.allOf.map((s) => sketchSchema(s, indent)).join(' & ');
  const type = Array.isArray(schema.type) ? schema.type.filter((t) => t !== 'null') : schema.type;
  const nullable = Array.isArray(schema.type) && schema.type.includes('null') ? ' | null' : '';
  if (type === 'array') {
    const items = sketchSchema(schema.items, indent);
    return `${items.includes(' | ') ? `(${items})` : items}[]${constraints(schema)}${nullable}`;
  }
  if (type === 'object' || isObject(schema.properties)) {
    const properties = isObject(schema.properties) ? schema.properties : {};
    const required = new Set(Array.isArray(schema.required) ? schema.required.map(String) : []);
    const lines = Object.entries(properties).map(
      ([name, property]) => `${pad}  ${name}${required.has(name) ? '' : '?'}: ${sketchSchema(property, indent + 1)}`,
    );
    if (isObject(schema.additionalProperties)) {
      lines.push(`${pad}  [key: string]: ${sketchSchema(schema.additionalProperties, indent + 1)}`);
    }
    if (lines.length === 0) return `{}${nullable}`;
    if (indent > 6) return `{ … }${nullable}`;
    return `{\n${lines.join(',\n')}\n${pad}}${nullable}`;
  }
  if (typeof type === 'string') return `${type}${constraints(schema)}${nullable}`;
  return 'any';
}

function jsonSchemaOf(content: Record<string, { schema?: Schema }> | undefined): Schema | undefined {
  return content?.['application/json']?.schema;
}

function renderOperation(method: string, path: string, op: Operation, id: string): string {
  const out: string[] = [];
  out.push(`<section class="op" id="${escapeHtml(id)}">`);
  out.push(
    `<h3><span class="method ${method}">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code></h3>`,
  );
  if (op.summary) out.push(`<p class="summary">${escapeHtml(op.summary)}</p>`);
  if (op.description) out.push(`<p class="auth">${escapeHtml(op.description)}</p>`);
  const params = op.parameters ?? [];
  if (params.length > 0) {
    out.push('<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th>required</th></tr>');
    for (const p of params) {
      out.push(
        `<tr><td><code>${escapeHtml(p.name)}</code></td><td>${escapeHtml(p.in)}</td>` +
          `<td><code>${escapeHtml(sketchSchema(p.schema))}</code>${p.description ? ` ${escapeHtml(p.description)}` : ''}</td>` +
          `<td>${p.required ? 'yes' : 'no'}</td></tr>`,
      );
    }
    out.push('</table>');
  }
  const body = jsonSchemaOf(op.requestBody?.content);
  if (body) out.push(`<h4>Request body <small>application/json</small></h4><pre>${escapeHtml(sketchSchema(body))}</pre>`);
  const responses = Object.entries(op.responses ?? {});
  if (responses.length > 0) {
    out.push('<h4>Responses</h4><dl>');
    for (const [status, response] of responses) {
      const schema = jsonSchemaOf(response.content);
      out.push(`<dt><span class="status s${status[0]}">${escapeHtml(status)}</span> ${escapeHtml(response.description ?? '')}</dt>`);
      out.push(schema ? `<dd><pre>${escapeHtml(sketchSchema(schema))}</pre></dd>` : '<dd></dd>');
    }
    out.push('</dl>');
  }
  out.push('</section>');
  return out.join('\n');
}

const STYLE = `
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;background:#fafbfc}
header{background:#1d2330;color:#fff;padding:18px 32px;margin:0 -32px}header h1{margin:0;font-size:22px}header p{margin:4px 0 0;color:#c5cbd6}
header a{color:#9cc4ff}
nav{position:fixed;top:0;bottom:0;left:0;width:260px;overflow:auto;padding:16px;background:#f0f2f5;font-size:13px;box-sizing:border-box}
nav h2{font-size:13px;text-transform:uppercase;letter-spacing:.05em;margin:14px 0 4px;color:#56607a}
nav a{display:block;color:#1d2330;text-decoration:none;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
nav a:hover{text-decoration:underline}
main{margin-left:260px;padding:0 32px 64px;max-width:980px}
h2.tag{border-bottom:2px solid #d6dae1;padding-bottom:4px;margin-top:36px;text-transform:capitalize}
.op{background:#fff;border:1px solid #e1e4ea;border-radius:6px;padding:4px 18px 10px;margin:14px 0}
.op h3{font-size:16px;margin:12px 0 4px}.op h4{margin:12px 0 4px;font-size:13px;color:#56607a;text-transform:uppercase}
.method{display:inline-block;min-width:60px;text-align:center;border-radius:4px;color:#fff;font-size:12px;padding:2px 6px;margin-right:6px}
.get{background:#2f7d32}.post{background:#1f5fbf}.put{background:#a15c00}.patch{background:#7a4bb5}.delete{background:#b3261e}
.summary{margin:4px 0}.auth{margin:0;color:#56607a;font-size:13px}
pre{background:#f5f6f8;border:1px solid #e6e8ec;border-radius:4px;padding:8px 10px;overflow:auto;font-size:13px;margin:4px 0}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #e1e4ea;padding:3px 8px;text-align:left}th{background:#f5f6f8}
dt{margin-top:6px}dd{margin:0 0 0 16px}
.status{display:inline-block;font-weight:600;min-width:34px}.s2{color:#2f7d32}.s4{color:#a15c00}.s5{color:#b3261e}
`;

/** Renders the whole reference page for an OpenAPI document. */
export function renderDocsPage(document: DocsDocument): string {
  const byTag = new Map<string, { method: string; path: string; op: Operation; id: string }[]>();
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!isObject(op)) continue;
      const operation = op as Operation;
      const tag = operation.tags?.[0] ?? 'other';
      const id = `${method}-${path}`.replace(/[^A-Za-z0-9_-]+/g, '-');
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag)!.push({ method, path, op: operation, id });
    }
  }
  const tags = [...byTag.keys()].sort();
  const nav = tags
    .map(
      (tag) =>
        `<h2>${escapeHtml(tag)}</h2>` +
        byTag
          .get(tag)!
          .map((o) => `<a href="#${escapeHtml(o.id)}">${o.method.toUpperCase()} ${escapeHtml(o.path)}</a>`)
          .join(''),
    )
    .join('\n');
  const sections = tags
    .map(
      (tag) =>
        `<h2 class="tag" id="tag-${escapeHtml(tag)}">${escapeHtml(tag)}</h2>\n` +
        byTag
          .get(tag)!
          .map((o) => renderOperation(o.method, o.path, o.op, o.id))
          .join('\n'),
    )
    .join('\n');
  const schemas = Object.entries(document.components?.schemas ?? {});
  const components =
    schemas.length === 0
      ? ''
      : `<h2 class="tag" id="schemas">schemas</h2>\n` +
        schemas
          .map(([name, schema]) => `<section class="op"><h3><code>${escapeHtml(name)}</code></h3><pre>${escapeHtml(sketchSchema(schema))}</pre></section>`)
          .join('\n');
  const { title, version, description } = document.info;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} — reference</title><style>${STYLE}</style></head>
<body>
<nav>${nav}</nav>
<main>
<header><h1>${escapeHtml(title)} <small>v${escapeHtml(version)}</small></h1>
<p>${escapeHtml(description ?? '')} Authenticate with <code>Authorization: Bearer &lt;token&gt;</code>. Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p></header>
${sections}
${components}
</main>
</body></html>
`;
}
