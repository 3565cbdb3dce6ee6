"""ONNX Runtime (MLAS) on shardwise-bench's cases, at 1 and 2 threads.

usage: python3 Benchmarks/peers/onnxruntime_baseline.py [SHAPES]
       (default: Benchmarks/shapes/onnxruntime-comparison.txt)

Reads a shapes file in shardwise-bench's format (op=conv, op=gemm, op=dense; missing keys take
the bench's defaults: stride 1, pad same, dilation 1, groups 1, act none) and prints one line per
case: `<the case's line> | ORT 1 thread X  2 threads Y` (GFLOP/s, the FLOPs shardwise-bench
counts). A convolution runs as an ONNX Conv on NCHW input with TensorFlow's padding given
explicitly (ONNX Runtime's native layout: a transpose would be timed otherwise), followed by Relu
or Clip(0, 6) for a fused activation; a GEMM as MatMul against a constant B (which ONNX Runtime
packs once, as Shardwise's dense layers do; Shardwise's GEMM packs B per call); a dense layer as
MatMul and Add against constant weights and bias. Needs onnxruntime, onnx and numpy (pip).
"""
import os
import sys
import time

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

SHAPES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "shapes", "onnxruntime-comparison.txt")


def model(graph):
    # IR version 8 (ONNX 1.10), which every ONNX Runtime since 1.10 reads: a newer onnx package
    # would otherwise stamp a version an older runtime rejects.
    return helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)], ir_version=8)


def constant(name, values):
    return helper.make_tensor(name, TensorProto.FLOAT, values.shape, values.flatten())


def graph(nodes, inputs, initializers):
    return model(helper.make_graph(nodes, 'g', inputs, [helper.make_tensor_value_info('y', TensorProto.FLOAT, None)],
                                   initializers))


def gemm_model(m, n, k):
    """MatMul of an m × k input against a constant k × n B."""
    node = helper.make_node('MatMul', ['a', 'B'], ['y'])
    return graph([node], [helper.make_tensor_value_info('a', TensorProto.FLOAT, [m, k])],
                 [constant('B', np.random.rand(k, n).astype(np.float32))])


def pair(text):
    """`2` or `2x1` as (height, width)."""
    a, _, b = text.partition('x')
    return int(a), int(b or a)


def same_padding(size, kernel, stride, dilation):
    """TensorFlow's SAME: the output size and the padding before and after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return out, total // 2, total - total // 2


def case(line):
    """The model, its feed and the FLOPs of one shapes-file line."""
    d = dict(field.split('=') for field in line.split())
    act = d.get('act', 'none')
    if d['op'] == 'gemm':
        if d.get('transA', '0') != '0' or d.get('transB', '0') != '0':
            raise ValueError(f"transposed GEMMs are not compared: {line}")
        m, n, k = int(d['m']), int(d['n']), int(d['k'])
        return gemm_model(m, n, k), {'a': np.random.rand(m, k).astype(np.float32)}, 2 * m * n * k
    if d['op'] == 'dense':
        m, k, n = int(d['batch']), int(d['in']), int(d['out'])
        nodes = [helper.make_node('MatMul', ['a', 'W'], ['p']), helper.make_node('Add', ['p', 'B'], ['t'])]
        inputs = [helper.make_tensor_value_info('a', TensorProto.FLOAT, [m, k])]
        weights = [constant('W', np.random.rand(k, n).astype(np.float32)),
                   constant('B', np.random.rand(n).astype(np.float32))]
        feed, flops = {'a': np.random.rand(m, k).astype(np.float32)}, 2 * m * n * k
    else:
        n, h, w, c, k = (int(d[key]) for key in ('n', 'h', 'w', 'c', 'k'))
        kh, kw = int(d['kh']), int(d['kw'])
        (sh, sw), (dh, dw) = pair(d.get('stride', '1')), pair(d.get('dilation', '1'))
        groups, pad = int(d.get('groups', '1')), d.get('pad', 'same')
        if pad == 'same':
            (oh, top, bottom), (ow, left, right) = same_padding(h, kh, sh, dh), same_padding(w, kw, sw, dw)
        else:
            top, bottom, left, right = (0, 0, 0, 0) if pad == 'valid' else (int(p) for p in pad.split(','))
            oh = (h + top + bottom - (kh - 1) * dh - 1) // sh + 1
            ow = (w + left + right - (kw - 1) * dw - 1) // sw + 1
        nodes = [helper.make_node('Conv', ['x', 'W', 'B'], ['t'], kernel_shape=[kh, kw], strides=[sh, sw],
                                  pads=[top, left, bottom, right], dilations=[dh, dw], group=groups)]
        inputs = [helper.make_tensor_value_info('x', TensorProto.FLOAT, [n, c, h, w])]
        weights = [constant('W', np.random.rand(k, c // groups, kh, kw).astype(np.float32)),
                   constant('B', np.random.rand(k).astype(np.float32))]
        feed, flops = {'x': np.random.rand(n, c, h, w).astype(np.float32)}, 2 * n * oh * ow * k * kh * kw * c // groups
    if act == 'relu':
        nodes.append(helper.make_node('Relu', ['t'], ['y']))
    elif act == 'relu6':
        nodes.append(helper.make_node('Clip', ['t', 'low', 'high'], ['y']))
        weights += [constant('low', np.array(0, np.float32)), constant('high', np.array(6, np.float32))]
    else:
        nodes[-1].output[0] = 'y'
    return graph(nodes, inputs, weights), feed, flops


def median_seconds(call):
    """5 warm-up calls, then the median over 7 samples of the mean time of back-to-back calls
    filling at least 50 ms."""
    for _ in range(5): call()
    ts=[]
    for _ in range(7):
        reps=0; t0=time.perf_counter()
        while True:
            call(); reps+=1
            if time.perf_counter()-t0 > 0.05: break
        ts.append((time.perf_counter()-t0)/reps)
    return np.median(ts)


def bench(model, feed, flops, threads):
    so = ort.SessionOptions(); so.intra_op_num_threads = threads; so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    s = ort.InferenceSession(model.SerializeToString(), so, providers=['CPUExecutionProvider'])
    return flops/median_seconds(lambda: s.run(None, feed))/1e9


def main():
    np.random.seed(0)
    for line in open(sys.argv[1] if len(sys.argv) > 1 else SHAPES):
        line = line.split('#')[0].strip()
        if not line:
            continue
        built, feed, flops = case(line)
        r = [bench(built, feed, flops, threads) for threads in (1, 2)]
        print(f"{line} | ORT 1 thread {r[0]:.1f}  2 threads {r[1]:.1f}", flush=True)


if __name__ == "__main__":
    main()
