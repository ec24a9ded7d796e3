// Runs inside workerd (Miniflare) for test/workerd.test.js: the package's
// workerd entry on the conformance cases, and both signature backends on
// the Wycheproof vectors, posted as JSON.
import { createGate, forwardHeaders, runtime } from "../../lib/workerd.js";
import * as bindings from "../../dist/edgeward.js";
import { nodeVerifier } from "../../lib/native.js";

const hex = (s) => {
  const out = new Uint8Array(s.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(i * 2, 2), 16);
  return out;
};

/** JSON with object keys sorted, for comparing documents. */
const sorted = (v) =>
  Array.isArray(v)
    ? v.map(sorted)
    : v !== null && typeof v === "object"
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted(v[k])]))
      : v;

async function conformance(cases) {
  const failures = [];
  for (const crypto of ["auto", "wasm"]) {
    for (const c of cases) {
      const fetch = async (url) => {
        if (c.idp.jwks === null || url !== c.config.issuers[0].jwks_uri) throw new TypeError("connection refused");
        return new Response(JSON.stringify(c.idp.jwks), { status: c.idp.status ?? 200, headers: { "cache-control": "max-age=600" } });
      };
      const gate = createGate(c.config, { fetch, now: () => c.now, crypto });
      const r = await gate.check({ method: c.request.method, path: c.request.path, headers: c.request.headers });
      // ES512 needs native crypto here: the wasm build has no P-521
      // (needs_alg, tests/cases/README.md).
      const e = c.needs_alg && gate.crypto === "wasm" ? { status: 401, reason: "alg_not_allowed", origin: { reached: false } } : c.expect;
      const bad = [];
      if (r.status !== e.status) bad.push(`status ${r.status} != ${e.status}`);
      if ((r.reason ?? null) !== (e.reason ?? null)) bad.push(`reason ${r.reason} != ${e.reason}`);
      if (!r.allowed && e.www_authenticate && r.headers["www-authenticate"] !== e.www_authenticate) bad.push("www-authenticate");
      if (r.allowed) for (const [k, v] of Object.entries(e.set_headers ?? {})) if (r.headers[k] !== v) bad.push(`set ${k}`);
      // What the origin would see, and the client's response headers
      // (tests/conformance.rs run_case).
      const reached = e.origin ? e.origin.reached : e.status === 200;
      if (r.allowed !== reached) bad.push(`origin reached ${r.allowed}`);
      if (r.allowed) {
        const seen = forwardHeaders(r, c.request.headers);
        for (const [k, v] of Object.entries(e.origin?.headers ?? {})) {
          if ((seen.get(k) ?? null) !== v) bad.push(`origin header ${k}: ${seen.get(k)}`);
        }
      }
      const response = new Headers(r.responseHeaders);
      for (const [k, v] of Object.entries(e.response_headers ?? {})) {
        if ((response.get(k) ?? null) !== v) bad.push(`response header ${k}: ${response.get(k)}`);
      }
      if (e.answer_body !== undefined && JSON.stringify(sorted(JSON.parse(r.body ?? "null"))) !== JSON.stringify(sorted(e.answer_body))) {
        bad.push("answer body");
      }
      if (bad.length) failures.push(`${c.file} (${crypto}): ${bad.join("; ")}`);
    }
  }
  return { cases: cases.length, failures };
}

function vectors({ groups }) {
  const c = globalThis.process?.getBuiltinModule?.("node:crypto");
  const native = nodeVerifier(c);
  const answered = { native: 0, ring: 0 };
  const counting = native && {
    supports: (i) => native.supports(i),
    verify(...a) {
      const r = native.verify(...a);
      if (r === 0 || r === 1) answered.native++;
      else if (r >= 3) answered.ring++;
      return r;
    },
  };
  const failures = [];
  let run = 0;
  const byAlg = {};
  for (const g of groups) {
    const jwk = JSON.stringify(g.jwk);
    for (const [id, m, s, result] of g.tests) {
      const msg = hex(m);
      const sig = hex(s);
      const ring = bindings.verifySignature(g.alg, jwk, msg, sig, undefined);
      const nat = counting ? bindings.verifySignature(g.alg, jwk, msg, sig, counting) : ring;
      // undefined from ring alone: ES512, which only native crypto verifies.
      if (nat === undefined) continue;
      run++;
      byAlg[g.alg] = (byAlg[g.alg] ?? 0) + 1;
      const where = `${g.set} #${id}`;
      if (ring === undefined && g.alg !== "ES512") failures.push(`${where}: ring cannot verify ${g.alg}`);
      if (ring !== undefined && nat !== ring) failures.push(`${where}: node:crypto ${nat}, ring ${ring}`);
      if (result === "valid" && nat !== true) failures.push(`${where}: refused`);
      if (result === "invalid" && nat !== false) failures.push(`${where}: accepted`);
    }
  }
  return { run, byAlg, answered, failures: failures.slice(0, 20), native: runtime.nativeAlgorithms() };
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const body = await request.json();
    const out = url.pathname === "/conformance" ? await conformance(body) : vectors(body);
    return Response.json(out);
  },
};
