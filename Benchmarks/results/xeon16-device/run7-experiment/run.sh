#!/usr/bin/env bash
# Run 7 as it ran (see README.md here): the experimental build of run 6
# (Benchmarks/device/bin/shardwise-bench-exp, not committed) on this folder's shapes, whose plans
# are output-channel splits at 8, 12 and 16 lanes: as committed, and with their one row part cut
# into 2 or 4 shards (SW_OC_CUT), claimed by the lanes in order. Four interleaved rounds.
set -uo pipefail
cd "$(dirname "$0")"
out="${OUT:-./device-out}"; mkdir -p "$out/exp"
bench=../../../device/bin/shardwise-bench-exp
nproc > "$out/machine.txt"; grep -m1 "model name" /proc/cpuinfo >> "$out/machine.txt"
for round in 1 2 3 4; do
  for v in base oc2 oc4; do
    case $v in base) e="";; oc2) e="SW_OC_CUT=2";; oc4) e="SW_OC_CUT=4";; esac
    env $e timeout 60 "$bench" --executor spin --lanes 8,12,16 --shapes shapes.txt \
      --json "$out/exp/$v-$round.json" 2>&1 | sed "s/^/r$round $v /" >> "$out/ab.log"
  done
done
tar -czf "$out/exp.tar.gz" -C "$out" exp && rm -r "$out/exp"
