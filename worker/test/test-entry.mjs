// Entry of the *test build* only (worker/scripts/build.sh --test copies it
// over entry.mjs): POST /__test/vectors runs Wycheproof vectors through the
// Worker's node:crypto backend and ring (testVerify), and through the
// WebCrypto path of two-phase checks (testWebVerify); every other request
// goes to the shipped entry.
import shipped from "./shipped-entry.mjs";
import { testVerify, testWebVerify } from "./edgeward_worker.js";

const hex = (s) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));

export default {
  async fetch(request, env, ctx) {
    if (new URL(request.url).pathname !== "/__test/vectors") return shipped.fetch(request, env, ctx);
    const { groups } = await request.json();
    const out = { run: 0, skipped: 0, native_answered: 0, web_answered: 0, web_by_alg: {}, by_alg: {}, failures: [] };
    for (const g of groups) {
      const jwk = JSON.stringify(g.jwk);
      for (const [id, msg, sig, result] of g.tests) {
        const r = testVerify(g.alg, jwk, hex(msg), hex(sig));
        const where = `${g.set} #${id} (${g.alg}, ${result})`;
        if (r === 8) {
          out.skipped++;
          continue;
        }
        if (r < 0 || r & 32) {
          out.failures.push(`${where}: ${r < 0 ? "bad input" : "the backend cannot verify it"}`);
          continue;
        }
        out.run++;
        out.by_alg[g.alg] = (out.by_alg[g.alg] ?? 0) + 1;
        const native = Boolean(r & 1);
        // ES512: node:crypto alone (no P-521 in ring or in this build).
        const ring = r & 16 ? native : Boolean(r & 2);
        if (r & 4) out.native_answered++;
        if (native !== ring) out.failures.push(`${where}: node:crypto backend ${native}, ring ${ring}`);
        // The WebCrypto path of two-phase checks (src/native.rs start_web):
        // where it answers, the same answer; -1 hands the signature back
        // to the synchronous backend.
        const web = await testWebVerify(g.alg, jwk, hex(msg), hex(sig));
        if (web === 8 || web === 0 || web === 1) {
          if (web === 8) out.failures.push(`${where}: the WebCrypto path saw a key the core refuses`);
          else {
            out.web_answered++;
            out.web_by_alg[g.alg] = (out.web_by_alg[g.alg] ?? 0) + 1;
            if (Boolean(web) !== ring) out.failures.push(`${where}: WebCrypto ${Boolean(web)}, ring ${ring}`);
          }
        }
        if (result === "valid" && !ring) out.failures.push(`${where}: refused`);
        if (result === "invalid" && ring) out.failures.push(`${where}: accepted`);
      }
    }
    return Response.json(out);
  },
};
