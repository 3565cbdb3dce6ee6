#!/usr/bin/env python3
"""Prints the README's "Measured" tables from the benchmark's JSON (Dispatch and spinning runs).

usage: python3 Benchmarks/results/readme_tables.py DISPATCH.json SPIN.json
(The comparison with ONNX Runtime is Benchmarks/peers/compare_onnxruntime.py: interleaved runs.)
"""
import json
import sys


def by_case(path):
    document = json.load(open(path))
    rows, order = {}, []
    for result in document["results"]:
        if result["case"] not in rows:
            order.append(result["case"])
        rows.setdefault(result["case"], {})[result["lanes_setting"]] = result
    return document["machine"], rows, order


def label(case):
    kv = dict(pair.split("=") for pair in case.split())
    if kv["op"] == "gemm":
        return f"GEMM {kv['m']}×{kv['n']}×{kv['k']}"
    if kv["op"] == "dense":
        return f"dense {kv['batch']}×{kv['in']}→{kv['out']}"
    text = f"conv {kv['n']}×{kv['h']}×{kv['w']}×{kv['c']} {kv['kh']}×{kv['kw']}→{kv['k']}"
    if kv["stride"] != "1":
        text += f" s{kv['stride']}"
    if kv["groups"] != "1":
        text += " depthwise"
    return text


def main():
    machine, dispatch, order = by_case(sys.argv[1])
    _, spin, _ = by_case(sys.argv[2])
    print(f"peak {machine['peak_gflops_per_lane']:.0f} per lane, {machine['peak_gflops_all_lanes']:.0f} both, "
          f"copy {machine['copy_gbytes_per_s']:.0f} GB/s\n")
    print("| case | 1 lane GFLOP/s | % of peak | 2 lanes GFLOP/s | 2 lanes / 1 | auto: plan, speed-up | × Double reference |")
    print("|---|---:|---:|---:|---:|---|---:|")
    for case in order:
        one, two, auto = (dispatch[case][k] for k in ("1", "2", "auto"))
        print(f"| {label(case)} | {one['gflops']:.0f} | {one['peak_fraction'] * 100:.0f} % | {two['gflops']:.0f} | "
              f"{one['median_ms'] / two['median_ms']:.2f}× | {auto['strategy']} × {auto['lanes_used']}, "
              f"{one['median_ms'] / auto['median_ms']:.2f}× | {one['speedup_over_reference']:.0f}× |")
    print("\n| case | Dispatch: 2 lanes / 1 | spinning: 2 lanes / 1 | spinning: auto / 1 |")
    print("|---|---:|---:|---:|")
    for case in order:
        d, s = dispatch[case], spin[case]
        print(f"| {label(case)} | {d['1']['median_ms'] / d['2']['median_ms']:.2f}× | "
              f"{s['1']['median_ms'] / s['2']['median_ms']:.2f}× | {s['1']['median_ms'] / s['auto']['median_ms']:.2f}× |")


main()
