// Entry for Cloudflare Workers (workerd) and wrangler: the wasm is imported
// as a compiled WebAssembly.Module (wrangler's default rule for *.wasm).
// With the nodejs_compat flag, signatures verify with node:crypto; without
// it, with ring in wasm.
import wasmModule from "../dist/edgeward_bg.wasm";
import * as bindings from "../dist/edgeward.js";
import { entry } from "./api.js";
import { nodeVerifier } from "./native.js";

const wasm = bindings.initSync({ module: wasmModule });

let c = null;
try {
  c = globalThis.process?.getBuiltinModule?.("node:crypto") ?? null;
} catch {
  c = null;
}
export const { createGate, verifyAssertion, reasons, runtime } = entry({
  bindings,
  native: nodeVerifier(c),
  nativeStrict: nodeVerifier(c),
  // gate.verify() writes tokens straight into wasm memory (gate.js).
  memory: wasm.memory,
  name: "workerd",
});
export { EdgewardError, forwardHeaders, denoKvStore, redisStore, workersKvStore } from "./api.js";
