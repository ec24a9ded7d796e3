#!/usr/bin/env bash
# The edgeward demo, from a fresh clone: builds everything, then runs on loopback
#   - a dev OpenID issuer (edgeward dev-idp),
#   - a sample origin (echoes the headers it receives),
#   - the gate as a Cloudflare Worker in workerd (wrangler dev, local mode,
#     local KV), configured by the repo's wrangler.toml,
# each on a free port (chosen after the build, printed), and prints
# copy-paste curl lines (running each once to show the answer). Ctrl-C stops
# all of it.
#
#   scripts/demo.sh           run until Ctrl-C
#   scripts/demo.sh --once    print the walkthrough, then stop (for CI)
#   IDP_PORT=9411 ORIGIN_PORT=9412 GATE_PORT=8787 scripts/demo.sh   fixed ports
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
once=0
[ "${1:-}" = "--once" ] && once=1

# Colour only on a terminal, and never with NO_COLOR.
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
  say() { printf '\033[1m%s\033[0m\n' "$*"; }
else
  say() { printf '%s\n' "$*"; }
fi
logs="$(mktemp -d "${TMPDIR:-/tmp}/edgeward-demo.XXXXXX")"

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do
    # Each service runs in its own process group (setsid): wrangler's workerd too.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  rm -f "${demo_config:-}"
  echo
  say "stopped (logs were in $logs)"
}
trap stop INT TERM EXIT

say "== building (the CLI, the Worker) =="
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
command -v clang >/dev/null || { echo "clang is needed to build ring for wasm32: apt-get install -y clang" >&2; exit 1; }
cargo build --quiet -p edgeward-cli --release
( cd worker && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error </dev/null; } )
bash worker/scripts/build.sh

# Ports: as given, else free ones, chosen now that the build is done.
free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
IDP_PORT="${IDP_PORT:-$(free_port)}" ORIGIN_PORT="${ORIGIN_PORT:-$(free_port)}" GATE_PORT="${GATE_PORT:-$(free_port)}"
for port in $IDP_PORT $ORIGIN_PORT $GATE_PORT; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is in use; set IDP_PORT, ORIGIN_PORT and GATE_PORT to free ports (or leave them unset)" >&2
    exit 1
  fi
done
GATE="http://127.0.0.1:$GATE_PORT" IDP="http://127.0.0.1:$IDP_PORT"
# wrangler.toml names the demo's issuer and origin on 9411 and 9412; the
# demo runs a copy that names the ports in use (beside it, so its relative
# paths hold).
demo_config="$root/.demo-wrangler.toml"
sed -e "s|127.0.0.1:9411|127.0.0.1:$IDP_PORT|g" -e "s|127.0.0.1:9412|127.0.0.1:$ORIGIN_PORT|g" wrangler.toml >"$demo_config"

say "== starting the dev issuer, the sample origin and the Worker =="
setsid target/release/edgeward dev-idp --port "$IDP_PORT" --state-dir worker/.wrangler/dev-idp --json >"$logs/idp.log" 2>&1 </dev/null &
pids+=($!)
setsid node worker/demo/origin.mjs "$ORIGIN_PORT" >"$logs/origin.log" 2>&1 </dev/null &
pids+=($!)
( exec setsid worker/node_modules/.bin/wrangler dev -c "$demo_config" \
    --ip 127.0.0.1 --port "$GATE_PORT" --persist-to worker/.wrangler/state \
    --show-interactive-dev-session=false ) >"$logs/worker.log" 2>&1 </dev/null &
pids+=($!)

ready() { curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null | grep -q "$2"; }
for _ in $(seq 1 300); do
  ready "$IDP/.well-known/openid-configuration" 200 && ready "http://127.0.0.1:$ORIGIN_PORT/" 200 && ready "$GATE/health" 200 && break
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "a service exited; its log:" >&2; tail -n 30 "$logs"/*.log >&2; exit 1; }
  done
  sleep 0.2
done
ready "$GATE/health" 200 || { echo "the Worker did not come up; log:" >&2; tail -n 40 "$logs/worker.log" >&2; exit 1; }

show() { # show "comment" command...
  echo
  say "# $1"
  shift
  echo "\$ $*"
  eval "$*" || true
}

echo
say "== ready: issuer $IDP, origin http://127.0.0.1:$ORIGIN_PORT, gate $GATE =="
show "no token: 401 with a Bearer challenge, the origin never sees the request" \
  "curl -s -i $GATE/orders/1"
TOKEN="$(curl -s "$IDP/mint?sub=alice&scope=orders:read")"
echo
say "# a token from the dev issuer (sub alice, scope orders:read, aud api)"
echo "\$ TOKEN=\$(curl -s '$IDP/mint?sub=alice&scope=orders:read')"
show "with the token: 200; the origin's echo shows the identity headers it received (x-auth-*; Authorization stripped, as wrangler.toml says)" \
  "curl -s -H \"Authorization: Bearer \$TOKEN\" -H 'X-Auth-Subject: spoofed-admin' $GATE/orders/1"
LIMITED="$(curl -s "$IDP/mint?sub=bob&scope=profile")"
echo
echo "\$ LIMITED=\$(curl -s '$IDP/mint?sub=bob&scope=profile')"
show "a token lacking the scope: 403 insufficient_scope" \
  "curl -s -i -H \"Authorization: Bearer \$LIMITED\" $GATE/orders/1"
echo
say "# the Worker's log lines (one JSON line per denial and per key fetch):"
grep -E '"event":"(deny|key_fetch|key_load|kv_write|start)"' "$logs/worker.log" | sed 's/^.*{"/{"/' | tail -n 8 || true

if [ "$once" = 1 ]; then exit 0; fi
echo
say "Try more with the lines above (TOKEN=... first). Ctrl-C stops the issuer, the origin and the Worker."
wait
