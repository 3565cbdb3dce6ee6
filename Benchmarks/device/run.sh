#!/usr/bin/env bash
# The one prepared script for the 16-core machine (build the binaries first with
# build-static.sh, and carry Benchmarks/device/bin):
#   1. what the machine is: processors, affinity, cgroup quota, caches, and which
#      processors share FMA pipes with processor 0 (pairs.sh);
#   2. ROUNDS rounds (default 3), interleaved, of
#      - Benchmarks/shapes/device-scaling.txt (2048³ GEMM, the same product as a dense
#        layer with packed weights, the 8×56×56×64 3×3 convolution) at 1, 2, 4, 8, 12
#        and 16 lanes with the spinning executor; the benchmark first measures the FMA
#        loop on each of those lane counts at once;
#      - ONNX Runtime, PyTorch and NumPy's BLAS on the same GEMM and convolution (peers.py);
#   3. the same cases with Dispatch at 1 and 16 lanes, auto, and 2·16+1 = 33 lanes (the
#      bits must not change);
#   4. with SUITE=1, the default suite at 1 and 16 lanes.
# Text goes to bench.log, peers.log and machine.txt, JSON and SVG into results.tar.gz,
# all in $OUT (or ./device-out): the device tool returns at most 8 files. About 4 minutes
# (ROUNDS=2: 3).
set -uo pipefail
cd "$(dirname "$0")"
out="${OUT:-./device-out}"
shapes=../shapes/device-scaling.txt
mkdir -p "$out/results"
{
    uname -a; nproc; lscpu
    grep -E '^Cpus_allowed_list' /proc/self/status
    cat /proc/self/cgroup; cat /sys/fs/cgroup/cpu.max 2>/dev/null
    grep -E 'MemTotal|Hugepagesize' /proc/meminfo; cat /sys/kernel/mm/transparent_hugepage/enabled
} > "$out/machine.txt" 2>&1
bench=./bin/shardwise-bench-skylake-avx512
grep -qw avx512f /proc/cpuinfo || bench=./bin/shardwise-bench-haswell
echo "binary: $bench" | tee -a "$out/machine.txt"
bash pairs.sh "$bench" 2>&1 | tee -a "$out/machine.txt"
for round in $(seq 1 "${ROUNDS:-3}"); do
    echo "## round $round: spin" | tee -a "$out/bench.log"
    "$bench" --executor spin --lanes 1,2,4,8,12,16 --shapes "$shapes" \
        --json "$out/results/spin-$round.json" 2>&1 | tee -a "$out/bench.log"
    echo "## round $round" | tee -a "$out/peers.log"
    PYTHONUNBUFFERED=1 timeout 150 python3 peers.py 2>&1 | tee -a "$out/peers.log"
done
echo "## dispatch" | tee -a "$out/bench.log"
"$bench" --lanes 1,16,auto,33 --shapes "$shapes" --json "$out/results/dispatch.json" 2>&1 | tee -a "$out/bench.log"
if [ "${SUITE:-0}" = 1 ]; then
    echo "## suite dispatch 1,16" | tee -a "$out/bench.log"
    "$bench" --lanes 1,16 --json "$out/results/suite.json" --svg "$out/results/suite.svg" 2>&1 | tee -a "$out/bench.log"
fi
tar -czf "$out/results.tar.gz" -C "$out" results && rm -r "$out/results"
