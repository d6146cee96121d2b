#!/usr/bin/env bash
# Make the checkout of the official S2IGAN code that the step benchmarks time beside ours:
# .peer/S2IGAN at commit 8cca123 (git-ignored), and the two packages its modules import that ours
# does not (easydict, tensorboardX) in .peer/site, outside the project's environment.
#
# usage: benchmarks/get_official.sh [SOURCE]
#   SOURCE: a git URL or a local clone/mirror (default https://github.com/xinshengwang/S2IGAN)
# Then: python benchmarks/rdg_step.py   (or --official PATH for a checkout elsewhere)
set -euo pipefail
cd "$(dirname "$0")/.."
src="${1:-https://github.com/xinshengwang/S2IGAN}"
commit=8cca123
dest=.peer/S2IGAN
python="${PYTHON:-python}"
if [ ! -d "$dest/.git" ]; then
  mkdir -p .peer
  git clone -q "$src" "$dest"
fi
git -C "$dest" checkout -q "$commit"
"$python" -m pip install -q --no-deps --target .peer/site easydict tensorboardX
echo "official code: $dest at $(git -C "$dest" rev-parse --short HEAD); extra packages: .peer/site"
