#!/usr/bin/env bash
# The GPU run, once (see scripts/gpu_run.py): copy the CIFAR subset into the checkout first
# (the GPU machine has no ../shared), e.g.
#   mkdir -p .gpu-data && cp ../shared/data/cifar10_subset.npz .gpu-data/
# then, on the GPU machine: bash scripts/gpu_run.sh  (results and log under gpu-out/).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONHASHSEED=0 MPLBACKEND=Agg
exec python scripts/gpu_run.py --out gpu-out --data .gpu-data/cifar10_subset.npz "$@"
