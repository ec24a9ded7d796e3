// Entry for bundlers and other runtimes (browsers, Deno Deploy, edge
// functions): the wasm is fetched next to this file (bundlers recognise
// `new URL(..., import.meta.url)` and ship the asset) and instantiated with
// top-level await. Signatures verify with ring in wasm (WebCrypto is
// asynchronous, the core's signature call is not).
import init, * as bindings from "../dist/edgeward.js";
import { entry } from "./api.js";

const wasm = await init({ module_or_path: new URL("../dist/edgeward_bg.wasm", import.meta.url) });

export const { createGate, verifyAssertion, reasons, runtime } = entry({
  bindings,
  native: null,
  // gate.verify() writes tokens straight into wasm memory (gate.js).
  memory: wasm.memory,
  name: "web",
});
export { EdgewardError, forwardHeaders, denoKvStore, redisStore, workersKvStore } from "./api.js";
