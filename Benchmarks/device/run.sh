#!/usr/bin/env bash
# The one prepared script for the 16-core machine (build the binaries first with
# build-static.sh, and carry Benchmarks/device/bin):
#   1. what the machine is: processors, affinity, cgroup quota, caches;
#   2. lane scaling of the cases issue 5 names (2048³ GEMM, the 8×56×56×64 3×3
#      convolution) at 1, 2, 4, 8, 12, 16 lanes and auto, with the spinning executor and
#      with Dispatch, which also runs 2·16+1 = 33 lanes (the bits must not change);
#   3. ONNX Runtime, PyTorch and NumPy's BLAS on the same two cases (peers.py);
#   4. the default suite at 1 and 16 lanes.
# Text goes to bench.log, peers.log and machine.txt, JSON and SVG into results.tar.gz,
# all in $OUT (or ./device-out): the device tool returns at most 8 files. About 4 minutes.
set -uo pipefail
cd "$(dirname "$0")"
out="${OUT:-./device-out}"
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
cases=("m=2048 n=2048" "n=8 h=56 w=56 c=64 kh=3")
names=(gemm2048 conv8x56)
{
    for i in 0 1; do
        for executor in spin dispatch; do
            lanes=1,2,4,8,12,16,auto
            [ "$executor" = dispatch ] && lanes=$lanes,33
            echo "## ${names[$i]} $executor"
            "$bench" --executor "$executor" --lanes "$lanes" --filter "${cases[$i]}" \
                --json "$out/results/${names[$i]}-$executor.json"
        done
    done
} 2>&1 | tee "$out/bench.log"
PYTHONUNBUFFERED=1 timeout 150 python3 peers.py 2>&1 | tee "$out/peers.log"
{
    echo "## suite dispatch 1,16"
    "$bench" --lanes 1,16 --json "$out/results/suite.json" --svg "$out/results/suite.svg"
} 2>&1 | tee -a "$out/bench.log"
tar -czf "$out/results.tar.gz" -C "$out" results && rm -r "$out/results"
