import numpy as np, onnx, onnxruntime as ort, time, sys
from onnx import helper, TensorProto
def model(graph):
    # IR version 8 (ONNX 1.10), which every ONNX Runtime since 1.10 reads: a newer onnx package
    # would otherwise stamp a version an older runtime rejects.
    return helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)], ir_version=8)
def conv_model(n,h,w,c,k,kh,stride,groups=1):
    # NCHW for ORT; same FLOPs
    W = np.random.rand(k, c//groups, kh, kh).astype(np.float32)
    B = np.random.rand(k).astype(np.float32)
    node = helper.make_node('Conv', ['x','W','B'], ['y'], kernel_shape=[kh,kh], strides=[stride,stride], auto_pad='SAME_UPPER', group=groups)
    g = helper.make_graph([node], 'g', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [n,c,h,w])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, None)],
        [helper.make_tensor('W', TensorProto.FLOAT, W.shape, W.flatten()), helper.make_tensor('B', TensorProto.FLOAT, B.shape, B)])
    return model(g)
def gemm_model(m,n,k):
    B = np.random.rand(k,n).astype(np.float32)
    node = helper.make_node('MatMul', ['a','B'], ['y'])
    g = helper.make_graph([node], 'g', [helper.make_tensor_value_info('a', TensorProto.FLOAT, [m,k])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, None)], [helper.make_tensor('B', TensorProto.FLOAT, B.shape, B.flatten())])
    return model(g)
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
    convs=[(32,28,28,1,32,5,1),(32,28,28,32,32,5,1),(1,56,56,64,64,3,1),(8,56,56,64,64,3,1),(1,28,28,128,128,3,1),(1,14,14,256,256,3,1)]
    for (n,h,w,c,k,kh,s) in convs:
        oh=-(-h//s); ow=-(-w//s)
        flops=2*n*oh*ow*k*kh*kh*c
        x=np.random.rand(n,c,h,w).astype(np.float32)
        r=[bench(conv_model(n,h,w,c,k,kh,s),{'x':x},flops,t) for t in (1,2)]
        print(f"conv {n}x{h}x{w}x{c} {kh}x{kh}->{k}: ORT 1 thread {r[0]:.1f}  2 threads {r[1]:.1f} GFLOP/s", flush=True)
    for (m,n,k) in [(64,64,64),(256,256,256),(1024,1024,1024),(2048,2048,2048)]:
        a=np.random.rand(m,k).astype(np.float32)
        r=[bench(gemm_model(m,n,k),{'a':a},2*m*n*k,t) for t in (1,2)]
        print(f"matmul {m}x{n}x{k}: ORT 1 thread {r[0]:.1f}  2 threads {r[1]:.1f}", flush=True)
if __name__ == "__main__":
    main()
