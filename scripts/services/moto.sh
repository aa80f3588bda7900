#!/usr/bin/env bash
# An S3-protocol server on loopback for the s3:// tests (tests/integration/test_s3.py): moto's server
# mode, in its own small virtualenv (.venvs/moto), so its web framework and its boto pins stay out of
# the Airflow environments (scripts/test.sh runs services before it creates those).
#
# Installs moto[server] into .venvs/moto when missing (with uv from .venvs/tools, installed there
# first if needed, as scripts/venv.sh does), then starts `moto_server` on 127.0.0.1 in the background
# unless a moto server already answers on the port, and waits until it answers. Idempotent, and quick
# when the server is running.
#
# stdout: only `export NAME=value` lines, for `eval "$(bash scripts/services/moto.sh)"` (scripts/test.sh
# does that); everything else goes to stderr. The server's own output goes to its log file.
#
# Settings (environment): DUB_TEST_S3_PORT (default 55490), DUB_TEST_S3_DIR (default
# /tmp/airflow-provider-dub-moto-<uid>: log and pid file).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PORT="${DUB_TEST_S3_PORT:-55490}"
BASE="${DUB_TEST_S3_DIR:-/tmp/airflow-provider-dub-moto-$(id -u)}"
VENV="$ROOT/.venvs/moto"
MOTO_REQUIREMENT="moto[server]>=5.1,<6"
ENDPOINT="http://127.0.0.1:$PORT"
log() { echo "moto.sh: $*" >&2; }

# S3's ListBuckets answer (moto does not check signatures): another program on the port is not taken
# for the server. Not moto's /moto-api/data.json, which fails once a bucket was deleted.
answers() { "$VENV/bin/python" - "$ENDPOINT" <<'EOF' >/dev/null 2>&1; }
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/", timeout=2) as response:
    sys.exit(0 if response.status == 200 and b"ListAllMyBucketsResult" in response.read() else 1)
EOF

if [ ! -x "$VENV/bin/moto_server" ]; then
  TOOLS="$ROOT/.venvs/tools"
  if [ ! -x "$TOOLS/bin/uv" ]; then  # as scripts/venv.sh does (which then reuses it): pip alone is slow
    log "installing uv (fast resolver) into $TOOLS"
    "${PYTHON:-python3}" -m venv "$TOOLS" >&2
    "$TOOLS/bin/pip" install --quiet --disable-pip-version-check "uv>=0.5" >&2
  fi
  log "installing $MOTO_REQUIREMENT into $VENV"
  "$TOOLS/bin/uv" venv --quiet --python "${PYTHON:-python3}" "$VENV" >&2
  VIRTUAL_ENV="$VENV" "$TOOLS/bin/uv" pip install --quiet "$MOTO_REQUIREMENT" >&2
fi

if ! answers; then
  install -d -m 0700 "$BASE"
  log "starting moto_server on 127.0.0.1:$PORT (log: $BASE/server.log)"
  # Detached, its output in the log: `eval "$(...)"` waits for stdout to close, so nothing may keep it.
  setsid "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$BASE/server.log" 2>&1 </dev/null &
  echo $! >"$BASE/server.pid"
  for _ in $(seq 1 150); do
    answers && break
    if ! kill -0 "$(cat "$BASE/server.pid")" 2>/dev/null; then
      log "moto_server exited; its log:"
      tail -n 30 "$BASE/server.log" >&2
      exit 1
    fi
    sleep 0.2
  done
  answers || { log "moto_server does not answer after 30 s; its log:"; tail -n 30 "$BASE/server.log" >&2; exit 1; }
fi
log "S3 (moto) ready at $ENDPOINT"
echo "export DUB_TEST_S3_ENDPOINT=$ENDPOINT"
