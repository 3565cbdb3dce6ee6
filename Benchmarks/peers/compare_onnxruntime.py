#!/usr/bin/env python3
"""Shardwise against ONNX Runtime, interleaved: ROUNDS rounds of (ONNX Runtime at 1 and 2 threads,
shardwise-bench at 1 lane, shardwise-bench at 2 lanes with the spinning executor) on the cases of
Benchmarks/shapes/onnxruntime-comparison.txt, then a Markdown table of the medians, GFLOP/s, with
each side's range over the rounds. Needs onnxruntime, onnx and numpy (pip); Shardwise itself does not.

usage: python3 Benchmarks/peers/compare_onnxruntime.py [ROUNDS] [BENCH]
       (defaults: 3, .build/release/shardwise-bench built with `swift build -c release`)
"""
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SHAPES = os.path.join(ROOT, "Benchmarks", "shapes", "onnxruntime-comparison.txt")
BASELINE = os.path.join(ROOT, "Benchmarks", "peers", "onnxruntime_baseline.py")


def key(text):
    """`conv 32x28x28x1 5x5->32` (ONNX Runtime's script) and `conv 32×28×28×1 5×5→32` (the bench) alike."""
    return text.replace("×", "x").replace("→", "->").replace("matmul", "gemm").strip()


def run(command):
    return subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT).stdout


def shardwise(bench, lanes, executor):
    out = run([bench, "--shapes", SHAPES, "--lanes", lanes, "--executor", executor])
    results = {}
    for line in out.splitlines():
        if re.match(r"^(gemm|conv) ", line) and " ok " in line:
            name = re.split(r"\s{2,}", line)[0]
            fields = line.split()
            plan = next(i for i, f in enumerate(fields) if re.match(r"^(serial|rows|output-channels|grid)×", f))
            results[key(re.sub(r" same$", "", name))] = float(fields[plan + 2])
    return results


def onnxruntime():
    results = {}
    for line in run([sys.executable, BASELINE]).splitlines():
        match = re.match(r"^(.*?):\s*ORT 1 thread ([\d.]+)\s+2 threads ([\d.]+)", line)
        if match:
            results[key(match.group(1))] = (float(match.group(2)), float(match.group(3)))
    return results


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    bench = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, ".build", "release", "shardwise-bench")
    samples = []
    for _ in range(rounds):
        samples.append((onnxruntime(), shardwise(bench, "1", "dispatch"), shardwise(bench, "2", "spin")))
    print(f"medians of {rounds} interleaved rounds, GFLOP/s (range over the rounds)\n")
    print("| case | Shardwise 1 lane | ONNX Runtime 1 thread | Shardwise 2 lanes (spinning) | ONNX Runtime 2 threads |")
    print("|---|---:|---:|---:|---:|")
    for case in samples[0][1]:
        columns = [[s[1][case] for s in samples], [s[0][case][0] for s in samples],
                   [s[2][case] for s in samples], [s[0][case][1] for s in samples]]
        cells = [f"{statistics.median(c):.0f} ({min(c):.0f}–{max(c):.0f})" for c in columns]
        label = case.replace("x", "×").replace("->", "→").replace("gemm", "GEMM")
        print(f"| {label} | " + " | ".join(cells) + " |")


main()
