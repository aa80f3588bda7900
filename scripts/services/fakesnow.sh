#!/usr/bin/env bash
# A local Snowflake for the warehouse load's engine tests: fakesnow's server (a Snowflake API on
# DuckDB), which the real snowflake-connector-python talks to through the Snowflake provider's hook.
#
# The connector only speaks HTTPS (the provider's hook passes no protocol), so the server runs under
# uvicorn with a self-signed certificate for localhost made here; the tests trust it through
# REQUESTS_CA_BUNDLE, set only in their own environment. fakesnow itself comes from the project's
# `test` extra (fakesnow[server]) in the Airflow 3.3.2 virtualenv (scripts/venv.sh makes it if needed).
# Idempotent: when the server already answers it only prints the variables.
#
# stdout: only `export NAME=value` lines, for `eval "$(bash scripts/services/fakesnow.sh)"`
# (scripts/test.sh does that); everything else goes to stderr.
#
# Settings (environment): DUB_TEST_FAKESNOW_PORT (default 58443), DUB_TEST_FAKESNOW_DIR (default
# /tmp/airflow-provider-dub-fakesnow-<uid>).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PORT="${DUB_TEST_FAKESNOW_PORT:-58443}"
BASE="${DUB_TEST_FAKESNOW_DIR:-/tmp/airflow-provider-dub-fakesnow-$(id -u)}"
log() { echo "fakesnow.sh: $*" >&2; }

exports() {
  echo "export DUB_TEST_FAKESNOW_PORT=$PORT"
  echo "export DUB_TEST_FAKESNOW_CA=$BASE/cert.pem"
}

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

if answers && [ -s "$BASE/cert.pem" ]; then
  log "fakesnow already answers on https://localhost:$PORT"
  exports
  exit 0
fi

# shellcheck source=scripts/venv.sh
source "$ROOT/scripts/venv.sh" 3.3.2 >&2
if ! "$VENV/bin/python" -c "import fakesnow.server" 2>/dev/null; then
  log "fakesnow[server] is not in $VENV: it comes with the project's 'test' extra"
  exit 1
fi
mkdir -p "$BASE"
rm -f "$BASE/cert.pem"
log "starting fakesnow on https://localhost:$PORT (log: $BASE/server.log)"
nohup "$VENV/bin/python" - "$BASE" "$PORT" >"$BASE/server.log" 2>&1 <<'PY' &
"""fakesnow's Starlette app under uvicorn with TLS, the certificate made first."""

import datetime
import ipaddress
import sys

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import fakesnow.server

base, port = sys.argv[1], int(sys.argv[2])
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (
    x509.CertificateBuilder()
    .subject_name(name)
    .issuer_name(name)
    .public_key(key.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(now - datetime.timedelta(days=1))
    .not_valid_after(now + datetime.timedelta(days=30))
    .add_extension(
        x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        ),
        critical=False,
    )
    .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    .sign(key, hashes.SHA256())
)
with open(f"{base}/key.pem", "wb") as out:
    out.write(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
with open(f"{base}/cert.pem.tmp", "wb") as out:
    out.write(cert.public_bytes(serialization.Encoding.PEM))
import os

os.replace(f"{base}/cert.pem.tmp", f"{base}/cert.pem")
uvicorn.run(
    fakesnow.server.app,
    host="127.0.0.1",
    port=port,
    ssl_keyfile=f"{base}/key.pem",
    ssl_certfile=f"{base}/cert.pem",
    log_level="warning",
)
PY
for _ in $(seq 1 240); do
  if answers && [ -s "$BASE/cert.pem" ]; then
    log "fakesnow ready on https://localhost:$PORT"
    exports
    exit 0
  fi
  sleep 0.5
done
log "fakesnow did not start; its log:"
tail -n 30 "$BASE/server.log" >&2
exit 1
