#!/usr/bin/env bash
# Run 8 (see README.md here): the committed build of session 10 (Benchmarks/device/build-static.sh)
# on run 7's shapes, whose plans are output-channel splits at 8, 12 and 16 lanes, now cut into row
# shards by Planner's dynamicGrid; 1 lane beside them for the speed-up. Three rounds.
set -uo pipefail
cd "$(dirname "$0")"
out="${OUT:-./device-out}"; mkdir -p "$out/json"
bench=../../../device/bin/shardwise-bench-skylake-avx512
for round in 1 2 3; do
  timeout 120 "$bench" --executor spin --lanes 1,8,12,16 --shapes ../run7-experiment/shapes.txt \
    --json "$out/json/round-$round.json" 2>&1 | sed "s/^/r$round /" >> "$out/bench.log"
done
tar -czf "$out/json.tar.gz" -C "$out" json && rm -r "$out/json"
