#!/usr/bin/env bash
# Does learning pay where training is cheap? The C4 headline (configs/c4-headline-cpu.toml) with learned edits
# against the same loop with uniform edits, each with 10x the training per round (on CPU the two tie, README
# "C4-free graphs"). About 5 minutes on one GPU and 16 cores (device tool). Results in ${OUT:-runs/gpu-edits}.
#     OUT=runs/gpu-edits benchmarks/gpu_edits.sh [extra --set flags, e.g. --set train.steps=10]
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-runs/gpu-edits}
mkdir -p "$out"
for seed in 0 1; do
    for temperature in 2 1000; do  # the config's learned edits, then every change equally likely
        python3 -m patternboost.cli run --config configs/c4-headline-cpu.toml --set train.steps=1000 \
            --set sample.temperature=$temperature --set sample.max_temperature=$temperature --seed $seed \
            --time-limit 60 "$@" --run-dir "$out/T${temperature}_seed$seed" 2>&1 | tail -1 | tee -a "$out/summary.txt"
    done
done
