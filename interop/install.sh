#!/usr/bin/env bash
# Install the pinned third-party servers used by tests/interop (npm ci in interop/).
# Idempotent: a stamp holding package-lock.json's hash skips `npm ci` when
# node_modules already matches the lock.  Needs node >= 18 and npm on PATH.
#
# Without node or npm: under CI (the CI variable set to anything but "", 0, false
# or no) that is a broken build and the script exits 1; on a developer machine it
# prints a notice and exits 0, and the interop tests skip with the same reason.
set -euo pipefail

cd "$(dirname "$0")"

in_ci() {
    case "$(printf '%s' "${CI:-}" | tr '[:upper:]' '[:lower:]')" in
        "" | 0 | false | no) return 1 ;;
        *) return 0 ;;
    esac
}

for tool in node npm; do
    if ! command -v "$tool" >/dev/null; then
        if in_ci; then
            echo "interop/install.sh: $tool is not installed (CI is set, so this fails the build)" >&2
            exit 1
        fi
        echo "interop/install.sh: $tool is not installed; skipping the interop servers" \
            "(tests/interop will be skipped; install Node.js 18+ and npm to run them)" >&2
        exit 0
    fi
done

stamp=node_modules/.trio-heartbeat-install-stamp
want="$(sha256sum package-lock.json | cut -d' ' -f1) node-$(node --version)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "interop: node_modules is up to date ($(node --version))"
    exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
echo "$want" > "$stamp"
echo "interop: installed $(npm ls --depth=0 --parseable 2>/dev/null | tail -n +2 | xargs -n1 basename | tr '\n' ' ')"
