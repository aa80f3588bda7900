#!/usr/bin/env bash
# Debian's Chromium for the browser tests (tests/browser). Installs it when missing; quick when present.
# Prints only `export ...` lines on stdout (scripts/test.sh evals them); everything else goes to stderr.
set -euo pipefail
CHROMIUM=/usr/bin/chromium
if [ ! -x "$CHROMIUM" ]; then
  echo "==> installing Debian's chromium" >&2
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "chromium.sh: cannot install chromium here (needs root and apt-get); the browser tests will skip" >&2
    exit 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq chromium >&2
fi
echo "chromium.sh: $("$CHROMIUM" --version 2>/dev/null | head -n 1)" >&2
echo "export DUB_TEST_CHROMIUM=$CHROMIUM"
