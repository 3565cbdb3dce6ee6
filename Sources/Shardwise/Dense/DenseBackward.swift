// Dense's backward pass: three GEMM-shaped products on the same kernels.
//
//   dX = dY · Wᵀ      [batch, inputs]   (B is W read transposed)
//   dW = Xᵀ · dY      [inputs, outputs] (A is X read transposed)
//   db = Σ_batch dY   [outputs], in a fixed order
// Each element is computed whole by one lane: bitwise the same for any `Lanes`.

extension Dense {
    /// The gradients of the loss with respect to the input, the weight and the bias.
    ///
    /// - Parameters:
    ///   - input: the forward pass's input (`[batch, inputs]` or any shape that flattens to it).
    ///   - outputGradient: dL/d(linear output), `[batch, outputs]`.
    /// - Returns: dL/dinput (the input's shape), dL/dweight `[inputs, outputs]`, dL/dbias `[outputs]`.
    /// - Throws: what `descriptor.outputShape(forInput:)` throws; `.shapeMismatch` for a wrong gradient shape.
    public func gradients(input: Tensor, outputGradient: Tensor,
                          lanes: Lanes = .automatic) throws(ShardwiseError) -> (input: Tensor, weight: Tensor, bias: Tensor) {
        let expected = try descriptor.outputShape(forInput: input.shape)
        if outputGradient.shape != expected {
            throw .shapeMismatch(argument: "outputGradient", expected: expected, actual: outputGradient.shape)
        }
        let batch = expected[0], inputs = descriptor.inputs, outputs = descriptor.outputs
        var inputGradient = try Tensor(shape: input.shape)
        var weightGradient = try Tensor(shape: [inputs, outputs])
        try outputGradient.withUnsafeBufferPointer { (dY) throws(ShardwiseError) in
            try descriptor.weight.withUnsafeBufferPointer { (w) throws(ShardwiseError) in
                try inputGradient.withUnsafeMutableBufferPointer { (dX) throws(ShardwiseError) in
                    try GEMM.multiply(transposeB: true, m: batch, n: inputs, k: outputs, a: dY, lda: outputs,
                                      b: w, ldb: outputs, c: dX, ldc: inputs, lanes: lanes)
                }
            }
            try input.withUnsafeBufferPointer { (x) throws(ShardwiseError) in
                try weightGradient.withUnsafeMutableBufferPointer { (dW) throws(ShardwiseError) in
                    try GEMM.multiply(transposeA: true, m: inputs, n: outputs, k: batch, a: x, lda: inputs,
                                      b: dY, ldb: outputs, c: dW, ldc: outputs, lanes: lanes)
                }
            }
        }
        return (inputGradient, weightGradient, try columnSums(outputGradient, columns: outputs))
    }
}
