// Docs, types and core agree: every configuration example in
// docs/configuration.md and README.md (```toml and ```json blocks) and
// js/README.md and README.md (`createGate({...})` literals) is
//   - accepted by the core (createGate), or, when the docs show it as an
//     error (a ```text block or an `// EdgewardError` comment right after
//     it), refused naming the fields the docs name;
//   - type-checked as the `Config` type of lib/index.d.ts with Deno's
//     checker, where object literals may hold no key the type lacks: a
//     documented key missing from the types fails this test. So does a
//     key of any table in docs/configuration.md missing from its type.
// A block of route keys only (`scopes = {...}`) is checked as a route; a
// block without `issuers` (`[cors]`, `[resource]`) on top of the page's
// first example (docs/configuration.md: the minimal configuration).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { parse as parseToml } from "smol-toml";
import { EdgewardError, createGate } from "edgeward";
import { runtime, test, testIf } from "./harness.js";

const ROOT = new URL("../../", import.meta.url);
const SOURCES = ["docs/configuration.md", "README.md", "js/README.md"];
const ROUTE_KEYS = ["methods", "access", "scopes", "roles", "permissions", "tenants", "owner", "api_tokens", "forward_preflight"];

/** The object literal starting at `text[at]` (a `{`), by brace balance outside strings. */
function literalAt(text, at) {
  let depth = 0;
  let quote = null;
  for (let i = at; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === "\\") i++;
      else if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'" || ch === "`") quote = ch;
    else if (ch === "{") depth++;
    else if (ch === "}" && --depth === 0) return text.slice(at, i + 1);
  }
  throw new Error(`unbalanced literal at ${at}`);
}

/**
 * Every example: { where, config, errorFields } where errorFields is null
 * (must be accepted) or the fields the docs say the core names.
 */
function examples() {
  const out = [];
  let base = null;
  for (const file of SOURCES) {
    const text = readFileSync(new URL(file, ROOT), "utf8");
    const lines = text.split("\n");
    const fence = /^```(\w*)\s*$/;
    for (let i = 0; i < lines.length; i++) {
      const m = fence.exec(lines[i]);
      if (!m || !m[1]) continue;
      const lang = m[1];
      let j = i + 1;
      while (j < lines.length && !/^```\s*$/.test(lines[j])) j++;
      const body = lines.slice(i + 1, j).join("\n");
      const where = `${file}:${i + 1}`;
      // What follows the block: a ```text block shows the core's error.
      let k = j + 1;
      while (k < lines.length && lines[k].trim() === "") k++;
      let errorText = null;
      if (/^```text\s*$/.test(lines[k] ?? "")) {
        let e = k + 1;
        while (e < lines.length && !/^```\s*$/.test(lines[e])) e++;
        errorText = lines.slice(k + 1, e).join("\n");
      }
      const fieldsOf = (t) => [...t.matchAll(/(?:^|; )([\w.[\]]+): /g)].map((x) => x[1]);
      if (lang === "toml" || lang === "json") {
        let config = lang === "toml" ? parseToml(body) : JSON.parse(body);
        const keys = Object.keys(config);
        if (keys.length && keys.every((key) => ROUTE_KEYS.includes(key))) config = { routes: [{ path: "/example", ...config }] };
        if (base === null) base = config;
        else if (errorText === null && !("issuers" in config)) config = { ...base, ...config };
        out.push({ where, config, errorFields: errorText === null ? null : fieldsOf(errorText) });
      } else if (lang === "js" || lang === "ts") {
        for (const call of body.matchAll(/createGate\(\{/g)) {
          const start = call.index + "createGate(".length;
          const literal = literalAt(body, start);
          const config = new Function(`return (${literal});`)();
          const after = body.slice(start + literal.length).split("\n").slice(1, 4).join("\n");
          const errorFields = /^\s*\/\/ EdgewardError/.test(after)
            ? [...after.matchAll(/field: "([^"]+)"/g)].map((x) => x[1])
            : null;
          out.push({ where: `${file}:${i + 1 + body.slice(0, call.index).split("\n").length}`, config, errorFields });
        }
      }
    }
  }
  return out;
}

/**
 * [type, key] for every row of a key table in docs/configuration.md, under
 * "## Top level" (Config), "## `[x]`" (Config["x"]) or "## `[[x]]`" (an
 * item of Config["x"]). Removed keys (type "(removed)") are not types.
 */
function documentedKeys() {
  const out = [];
  let type = null;
  for (const line of readFileSync(new URL("docs/configuration.md", ROOT), "utf8").split("\n")) {
    if (line.startsWith("## ")) {
      const table = /^## `\[(\[?)(\w+)\]?\]`/.exec(line);
      type = line === "## Top level" ? "Config" : table ? `NonNullable<Config[${JSON.stringify(table[2])}]>${table[1] ? "[number]" : ""}` : null;
      continue;
    }
    const row = /^\| `(\w+)` \| ([^|]*) \|/.exec(line);
    if (type && row && row[2].trim() !== "(removed)") out.push([type, row[1]]);
  }
  return out;
}

const all = examples();

test(`docs: ${all.length} configuration examples found (docs/configuration.md, README.md, js/README.md)`, () => {
  // The minimal example, the IdP walk-throughs, the [cors] table, ...
  assert.ok(all.length >= 15, `only ${all.length}`);
  assert.ok(all.some((e) => e.errorFields?.length), "the documented errors");
  const keys = documentedKeys().map(([t, k]) => `${t}.${k}`);
  assert.ok(keys.length >= 70, `only ${keys.length} documented keys`);
  for (const k of ['Config.cors', 'NonNullable<Config["issuers"]>[number].claim_values', 'NonNullable<Config["routes"]>[number].forward_preflight', 'NonNullable<Config["keys"]>.fetch_timeout']) {
    assert.ok(keys.includes(k), k);
  }
  for (const f of SOURCES.slice(1)) assert.ok(all.some((e) => e.where.startsWith(f)), `nothing from ${f}`);
});

test("docs: the core accepts every configuration example, and refuses each documented error naming its fields", () => {
  const problems = [];
  for (const e of all) {
    // [assertion]'s key comes from a secret (the assertionKey option).
    const secret = e.config.assertion && e.config.assertion.key === undefined ? { assertionKey: "A".repeat(43) } : {};
    try {
      createGate(e.config, { fetch: async () => new Response("", { status: 500 }), ...secret });
      if (e.errorFields) problems.push(`${e.where}: documented as an error, but accepted`);
    } catch (err) {
      if (!(err instanceof EdgewardError)) throw err;
      const got = err.errors.map((x) => x.field);
      if (!e.errorFields) problems.push(`${e.where}: refused: ${err.message}`);
      else if (JSON.stringify(got) !== JSON.stringify(e.errorFields)) {
        problems.push(`${e.where}: the docs name ${JSON.stringify(e.errorFields)}, the core ${JSON.stringify(got)}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

testIf(runtime === "node", "docs: every configuration example type-checks as Config (lib/index.d.ts, deno check)", () => {
  const file = new URL("./.docs-configs.ts", import.meta.url);
  let src = 'import type { Config } from "edgeward";\n\n';
  // Every key of docs/configuration.md's tables is a key of its type.
  for (const [type, key] of documentedKeys()) src += `export const key_${key}_${src.length}: keyof ${type} = ${JSON.stringify(key)};\n`;
  all.forEach((e, i) => {
    // Documented errors are shown for what the core says, not typed.
    if (e.errorFields) return;
    src += `// ${e.where}\nexport const example${i}: Config = ${JSON.stringify(e.config, null, 2)};\n\n`;
  });
  writeFileSync(file, src);
  try {
    const deno = new URL("../node_modules/.bin/deno", import.meta.url).pathname;
    const r = spawnSync(deno, ["check", "--quiet", file.pathname], {
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", DENO_NO_PROMPT: "1" },
      cwd: new URL("..", import.meta.url).pathname,
    });
    // Name the example each error is in.
    const out = (r.stdout + r.stderr).replace(/\.docs-configs\.ts:(\d+)/g, (m, line) => {
      const before = src.split("\n").slice(0, Number(line)).reverse().find((l) => l.startsWith("// "));
      return `${m} (${before?.slice(3)})`;
    });
    assert.equal(r.status, 0, out);
  } finally {
    rmSync(file, { force: true });
  }
}, 120_000);
