#!/bin/sh
# The figures behind the README's problem-suite tables: throughput (numba vs numpy, side by side),
# then PatternBoost vs local search alone at equal wall-clock, one method after the other.
# About 50 minutes on 2 cores. Usage: sh benchmarks/suite.sh [results-dir]
set -e
out=${1:-benchmarks/results}
py=.venv/bin/python
mkdir -p "$out"
: > "$out/throughput.txt"
for args in "triangle_free --set n=20 --numba-searches 20000 --numpy-searches 200" \
            "no_isosceles --set n=16 --numba-searches 2000 --numpy-searches 20" \
            "no_isosceles --set n=64 --numba-searches 300 --numpy-searches 3" \
            "hypercube_gh --set d=6 --numba-searches 400 --numpy-searches 2" \
            "permanent_avoid --set n=12 --numba-searches 2000 --numpy-searches 20" \
            "examples/cap_set.py:CapSet --set n=6 --numba-searches 1000 --numpy-searches 10"; do
    $py benchmarks/throughput.py $args >> "$out/throughput.txt"
done
: > "$out/discovery.jsonl"
for args in "triangle_free --set n=20 --budget 120" \
            "hypercube_gh --set d=6 --budget 120" \
            "permanent_avoid --set n=14 --budget 120" \
            "no_isosceles --set n=16 --budget 60" \
            "no_isosceles --set n=32 --budget 180" \
            "hypercube_gh --set d=7 --budget 180" \
            "no_isosceles --set n=64 --budget 300" \
            "examples/cap_set.py:CapSet --set n=6 --budget 300"; do
    $py benchmarks/discovery.py $args --json "$out/discovery.jsonl"
done
: > "$out/triangle_one_round.jsonl"
$py benchmarks/discovery.py triangle_free --set n=20 --budget 60 --set loop.initial=20000 \
    --json "$out/triangle_one_round.jsonl"
