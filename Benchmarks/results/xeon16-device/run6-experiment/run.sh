#!/usr/bin/env bash
# Run 6 as it ran, from Benchmarks/device/ (kept for the record; see README.md here): run.sh with
# ROUNDS=2, then the experimental build (bin/shardwise-bench-exp, not committed) on this folder's
# shapes.txt (then at Benchmarks/shapes/.exp.txt), three settings interleaved, two rounds.
set -uo pipefail
cd "$(dirname "$0")"
out="${OUT:-./device-out}"; mkdir -p "$out/exp"
ROUNDS=2 timeout 330 bash run.sh
bench=./bin/shardwise-bench-exp
for round in 1 2; do
  for v in base cut1 oc4t4; do
    case $v in base) e="";; cut1) e="SW_GRID_CUT=1";; oc4t4) e="SW_GRID_LANES=4 SW_OC_CUT=4";; esac
    env $e timeout 60 "$bench" --executor spin --lanes 4,8,12,16 --shapes ../shapes/.exp.txt \
      --json "$out/exp/$v-$round.json" 2>&1 | sed "s/^/r$round $v /" | tee -a "$out/exp.log"
  done
done
tar -czf "$out/exp.tar.gz" -C "$out" exp && rm -r "$out/exp"
