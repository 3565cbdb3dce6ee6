#!/usr/bin/env bash
# The one prepared script for the 16-core machine: lane scaling of the cases issue 5
# names (2048³ GEMM, the 8×56×56×64 3×3 convolution) at 1, 2, 4, 8, 16 lanes and auto,
# with Dispatch and with the spinning executor, then the default suite at 1 and 16 lanes.
# Writes logs, JSON and SVG to $OUT (or ./device-out). About 3 minutes.
set -euo pipefail
cd "$(dirname "$0")"
out="${OUT:-./device-out}"
mkdir -p "$out"
nproc | tee "$out/nproc.txt"
for executor in dispatch spin; do
    ./bin/shardwise-bench --executor "$executor" --lanes 1,2,4,8,16,auto --filter "m=2048 n=2048" \
        --json "$out/gemm2048-$executor.json" 2>&1 | tee "$out/gemm2048-$executor.log"
    ./bin/shardwise-bench --executor "$executor" --lanes 1,2,4,8,16,auto --filter "n=8 h=56 w=56 c=64 kh=3" \
        --json "$out/conv-$executor.json" 2>&1 | tee "$out/conv-$executor.log"
done
./bin/shardwise-bench --lanes 1,16 --json "$out/suite.json" --svg "$out/suite.svg" 2>&1 | tee "$out/suite.log"
