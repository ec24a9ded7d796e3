// What every entry point exports, given its runtime's pieces.
import { EdgewardError, forwardHeaders, makeCreateGate, reasonsFrom } from "./gate.js";
export { denoKvStore, redisStore, workersKvStore } from "./stores.js";
export { EdgewardError, forwardHeaders };

/**
 * @param {object} runtime see makeCreateGate
 */
export function entry(runtime) {
  return {
    createGate: makeCreateGate(runtime),
    reasons: reasonsFrom(runtime.bindings),
  };
}
