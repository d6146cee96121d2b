#!/usr/bin/env bash
# One row of #13's comparison table: `dvc exp run -S ...` in a new clone that reuses the outputs
# of a clone which already ran `dvc repro` (BASE), so that only the stages the switches touch run.
#
#   BASE=/path/to/clone-with-outputs scripts/system_run.sh NAME -S key=value [-S ...]
#
# NAME's clone is SCRATCH/NAME (SCRATCH defaults to /tmp/s2igan-systems). It shares BASE's DVC
# cache (hard links where the file system allows, copies otherwise), checks out BASE's outputs
# with BASE's dvc.lock, and copies BASE's reports/ so that unchanged stages keep their metrics.
# The run gets THREADS torch/BLAS threads (default 1: two runs side by side use 2 cores better
# than one run of two). Its log is SCRATCH/NAME/run.log, ending with the run's wall seconds;
# then store it with
#   python scripts/systems_table.py collect SCRATCH/NAME --name ... --command ... --machine ...
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: BASE=clone scripts/system_run.sh NAME -S key=value ..." >&2; exit 2; }
name=$1; shift
base=${BASE:?set BASE to a clone that ran dvc repro}
[[ -f "$base/dvc.lock" && -d "$base/.dvc/cache" ]] || {
    echo "BASE=$base: no dvc.lock or .dvc/cache (run dvc repro there first)" >&2; exit 2; }
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
[[ -f "$repo/.venv/bin/activate" ]] || {
    echo "$repo/.venv: no virtual environment (run make install there first)" >&2; exit 2; }
dir=${SCRATCH:-/tmp/s2igan-systems}/$name
rm -rf "$dir"
mkdir -p "$(dirname "$dir")"
git clone -q "$repo" "$dir"
cd "$dir"
ln -s "$repo/.venv" .venv
cp "$base/dvc.lock" dvc.lock
. .venv/bin/activate
dvc cache dir --local "$base/.dvc/cache"
dvc config --local cache.type hardlink,copy
dvc checkout -q
cp -a "$base/reports/." reports/
dvc status > status.log 2>&1 || true     # what the run will redo (none before the switches)
export OMP_NUM_THREADS=${THREADS:-1} MKL_NUM_THREADS=${THREADS:-1}
start=$(date +%s)
dvc exp run -n "$name" "$@" > run.log 2>&1
echo "wall_seconds $(( $(date +%s) - start ))" >> run.log
