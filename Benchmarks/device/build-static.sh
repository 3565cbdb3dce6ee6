#!/usr/bin/env bash
# Builds shardwise-bench as one static binary for the 16-core measurement machine:
# target CPU skylake-avx512 (runs on Intel AVX-512 and AMD Zen 4/5), Swift runtime
# linked in, no Foundation. The binary lands in Benchmarks/device/bin/ (git-ignored),
# the folder a device run carries.
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARDWISE_TARGET_CPU=skylake-avx512 swift build -c release --product shardwise-bench \
    --scratch-path .build/static --static-swift-stdlib -Xswiftc -static-executable
mkdir -p Benchmarks/device/bin
cp .build/static/release/shardwise-bench Benchmarks/device/bin/
ls -l Benchmarks/device/bin/shardwise-bench
