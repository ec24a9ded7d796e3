// What every entry point exports, given its runtime's pieces.
import { EdgewardError, forwardHeaders, makeCreateGate, makeVerifyAssertion, reasonsFrom } from "./gate.js";
export { denoKvStore, redisStore, workersKvStore } from "./stores.js";
export { EdgewardError, forwardHeaders };

/**
 * @param {object} runtime see makeCreateGate
 */
export function entry(runtime) {
  const native = runtime.native;
  return {
    createGate: makeCreateGate(runtime),
    verifyAssertion: makeVerifyAssertion(runtime.bindings),
    reasons: reasonsFrom(runtime.bindings),
    runtime: Object.freeze({
      name: runtime.name,
      /**
       * Algorithms node:crypto verifies here with `crypto: "auto"` (each
       * self-tested on first use); [] without native crypto.
       */
      nativeAlgorithms: () => (native ? native.algorithms() : []),
    }),
  };
}
