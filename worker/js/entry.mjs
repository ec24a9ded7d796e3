// The Worker's ES module entry: instantiates the wasm (a CompiledWasm module
// import, so no compile at request time) and hands `fetch` to Rust.
// worker/scripts/build.sh copies this next to the wasm-bindgen output.
import wasmModule from "./edgeward_worker_bg.wasm";
import { initSync, fetch as edgewardFetch } from "./edgeward_worker.js";

initSync({ module: wasmModule });

export default {
  fetch(request, env, ctx) {
    return edgewardFetch(request, env, ctx);
  },
};
