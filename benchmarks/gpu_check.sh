#!/usr/bin/env bash
# The one prepared GPU check (device tool): training throughput of every task on the GPU, engine Trainer vs plain
# loop, then a short experiment (a) - gcd, uniform vs log-uniform operands at equal steps - at GPU batch and width.
# Runs where torch with CUDA is installed; results land in ${OUT:-runs/gpu-check}.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-runs/gpu-check}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python3 -m pip install -q -e . --no-deps --no-build-isolation 2>&1 | tail -1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 benchmarks/task_throughput.py --device cuda --steps 50 --bouts 3 --set train.batch_size=1024 \
    --set model.n_embd=256 2>&1 | tee "$out/throughput.txt"
python3 benchmarks/experiments.py gcd_operands --scale gpu --rounds 4 --set train.steps=2500 \
    --set test_size=20000 --set per_outcome=200 2>&1 | tee "$out/gcd.txt"
tail -n 2 benchmarks/results/experiments.jsonl > "$out/experiments.jsonl"
for d in runs/experiments/gcd_operands-gpu-*; do cp "$d/report.md" "$out/$(basename "$d").md"; done
