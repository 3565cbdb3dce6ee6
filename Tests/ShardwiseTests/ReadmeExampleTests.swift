import Testing
import Shardwise

/// The README's "Using it" example, verbatim but for the prints, so the README stays true.
@Suite struct ReadmeExampleTests {
    @Test func usingItExampleRuns() throws {
        // A 5×5 convolution, 32 → 32 channels, TensorFlow SAME padding, bias and ReLU fused.
        let filter = try Tensor(shape: [5, 5, 32, 32]) { _ in .random(in: -0.1...0.1) }       // HWIO
        let bias = try Tensor(shape: [32], repeating: 0)
        let conv = try Conv2D(Conv2DDescriptor(filter: filter, bias: bias, padding: .same, activation: .relu))

        let x = try Tensor(shape: [32, 28, 28, 32]) { _ in .random(in: -1...1) }              // NHWC
        let y = try conv(x, lanes: .automatic)
        #expect(y.shape == [32, 28, 28, 32])
        #expect(try conv.plan(forInput: x.shape).explain().contains("→"))
        #expect(try conv.workspaceBytes(forInput: x.shape) < 4 << 20)

        // SGEMM, C = relu6(A·Bᵀ + bias), on caller memory with leading dimensions.
        let (m, n, k) = (100, 70, 300)
        let a = [Float](repeating: 0.5, count: m * k), b = [Float](repeating: 0.25, count: n * k)
        let columnBias = [Float](repeating: 1, count: n)
        var c = [Float](repeating: 0, count: m * n)
        try a.withUnsafeBufferPointer { a in
            try b.withUnsafeBufferPointer { b in
                try columnBias.withUnsafeBufferPointer { columnBias in
                    try c.withUnsafeMutableBufferPointer { c in
                        try GEMM.multiply(transposeB: true, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, c: c, ldc: n,
                                          bias: columnBias, activation: .relu6, lanes: .automatic)
                    }
                }
            }
        }
        #expect(c.allSatisfy { $0 == 6 })  // 300 · 0.125 + 1 = 38.5, clamped to 6
    }
}
