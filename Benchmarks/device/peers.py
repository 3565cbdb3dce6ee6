#!/usr/bin/env python3
"""Peers on the device machine, for issue 5's two cases: 2048³ SGEMM and the 8×56×56×64 3×3→64
SAME convolution, at 1 thread and at every processor this process may use. ONNX Runtime (MLAS),
PyTorch (its CPU convolution and matmul) and NumPy's BLAS, each optional: a missing library prints
why and is skipped. One line per library, case and thread count, GFLOP/s of the median
(Benchmarks/peers/onnxruntime_baseline.py's timing). FLOPs as shardwise-bench counts them.

usage: python3 Benchmarks/device/peers.py
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))

import numpy as np  # noqa: E402

from onnxruntime_baseline import median_seconds  # noqa: E402

GEMM = (2048, 2048, 2048)
CONV = (8, 56, 56, 64, 64, 3)  # n, h, w, c, k, kernel; stride 1, SAME
GEMM_FLOPS = 2 * GEMM[0] * GEMM[1] * GEMM[2]
CONV_FLOPS = 2 * CONV[0] * CONV[1] * CONV[2] * CONV[4] * CONV[5] * CONV[5] * CONV[3]
THREADS = sorted({1, len(os.sched_getaffinity(0))})


def report(library, case, threads, gflops):
    print(f"{library:12} {case:28} {threads:2} threads  {gflops:8.1f} GFLOP/s", flush=True)


def rate(flops, call):
    """GFLOP/s of `call`'s median time."""
    return flops / median_seconds(call) / 1e9


def onnxruntime():
    from onnxruntime_baseline import bench, case
    m, n, k = GEMM
    batch, h, w, c, out, kernel = CONV
    gemm = case(f"op=gemm m={m} n={n} k={k}")
    conv = case(f"op=conv n={batch} h={h} w={w} c={c} kh={kernel} kw={kernel} k={out}")
    for threads in THREADS:
        report("onnxruntime", "gemm 2048³", threads, bench(*gemm, threads))
        report("onnxruntime", "conv 8×56×56×64 3×3→64", threads, bench(*conv, threads))


def pytorch():
    import torch
    print(f"# torch {torch.__version__}, mkldnn {torch.backends.mkldnn.is_available()}", flush=True)
    m, n, k = GEMM
    a, b = torch.rand(m, k), torch.rand(k, n)
    batch, h, w, c, out, kernel = CONV
    x = torch.rand(batch, c, h, w).contiguous(memory_format=torch.channels_last)
    conv = torch.nn.Conv2d(c, out, kernel, padding=kernel // 2).to(memory_format=torch.channels_last)
    with torch.no_grad():
        for threads in THREADS:
            torch.set_num_threads(threads)
            report("pytorch", "gemm 2048³", threads, rate(GEMM_FLOPS, lambda: torch.mm(a, b)))
            report("pytorch", "conv 8×56×56×64 3×3→64", threads, rate(CONV_FLOPS, lambda: conv(x)))


def numpy_blas():
    from threadpoolctl import threadpool_info, threadpool_limits
    m, n, k = GEMM
    a, b = np.random.rand(m, k).astype(np.float32), np.random.rand(k, n).astype(np.float32)
    print("# numpy BLAS: " + ", ".join(f"{i.get('internal_api')} {i.get('version')}" for i in threadpool_info()), flush=True)
    for threads in THREADS:
        with threadpool_limits(limits=threads):
            report("numpy", "gemm 2048³", threads, rate(GEMM_FLOPS, lambda: a @ b))


def main():
    np.random.seed(0)
    for peer in (onnxruntime, pytorch, numpy_blas):
        try:
            peer()
        except Exception as error:  # a missing or broken library skips that peer only
            print(f"# {peer.__name__} skipped: {type(error).__name__}: {error}", flush=True)


if __name__ == "__main__":
    main()
