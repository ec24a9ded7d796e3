// The request-path glue of the edgeward Worker (see src/lib.rs, src/proxy.rs,
// src/keycache.rs).
//
// Each call from wasm into the runtime costs a crossing and, for every
// string, an encode or decode. So the two steps that touch the runtime's
// Request do it here in one call each: reading what the core needs, and
// building the request for the origin.

// The wasm module's memory (src/lib.rs hands it over once per isolate).
let memory = null;
export function useMemory(m) {
  memory = m;
}
const utf8 = new TextEncoder();

// A Fetch header name (lowercase already) as the core's `header_key` reads
// it: `_` as `-`.
function headerKey(name) {
  return name.includes("_") ? name.replaceAll("_", "-") : name;
}

// The names of the headers readParts found to strip, per request (only
// requests that carry one), and the strip Set it looked them up in.
const dropFor = new WeakMap();
let partsStrip = null;

// Method, URL and the wanted header values, "METHOD\nURL(\nINDEX\nVALUE)*",
// written as UTF-8 into wasm memory at `ptr` (at most `cap` bytes): the
// byte count, or minus the capacity it needs when `cap` is too small.
// Neither a method, a parsed URL, nor a Fetch header value can hold a line
// feed, so "\n" separates safely. `wanted`: a Map from lowercase header name
// to its index (Fetch headers list names lowercase), the `_` spellings of
// the method-override headers included; `aliased`: those headers' names, so
// that a name mixing `_` and `-` counts as the one it reads as. One pass
// over the headers, by `Headers.forEach` (one call into the runtime, which
// hands over each name with its value, combined as `get` combines them: in
// workerd about half the cost of iterating `keys()` and then calling `get`).
// The same pass notes the names in `strip` (the gate's strip list, read as
// the core's `header_key`: `_` as `-`) for forwardRequest, which then needs
// no pass of its own.
export function readParts(req, wanted, aliased, strip, ptr, cap) {
  visiting.wanted = wanted;
  visiting.aliased = aliased;
  visiting.strip = strip;
  visiting.text = req.method + "\n" + req.url;
  visiting.drop = null;
  req.headers.forEach(visitHeader);
  const s = visiting.text;
  const drop = visiting.drop;
  visiting.text = "";
  visiting.drop = null;
  partsStrip = strip;
  if (drop !== null) dropFor.set(req, drop);
  else dropFor.delete(req);
  // UTF-8 takes at most 3 bytes per UTF-16 code unit.
  if (s.length > cap) return -3 * s.length;
  const { read, written } = utf8.encodeInto(s, bufferView(ptr, cap));
  return read === s.length ? written : -3 * s.length;
}

// readParts' state while forEach visits the headers (one object, no closure
// per request).
const visiting = { wanted: null, aliased: null, strip: null, text: "", drop: null };
function visitHeader(value, name) {
  const v = visiting;
  const key = headerKey(name);
  if (v.strip.has(key)) (v.drop ??= []).push(name);
  let i = v.wanted.get(name);
  if (i === undefined) {
    if (key === name || !v.aliased.has(key)) return;
    i = v.wanted.get(key);
  }
  v.text += (SEPARATORS[i] ??= "\n" + i + "\n") + value;
}

// "\nINDEX\n" per wanted header's index, made once.
const SEPARATORS = [];

// The view of wasm memory readParts writes into, kept while the buffer is
// the same (a grown memory detaches it: its length drops to 0).
let view = null;
function bufferView(ptr, cap) {
  if (view === null || view.byteOffset !== ptr || view.length !== cap) view = new Uint8Array(memory.buffer, ptr, cap);
  return view;
}

// The gate's strip list (lowercase dash names) as a Set, made once per
// isolate (src/proxy.rs caches it with the list it came from).
export function stripSet(names) {
  return new Set(names);
}

// What to fetch from the origin, as fetch's two arguments ({url, init}; a
// Request object would cost workerd a construction and a copy for nothing),
// from `spec`: "URL\0SET\0ADD" (URL empty for none; neither a URL nor a
// header holds a NUL): the client's headers minus every one whose name, read as the core's
// `header_key` (ASCII lowercase, `_` as `-`), is in `remove` (a Set), plus
// `set` ("name\nvalue\n..."; values are visible ASCII, the core
// percent-encodes the rest), to `url` (the request's own URL when null,
// else the origin's, and fetch sets Host for it). Method and body stream
// pass as they are; redirects are the client's to follow. `add`
// ("name\nvalue\n...", usually empty): headers for the origin's response
// (CORS), applied by `respond` (js/entry.mjs and sendForward call it).
export function forwardRequest(req, spec, remove) {
  // One string from wasm, not three (each costs a decode): URL, set, add.
  const cut = spec.indexOf("\0");
  const cut2 = spec.indexOf("\0", cut + 1);
  let url = cut === 0 ? null : spec.slice(0, cut);
  const set = spec.slice(cut + 1, cut2);
  const add = spec.slice(cut2 + 1);
  const headers = new Headers(req.headers);
  let drop = null;
  if (remove === partsStrip) {
    // readParts read this request's names against this very Set.
    drop = dropFor.get(req) ?? null;
  } else {
    // Names first, deletes after: Headers iterates a live, sorted list.
    for (const name of headers.keys()) {
      if (remove.has(headerKey(name))) (drop ??= []).push(name);
    }
  }
  if (drop !== null) for (let i = 0; i < drop.length; i++) headers.delete(drop[i]);
  if (set.length > 0) {
    const kv = set.split("\n");
    for (let i = 0; i + 1 < kv.length; i += 2) headers.set(kv[i], kv[i + 1]);
  }
  if (url == null) {
    url = req.url;
  } else {
    headers.delete("host");
  }
  const f = { url, init: { method: req.method, headers, body: req.body, redirect: "manual" } };
  if (add.length > 0) f.respond = (res) => addResponseHeaders(res, add);
  return f;
}

// The origin's response with the gate's headers added ("name\nvalue\n...").
// A fetched Response's headers are immutable, so it is re-wrapped: same
// status, status text, headers and body stream (never read here). `vary` is
// appended to the origin's own; the others replace any the origin sent (two
// `access-control-allow-origin` values would make the browser refuse both).
// A 101 passes untouched: `new Response` cannot carry status 101 without
// re-attaching the WebSocket, and CORS does not apply to WebSocket upgrades
// (browsers never check these headers on a 101).
export function addResponseHeaders(res, add) {
  if (res.status === 101) return res;
  const out = new Response(res.body, res);
  const kv = add.split("\n");
  for (let i = 0; i + 1 < kv.length; i += 2) {
    if (kv[i] === "vary") out.headers.append(kv[i], kv[i + 1]);
    else out.headers.set(kv[i], kv[i + 1]);
  }
  return out;
}

// Sends what forwardRequest built; the origin's response comes back as it
// is, with the gate's response headers when there are any.
export function sendForward(f) {
  const p = fetch(f.url, f.init);
  return f.respond === undefined ? p : p.then(f.respond);
}

// A key fetch's body, read chunk by chunk and never past `max` bytes: the
// whole body when it has at most `max`; otherwise the stream is cancelled
// (the IdP sees the client stop reading) and `max + 1` bytes come back (what
// was read, or zeros when Content-Length already said too much), which the
// core refuses as too large. An unreadable body rejects.
export async function readCapped(res, max) {
  const body = res.body;
  if (body === null) return new Uint8Array(0);
  const declared = res.headers.get("content-length");
  if (declared !== null && /^[0-9]+$/.test(declared) && Number(declared) > max) {
    body.cancel().catch(() => {});
    return new Uint8Array(max + 1);
  }
  const reader = body.getReader();
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    total += value.byteLength;
    if (total > max) {
      reader.cancel().catch(() => {});
      break;
    }
  }
  const out = new Uint8Array(Math.min(total, max + 1));
  let at = 0;
  for (const c of chunks) {
    const n = Math.min(c.byteLength, out.length - at);
    out.set(n === c.byteLength ? c : c.subarray(0, n), at);
    at += n;
    if (at === out.length) break;
  }
  return out;
}
