#!/usr/bin/env bash
# The prepared GPU check for the learned half of the construction loop (device tool; about 9 minutes on one GPU and
# 16 cores). Results land in ${OUT:-runs/gpu-search}:
#   throughput.txt  training tokens/s and MFU (compile off, then on) and samples/s, at the headline config's sizes
#   overlap.txt     a round's wall-clock split (train / sample / search), without and with training beside search
#   headline.txt    C4-free n = 33 with the plain search: PatternBoost against search alone, 180 s each
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-runs/gpu-search}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python3 -m pip install -q -e . --no-deps --no-build-isolation 2>&1 | tail -1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/device.txt"
gpu=(--set climb=0 --set model.n_layer=6 --set model.n_embd=256 --set model.position=rope
     --set train.batch_size=1024 --set sample.batch_size=20000 --set sample.top_p=0.95)
for compiled in false true; do
    python3 benchmarks/learned_throughput.py c4_free "${gpu[@]}" --set train.compile=$compiled --steps 100 \
        --warmup 10 2>&1 | tee -a "$out/throughput.txt"
done
python3 benchmarks/overlap.py c4_free "${gpu[@]}" --set loop.initial=200000 --set loop.pool_size=20000 \
    --set train.steps=500 --set sample.count=100000 --rounds 2 --workers 15 2>&1 | tee "$out/overlap.txt"
python3 benchmarks/discovery.py c4_free "${gpu[@]}" --set loop.initial=2000000 --set loop.pool_size=20000 \
    --set train.steps=1000 --set sample.count=200000 --set sample.searches=4 --set executor.kind=process \
    --set loop.device=auto --budget 180 2>&1 | tee "$out/headline.txt"
