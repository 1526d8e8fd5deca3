#!/usr/bin/env bash
# Install the pinned third-party servers used by tests/interop (npm ci in interop/).
# Idempotent: a stamp holding package-lock.json's hash skips `npm ci` when
# node_modules already matches the lock.  Needs node >= 18 and npm on PATH.
set -euo pipefail

cd "$(dirname "$0")"
command -v node >/dev/null || { echo "interop/install.sh: node is not installed" >&2; exit 1; }
command -v npm >/dev/null || { echo "interop/install.sh: npm is not installed" >&2; exit 1; }

stamp=node_modules/.trio-heartbeat-install-stamp
want="$(sha256sum package-lock.json | cut -d' ' -f1) node-$(node --version)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "interop: node_modules is up to date ($(node --version))"
    exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
echo "$want" > "$stamp"
echo "interop: installed $(npm ls --depth=0 --parseable 2>/dev/null | tail -n +2 | xargs -n1 basename | tr '\n' ' ')"
