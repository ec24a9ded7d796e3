// A sample origin for the demo and the tests: answers every request with
// JSON describing what it received (method, URL, headers, body size), and
// echoes WebSocket messages. Usage: node worker/demo/origin.mjs [port]
import http from "node:http";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";

export function createOrigin({ ws = null } = {}) {
  const seen = [];
  const server = http.createServer((req, res) => {
    const hash = createHash("sha256");
    let bytes = 0;
    req.on("data", (c) => {
      bytes += c.length;
      hash.update(c);
    });
    req.on("end", () => {
      const record = {
        method: req.method,
        url: req.url,
        headers: req.headers,
        body_bytes: bytes,
        body_sha256: hash.digest("hex"),
      };
      seen.push(record);
      if (req.url.startsWith("/redirect")) {
        res.writeHead(302, { location: "/elsewhere", "x-origin": "yes" });
        return res.end();
      }
      res.writeHead(req.url.startsWith("/teapot") ? 418 : 200, {
        "content-type": "application/json",
        "x-origin": "yes",
      });
      res.end(JSON.stringify(record, null, 2) + "\n");
    });
  });
  if (ws) {
    const wss = new ws.WebSocketServer({ noServer: true });
    server.on("upgrade", (req, socket, head) => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, upgrade: true });
      wss.handleUpgrade(req, socket, head, (conn) => {
        conn.on("message", (m) => conn.send(`echo:${m}:${req.headers["x-auth-subject"] ?? ""}`));
      });
    });
  }
  return { server, seen };
}

export function listen(server, port = 0) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server.address().port));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2] ?? 9412);
  const { server } = createOrigin();
  await listen(server, port);
  console.log(`sample origin on http://127.0.0.1:${port} (echoes the headers it receives)`);
  const stop = () => server.close(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
