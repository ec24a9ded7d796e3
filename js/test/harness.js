// One test suite, three runners: `node --test`, `deno test`, `bun test`.
// Tests import `test` from here and assert with node:assert/strict, which
// every runtime ships.
export const runtime =
  typeof globalThis.Deno === "object" ? "deno" : typeof globalThis.Bun === "object" ? "bun" : "node";

let impl;
if (runtime === "bun") {
  impl = (await import("bun:test")).test;
} else if (runtime === "deno") {
  // Child processes (the IdP) and servers outlive single tests on purpose.
  impl = (name, fn) => globalThis.Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false, sanitizeExit: false });
} else {
  impl = (await import("node:test")).test;
}

/**
 * @param {string} name
 * @param {() => unknown} fn
 */
export function test(name, fn) {
  impl(name, fn);
}

/**
 * A test that runs only where `cond` holds (skipped, by name, elsewhere).
 * `timeoutMs`: for tests that wait on purpose (Bun stops any test after 5 s
 * by default).
 */
export function testIf(cond, name, fn, timeoutMs) {
  if (!cond) impl(`${name} (skipped in ${runtime})`, () => {});
  else if (timeoutMs === undefined) impl(name, fn);
  else if (runtime === "bun") impl(name, fn, timeoutMs);
  else if (runtime === "node") impl(name, { timeout: timeoutMs }, fn);
  else impl(name, fn);
}
