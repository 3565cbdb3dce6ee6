#!/usr/bin/env bash
# The one prepared script for the 16-core machine: lane scaling of the cases issue 5
# names (2048³ GEMM, the 8×56×56×64 3×3 convolution) and the rest of the default suite
# at 1, 2, 4, 8 and 16 lanes. Writes JSON and SVG to $OUT (or ./device-out).
set -euo pipefail
cd "$(dirname "$0")"
out="${OUT:-./device-out}"
mkdir -p "$out"
nproc | tee "$out/nproc.txt"
./bin/shardwise-bench --lanes 1,2,4,8,16,auto --filter "m=2048 n=2048" --json "$out/gemm2048.json" 2>&1 | tee "$out/gemm2048.log"
./bin/shardwise-bench --lanes 1,2,4,8,16,auto --filter "n=8 h=56 w=56 c=64" --json "$out/conv.json" 2>&1 | tee "$out/conv.log"
./bin/shardwise-bench --lanes 1,16 --json "$out/suite.json" --svg "$out/suite.svg" 2>&1 | tee "$out/suite.log"
