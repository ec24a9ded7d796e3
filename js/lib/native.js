// Native signature verification through node:crypto's synchronous
// verify (Node, Deno, Bun, workerd with nodejs_compat), called from wasm by
// the core's HostBackend (js/src/lib.rs). The core has already matched the
// key's type, curve, alg, use and key_ops to the token's alg: this only does
// the arithmetic, exactly as ring would (PKCS#1 v1.5; PSS with salt length =
// hash length; ECDSA in the fixed-width r||s form; Ed25519). ES512 (P-521)
// is verified here only: the npm package's wasm has no P-521 code (ring has
// none), so without this verifier ES512 tokens are refused.
//
// Answers, as the Rust side expects: 0 invalid, 1 valid, 2 unknown key (call
// again with the JWK), 3 this algorithm is not available here (ring from now
// on), 4 this call could not be done natively (ring decides this one).
// Also the token SHA-256 (sha256 below). Never throws: an exception crossing wasm would leave the gate borrowed.

const INVALID = 0;
const VALID = 1;
const NEED_JWK = 2;
const UNSUPPORTED = 3;
const USE_RING = 4;

// Index (as in lib.rs alg_index) -> [name, hash, options for verify].
function table(c) {
  const pss = c.constants.RSA_PKCS1_PSS_PADDING;
  const p1363 = { dsaEncoding: "ieee-p1363" };
  return [
    ["RS256", "sha256", {}],
    ["RS384", "sha384", {}],
    ["RS512", "sha512", {}],
    ["PS256", "sha256", { padding: pss, saltLength: 32 }],
    ["PS384", "sha384", { padding: pss, saltLength: 48 }],
    ["PS512", "sha512", { padding: pss, saltLength: 64 }],
    ["ES256", "sha256", p1363],
    ["ES384", "sha384", p1363],
    ["EdDSA", null, {}],
    ["ES512", "sha512", p1363],
  ];
}

// One known-good signature per algorithm over SELF_TEST_MESSAGE. Before an
// algorithm is first verified natively, the runtime must accept the good
// signature and refuse a corrupted one, or that algorithm stays on ring.
const SELF_TEST_MESSAGE = "edgeward native self-test";
const SELF_TEST_KEYS = {
  rsa: {"kty":"RSA","n":"zeV4q5QiwZnYW6Oa5uA9Cqk-hGuHXHe9ZdXLsED0w2IV6q3dJVKNG4JcmllXSzgtm6xJzzMDNB8_u2_wgJVoeXpE-rLFfyKonUK58Mr22aqZwHEA9Nk-K_pYy_ZIE8H9Qfsr0qYnffYHAMUe75uUwLD8hUQcXus_-SwPmjDJuq61b578WQ5WwwuZfKZu3Zdgm9mNBtKcvGnqO0spCTAk66HuUeYQnjb4z3qkl-8064X7pFUVqYRoU0eg21HIUilBA3OQvxBx6DUT67zhRTJnMUrwLcy_joD8LaeZXLofAWSHadWaFq4HRVTCVTvZGv9_sHC_ySrrDCzsBCH4yHQIxQ","e":"AQAB"},
  p256: {"kty":"EC","x":"aq2ESYEiZXrPp0mbrDHJdusFViedYKoz4b15BhdhmHI","y":"Gthfo3dGkYyD_CmdwKzpFp9__8Z4G3rZOCnHVWdQIhw","crv":"P-256"},
  p384: {"kty":"EC","x":"otVzol5SRgNt62wgDWPGkgfgrxhXE78PbhFM1CqpBa3wkTRogX96hFIicB9dUAjU","y":"0uNFRkSxoYpW1yiCZ2mQKiRoaNdbGkhyI2BP6VuQ-gwLpr1LBoaEqZVomhWBgnfl","crv":"P-384"},
  ed: {"crv":"Ed25519","x":"OH9j4hAPUugqIQ82oMIavxMBNkckFbiRgnh72zvyCcU","kty":"OKP"},
  p521: {"kty":"EC","x":"AN1FH1iJdEF1_dk3YM85awJIdX2KDqjSt7F6pAtkd-Zm536dIdpT1yDZwJKo-L37_ZR-z784Zs1W2uGVJn69ry0M","y":"ABz-gub7LLtDBkuXQorZcUsB7gdK0W1zfx3tT7zxLi82V2idW25UgR5yh5pJv1HOnkwgr5GBd1fQRc4CJqhoe9CW","crv":"P-521"},
};
const SELF_TEST = [
  ["rsa", "wrhygBFSTNvw99s1AYSJGwjTiDx6suCxzhrv88Qpr5snqDMpG0r99S_qK_fA8SyYZKa6S0Y63EiZZu5P5xswCG5Nd5GYGeCTjRctxSSkpL1ZBWBmjBvXu--DW_zdh9nGpN3IWQhtMWdPaTdBhXspkpx-k4iCxNJ0qvX1tf4ygzltni_AN_hh-5Z1Dv-9_MeTcnaev0vXrGXSIIK9qVCyTmSqLuSnpCKoiyVcYGqI8EM2IjG0KREAZLaA7bHgQ1Y5M5c9OOecrywu_rFmlqtey62HvBxJd6tVOoiA5Wus-3BWiGpKfmRJH8ccl9TjlSrqsAQ6uP4GcQNRHpph60n89g"],
  ["rsa", "pK9i_L9q-t1KqMqgCnv2nruyArCJy7Ic_Y_2qbexcNcz5FWvfG2ZptW450AtM8kuS9w2MVuWTSJKrc9QgiegALSFqjWI03ZgihFaIpVid-bGsOaKW9Fq2gC_vtNleRjyQnOWzMyNB8On7pC-PiJoid9eERFtKAGBiQjk9l_L7cuFLX6NEyZVIhfjY-gsBCSjJZr1AHMhz3VAPe1Fmd4I0U2_fGz54oNDcffRPwslXEonritoj26yLEb6thX-OWjeBXLqpfK8YvAjibQpgf9lBhRzu3qW0XIL38KV4D8z4vKHjVI1ArelMbBbuuheejzs5fn9lbNRY_Vyj3hXKNl4XQ"],
  ["rsa", "voBTgE80XrB8n5SN3k5TU14v0o0dl-Bz4IHEkPPNUhcyToOgnthkfeHT_AgBfHUu6JJDTFgDBusnLmRSvS4hcE-YDq_STiWVbnu-llxSlPgHdKrqc5noRbYbxbxzpcL19A_mJIk8L_4Jna_dw1PHUBc9Oi3lguuR58ongL-rxcqiKze9yLZi8VOqbQDw4-bo83NXvK9mAEhRgog5rh3CjsvtpMiCHg3aXCtkztukD_pY4Is7p6Kg03KYAPSlmSd4j-bwdST6A2O02zKDbJRcg8X44Zmg7Ac6h361atu8yrKfKkkP7gOndSSTXHkpEb55Vcp1bxBYcM03TsBWgAWblA"],
  ["rsa", "hMBfVnmismDuWJlkXM59N28F9c-NzMB0LzT5_YF8sqcrpcZkjg1RV-9WFUsMKhgkeqBze4FYYL9EJ0LDC26NS7P7q5LVIfTLUwVnYSJi9GKC2eu2ePj3BBiNIB6iPYHZZcoLuMA8sWTPPvldEol_rLcsJENSpt8hen_voU9ESEIL69ms8cFFZtKf3gfAmwEEIlKQ844vuzcslvJVF9er8GMaDEqOCU6jP1I_300nEB0GCtQm6RSw4boj_wqbDlrZXQZ_SdXR0SF1AlXj9wpnExfImdTinpKr1ELbwLCoc-k-VazsK5u4ylH91TjIpyebkkgCajcKoSvOYtjNsNOFXg"],
  ["rsa", "AcuM7KiV8zmzj6dqstL6VSiTwiJPYIDrV-FBiHh1GZGt46lndXQ4CpRSQc56_FG_uyLXuAaZGcngYxYVktJrg2DOF7qaEfH_VJst4Bg0aOrOZElj4wBLEcc3OlFEvLi_po0mGd2KZ35xyjKXusQTYTcClDblmjWcO7cncYhZ5Ag0N5MZw3T1LrBegn5OFP3sgcyW1A4_gDf5FhormIT3BZyUn6dg8K9FfZA8DtpGcJbjE_4x9xtzsqK4D_AXGZiECGFxTDXdlMCoS4jrGSvum1QrsFxK8XAjvTMdyQOWNPWtRix-FIXAQYF_vVLj8A8CMYnQTffXGGtjScdWmGdAWA"],
  ["rsa", "nmFa7l-9tnCocn6Iem3NlPfcAnliNG0Q6G-i8nOoRS09zhixr_LIkTiHDVpN1JJP0FeLGuKZeqPoXDNRB85PXJourY14mMOT0AEclF4LLp3kZ-iu-uGRkMCDuzh9xLPvsEGCfnECHth-SLp_PTjJFpcZEjkDmmUY5Z9PPDq0uTt3fgGvr_6-HPMdI6v-CyNtBvEAEMqwz7gxwUvyJICk_Chdp3Hc7l9CfhuGgFK_W5U6lR264WAWzcXdLCbwUi2oZoUp6Pnc4KfggwX2vuMNmp2MlquH1of8_Vt7-ejEDSR1vlo2MYZc08zeeWReOhc32GCp_QMfb4rn6k1HhOP_Xw"],
  ["p256", "gYx4UGUu8KiEO7FIQr7h0DVSptv0kM1U5OxTGfTXJ6uMEL9h6_3GffDbsGHIXhSvjK5u2_sisyybPud7tMZfJg"],
  ["p384", "ubqBumiOmxgeAwVto3SAa0F9dxghubZBp182G3TXc_h0ic8RoMPRRhceTZjPYtoAiyqyKpCUcaE9FiSlVM8ET5IFMGBB-SD7e0M43s-udVoxWS0ez6rYPlQTPUFnTeIa"],
  ["ed", "bf9tTaFHm5uaQowMLjxvDVYnftgmZbK6L0aVnHWLpJ7AXSFVEeU7kGW1v8H3HXVFrvE9S_gu9VEi_z12BQb8BQ"],
  ["p521", "AFknpnE1UBvORujtWJbs7RniI4ouPqce8apMkjF1CeA33nmGKE3R6BoPwGMwKPwcEsQXCy1HTAykd5HZ1r9oUwWwAIp3JHCE_n-NR9VOLiP1__yklC7Fe1GAxE_YOoHOmNvpq0u9WdGAjSzig_4NRDoZUlBZHULhdXL8eM9W3vtRjchq"],
];

const MAX_KEYS = 64;

// How a key is handed to verify: runtimes differ. Node, Deno and Bun take a
// KeyObject inside the options; workerd (nodejs_compat) wants key material
// there, so it gets the SPKI DER (it parses it per call, still far cheaper
// than RSA or ECDSA in wasm). The self-test picks the first form that works.
const FORMS = [
  (key, opts) => ({ key, ...opts }),
  (key, opts) => (Object.keys(opts).length === 0 ? key : null),
  (key, opts) => ({ key: key.export({ type: "spki", format: "der" }), format: "der", type: "spki", ...opts }),
];

function fromBase64url(s) {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * A verifier for the wasm core from a node:crypto module, or null when the
 * module lacks what is needed (createPublicKey and a synchronous verify).
 * @param {any} c the node:crypto module
 * @param {{ ring?: string[], sha256?: false | "createHash" }} [options]
 *   `ring`: algorithms to leave to ring in wasm because it is faster there
 *   (Node's OpenSSL Ed25519 is the portable reference code, about 10% slower
 *   than ring compiled to wasm). `sha256`: false leaves the token hash to
 *   ring, "createHash" avoids `crypto.hash` (both for bench/hash.mjs only)
 */
export function nodeVerifier(c, options = {}) {
  if (!c || typeof c.createPublicKey !== "function" || typeof c.verify !== "function") {
    return null;
  }
  const algs = table(c);
  /** @type {(number | undefined)[]} per algorithm: the FORMS index that passed the self-test, or -1 */
  const form = [];
  /** key slot (a number from lib.rs, never reused) -> { key, opts: per-algorithm verify options } */
  const keys = new Map();

  function selfTest(i) {
    const [name, hash, opts] = algs[i];
    if (options.ring?.includes(name)) return -1;
    const [k, sig] = SELF_TEST[i];
    let key;
    try {
      key = c.createPublicKey({ key: SELF_TEST_KEYS[k], format: "jwk" });
    } catch {
      return -1;
    }
    const msg = new TextEncoder().encode(SELF_TEST_MESSAGE);
    const good = fromBase64url(sig);
    const bad = good.slice();
    bad[bad.length >> 1] ^= 1;
    for (let f = 0; f < FORMS.length; f++) {
      try {
        const o = FORMS[f](key, opts);
        if (o !== null && c.verify(hash, msg, o, good) === true && c.verify(hash, msg, o, bad) === false) return f;
      } catch {
        // try the next form
      }
    }
    return -1;
  }

  // SHA-256 of a token (an API token's hash; JWTs the core keys itself),
  // written into a view of wasm memory; the core checks it against ring's
  // before using it. In Node the call out (crypto.hash, Node >= 20.12; else
  // createHash) costs about 1 µs for an 800-byte token, against about 3 µs
  // for ring in wasm (bench/hash.mjs).
  const digest =
    options.sha256 === false
      ? null
      : typeof c.hash === "function" && options.sha256 !== "createHash"
        ? (data) => c.hash("sha256", data, "buffer")
        : typeof c.createHash === "function"
          ? (data) => c.createHash("sha256").update(data).digest()
          : null;

  return {
    runtime: "node:crypto",
    /**
     * @param {Uint8Array} data a view into wasm memory
     * @param {Uint8Array} out 32 bytes
     */
    sha256(data, out) {
      if (digest === null) return false;
      try {
        const d = digest(data);
        if (d.length !== 32) return false;
        out.set(d);
        return true;
      } catch {
        return false;
      }
    },
    /** Which algorithms verify natively (running the self-tests now). */
    algorithms() {
      return algs.filter((_, i) => (form[i] ??= selfTest(i)) >= 0).map(([name]) => name);
    },
    /**
     * Whether algorithm `i` verifies natively (its self-test, run once).
     * @param {number} i algorithm index
     */
    supports(i) {
      try {
        return (form[i] ??= selfTest(i)) >= 0;
      } catch {
        return false;
      }
    },
    /**
     * @param {number} i algorithm index
     * @param {number} slot the key's number (lib.rs: one per key, never reused)
     * @param {string | undefined} jwk the public JWK (JSON), or undefined when not sent
     * @param {Uint8Array} message signing input (a view into wasm memory)
     * @param {Uint8Array} signature
     */
    verify(i, slot, jwk, message, signature) {
      try {
        const f = (form[i] ??= selfTest(i));
        if (f < 0) return UNSUPPORTED;
        let entry = keys.get(slot);
        if (entry === undefined) {
          if (jwk === undefined || jwk === "") return NEED_JWK;
          if (keys.size >= MAX_KEYS) keys.clear();
          entry = { key: c.createPublicKey({ key: JSON.parse(jwk), format: "jwk" }), opts: [] };
          keys.set(slot, entry);
        }
        const opts = (entry.opts[i] ??= FORMS[f](entry.key, algs[i][2]));
        return c.verify(algs[i][1], message, opts, signature) ? VALID : INVALID;
      } catch {
        // A key this runtime cannot import, or a signature it cannot parse
        // (a wrong length, say): ring decides, exactly. Only this call, so a
        // crafted token cannot switch native crypto off for everyone.
        return USE_RING;
      }
    },
  };
}
