// TEMPORARY, branch `training` only: stand-ins for the sharded backward kernels the
// lead is writing, with exactly their signatures, so that the training code compiles
// and runs before they land. Delete this file at merge; nothing else changes.
//
// They materialize the patch matrix P [N·OH·OW, KH·KW·Cin/groups] of each group
// (plain loops), and hand the products to `GEMM.multiply`:
//   filter gradient  dW_g = P_gᵀ · dY_g
//   input gradient   dP_g = dY_g · W_gᵀ, then scattered back into the input (col2im)
// GEMM is bitwise the same for every lane count and the loops are serial, so these
// keep the determinism the real kernels promise.

extension Conv2D {
    /// dL/dinput for an NHWC input of `inputShape`, given dL/d(pre-activation output).
    ///
    /// - Throws: what `descriptor.outputShape(forInput:)` throws, `.shapeMismatch` for `outputGradient`.
    public func inputGradient(outputGradient: Tensor, inputShape: [Int],
                              lanes: Lanes = .automatic) throws(ShardwiseError) -> Tensor {
        let s = try pendingShape(inputShape: inputShape, outputGradient: outputGradient)
        let d = descriptor
        var gradient = try Tensor(shape: inputShape, repeating: 0)
        var patches = [Float](repeating: 0, count: s.rows * s.depth)
        for group in 0..<d.groups {
            let channelOffset = group * d.outputChannelsPerGroup
            try outputGradient.withUnsafeBufferPointer { (dY) throws(ShardwiseError) in
                try d.filter.withUnsafeBufferPointer { (w) throws(ShardwiseError) in
                    try patches.withUnsafeMutableBufferPointer { (p) throws(ShardwiseError) in
                        try GEMM.multiply(transposeB: true, m: s.rows, n: s.depth, k: d.outputChannelsPerGroup,
                                          a: UnsafeBufferPointer(rebasing: dY[channelOffset...]), lda: d.outputChannels,
                                          b: UnsafeBufferPointer(rebasing: w[channelOffset...]), ldb: d.outputChannels,
                                          c: p, ldc: s.depth, lanes: lanes)
                    }
                }
            }
            gradient.withUnsafeMutableBufferPointer { g in
                forEachPatchElement(s.geometry, inputShape: inputShape, group: group) { patch, input in
                    g[input] += patches[patch]
                }
            }
        }
        return gradient
    }

    /// dL/dfilter, HWIO, same shape as descriptor.filter.
    ///
    /// - Throws: what `descriptor.outputShape(forInput:)` throws, `.shapeMismatch` for `outputGradient`.
    public func filterGradient(input: Tensor, outputGradient: Tensor,
                               lanes: Lanes = .automatic) throws(ShardwiseError) -> Tensor {
        let s = try pendingShape(inputShape: input.shape, outputGradient: outputGradient)
        let d = descriptor
        var gradient = try Tensor(shape: d.filter.shape, repeating: 0)
        var patches = [Float](repeating: 0, count: s.rows * s.depth)
        for group in 0..<d.groups {
            input.withUnsafeBufferPointer { x in
                forEachPatchElement(s.geometry, inputShape: input.shape, group: group) { patch, input in
                    patches[patch] = x[input]
                }
            }
            let channelOffset = group * d.outputChannelsPerGroup
            try outputGradient.withUnsafeBufferPointer { (dY) throws(ShardwiseError) in
                try patches.withUnsafeBufferPointer { (p) throws(ShardwiseError) in
                    try gradient.withUnsafeMutableBufferPointer { (g) throws(ShardwiseError) in
                        try GEMM.multiply(transposeA: true, m: s.depth, n: d.outputChannelsPerGroup, k: s.rows,
                                          a: p, lda: s.depth,
                                          b: UnsafeBufferPointer(rebasing: dY[channelOffset...]), ldb: d.outputChannels,
                                          c: UnsafeMutableBufferPointer(rebasing: g[channelOffset...]),
                                          ldc: d.outputChannels, lanes: lanes)
                    }
                }
            }
        }
        return gradient
    }

    /// dL/dbias, shape [outputChannels].
    ///
    /// - Throws: `.rankMismatch` unless `outputGradient` is rank 4, `.channelMismatch` for its channels.
    public func biasGradient(outputGradient: Tensor) throws(ShardwiseError) -> Tensor {
        try outputGradient.requireRank(4, "outputGradient")
        if outputGradient.shape[3] != descriptor.outputChannels {
            throw .channelMismatch(argument: "outputGradient", expected: descriptor.outputChannels,
                                   actual: outputGradient.shape[3])
        }
        return try pendingColumnSums(outputGradient)
    }

    /// The GEMM shape of a backward call, after checking `outputGradient`'s shape.
    private func pendingShape(inputShape: [Int], outputGradient: Tensor) throws(ShardwiseError) -> GEMMShape {
        let expected = try descriptor.outputShape(forInput: inputShape)
        if outputGradient.shape != expected {
            throw .shapeMismatch(argument: "outputGradient", expected: expected, actual: outputGradient.shape)
        }
        return try gemmShape(forInput: inputShape)
    }

    /// Calls `body(patchIndex, inputIndex)` for every element of group `group`'s patch matrix
    /// that reads a real input cell (padding cells are skipped: they are zero).
    private func forEachPatchElement(_ geometry: ConvolutionGeometry, inputShape: [Int], group: Int,
                                     _ body: (Int, Int) -> Void) {
        let (rows, columns) = (geometry.height, geometry.width)
        let d = descriptor
        let depth = rows.kernel * columns.kernel * d.inputChannelsPerGroup
        var patchRow = 0
        for n in 0..<inputShape[0] {
            for y in 0..<rows.output {
                for x in 0..<columns.output {
                    for ky in 0..<rows.kernel {
                        let iy = rows.inputIndex(output: y, tap: ky)
                        guard 0 <= iy && iy < rows.input else { continue }
                        for kx in 0..<columns.kernel {
                            let ix = columns.inputIndex(output: x, tap: kx)
                            guard 0 <= ix && ix < columns.input else { continue }
                            let input = ((n * rows.input + iy) * columns.input + ix) * d.inputChannels
                                + group * d.inputChannelsPerGroup
                            let patch = patchRow * depth + (ky * columns.kernel + kx) * d.inputChannelsPerGroup
                            for c in 0..<d.inputChannelsPerGroup { body(patch + c, input + c) }
                        }
                    }
                    patchRow += 1
                }
            }
        }
    }
}

extension Dense {
    /// (dL/dinput with the input's shape, dL/dweight [inputs, outputs], dL/dbias [outputs]).
    ///
    /// - Throws: what `descriptor.outputShape(forInput:)` throws, `.shapeMismatch` for `outputGradient`.
    public func gradients(input: Tensor, outputGradient: Tensor,
                          lanes: Lanes = .automatic) throws(ShardwiseError) -> (input: Tensor, weight: Tensor, bias: Tensor) {
        let d = descriptor
        let expected = try d.outputShape(forInput: input.shape)
        if outputGradient.shape != expected {
            throw .shapeMismatch(argument: "outputGradient", expected: expected, actual: outputGradient.shape)
        }
        let batch = expected[0]
        var inputGradient = try Tensor(shape: input.shape)
        var weightGradient = try Tensor(shape: d.weight.shape)
        try outputGradient.withUnsafeBufferPointer { (dY) throws(ShardwiseError) in
            try d.weight.withUnsafeBufferPointer { (w) throws(ShardwiseError) in
                try inputGradient.withUnsafeMutableBufferPointer { (dX) throws(ShardwiseError) in
                    try GEMM.multiply(transposeB: true, m: batch, n: d.inputs, k: d.outputs,
                                      a: dY, lda: d.outputs, b: w, ldb: d.outputs, c: dX, ldc: d.inputs, lanes: lanes)
                }
            }
            try input.withUnsafeBufferPointer { (x) throws(ShardwiseError) in
                try weightGradient.withUnsafeMutableBufferPointer { (dW) throws(ShardwiseError) in
                    try GEMM.multiply(transposeA: true, m: d.inputs, n: d.outputs, k: batch,
                                      a: x, lda: d.inputs, b: dY, ldb: d.outputs, c: dW, ldc: d.outputs, lanes: lanes)
                }
            }
        }
        return (inputGradient, weightGradient, try pendingColumnSums(outputGradient))
    }
}

/// `tensor` summed over every axis but the last, row by row in order.
private func pendingColumnSums(_ tensor: Tensor) throws(ShardwiseError) -> Tensor {
    let channels = tensor.shape[tensor.rank - 1]
    var sums = try Tensor(shape: [channels], repeating: 0)
    sums.withUnsafeMutableBufferPointer { s in
        for (index, value) in tensor.scalars.enumerated() { s[index % channels] += value }
    }
    return sums
}
