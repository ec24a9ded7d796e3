// The JS host of the edgeward core: I/O (key fetches, the shared store),
// the clock, caches in front of the wasm boundary, request adapters and
// middleware. Runtime-neutral: the entry points (node.js, workerd.js,
// web.js) load the wasm and pass in what their runtime offers.

/** @typedef {import("./index.d.ts").Identity} Identity */
/** @typedef {import("./index.d.ts").CheckResult} CheckResult */

/** Rounds of fetch-and-retry before a check gives up (discovery, key set, rotation). */
const MAX_ROUNDS = 8;
/** Most identities kept parsed on the JS side for `check` (and tokens for `verify`). */
const IDENTITY_CAP = 1024;
const FRONT_CAP = 4096;
/**
 * Characters at a token's end that name it in verify()'s front cache: the
 * signature's last bytes, which differ between tokens. A name is only where
 * to look: a hit is the very token (compared whole), so a token forged to
 * end like a cached one misses and is verified.
 */
const FRONT_TAIL = 24;
/** Longest token (UTF-16 units) written straight into wasm memory by verify(). */
const INPUT_MAX = 16384;
/** UTF-8 for tokens written into wasm memory (verify()). */
const UTF8 = new TextEncoder();
/** Redirect statuses a key fetch follows (through the core's `redirect`). */
const REDIRECTS = [301, 302, 303, 307, 308];
/** Most redirects one key fetch follows. */
const MAX_REDIRECTS = 5;
/** A store read that failed (an error or a timeout): the core's `SharedRead::Failed`. */
const FAILED = Symbol("failed");

/**
 * The one claim (or JOSE header parameter) a reason code blames, for
 * `EdgewardError.claim`. Codes that can blame several (`token_not_yet_valid`:
 * `nbf` or `iat`; `claim_missing`, ...) are not here.
 */
const CLAIM_OF = { token_expired: "exp", audience_invalid: "aud", issuer_unknown: "iss", token_too_old: "iat", typ_invalid: "typ" };

/**
 * An access token was refused, or keys could not be had. `code` is the
 * core's stable reason code (docs/reasons.md); `status` (and `statusCode`,
 * for Express / http-errors conventions) the HTTP status; `claim` the claim
 * at fault, when the code names one.
 */
export class EdgewardError extends Error {
  /**
   * @param {string} code
   * @param {number} status
   * @param {string} message
   * @param {object} [more]
   */
  constructor(code, status, message, more = {}) {
    super(message, more.cause === undefined ? undefined : { cause: more.cause });
    this.name = "EdgewardError";
    this.code = code;
    this.status = status;
    this.statusCode = status;
    if (Object.hasOwn(CLAIM_OF, code)) this.claim = CLAIM_OF[code];
    /** Response headers (`www-authenticate`, ...) for a refusal. */
    this.headers = more.headers ?? {};
    /** The JSON body the core would answer with. */
    this.body = more.body ?? null;
    /** For `config_invalid`: every problem, each naming its field. */
    if (more.errors) this.errors = more.errors;
  }
}

function configError(errors) {
  // serde_json's positions point into JSON the caller never wrote.
  errors = errors.map((e) => ({ field: e.field, message: e.message.replace(/ at line \d+ column \d+$/, "") }));
  const text = errors.map((e) => `${e.field}: ${e.message}`).join("; ");
  return new EdgewardError("config_invalid", 500, `invalid edgeward configuration: ${text}`, {
    errors,
  });
}

function deepFreeze(v) {
  if (v !== null && typeof v === "object") {
    Object.freeze(v);
    for (const k in v) deepFreeze(v[k]);
  }
  return v;
}

/**
 * deepFreeze for parsed JSON (plain objects and arrays): the same result,
 * with no call for the strings and numbers that are most of a token's claims.
 */
function freezeJson(v) {
  Object.freeze(v);
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (x !== null && typeof x === "object") freezeJson(x);
    }
  } else {
    for (const k in v) {
      const x = v[k];
      if (x !== null && typeof x === "object") freezeJson(x);
    }
  }
  return v;
}

/** An identity from the binding (parsed JSON, or null), deeply frozen. */
function freezeIdentity(id) {
  if (id === null || typeof id !== "object") return id;
  Object.freeze(id.scopes);
  Object.freeze(id.roles);
  Object.freeze(id.permissions);
  const c = id.claims;
  if (c !== null && typeof c === "object") freezeJson(c);
  return Object.freeze(id);
}

/**
 * The identity of a `V` or `R` answer (`V[until, kind, subject, issuer, tenant,
 * scopes, roles, permissions, expiresAt, claims]`, js/src/lib.rs
 * `verified_answer`), deeply frozen: the same plain object, keys in the same
 * order, as JSON.parse of the identity's JSON would give, built without
 * parsing its key names.
 */
function verifiedIdentity(a) {
  if (a[1] === null) return null;
  const c = a[9];
  if (c !== null && typeof c === "object") freezeJson(c);
  return Object.freeze({
    kind: a[1],
    subject: a[2],
    issuer: a[3],
    tenant: a[4],
    scopes: Object.freeze(a[5]),
    roles: Object.freeze(a[6]),
    permissions: Object.freeze(a[7]),
    expiresAt: a[8],
    claims: c,
  });
}

const SAFE = /^[^\n]*$/;

/** Headers of any common shape as `name\nvalue\n...` (the binding's form). */
function joinHeaders(headers, out = []) {
  if (headers == null) return "";
  if (typeof headers.forEach === "function" && typeof headers.get === "function") {
    // Fetch Headers: names and values hold no line feed by construction.
    headers.forEach((value, name) => out.push(name, value));
    return out.join("\n");
  }
  const push = (name, value) => {
    name = String(name);
    value = String(value);
    if (!SAFE.test(name) || !SAFE.test(value)) {
      throw new TypeError(`header ${JSON.stringify(name)} holds a line feed`);
    }
    out.push(name, value);
  };
  if (Array.isArray(headers)) {
    for (const [name, value] of headers) push(name, value);
  } else {
    for (const name of Object.keys(headers)) {
      const value = headers[name];
      if (value === undefined) continue;
      if (Array.isArray(value)) for (const v of value) push(name, v);
      else push(name, value);
    }
  }
  return out.join("\n");
}

/** The path and query of a URL as sent: no normalisation (the core refuses `..`). */
function pathOf(url) {
  const scheme = url.indexOf("://");
  if (scheme < 0) return url;
  const slash = url.indexOf("/", scheme + 3);
  if (slash < 0) {
    const q = url.indexOf("?", scheme + 3);
    return q < 0 ? "/" : "/" + url.slice(q);
  }
  return url.slice(slash);
}

/**
 * A request of any supported shape as [method, path, joined headers]:
 * a Fetch `Request`, a Node `IncomingMessage` (Express, Connect, node:http),
 * or `{ method, url | path, headers }`.
 */
function requestParts(req) {
  if (req == null || typeof req !== "object") {
    throw new TypeError("check(request): expected a Request, an IncomingMessage or { method, path, headers }");
  }
  // Sent as is: the core reads methods in uppercase (Express lowercases
  // nothing, but `patch` must meet the rules for PATCH wherever it comes from).
  const method = typeof req.method === "string" ? req.method : "GET";
  if (Array.isArray(req.rawHeaders)) {
    // Node's IncomingMessage: rawHeaders keeps repeated headers (two
    // Authorization headers must be a 400, not the first one winning).
    const raw = req.rawHeaders;
    let joined = "";
    for (let i = 0; i + 1 < raw.length; i += 2) {
      joined += (i ? "\n" : "") + raw[i] + "\n" + raw[i + 1];
    }
    const path = typeof req.originalUrl === "string" ? req.originalUrl : String(req.url ?? "/");
    return [method, pathOf(path), joined];
  }
  const path = typeof req.path === "string" ? req.path : pathOf(String(req.url ?? "/"));
  return [method, path, joinHeaders(req.headers)];
}

/** Milliseconds for latency_ms (performance.now where there is one). */
function clockMs() {
  return globalThis.performance?.now?.() ?? Date.now();
}

/**
 * The event of the 503 a check answers itself after MAX_ROUNDS key fetches
 * (no decision of the core's to describe): the same fields.
 */
function unavailableEvent(method, path) {
  const cut = (s) => (s.length > 200 ? s.slice(0, 200) : s);
  return {
    outcome: "deny", status: 503, reason: "keys_unavailable", detail: "the issuer's keys cannot be fetched right now",
    method: cut(String(method).toUpperCase()), path: cut(String(path).split("?")[0]), route: null, issuer: null,
    unverified_issuer: null, kid: null, alg: null, identity: null, tenant: null, jwt_cache: null,
  };
}

function secondsClock() {
  return Math.floor(Date.now() / 1000);
}

/**
 * Reads a response body up to `max` bytes (one more tells the core it was
 * too large).
 */
async function readCapped(res, max) {
  if (res.body && typeof res.body.getReader === "function") {
    const reader = res.body.getReader();
    const chunks = [];
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      total += value.byteLength;
      if (total > max) {
        await reader.cancel().catch(() => {});
        break;
      }
    }
    const out = new Uint8Array(Math.min(total, max + 1));
    let at = 0;
    for (const c of chunks) {
      const n = Math.min(c.byteLength, out.length - at);
      out.set(n === c.byteLength ? c : c.subarray(0, n), at);
      at += n;
      if (at >= out.length) break;
    }
    return out;
  }
  const buf = new Uint8Array(await res.arrayBuffer());
  return buf.byteLength > max + 1 ? buf.subarray(0, max + 1) : buf;
}

/** Errors of a refused response (vs. no response), for onError's `where`. */
const INGEST_ERRORS = new WeakSet();

function responseHeaders(res) {
  const out = [];
  const h = res.headers;
  if (h && typeof h.forEach === "function") h.forEach((v, k) => out.push(k, v));
  else if (h) for (const k of Object.keys(h)) out.push(k, String(h[k]));
  return out.filter((s) => SAFE.test(s)).join("\n");
}

/**
 * Builds `createGate` for one runtime.
 * @param {object} runtime
 * @param {any} runtime.bindings the wasm-bindgen module (initialised)
 * @param {any} runtime.native a native verifier (native.js) or null
 * @param {WebAssembly.Memory} [runtime.memory] the module's memory, when the entry has it (verify() writes tokens into it)
 * @param {string} runtime.name
 */
export function makeCreateGate(runtime) {
  const { bindings } = runtime;

  /**
   * @param {object | string} config the configuration (object or JSON text)
   * @param {object} [options]
   */
  function createGate(config, options = {}) {
    return new Gate(runtime, bindings, config, options);
  }
  return createGate;
}

class Gate {
  #w;
  #fetch;
  #store;
  #clock;
  #onError;
  /** The wasm memory (runtime.memory), when the runtime hands it over: verify() writes tokens into it */
  #memory;
  /** A view of the core's input buffer (inputBuffer), reused while memory has not grown */
  #input = null;
  /** options.onDecision, or null */
  #onDecision = null;
  /** Counters, named as the Envoy filter's (docs/observability.md); `denied.<reason>` in #deniedBy */
  #counts = { allowed: 0, denied: 0, preflight_answered: 0, jwks_fetch_success: 0, jwks_fetch_failed: 0, jwt_cache_hit: 0, jwt_cache_miss: 0 };
  #deniedBy = new Map();
  /** onDecision threw: reported once */
  #hookFailed = false;
  /** No options.onError: a throwing hook goes to console.error */
  #onErrorDefault = true;
  /**
   * flight id -> Promise of the fetch the core asked for (the ingest report;
   * rejects when it failed), while the core holds the flight open
   */
  #flights = new Map();
  /** identity number (from the binding) -> frozen identity, for check() */
  #identities = new Map();
  /**
   * The token's last FRONT_TAIL characters -> { token, until, identity },
   * for verify(); `until` is the core's (when its own verdict cache drops
   * the token), never computed here. A lookup hits only the very token
   * (`entry.token === token`): the short key spares hashing the whole
   * token (a SHA-256, or V8's own hash of an 800-character string) on
   * every call, and the comparison keeps it exact. A token enters on its
   * second verify (the core's answer `R`: its verdict cache held it), so
   * tokens seen once leave nothing here for the collector to carry.
   * Two generations, as the core's verdict cache: lookups hit #front or
   * promote from #frontOld; when #front holds half the capacity it becomes
   * #frontOld and the older one goes whole (O(1), where evicting a Map's
   * first entry one at a time makes V8 skip ever more deleted slots).
   */
  #front = new Map();
  #frontOld = new Map();
  #frontCap;
  #lastDue = -1;
  /**
   * With a store: the first use's read of every issuer's copy (the core's
   * `shared_keys`), once; null before it starts
   */
  #warm = null;
  /** No store, or the first use's read is over: nothing to wait for */
  #warmed = true;
  #timeoutMs;
  #maxBytes;
  #issuers;
  #crypto;
  /** The binding's requirement class, for require() */
  #Requirement;

  constructor(runtime, bindings, config, options) {
    if (options === null || typeof options !== "object") {
      throw configError([{ field: "options", message: "must be an object" }]);
    }
    const problems = [];
    const known = ["fetch", "store", "now", "crypto", "onError", "onDecision", "assertionKey"];
    for (const k of Object.keys(options)) {
      if (!known.includes(k)) problems.push({ field: `options.${k}`, message: `unknown option; use one of ${known.join(", ")}` });
    }
    const { fetch: fetchFn = globalThis.fetch, store, now, crypto = "auto", onError, onDecision } = options;
    if (typeof fetchFn !== "function") problems.push({ field: "options.fetch", message: "must be a fetch-compatible function" });
    if (
      store !== undefined &&
      (store === null ||
        typeof store.get !== "function" ||
        typeof store.set !== "function" ||
        (store.lock !== undefined && typeof store.lock !== "function"))
    ) {
      problems.push({
        field: "options.store",
        message: "must have get(key) and set(key, value, ttlSeconds), and optionally lock(key, deadlineUnixSeconds)",
      });
    }
    if (now !== undefined && typeof now !== "function") problems.push({ field: "options.now", message: "must be a function returning Unix seconds" });
    if (onError !== undefined && typeof onError !== "function") problems.push({ field: "options.onError", message: "must be a function" });
    if (onDecision !== undefined && typeof onDecision !== "function") problems.push({ field: "options.onDecision", message: "must be a function (event) => void" });
    if (!["auto", "native", "wasm"].includes(crypto)) {
      problems.push({ field: "options.crypto", message: 'must be "native", "wasm" or "auto"' });
    } else if (crypto === "native" && !runtime.native) {
      problems.push({ field: "options.crypto", message: `"native" is not available in this runtime (${runtime.name}); use "wasm" or "auto"` });
    }
    let json;
    if (typeof config === "string") json = config;
    else if (config !== null && typeof config === "object") json = JSON.stringify(config);
    else problems.push({ field: ".", message: "the configuration must be an object or JSON text" });
    if (options.assertionKey !== undefined && json !== undefined) {
      // The signing key of [assertion], kept out of the configuration
      // object (which gate.config exposes; the core never serializes it).
      const doc = JSON.parse(json);
      if (typeof options.assertionKey !== "string") {
        problems.push({ field: "options.assertionKey", message: "must be a string: a 32-byte Ed25519 seed, base64url" });
      } else if (!doc.assertion || typeof doc.assertion !== "object") {
        problems.push({ field: "options.assertionKey", message: "set, but the configuration has no assertion section" });
      } else if (doc.assertion.key !== undefined) {
        problems.push({ field: "options.assertionKey", message: "set, and assertion.key too: give the key once" });
      } else {
        doc.assertion.key = options.assertionKey;
        json = JSON.stringify(doc);
      }
    }
    if (problems.length) throw configError(problems);

    // "auto" may leave an algorithm to ring where ring is faster (node.js);
    // "native" uses node:crypto for everything it can verify.
    const native =
      crypto === "wasm" ? undefined : ((crypto === "native" ? runtime.nativeStrict : runtime.native) ?? undefined);
    try {
      this.#w = new bindings.WasmGate(json, native);
      this.#Requirement = bindings.WasmRequirement;
    } catch (e) {
      if (typeof e === "string") throw configError(JSON.parse(e));
      throw e;
    }
    this.#crypto = native ? "native" : "wasm";
    // Called as a plain function: workerd's fetch throws "Illegal invocation"
    // when called as a method of another object.
    this.#fetch = (url, init) => fetchFn(url, init);
    this.#store = store;
    this.#clock = now ?? secondsClock;
    this.#onError = onError ?? (() => {});
    this.#onErrorDefault = onError === undefined;
    if (onDecision) {
      this.#onDecision = onDecision;
      this.#w.setObserve(true);
    }
    this.#memory = runtime.memory;
    const full = JSON.parse(this.#w.configJson());
    this.#timeoutMs = full.keys.fetch_timeout * 1000;
    this.#maxBytes = full.keys.max_response_bytes;
    this.#issuers = full.issuers.map((i) => i.issuer);
    this.#frontCap = Math.min(full.cache.capacity, FRONT_CAP);
    this.config = deepFreeze(full);
    if (store !== undefined) {
      // Every rule of the shared tier is the core's (keystore/shared.rs);
      // this host reads, writes and locks when told.
      this.#w.useSharedTier(typeof store.lock === "function");
      this.#warmed = false;
    }
  }

  /** Which backend verifies signatures: `"native"` (node:crypto) or `"wasm"` (ring). */
  get crypto() {
    return this.#crypto;
  }

  #now() {
    const t = this.#clock();
    const n = typeof t === "number" ? t : t instanceof Date ? t.getTime() / 1000 : NaN;
    if (!Number.isFinite(n) || n > 1e11) {
      throw new TypeError("options.now() must return Unix seconds (or a Date)");
    }
    return Math.floor(n);
  }

  /**
   * Verifies a token (signature, issuer, audience, times, typ; no route
   * policy). Resolves to the identity; rejects with an EdgewardError.
   * @param {string} token
   * @returns {Promise<Identity>}
   */
  async verify(token) {
    if (typeof token !== "string") throw new TypeError("verify(token): the token must be a string");
    if (!this.#warmed) await this.#warmUp();
    let now = this.#now();
    const key = this.#frontCap !== 0 && token.length > FRONT_TAIL ? token.slice(-FRONT_TAIL) : null;
    if (key !== null) {
      let hit = this.#front.get(key);
      if (hit !== undefined && hit.token !== token) hit = undefined;
      if (hit === undefined) {
        const old = this.#frontOld.get(key);
        if (old !== undefined && old.token === token) {
          this.#frontOld.delete(key);
          if (now < old.until) this.#frontAdd(key, old);
          hit = old;
        }
      }
      if (hit !== undefined) {
        if (now < hit.until) {
          this.#due(now);
          return hit.identity;
        }
        if (this.#front.get(key) === hit) this.#front.delete(key);
      }
    }
    for (let round = 0; ; round++) {
      const out = this.#verifyInput(token, now);
      const tag = out.charCodeAt(0);
      if (tag === 86 /* V */ || tag === 82 /* R */) {
        const a = JSON.parse(out.slice(1));
        const until = a[0];
        const identity = verifiedIdentity(a);
        // Kept from its second use on (R: the core's verdict cache held
        // it): a token seen once costs no entry that the collector then
        // carries, and a token in use is served from here from its third.
        if (key !== null && tag === 82) this.#frontAdd(key, { token, until, identity });
        this.#due(now);
        return identity;
      }
      if (tag === 68 /* D */) {
        const d = JSON.parse(out.slice(1));
        this.#due(now);
        throw new EdgewardError(d.reason, d.status, d.detail, { headers: d.headers, body: d.body });
      }
      const f = JSON.parse(out.slice(1));
      if (round >= MAX_ROUNDS) {
        this.#giveUp(f);
        throw this.#unavailable();
      }
      await this.#keysFor(f);
      now = this.#now();
    }
  }

  /**
   * The core's verify. Where the runtime hands over the wasm memory, the
   * token's UTF-8 is written into the core's input buffer with
   * TextEncoder.encodeInto, far cheaper in Node than the binding's
   * per-character copy of a string argument.
   */
  #verifyInput(token, now) {
    const memory = this.#memory;
    if (memory === undefined || token.length > INPUT_MAX) return this.#w.verify(token, now);
    // The buffer stays where it is until inputBuffer is asked for more
    // room, so it is asked only then; the views are made again when memory
    // has grown (its old ArrayBuffer is then detached). UTF-8 takes at
    // most 3 bytes per UTF-16 unit.
    let view = this.#input;
    if (view === null || view.buffer !== memory.buffer || view.length < token.length * 3) {
      const room = Math.max(token.length * 3, 8192);
      const ptr = this.#w.inputBuffer(room);
      view = this.#input = new Uint8Array(memory.buffer, ptr, room);
    }
    const { written } = UTF8.encodeInto(token, view);
    return this.#w.verifyInput(written, now);
  }

  /**
   * Decides a request against the route policy.
   * @param {any} request a Fetch Request, a Node IncomingMessage, or { method, path | url, headers }
   * @returns {Promise<CheckResult>}
   */
  async check(request) {
    const [method, path, headers] = requestParts(request);
    const started = clockMs();
    if (!this.#warmed) await this.#warmUp();
    let now = this.#now();
    for (let round = 0; ; round++) {
      const out = this.#w.check(method, path, headers, now);
      const tag = out.charCodeAt(0);
      if (tag === 65 /* A */) {
        const a = JSON.parse(out.slice(1));
        let identity = this.#identities.get(a.id);
        if (identity === undefined) {
          identity = freezeIdentity(a.identity ?? null);
          if (this.#identities.size >= IDENTITY_CAP) {
            this.#identities.clear();
            this.#w.forgetIdentities();
          }
          this.#identities.set(a.id, identity);
        }
        this.#due(now);
        return this.#observe({
          allowed: true,
          outcome: "allow",
          status: 200,
          headers: a.headers,
          remove: a.remove,
          responseHeaders: a.response,
          body: null,
          reason: a.reason,
          identity,
        }, a, started, round > 0);
      }
      if (tag === 68 /* D */) {
        const d = JSON.parse(out.slice(1));
        this.#due(now);
        return this.#observe({
          allowed: false,
          outcome: "deny",
          status: d.status,
          headers: d.headers,
          remove: [],
          responseHeaders: d.headers,
          body: d.body,
          reason: d.reason,
          identity: null,
        }, d, started, round > 0);
      }
      if (tag === 82 /* R */) {
        // The gate answers (a CORS preflight, the RFC 9728 metadata): the
        // origin is not reached. No body for 204, nor for HEAD.
        const p = JSON.parse(out.slice(1));
        this.#due(now);
        return this.#observe({
          allowed: false,
          outcome: "answer",
          status: p.status,
          headers: p.headers,
          remove: [],
          responseHeaders: p.headers,
          body: p.body === "" || /^head$/i.test(method) ? null : p.body,
          reason: null,
          identity: null,
        }, p, started, round > 0);
      }
      const f = JSON.parse(out.slice(1));
      if (round >= MAX_ROUNDS) {
        this.#giveUp(f);
        const e = this.#unavailable();
        return this.#observe({
          allowed: false,
          outcome: "deny",
          status: e.status,
          headers: e.headers,
          remove: [],
          responseHeaders: e.headers,
          body: e.body,
          reason: e.code,
          identity: null,
        }, { event: this.#onDecision && unavailableEvent(method, path) }, started, true);
      }
      await this.#keysFor(f);
      now = this.#now();
    }
  }

  /**
   * Counts a decision and hands its event to options.onDecision (`out`: the
   * binding's answer, with `event` when a hook is set and `jwt_cache`).
   * A hook that throws changes nothing: reported once through onError.
   */
  #observe(result, out, started, keyFetch) {
    const c = this.#counts;
    if (result.outcome === "allow") c.allowed++;
    else if (result.outcome === "deny") {
      c.denied++;
      this.#deniedBy.set(result.reason, (this.#deniedBy.get(result.reason) ?? 0) + 1);
    } else if (result.status === 204) c.preflight_answered++;
    if (out.jwt_cache === "hit") c.jwt_cache_hit++;
    else if (out.jwt_cache === "miss") c.jwt_cache_miss++;
    if (this.#onDecision && out.event) {
      const event = { ...out.event, latency_ms: clockMs() - started, key_fetch: keyFetch };
      try {
        const r = this.#onDecision(event);
        // An async hook's rejection is caught the same way.
        if (r && typeof r.then === "function") r.then(undefined, (e) => this.#hookError(e));
      } catch (e) {
        this.#hookError(e);
      }
    }
    return result;
  }

  #hookError(e) {
    if (this.#hookFailed) return;
    this.#hookFailed = true;
    this.#onError(e, "onDecision");
    if (this.#onErrorDefault) console.error("edgeward: options.onDecision threw (reported once; decisions are unaffected):", e);
  }

  /**
   * The counters (names shared with the Envoy filter, docs/observability.md):
   * a plain object with `denied.<reason>` keys, or with
   * `{ format: "prometheus" }` the Prometheus text exposition format.
   * @param {{ format?: "object" | "prometheus" }} [options]
   */
  metrics({ format = "object" } = {}) {
    const reasons = [...this.#deniedBy].sort(([a], [b]) => (a < b ? -1 : 1));
    if (format === "object") {
      const out = { ...this.#counts };
      for (const [r, n] of reasons) out[`denied.${r}`] = n;
      return out;
    }
    if (format !== "prometheus") throw new TypeError('metrics({ format }): "object" or "prometheus"');
    const lines = [];
    for (const [name, n] of Object.entries(this.#counts)) {
      lines.push(`# TYPE edgeward_${name}_total counter`, `edgeward_${name}_total ${n}`);
      if (name === "denied" && reasons.length) {
        lines.push("# TYPE edgeward_denied_reason_total counter");
        for (const [r, k] of reasons) lines.push(`edgeward_denied_reason_total{reason="${r}"} ${k}`);
      }
    }
    return lines.join("\n") + "\n";
  }

  #unavailable() {
    const body = JSON.stringify({ error: "temporarily_unavailable", reason: "keys_unavailable", detail: "the issuer's keys cannot be fetched right now" });
    return new EdgewardError("keys_unavailable", 503, "the issuer's keys cannot be fetched right now", {
      headers: { "content-type": "application/json", "cache-control": "no-store", "retry-after": "30" },
      body,
    });
  }

  /** What is cached, per issuer. */
  keys() {
    return JSON.parse(this.#w.keys(this.#now()));
  }

  /**
   * Fetches every issuer's keys now (or one issuer's), whatever their
   * freshness, or joins a fetch already under way. Resolves to `keys()`;
   * rejects when a fetch failed (the keys held before stay in use).
   * @param {string} [issuer]
   */
  async refresh(issuer) {
    const list = issuer === undefined ? this.#issuers : [issuer];
    if (issuer !== undefined && !this.#issuers.includes(issuer)) {
      throw new TypeError(`refresh(issuer): ${issuer} is not a configured issuer`);
    }
    if (!this.#warmed) await this.#warmUp();
    const errors = [];
    await Promise.all(
      list.map((iss) => this.#refreshOne(iss).catch((e) => void errors.push(e))),
    );
    if (errors.length) {
      throw new EdgewardError("keys_unavailable", 503, errors.map((e) => e.message).join("; "), { cause: errors[0] });
    }
    return this.keys();
  }

  async #refreshOne(issuer) {
    // Discovery first when the key set's URL is not known yet; a joined
    // flight may be either.
    for (let i = 0; i < 3; i++) {
      const f = JSON.parse(this.#w.refresh(issuer, this.#now()));
      let report;
      if (f.start) {
        // From the IdP, not the store: an operator's refresh.
        report = await this.#track(f, this.#fetchAndIngest(f));
      } else {
        const p = this.#flights.get(f.flight);
        if (p === undefined) {
          this.#abandon(f);
          continue;
        }
        report = await p;
      }
      if (report.kind === "jwks") return;
    }
  }

  /** Background refreshes the core says are due (stale keys), once per second. */
  #due(now) {
    if (now === this.#lastDue) return;
    this.#lastDue = now;
    const due = JSON.parse(this.#w.dueRefreshes(now));
    for (const f of due) {
      this.#track(f, this.#run(f)).catch((e) => this.#onError(e, INGEST_ERRORS.has(e) ? "ingest" : "refresh"));
    }
  }

  /** Performs, or waits for, the fetch the core asked for. */
  async #keysFor(f) {
    if (f.start) {
      await this.#track(f, this.#run(f)).catch((e) => this.#onError(e, INGEST_ERRORS.has(e) ? "ingest" : "fetch"));
      return;
    }
    // `start` is true for exactly one caller per flight; it reports errors.
    const p = this.#flights.get(f.flight);
    if (p === undefined) {
      // Every flight started here is tracked until the core has closed it
      // (#track), so this does not happen; should it, the next round starts
      // a new flight rather than waiting for one no one runs.
      this.#abandon(f);
      return;
    }
    await p.catch(() => {});
  }

  /**
   * Tracks the run of fetch `f` (whose `start` was true) under its flight
   * id. When the run ends without the core closing the flight (an
   * exception), the flight is abandoned, so no later caller waits on it.
   */
  #track(f, run) {
    const p = run.finally(() => {
      this.#abandon(f);
      if (this.#flights.get(f.flight) === p) this.#flights.delete(f.flight);
    });
    this.#flights.set(f.flight, p);
    return p;
  }

  /** A fetch given up (a no-op when the core has closed its flight). */
  #abandon(f) {
    this.#w.abandon(f.issuer, f.url, f.kind === "discovery" ? 0 : 1, f.flight);
  }

  /** A check or verify gives up: a flight it was to start is abandoned. */
  #giveUp(f) {
    if (f.start) this.#abandon(f);
  }

  /**
   * A flight's starter: the store first when the core names a key to read
   * (`shared_key`), then what the core says next (keystore/shared.rs):
   * `D` done, `F` the IdP, `L` take the store's lock, `W` wait and read
   * again. Resolves to the ingest report, or `{ kind: "jwks", shared: true }`
   * when the flight ended without an IdP fetch.
   */
  async #run(f) {
    if (f.shared_key === undefined || !this.#store) return this.#fetchAndIngest(f);
    const kind = f.kind === "discovery" ? 0 : 1;
    // A backstop for a clock that does not move (a frozen options.now):
    // the core ends every wait after fetch_timeout plus a grace of its own.
    const giveUpAt = Date.now() + 2 * this.#timeoutMs + 2000;
    const read = async () => {
      const v = await this.#storeGet(f.shared_key);
      return this.#w.ingestShared(f.issuer, f.url, kind, f.flight, v === FAILED ? null : v, v === FAILED, this.#now());
    };
    let out = await read();
    for (;;) {
      const tag = out.charCodeAt(0);
      const step = JSON.parse(out.slice(1));
      // The core dropped verdicts made with a key the copy withdrew.
      if (step.removed) this.#forgetVerdicts();
      if (tag === 68 /* D */) return { kind: "jwks", shared: true };
      if (tag === 70 /* F */) return this.#fetchAndIngest(f);
      if (tag === 76 /* L */) {
        const acquired = await this.#storeLock(step.key, step.deadline);
        out = this.#w.lockResult(f.issuer, f.url, kind, f.flight, acquired, this.#now());
        continue;
      }
      // W: another instance holds the lock and fetches.
      if (Date.now() + step.retry_ms > giveUpAt) {
        throw new Error(`waited ${Math.round((2 * this.#timeoutMs + 2000) / 1000)}s for another instance's keys while the clock stood still`);
      }
      await new Promise((r) => setTimeout(r, step.retry_ms));
      out = await read();
    }
  }

  /** Rejects with a TimeoutError when `p` takes longer than half of fetch_timeout. */
  async #bounded(p, what) {
    const ms = this.#timeoutMs / 2;
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => {
        const e = new Error(`the store's ${what} did not answer within ${ms} ms`);
        e.name = "TimeoutError";
        reject(e);
      }, ms);
    });
    try {
      return await Promise.race([p, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The store's value under `key` (null: absent), or FAILED (an error or a timeout). */
  async #storeGet(key) {
    let v;
    try {
      v = await this.#bounded(this.#store.get(key), "get");
    } catch (e) {
      this.#onError(e, "store.get");
      return FAILED;
    }
    if (v == null || v === "") return null;
    // Some clients parse JSON values on the way out (Upstash's, by default).
    return typeof v === "string" ? v : JSON.stringify(v);
  }

  /**
   * The store's lock (`SharedNext::Lock`): true when taken. A store that
   * fails to answer is treated as granting it: the IdP then, as without a
   * store, rather than a wait for a copy no one may be fetching.
   */
  async #storeLock(key, deadline) {
    try {
      return Boolean(await this.#bounded(this.#store.lock(key, deadline), "lock"));
    } catch (e) {
      this.#onError(e, "store.lock");
      return true;
    }
  }

  /** First use with a store: every issuer's copy read and handed to the core. */
  #warmUp() {
    this.#warm ??= (async () => {
      const keys = JSON.parse(this.#w.sharedKeys());
      const values = await Promise.all(keys.map((k) => this.#storeGet(k)));
      const now = this.#now();
      keys.forEach((key, i) => {
        if (values[i] === FAILED) return;
        try {
          if (this.#w.adoptShared(key, values[i], now)) this.#forgetVerdicts();
        } catch (e) {
          this.#onError(new Error(typeof e === "string" ? e : String(e?.message ?? e)), "store.value");
        }
      });
    })().finally(() => {
      this.#warmed = true;
    });
    return this.#warm;
  }

  /**
   * After the IdP answered a flight, or did not: the store writes the core
   * asks for (often none). A failed write is reported back to the core.
   */
  async #publish(f, kind) {
    if (!this.#store) return;
    const writes = JSON.parse(this.#w.sharedWrites(f.issuer, f.url, kind, f.flight, this.#now()));
    await Promise.all(
      writes.map(async (w) => {
        try {
          await this.#bounded(this.#store.set(w.key, w.value, w.ttl), "set");
        } catch (e) {
          this.#w.sharedWriteFailed(w.key, w.value, w.ttl);
          this.#onError(e, "store.set");
        }
      }),
    );
  }

  /**
   * GETs `f.url` and feeds the answer to the core, then performs the store
   * writes the core asks for. Resolves to the ingest report; rejects when
   * there was no answer or the core refused it.
   */
  async #fetchAndIngest(f) {
    const kind = f.kind === "discovery" ? 0 : 1;
    let res;
    try {
      res = await this.#get(f, kind);
    } catch (e) {
      const message = e && e.name === "TimeoutError" ? `no answer within ${this.#timeoutMs / 1000}s` : String(e?.message ?? e);
      this.#w.fetchFailed(f.issuer, f.url, kind, f.flight, message, this.#now());
      if (kind === 1) this.#counts.jwks_fetch_failed++;
      await this.#publish(f, kind);
      throw new Error(`fetching ${f.url} failed: ${message}`, { cause: e });
    }
    let report;
    try {
      report = JSON.parse(this.#w.ingest(f.issuer, f.url, kind, f.flight, res.status, res.headers, res.body, this.#now()));
    } catch (e) {
      const err = new Error(typeof e === "string" ? e : String(e?.message ?? e));
      INGEST_ERRORS.add(err);
      if (kind === 1) this.#counts.jwks_fetch_failed++;
      await this.#publish(f, kind);
      throw err;
    }
    if (report.removed) this.#forgetVerdicts();
    if (kind === 1) this.#counts.jwks_fetch_success++;
    await this.#publish(f, kind);
    return report;
  }

  #frontAdd(key, entry) {
    if (this.#front.size * 2 >= this.#frontCap) {
      this.#frontOld = this.#front;
      this.#front = new Map();
    }
    this.#front.set(key, entry);
  }

  #forgetVerdicts() {
    this.#front.clear();
    this.#frontOld.clear();
    this.#identities.clear();
    this.#w.forgetIdentities();
  }

  /**
   * A GET of `f.url` with a timeout and a size cap (the core checks status
   * and size again). Redirects are followed here, one hop at a time, each
   * to where the core says a key fetch may go (`redirect`), at most
   * MAX_REDIRECTS hops.
   */
  async #get(f, kind) {
    const ctrl = new AbortController();
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => {
        const e = new Error(`no answer within ${this.#timeoutMs / 1000}s`);
        e.name = "TimeoutError";
        ctrl.abort(e);
        reject(e);
      }, this.#timeoutMs);
    });
    try {
      return await Promise.race([
        (async () => {
          let url = f.url;
          for (let hop = 0; ; hop++) {
            const res = await this.#fetch(url, {
              method: "GET",
              headers: { accept: "application/json" },
              redirect: "manual",
              signal: ctrl.signal,
            });
            if (res.type === "opaqueredirect") {
              // A browser hides where a manual redirect goes.
              throw new Error(`${url} redirects, and this runtime does not say where`);
            }
            const location = REDIRECTS.includes(res.status) ? res.headers?.get?.("location") : null;
            if (location != null) {
              await res.body?.cancel?.().catch(() => {});
              if (hop >= MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects`);
              try {
                url = this.#w.redirect(f.issuer, url, kind, f.flight, location);
              } catch (e) {
                throw new Error(typeof e === "string" ? e : String(e?.message ?? e));
              }
              continue;
            }
            const len = Number(res.headers?.get?.("content-length") ?? NaN);
            let body;
            if (len > this.#maxBytes) {
              await res.body?.cancel?.().catch(() => {});
              body = new Uint8Array(this.#maxBytes + 1);
            } else {
              body = await readCapped(res, this.#maxBytes);
            }
            return { status: res.status, headers: responseHeaders(res), body };
          }
        })(),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Hono middleware: answers refusals and CORS preflights itself (the
   * handler does not run); otherwise replaces `c.req.raw` with the same
   * request carrying the edited headers (client-sent identity headers
   * removed, verified ones set), sets `identity` (and `edgeward`, the whole
   * result) on the context, calls `next`, and adds the result's
   * `responseHeaders` (CORS) to the response.
   *
   * `{ throwErrors: true }`: a refusal is thrown as Hono's `HTTPException`
   * (its `res` the refusal response, its `cause` an EdgewardError) for
   * `app.onError`; gate answers (preflights, metadata) are still returned.
   * @param {{ throwErrors?: boolean }} [options]
   */
  hono(options) {
    const { throwErrors = false } = middlewareOptions(options, "hono", "throwErrors");
    let HTTPException;
    return async (c, next) => {
      const r = await this.check(c.req.raw);
      if (!r.allowed) {
        const res = new Response(r.body, { status: r.status, headers: r.headers });
        if (!throwErrors || r.outcome !== "deny") return res;
        HTTPException ??= await honoHTTPException();
        const cause = refusalError(r);
        throw new HTTPException(r.status, { res, message: cause.message, cause });
      }
      c.req.raw = requestWithHeaders(c.req.raw, r);
      c.set("identity", r.identity);
      c.set("edgeward", r);
      await next();
      for (const name of Object.keys(r.responseHeaders)) {
        const value = r.responseHeaders[name];
        // c.header copies a response whose headers cannot change.
        c.header(name, name === "vary" ? mergeVary(c.res.headers.get("vary"), value) : value);
      }
    };
  }

  /**
   * Express / Connect / node:http middleware `(req, res, next)`: answers
   * refusals and CORS preflights itself (`next` is not called); otherwise
   * edits the request headers (`req.headers` and `req.rawHeaders`: client
   * sent identity headers removed, verified ones set), puts the identity on
   * `req.auth`, sets the result's `responseHeaders` (CORS) on `res`, and
   * calls `next()`.
   *
   * `{ passErrors: true }`: a refusal goes to `next(err)` as an
   * EdgewardError (`status`, `statusCode`, `code`, `headers`, `body`) for
   * the app's error handler; gate answers (preflights, metadata) are still
   * sent.
   * @param {{ passErrors?: boolean }} [options]
   */
  connect(options) {
    const { passErrors = false } = middlewareOptions(options, "connect", "passErrors");
    return (req, res, next) => {
      this.check(req).then((r) => {
        if (!r.allowed) {
          if (passErrors && r.outcome === "deny") {
            next(refusalError(r));
            return;
          }
          res.statusCode = r.status;
          for (const [k, v] of Object.entries(r.headers)) res.setHeader(k, v);
          res.end(r.body ?? undefined);
          return;
        }
        try {
          applyToNodeRequest(req, r);
          for (const [k, v] of Object.entries(r.responseHeaders)) {
            res.setHeader(k, k === "vary" ? mergeVary(res.getHeader("vary"), v) : v);
          }
        } catch (e) {
          next(e);
          return;
        }
        next();
      }, next);
    };
  }

  /**
   * Same as `connect()`.
   * @param {{ passErrors?: boolean }} [options]
   */
  express(options) {
    return this.connect(options);
  }

  /**
   * A Fastify plugin (`app.register(gate.fastify())`), following
   * fastify-plugin's conventions (not encapsulated: it gates the context
   * it is registered in and its children). An `onRequest` hook answers
   * refusals and the gate's own answers (CORS preflights, metadata) itself;
   * otherwise it edits the request headers (`request.headers` and
   * `request.raw`: client-sent identity headers removed, verified ones
   * set) and sets `request.identity` (and `request.edgeward`, the whole
   * result); an `onSend` hook adds the result's `responseHeaders` (CORS)
   * to the reply.
   *
   * `{ throwErrors: true }` (here or in `register`'s options): a refusal
   * is thrown as an EdgewardError (`statusCode`, `code`, `headers`) for
   * Fastify's error handler.
   * @param {{ throwErrors?: boolean }} [options]
   */
  fastify(options) {
    const own = middlewareOptions(options, "fastify", "throwErrors");
    const gate = this;
    function edgeward(instance, opts, done) {
      const throwErrors = typeof opts?.throwErrors === "boolean" ? opts.throwErrors : own.throwErrors === true;
      if (!instance.hasRequestDecorator("identity")) instance.decorateRequest("identity", null);
      if (!instance.hasRequestDecorator("edgeward")) instance.decorateRequest("edgeward", null);
      instance.addHook("onRequest", async (request, reply) => {
        const r = await gate.check(request.raw);
        if (!r.allowed) {
          if (throwErrors && r.outcome === "deny") throw refusalError(r);
          return fastifySend(reply, r);
        }
        applyToNodeRequest(request.raw, r);
        request.identity = r.identity;
        request.edgeward = r;
      });
      // After the handler (as in hono()), so its own Vary is merged, not lost.
      instance.addHook("onSend", async (request, reply, payload) => {
        const r = request.edgeward;
        if (r?.allowed) {
          for (const [k, v] of Object.entries(r.responseHeaders)) {
            reply.header(k, k === "vary" ? mergeVary(reply.getHeader("vary"), v) : v);
          }
        }
        return payload;
      });
      done();
    }
    // fastify-plugin's marks, set here so that fastify-plugin is not a dependency.
    edgeward[Symbol.for("skip-override")] = true;
    edgeward[Symbol.for("fastify.display-name")] = "edgeward";
    edgeward[Symbol.for("plugin-meta")] = { name: "edgeward", fastify: ">=4" };
    return edgeward;
  }

  /**
   * A requirement stated in code for one framework route, with the keys
   * and meaning of a `[[routes]]` entry's requirements (`scopes`, `roles`,
   * `permissions` as `{ any, all }`, `tenants`, `owner`, `api_tokens`),
   * checked by the core against the identity the gate's middleware set.
   * Validated now: a bad rule throws an EdgewardError (`config_invalid`)
   * naming the field (`require.scopes`).
   * @param {object} rule
   * @returns {Guard}
   */
  require(rule) {
    if (rule === null || typeof rule !== "object" || Array.isArray(rule)) {
      throw configError([{ field: "require", message: "must be an object such as { scopes: { all: [\"orders:read\"] } }" }]);
    }
    let compiled;
    try {
      compiled = new this.#Requirement(JSON.stringify(rule));
    } catch (e) {
      if (typeof e === "string") {
        throw configError(JSON.parse(e).map((x) => ({ field: x.field === "." ? "require" : `require.${x.field}`, message: x.message })));
      }
      throw e;
    }
    return new Guard((identity, params, request) => this.#guard(compiled, identity, params, request));
  }

  #guard(rule, identity, params, request) {
    const [method, path, headers] = request == null ? ["GET", "/", ""] : requestParts(request);
    const named = {};
    if (params != null && typeof params === "object") {
      for (const k of Object.keys(params)) if (typeof params[k] === "string") named[k] = params[k];
    }
    const out = this.#w.require(rule, identityJson(identity), JSON.stringify(named), method, path, headers);
    if (out === "") return { allowed: true, outcome: "allow", status: 200, headers: {}, remove: [], responseHeaders: {}, body: null, reason: null, identity };
    const d = JSON.parse(out.slice(1));
    if (out.charCodeAt(0) === 80 /* P */) {
      // Report-only: the core's decision header replaces the gate's "allow".
      const reason = /reason=([a-z_]+)/.exec(d.value)?.[1] ?? null;
      return { allowed: true, outcome: "allow", status: 200, headers: { [d.name]: d.value }, remove: [d.name], responseHeaders: {}, body: null, reason, identity };
    }
    return { allowed: false, outcome: "deny", status: d.status, headers: d.headers, remove: [], responseHeaders: d.headers, body: d.body, reason: d.reason, identity: null };
  }
}

/**
 * Sends a refusal or a gate answer on a Fastify reply, the body as bytes:
 * Fastify adds `; charset=utf-8` to the content type of a string.
 */
function fastifySend(reply, r) {
  reply.code(r.status).headers(r.headers);
  return reply.send(r.body == null ? undefined : new TextEncoder().encode(r.body));
}

/** An identity's JSON for the core, once per identity object. */
const IDENTITY_JSON = new WeakMap();
function identityJson(identity) {
  if (identity == null || typeof identity !== "object") return "null";
  let j = IDENTITY_JSON.get(identity);
  if (j === undefined) {
    j = JSON.stringify(identity);
    if (Object.isFrozen(identity)) IDENTITY_JSON.set(identity, j);
  }
  return j;
}

const NOT_MOUNTED = (where, first) =>
  new Error(`gate.require(...).${where}(): no result of the gate on this request; mount ${first} before the guard`);

/**
 * A requirement from `gate.require(rule)`, as middleware for the
 * frameworks the gate serves. Each runs after the gate's own middleware
 * (whose identity it checks) and refuses as the gate would: 401
 * `token_missing` without a verified caller, 403 `scope_missing` with
 * `error="insufficient_scope"`, ... `owner` reads the framework's path
 * parameters.
 */
class Guard {
  #check;
  constructor(check) {
    this.#check = check;
  }

  /**
   * Checks an identity (from `check()`, `verify()` or a middleware).
   * `params`: path parameters for `owner`; `request`: the request, whose
   * `Origin` selects the CORS headers of a refusal.
   * @returns {CheckResult}
   */
  check(identity, { params, request } = {}) {
    return this.#check(identity, params, request);
  }

  /**
   * Express / Connect middleware, after `gate.express()`:
   * `app.post("/orders", guard.express(), handler)`.
   * @param {{ passErrors?: boolean }} [options]
   */
  connect(options) {
    const { passErrors = false } = middlewareOptions(options, "connect", "passErrors");
    return (req, res, next) => {
      let g;
      try {
        if (req.edgeward == null) throw NOT_MOUNTED("express", "gate.express()");
        g = this.#check(req.edgeward.identity, req.params, req);
      } catch (e) {
        next(e);
        return;
      }
      if (g.allowed) {
        if (g.remove.length) editNodeHeaders(req, g);
        next();
      } else if (passErrors) {
        next(refusalError(g));
      } else {
        res.statusCode = g.status;
        for (const [k, v] of Object.entries(g.headers)) res.setHeader(k, v);
        res.end(g.body ?? undefined);
      }
    };
  }

  /**
   * Same as `connect()`.
   * @param {{ passErrors?: boolean }} [options]
   */
  express(options) {
    return this.connect(options);
  }

  /**
   * Hono middleware, after `gate.hono()`: `app.post("/orders", guard.hono(), handler)`.
   * @param {{ throwErrors?: boolean }} [options]
   */
  hono(options) {
    const { throwErrors = false } = middlewareOptions(options, "hono", "throwErrors");
    let HTTPException;
    return async (c, next) => {
      const r = c.get("edgeward");
      if (r == null) throw NOT_MOUNTED("hono", "gate.hono()");
      const g = this.#check(r.identity, c.req.param(), c.req.raw);
      if (!g.allowed) {
        const res = new Response(g.body, { status: g.status, headers: g.headers });
        if (!throwErrors) return res;
        HTTPException ??= await honoHTTPException();
        const cause = refusalError(g);
        throw new HTTPException(g.status, { res, message: cause.message, cause });
      }
      if (g.remove.length) c.req.raw = requestWithHeaders(c.req.raw, g);
      await next();
    };
  }

  /**
   * A Fastify `preHandler` (or `onRequest`) hook, after the plugin:
   * `app.post("/orders", { preHandler: guard.fastify() }, handler)`.
   * @param {{ throwErrors?: boolean }} [options]
   */
  fastify(options) {
    const { throwErrors = false } = middlewareOptions(options, "fastify", "throwErrors");
    return async (request, reply) => {
      const r = request.edgeward;
      if (r == null) throw NOT_MOUNTED("fastify", "app.register(gate.fastify())");
      const g = this.#check(r.identity, request.params, request.raw);
      if (g.allowed) {
        if (g.remove.length) editNodeHeaders(request.raw, g);
        return;
      }
      if (throwErrors) throw refusalError(g);
      return fastifySend(reply, g);
    };
  }
}

/** A middleware's options: an object holding at most `known`. */
function middlewareOptions(options, name, known) {
  if (options === undefined) return {};
  if (options === null || typeof options !== "object") throw new TypeError(`${name}(options): options must be an object`);
  for (const k of Object.keys(options)) {
    if (k !== known) throw new TypeError(`${name}(options): unknown option ${JSON.stringify(k)}; use ${known}`);
  }
  if (options[known] !== undefined && typeof options[known] !== "boolean") {
    throw new TypeError(`${name}(options): ${known} must be a boolean`);
  }
  return options;
}

/** A refusal (a CheckResult with outcome `deny`) as an EdgewardError. */
function refusalError(r) {
  let detail = null;
  try {
    detail = JSON.parse(r.body).detail;
  } catch {}
  return new EdgewardError(r.reason, r.status, typeof detail === "string" ? detail : `refused: ${r.reason}`, {
    headers: r.headers,
    body: r.body,
  });
}

/**
 * Hono's HTTPException, loaded only when `hono({ throwErrors: true })`
 * refuses (no dependency on hono otherwise). In try/catch so that bundlers
 * (esbuild, wrangler) include hono when it is installed and leave the
 * import alone when it is not.
 */
async function honoHTTPException() {
  try {
    return (await import("hono/http-exception")).HTTPException;
  } catch (e) {
    throw new Error('hono({ throwErrors: true }) needs the "hono" package (hono/http-exception)', { cause: e });
  }
}

/**
 * The core's `header_key`: ASCII lowercase, with `_` read as `-` (CGI, Rack
 * and PHP give `X_Auth_Subject` the variable of `X-Auth-Subject`).
 */
function headerKey(name) {
  return /[A-Z_]/.test(name)
    ? name.replace(/[A-Z_]/g, (ch) => (ch === "_" ? "-" : String.fromCharCode(ch.charCodeAt(0) + 32)))
    : name;
}

/** Whether client-sent request header `name` goes (the core's `Allow::strips`). */
function strips(remove, name) {
  return remove.length !== 0 && remove.includes(headerKey(name));
}

/**
 * Applies an allow's header edits to request headers, the one way every
 * adapter does it (the core's `Allow::forwarded_headers`): every header
 * `strips` names goes, then the verified ones are set. `headers` is a Fetch
 * `Headers` (a new one is returned), a flat `[name, value, ...]` array like
 * Node's `rawHeaders` (a new one is returned) or a Node `req.headers` object
 * (edited in place and returned). Values pass through untouched.
 * @param {CheckResult} result an allowed result
 */
function editHeaders(result, headers) {
  const { remove } = result;
  const set = result.headers;
  if (Array.isArray(headers)) {
    const out = [];
    for (let i = 0; i + 1 < headers.length; i += 2) {
      if (!strips(remove, headers[i])) out.push(headers[i], headers[i + 1]);
    }
    for (const k of Object.keys(set)) out.push(k, set[k]);
    return out;
  }
  if (typeof headers.forEach === "function" && typeof headers.get === "function") {
    const out = new Headers();
    headers.forEach((v, k) => {
      if (!strips(remove, k)) out.append(k, v);
    });
    for (const k of Object.keys(set)) out.set(k, set[k]);
    return out;
  }
  for (const k of Object.keys(headers)) if (strips(remove, k)) delete headers[k];
  Object.assign(headers, set);
  return headers;
}

/** Whether an allow changes anything in `headers` (a Fetch Headers). */
function editsHeaders(result, headers) {
  if (Object.keys(result.headers).length !== 0) return true;
  if (result.remove.length === 0) return false;
  let found = false;
  headers.forEach((_, k) => {
    if (!found && strips(result.remove, k)) found = true;
  });
  return found;
}

/**
 * `req` with the allow's header edits: a new Request (a received one's
 * headers cannot change in every runtime) with the same method, URL, body
 * stream (not read by the gate) and signal.
 */
function requestWithHeaders(req, result) {
  if (!editsHeaders(result, req.headers)) return req;
  const headers = editHeaders(result, req.headers);
  const out = req.bodyUsed
    ? // An earlier middleware read the body (Hono keeps it in c.req's cache).
      new Request(req.url, { method: req.method, headers, signal: req.signal, redirect: req.redirect })
    : new Request(req, { headers });
  // Bun (1.4) keeps the input's headers when the new ones are empty.
  const left = [];
  out.headers.forEach((_, k) => {
    if (strips(result.remove, k) && !Object.hasOwn(result.headers, k)) left.push(k);
  });
  for (const k of left) out.headers.delete(k);
  return out;
}

function applyToNodeRequest(req, r) {
  editNodeHeaders(req, r);
  req.auth = r.identity;
  req.edgeward = r;
}

function editNodeHeaders(req, r) {
  // Node derives req.headers and req.headersDistinct from rawHeaders when
  // first read, by the count of headers parsed: both are read (and edited
  // in place) before rawHeaders changes length.
  editHeaders(r, req.headers);
  const distinct = "headersDistinct" in req ? req.headersDistinct : null;
  if (distinct && typeof distinct === "object") {
    for (const k of Object.keys(distinct)) if (strips(r.remove, k)) delete distinct[k];
    for (const k of Object.keys(r.headers)) distinct[k] = [r.headers[k]];
  }
  if (Array.isArray(req.rawHeaders)) req.rawHeaders = editHeaders(r, req.rawHeaders);
}

/** A `Vary` value with `add`'s names added to those already in `held`. */
function mergeVary(held, add) {
  if (held == null || held === "") return add;
  held = Array.isArray(held) ? held.join(", ") : String(held);
  const have = held.split(",").map((s) => s.trim().toLowerCase());
  if (have.includes("*")) return held;
  const more = add.split(",").map((s) => s.trim()).filter((s) => s && !have.includes(s.toLowerCase()));
  return more.length ? `${held}, ${more.join(", ")}` : held;
}

/**
 * The request headers to send to the origin after an allow: the incoming
 * ones without client-sent identity headers (by the core's rule, `_`
 * look-alikes included), plus the verified ones. Unchanged when refused.
 * @param {CheckResult} result
 * @param {HeadersInit} incoming
 * @returns {Headers}
 */
export function forwardHeaders(result, incoming) {
  const h = new Headers(incoming);
  return result.allowed ? editHeaders(result, h) : h;
}

/** The reason codes with their statuses and descriptions. */
export function reasonsFrom(bindings) {
  return deepFreeze(JSON.parse(bindings.reasonCodes()));
}

/**
 * Builds `verifyAssertion` for one runtime: the origin's check of the
 * signed identity assertion (`[assertion]`), done by the core.
 * @param {any} bindings the wasm-bindgen module (initialised)
 */
export function makeVerifyAssertion(bindings) {
  /** jwksUrl -> { until (ms), text } */
  const fetched = new Map();
  async function keySet(opts) {
    if (opts.jwks !== undefined) return typeof opts.jwks === "string" ? opts.jwks : JSON.stringify(opts.jwks);
    if (opts.publicKey !== undefined) {
      const jwk = typeof opts.publicKey === "string" ? JSON.parse(opts.publicKey) : opts.publicKey;
      return JSON.stringify({ keys: [jwk] });
    }
    const url = String(opts.jwksUrl);
    const held = fetched.get(url);
    if (held && held.until > Date.now()) return held.text;
    const fetchFn = opts.fetch ?? globalThis.fetch;
    const res = await fetchFn(url, { headers: { accept: "application/jwk-set+json, application/json" } });
    if (!res.ok) throw new EdgewardError("assertion_keys_unavailable", 503, `the gate's key set at ${url} answered ${res.status}`);
    const text = await res.text();
    const age = /max-age=(\d+)/.exec(res.headers.get("cache-control") ?? "");
    fetched.set(url, { until: Date.now() + Math.min(Number(age?.[1] ?? 300), 3600) * 1000, text });
    return text;
  }
  function tokenOf(input, header) {
    if (typeof input === "string") return input;
    const h = input?.headers;
    let v;
    if (h && typeof h.get === "function") v = h.get(header);
    else if (h && typeof h === "object") v = h[header];
    if (Array.isArray(v)) v = v.length === 1 ? v[0] : undefined;
    return typeof v === "string" ? v : undefined;
  }
  /**
   * @param {string | {headers: any}} input the assertion, or a request carrying it
   * @param {object} opts
   */
  return async function verifyAssertion(input, opts = {}) {
    const problems = [];
    const sources = ["jwks", "jwksUrl", "publicKey"].filter((k) => opts[k] !== undefined);
    if (sources.length !== 1) problems.push({ field: "options", message: "give exactly one of jwks, jwksUrl, publicKey" });
    for (const k of ["audience", "issuer"]) {
      if (typeof opts[k] !== "string" || !opts[k]) problems.push({ field: `options.${k}`, message: "required: must equal the gate's assertion." + k });
    }
    if (problems.length) throw configError(problems);
    const header = (opts.header ?? "x-edgeward-assertion").toLowerCase();
    const token = tokenOf(input, header);
    if (!token) throw new EdgewardError("assertion_missing", 401, `no ${header} header: the request did not come through the gate`);
    const now = opts.now ? Math.floor(Number(opts.now())) : Math.floor(Date.now() / 1000);
    let out = JSON.parse(bindings.verifyAssertion(token, await keySet(opts), opts.issuer, opts.audience, now, opts.clockTolerance ?? 0));
    if (out.code === "key_not_found" && opts.jwksUrl !== undefined) {
      // The gate may have a new key: read its key set again, once.
      fetched.delete(String(opts.jwksUrl));
      out = JSON.parse(bindings.verifyAssertion(token, await keySet(opts), opts.issuer, opts.audience, now, opts.clockTolerance ?? 0));
    }
    if (out.code) throw new EdgewardError(out.code, 401, out.detail);
    return out.claims;
  };
}
