#!/usr/bin/env bash
# Which processors share FMA pipes: the benchmark's FMA loop on two lanes pinned (taskset) to
# processor 0 and processor i, for every other i. Two processors with pipes of their own read
# about twice one lane; hyperthread siblings, or vCPUs placed on one physical core, read about
# once. Usage: pairs.sh BENCH (a shardwise-bench binary). About 3 seconds per processor.
set -uo pipefail
bench="$1"
for ((i = 1; i < $(nproc); i++)); do
    line=$(taskset -c "0,$i" "$bench" --lanes 2 --filter 'm=64 n=64' 2>&1 | grep '^machine:')
    echo "0,$i: $(echo "$line" | grep -oE 'FMA peak [0-9.]+ GFLOP/s per lane, [0-9.]+ on 2 lanes')"
done
