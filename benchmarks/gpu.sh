#!/usr/bin/env bash
# The GPU benchmark of the paper profile (benchmarks/gpu.py): one call of at most 8 minutes.
#   benchmarks/gpu.sh            on a CUDA machine: writes reports/benchmarks/gpu.json + gpu_samples.png
#   benchmarks/gpu.sh --dry-run  everything shrunk, on the CPU, in well under a minute (CI, tests)
#   benchmarks/gpu.sh --out DIR  write there instead (on a lent device machine: --out "$OUT")
# PYTHON picks the interpreter (default python3, the one that holds torch on the device machine).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec timeout 480 "${PYTHON:-python3}" benchmarks/gpu.py "$@"
