// Entry for Node >= 18, Deno 2 and Bun 1: the wasm is read from the package
// directory (or from next to an app's bundle) and compiled synchronously at
// import; signatures verify with node:crypto (synchronous verify on
// KeyObjects), ring in wasm as fallback.
import { readFileSync } from "node:fs";
import * as nodeCrypto from "node:crypto";
import * as bindings from "../dist/edgeward.js";
import { entry } from "./api.js";
import { nodeVerifier } from "./native.js";

const wasm = bindings.initSync({ module: readWasm() });

/**
 * The wasm: in the package (`dist/`), or, once a bundler (esbuild, Vite,
 * webpack for Node) has moved this code into an app's bundle, next to the
 * bundle, where the app's build copies it (js/README.md, "Bundlers").
 */
function readWasm() {
  const places = [new URL("../dist/edgeward_bg.wasm", import.meta.url), new URL("./edgeward_bg.wasm", import.meta.url)];
  for (const place of places) {
    try {
      return readFileSync(place);
    } catch (e) {
      if (e?.code !== "ENOENT") throw e;
    }
  }
  throw new Error(
    `edgeward: edgeward_bg.wasm is not at ${places.map((p) => p.pathname).join(" nor ")}; ` +
      "when bundling for a server, copy node_modules/edgeward/dist/edgeward_bg.wasm next to the bundle (or leave edgeward external)",
  );
}

const c = nodeCrypto.default ?? nodeCrypto;
const name =
  typeof globalThis.Deno === "object" ? "deno" : typeof globalThis.Bun === "object" ? "bun" : "node";

// With crypto: "auto", Node leaves EdDSA to ring (faster than OpenSSL's
// Ed25519 there; see BENCHMARKS.md); Deno and Bun verify it natively, at
// about half ring's time. crypto: "native" uses node:crypto for all.
export const { createGate, verifyAssertion, reasons, runtime } = entry({
  bindings,
  native: nodeVerifier(c, { ring: name === "node" ? ["EdDSA"] : [] }),
  nativeStrict: nodeVerifier(c),
  // gate.verify() writes tokens straight into wasm memory (gate.js).
  memory: wasm.memory,
  name,
});
export { EdgewardError, forwardHeaders, denoKvStore, redisStore, workersKvStore } from "./api.js";
