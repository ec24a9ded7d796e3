// The request-path glue of the edgeward Worker (see src/lib.rs, src/proxy.rs).
//
// Each call from wasm into the runtime costs a crossing and, for every
// string, an encode or decode. So the two steps that touch the runtime's
// Request do it here in one call each: reading what the core needs, and
// building the request for the origin.

// Method, URL and the wanted header values as one string:
// "METHOD\nURL(\nINDEX\nVALUE)*". Neither a method, a parsed URL, nor a
// Fetch header value can hold a line feed, so "\n" separates safely.
export function readParts(req, wanted) {
  let s = req.method + "\n" + req.url;
  const h = req.headers;
  for (let i = 0; i < wanted.length; i++) {
    const v = h.get(wanted[i]);
    if (v !== null) s += "\n" + i + "\n" + v;
  }
  return s;
}

// What to fetch from the origin, as fetch's two arguments ({url, init}; a
// Request object would cost workerd a construction and a copy for nothing):
// the client's headers minus `remove` (an array of names), plus `set`
// ("name\nvalue\n..."; values are visible ASCII, the core percent-encodes
// the rest), to `url` (the request's own URL when null, else the origin's,
// and fetch sets Host for it). Method and body stream pass as they are;
// redirects are the client's to follow.
export function forwardRequest(req, url, remove, set) {
  const headers = new Headers(req.headers);
  for (let i = 0; i < remove.length; i++) headers.delete(remove[i]);
  if (set.length > 0) {
    const kv = set.split("\n");
    for (let i = 0; i + 1 < kv.length; i += 2) headers.set(kv[i], kv[i + 1]);
  }
  if (url == null) {
    url = req.url;
  } else {
    headers.delete("host");
  }
  return { url, init: { method: req.method, headers, body: req.body, redirect: "manual" } };
}

// Sends what forwardRequest built; the origin's response comes back as it is.
export function sendForward(f) {
  return fetch(f.url, f.init);
}
