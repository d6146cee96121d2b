#!/usr/bin/env bash
# Manual check, not part of CI or the test suite: start the MLflow UI of this workspace
# (`s2igan ui`, the README's command) on a free loopback port, take one headless-Chromium
# screenshot per route, stop the UI.  Needs Debian's chromium (`apt-get install -y chromium`).
#
#   scripts/ui_screenshot.sh OUT_DIR [ROUTE ...]          # routes are the UI's hash routes
#   scripts/ui_screenshot.sh /tmp/ui '#/experiments/1/runs' \
#       '#/experiments/1/runs/<run_id>' '#/experiments/1/runs/<run_id>/artifacts/tsne.png'
#
# Run list, run overview (params, metrics, tags) and image artifacts render fully this way;
# the metric charts (.../model-metrics) stay as loading spinners under --screenshot, so look at
# those in a real browser (or drive Chromium with playwright and wait a few seconds).
# Env: PORT (default 5099), SIZE (default 1600,1200), BUDGET_MS (default 15000).
set -euo pipefail

out=${1:?usage: $0 OUT_DIR [ROUTE ...]}; shift
routes=("$@"); [ ${#routes[@]} -gt 0 ] || routes=('#/experiments/1/runs')
port=${PORT:-5099}; size=${SIZE:-1600,1200}; budget=${BUDGET_MS:-15000}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"

# The UI in its own process group, so that stopping it also stops the mlflow server it spawns.
cd "$root"
setsid nice -n 19 .venv/bin/s2igan ui --port "$port" >"$out/ui.log" 2>&1 &
ui=$!
trap 'kill -- -"$ui" 2>/dev/null || true' EXIT
for _ in $(seq 60); do
    curl -fs "http://127.0.0.1:$port/health" >/dev/null && break
    sleep 1
done
curl -fs "http://127.0.0.1:$port/health" >/dev/null || { echo "UI did not start, see $out/ui.log" >&2; exit 1; }

i=0
for route in "${routes[@]}"; do
    i=$((i + 1))
    png="$out/$(printf '%02d' "$i")_$(printf '%s' "$route" | tr -c 'A-Za-z0-9._-' '_' | cut -c1-80).png"
    profile=$(mktemp -d)
    # Without the background-networking flags Chromium stalls on refused connections.
    nice -n 19 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --window-size="$size" --virtual-time-budget="$budget" \
        --screenshot="$png" "http://127.0.0.1:$port/$route" >/dev/null 2>&1 || true
    rm -rf "$profile"
    [ -s "$png" ] && echo "$png" || echo "no screenshot for $route" >&2
done
