// The core's cross-host conformance cases (tests/cases/*.json) through the
// Worker in workerd. The cases are evaluated at now = 1800000000, and workerd's
// clock cannot be set, so this runs the *test build* (worker/build/test,
// cargo feature `test-clock`), which alone reads the time from the
// `x-edgeward-test-now` header; the shipped build never does (last test).
// Each case is its own Worker (one workerd); Miniflare's outbound service
// plays the IdP (the case's JWKS, or unreachable) and the origin (an echo).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { startWorker, here, buildDir } from "./support.mjs";

const casesDir = path.resolve(here, "..", "..", "tests", "cases");
const cases = fs
  .readdirSync(casesDir)
  .filter((f) => f.endsWith(".json"))
  .sort()
  .map((f) => ({ file: f, ...JSON.parse(fs.readFileSync(path.join(casesDir, f), "utf8")) }));

const workerName = (c) => `case-${c.file.replace(/\.json$/, "")}`;
const ORIGIN = "https://origin.test";

function bindingsFor(c) {
  const config = structuredClone(c.config);
  // The case's key set is served per case (one might be "unreachable").
  for (const i of config.issuers ?? []) i.jwks_uri = `https://idp.test/${workerName(c)}/jwks`;
  // Secrets come from secrets, never from the config var.
  const b = { ORIGIN };
  if (config.api_tokens?.length) b.EDGEWARD_API_TOKENS = JSON.stringify(config.api_tokens);
  delete config.api_tokens;
  const hmac = {};
  for (const i of config.issuers ?? []) {
    if (i.hmac_secret) hmac[i.issuer] = i.hmac_secret;
    delete i.hmac_secret;
  }
  if (Object.keys(hmac).length) b.EDGEWARD_HMAC_SECRETS = JSON.stringify(hmac);
  if (config.assertion?.key) b.EDGEWARD_ASSERTION_KEY = config.assertion.key;
  delete config.assertion?.key;
  b.EDGEWARD_CONFIG = JSON.stringify(config);
  return b;
}

const byName = new Map(cases.map((c) => [workerName(c), c]));
// Every request the origin received, in order (cases run one at a time).
const originSeen = [];

async function outbound(request) {
  const url = new URL(request.url);
  if (url.hostname === "idp.test") {
    const c = byName.get(url.pathname.split("/")[1]);
    if (!c || c.idp.jwks === null) throw new Error("connection refused (the case's IdP is down)");
    return new Response(JSON.stringify(c.idp.jwks), {
      status: c.idp.status ?? 200,
      headers: { "content-type": "application/json", "cache-control": "max-age=300" },
    });
  }
  if (url.origin === ORIGIN) {
    // The echo origin: what it observed (method, URL, every header by the
    // name it arrived under, lowercased by Headers) is recorded for the
    // case's `expect.origin` and sent back.
    const headers = {};
    for (const [k, v] of request.headers) headers[k] = v;
    const seen = { method: request.method, url: url.pathname + url.search, headers };
    originSeen.push(seen);
    return Response.json(seen, { headers: { "x-origin": "yes" } });
  }
  return new Response("no such host in the test", { status: 599 });
}

describe(`conformance cases (${cases.length}) in workerd`, () => {
  let gate;
  before(async () => {
    gate = await startWorker({
      dir: path.resolve(here, "..", "build", "test"),
      workers: cases.map((c) => ({ name: workerName(c), bindings: bindingsFor(c), routes: [`${workerName(c)}.gate.test/*`] })),
      outboundService: outbound,
    });
  });
  after(async () => {
    await gate?.stop();
  });

  for (const c of cases) {
    it(`${c.file}: ${c.description}`, async () => {
      const headers = new Headers();
      // Raw names, `x_auth_subject` and `X_Auth_Scopes` included: undici's
      // Headers keeps the underscore (names arrive lowercased, which is how
      // HTTP/1 origins compare them anyway).
      for (const [k, v] of c.request.headers) headers.append(k, v);
      headers.set("x-edgeward-test-now", String(c.now));
      const reachedBefore = originSeen.length;
      const res = await gate.mf.dispatchFetch(`https://${workerName(c)}.gate.test${c.request.path}`, { method: c.request.method, headers });
      const text = await res.text();
      const atOrigin = originSeen.slice(reachedBefore);
      assert.ok(atOrigin.length <= 1, "at most one origin request per case");
      const reached = atOrigin.length === 1;
      const e = c.expect;
      const pathOnly = c.request.path.split(/[?#]/)[0];
      if (pathOnly.split("/").some((s) => s === ".." || s === ".")) {
        // Host difference: the Fetch API resolves dot segments before the
        // Worker sees the URL, and the origin gets that same resolved URL,
        // so gate and origin cannot disagree on the path. The case's 400
        // cannot happen; what must hold is that nothing passes unchecked.
        assert.equal(reached, false, "must not reach the origin without a token");
        assert.equal(res.status, 401);
        return;
      }
      if (c.request.path.includes("#")) {
        // Host difference: a URL's fragment is never sent (the WHATWG URL
        // of a Fetch Request drops `#x` before the Worker sees it), so the
        // gate and the origin both see the same fragment-less path
        // (/billing/export, whose stricter rule needs the billing-admin
        // role the case's token lacks). The case's 400 cannot happen; what
        // must hold is that the stricter rule applies: 403, origin not
        // reached.
        assert.equal(reached, false, "must not reach the origin");
        assert.equal(res.status, 403, text);
        assert.equal(JSON.parse(text).reason, "role_missing");
        return;
      }
      if (c.request.method !== c.request.method.toUpperCase()) {
        // `patch`: undici may send it as is and workerd's HTTP parser
        // refuses a method it does not know (501) before the Worker runs;
        // when it does reach the Worker, the gate reads it as PATCH. Either
        // way the origin must not be reached.
        assert.equal(reached, false, "must not reach the origin");
        if (res.status !== 501) assert.equal(res.status, e.status, text);
        return;
      }
      assert.equal(res.status, e.status, text);
      // 200: forwarded; 204: the gate's own answer (a CORS preflight);
      // anything else: a refusal. The origin is reached for 200 only.
      const wantReached = e.origin?.reached ?? e.status === 200;
      assert.equal(reached, wantReached, `origin reached: ${reached}`);
      assert.equal(res.headers.get("x-origin") === "yes", wantReached);
      const seen = reached ? atOrigin[0] : null;
      for (const [name, want] of Object.entries(e.origin?.headers ?? {})) {
        const got = seen.headers[name.toLowerCase()];
        assert.equal(got ?? null, want, `origin header ${name}`);
      }
      for (const [name, want] of Object.entries(e.response_headers ?? {})) {
        assert.equal(res.headers.get(name), want, `response header ${name}`);
      }
      if (e.answer_body) {
        // The gate's own answer with a body (the RFC 9728 metadata).
        assert.deepEqual(JSON.parse(text), e.answer_body);
      } else if (e.status === 200) {
        for (const [k, v] of Object.entries(e.set_headers ?? {})) assert.equal(seen.headers[k.toLowerCase()], v, `origin header ${k}`);
        for (const k of e.removed_headers ?? []) {
          // The client's copy must not survive (the gate may set its own).
          const sent = c.request.headers.find(([n]) => n.toLowerCase() === k.toLowerCase())?.[1];
          const want = Object.entries(e.set_headers ?? {}).find(([n]) => n.toLowerCase() === k.toLowerCase())?.[1];
          if (sent !== undefined && sent !== want) assert.notEqual(seen.headers[k.toLowerCase()], sent, `client copy of ${k} removed`);
        }
        if (e.reason) assert.match(seen.headers["x-edgeward-decision"] ?? "", new RegExp(`reason=${e.reason}`));
      } else if (e.status === 204) {
        assert.equal(text, "", "a gate answer has no body");
      } else {
        assert.equal(JSON.parse(text).reason, e.reason);
        if (e.www_authenticate !== undefined) assert.equal(res.headers.get("www-authenticate"), e.www_authenticate);
      }
    });
  }
});

describe("without nodejs_compat, cases that need ES512 are refused", () => {
  // The module has no P-521 (ring has none, the core's p521 feature is left
  // out): with no node:crypto an ES512 token gets alg_not_allowed, never a
  // crash or a verification that can only fail (tests/cases/README.md).
  const needing = cases.filter((c) => c.needs_alg === "ES512");
  it(`${needing.map((c) => c.file).join(", ")}: 401 alg_not_allowed`, async () => {
    assert.ok(needing.length >= 2, `only ${needing.length} ES512 cases`);
    const gate = await startWorker({
      dir: path.resolve(here, "..", "build", "test"),
      workers: needing.map((c) => ({ name: workerName(c), bindings: bindingsFor(c), routes: [`${workerName(c)}.gate.test/*`] })),
      outboundService: outbound,
      compatibilityFlags: [],
    });
    try {
      for (const c of needing) {
        const headers = new Headers(c.request.headers);
        headers.set("x-edgeward-test-now", String(c.now));
        const reachedBefore = originSeen.length;
        const res = await gate.mf.dispatchFetch(`https://${workerName(c)}.gate.test${c.request.path}`, { method: c.request.method, headers });
        const text = await res.text();
        assert.equal(res.status, 401, `${c.file}: ${text}`);
        assert.equal(JSON.parse(text).reason, "alg_not_allowed", c.file);
        assert.equal(originSeen.length, reachedBefore, `${c.file}: origin reached`);
      }
    } finally {
      await gate.stop();
    }
  });
});

describe("the shipped build ignores the test clock", () => {
  it("x-edgeward-test-now has no effect outside the test build", async () => {
    const c = cases.find((c) => c.file.startsWith("01-"));
    const gate = await startWorker({ dir: buildDir, bindings: bindingsFor(c), outboundService: outbound });
    try {
      const headers = new Headers(c.request.headers);
      headers.set("x-edgeward-test-now", String(c.now));
      const res = await gate.fetch(c.request.path, { headers });
      // Real time is before the case's iat: the token is not valid yet.
      assert.equal(res.status, 401);
      assert.equal((await res.json()).reason, "token_not_yet_valid");
    } finally {
      await gate.stop();
    }
  });
});
