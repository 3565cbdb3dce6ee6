#!/usr/bin/env python3
"""Shardwise against ONNX Runtime, interleaved: ROUNDS rounds of (ONNX Runtime at 1 and 2 threads,
shardwise-bench at 1 lane, shardwise-bench at 2 lanes with the spinning executor) on the cases of a
shapes file, then a Markdown table of the medians, GFLOP/s, with each side's range over the rounds.
Needs onnxruntime, onnx and numpy (pip); Shardwise itself does not.

usage: python3 Benchmarks/peers/compare_onnxruntime.py [ROUNDS] [BENCH] [SHAPES]
       (defaults: 3, .build/release/shardwise-bench built with `swift build -c release`,
        Benchmarks/shapes/onnxruntime-comparison.txt; any shapes file of convolutions, GEMMs
        without transposes and dense layers works, e.g. Benchmarks/shapes/resnet50.txt)
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SHAPES = os.path.join(ROOT, "Benchmarks", "shapes", "onnxruntime-comparison.txt")
BASELINE = os.path.join(ROOT, "Benchmarks", "peers", "onnxruntime_baseline.py")


def run(command):
    return subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT).stdout


def shardwise(bench, shapes, lanes, executor):
    """GFLOP/s and the bench's label of each verified case, by its canonical text."""
    with tempfile.NamedTemporaryFile(suffix=".json") as report:
        run([bench, "--shapes", shapes, "--lanes", lanes, "--executor", executor, "--json", report.name])
        results = json.load(open(report.name))["results"]
    return {r["case"]: (r["gflops"], r["label"]) for r in results if r["verified"]}


def onnxruntime(shapes):
    results = {}
    for line in run([sys.executable, BASELINE, shapes]).splitlines():
        case, _, figures = line.partition(" | ORT 1 thread ")
        one, _, two = figures.partition("  2 threads ")
        results[case] = (float(one), float(two))
    return results


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    bench = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, ".build", "release", "shardwise-bench")
    shapes = sys.argv[3] if len(sys.argv) > 3 else SHAPES
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as canonical:
        # The bench's canonical text of each case: the key on both sides.
        canonical.write(run([bench, "--list", "--shapes", shapes]))
        canonical.flush()
        samples = [(onnxruntime(canonical.name), shardwise(bench, canonical.name, "1", "dispatch"),
                    shardwise(bench, canonical.name, "2", "spin")) for _ in range(rounds)]
    print(f"medians of {rounds} interleaved rounds, GFLOP/s (range over the rounds)\n")
    print("| case | Shardwise 1 lane | ONNX Runtime 1 thread | Shardwise 2 lanes (spinning) | ONNX Runtime 2 threads |")
    print("|---|---:|---:|---:|---:|")
    for case in samples[0][0]:
        unverified = [lanes for lanes, side in ((1, 1), (2, 2)) if any(case not in s[side] for s in samples)]
        if unverified:
            sys.exit(f"shardwise-bench did not verify {case} at {unverified} lane(s)")
        columns = [[s[1][case][0] for s in samples], [s[0][case][0] for s in samples],
                   [s[2][case][0] for s in samples], [s[0][case][1] for s in samples]]
        cells = [f"{statistics.median(c):.0f} ({min(c):.0f}–{max(c):.0f})" for c in columns]
        print(f"| {samples[0][1][case][1]} | " + " | ".join(cells) + " |")


main()
