#!/usr/bin/env bash
# Builds shardwise-bench as static binaries for the 16-core measurement machine, Swift
# runtime linked in, no Foundation: one for target CPU skylake-avx512 (runs on Intel
# AVX-512 and AMD Zen 4/5), and one for haswell (AVX2 + FMA), which run.sh uses where
# the processor has no AVX-512. The binaries land in Benchmarks/device/bin/
# (git-ignored), the folder a device run carries.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p Benchmarks/device/bin
for cpu in skylake-avx512 haswell; do
    SHARDWISE_TARGET_CPU=$cpu swift build -c release --product shardwise-bench \
        --scratch-path ".build/static-$cpu" --static-swift-stdlib -Xswiftc -static-executable
    cp ".build/static-$cpu/release/shardwise-bench" "Benchmarks/device/bin/shardwise-bench-$cpu"
done
ls -l Benchmarks/device/bin/
