// Activations as stand-alone layers, and their backward pass.
//
// Every `Activation` is a clamp to `[lower, upper]` (ReLU is `[0, +inf)`), so one
// forward and one backward kernel serve all of them. The backward needs only the
// forward *output*: a clamp passes the gradient where it passed the value, that
// is where `lower < output < upper`, and blocks it where the output sits on a
// bound. For ReLU that is `output > 0`, the rule `Reference.reluBackward` uses; a
// NaN output fails both comparisons and passes no gradient. Because only the
// output is needed, the same backward serves an activation fused into a
// `Conv2D` or `Dense` write-back: the layer's output is all a model keeps.

extension Activation {
    /// Applies the activation to every element of `input` (NaN stays NaN), in SIMD.
    ///
    /// - Returns: a tensor of `input`'s shape.
    /// - Complexity: O(`input.count`), one pass, on the calling thread.
    public func apply(to input: Tensor) -> Tensor {
        var output = input
        if self == .none { return output }
        let (lower, upper) = bounds
        output.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            forEachVectorChunk(buffer.count) { offset, count in
                let x = Vector.loading(base + offset, count: count)
                // Compare-and-replace rather than min/max: a NaN fails both tests and is kept.
                let y = x.replacing(with: lower, where: x .< lower).replacing(with: upper, where: x .> upper)
                y.store(to: base + offset, count: count)
            }
        }
        return output
    }

    /// The gradient with respect to the activation's input, from its forward `output` and the
    /// gradient with respect to that output: `outputGradient` where `lower < output < upper`,
    /// zero elsewhere (see the file header). `.none` returns `outputGradient` unchanged.
    ///
    /// - Parameter lanes: how many threads may share the elements (blocks of them, where each
    ///   thread gets enough work to repay its start); the result is the same for any.
    /// - Throws: `.shapeMismatch` when the two shapes differ; `.nonPositiveSize` for
    ///   `Lanes.fixed(n)`, `n < 1`.
    /// - Complexity: O(`output.count`), one pass.
    public func backward(output: Tensor, outputGradient: Tensor,
                         lanes: Lanes = .automatic) throws(ShardwiseError) -> Tensor {
        if outputGradient.shape != output.shape {
            throw .shapeMismatch(argument: "outputGradient", expected: output.shape, actual: outputGradient.shape)
        }
        _ = try lanes.maximum()  // a bad lane count throws for every activation
        if self == .none { return outputGradient }
        let (lower, upper) = bounds
        let total = output.count, block = Activation.elementBlock
        // A new tensor written in the lanes' pass: a copy of `outputGradient` to overwrite would
        // cost a serial pass of its own (2.6 % of the caller's time in 2-lane training).
        return try output.mapped(to: output.shape) { (y, g) throws(ShardwiseError) in
            try outputGradient.withUnsafeBufferPointer { (dy) throws(ShardwiseError) in
                nonisolated(unsafe) let (y, dy, g) = (y.baseAddress!, dy.baseAddress!, g.baseAddress!)
                try lanes.forEachRange(extent: (total + block - 1) / block, floatsPerUnit: 2 * block) { blocks in
                    let start = blocks.lowerBound * block, end = Swift.min(total, blocks.upperBound * block)
                    forEachVectorChunk(end - start) { offset, count in
                        let value = Vector.loading(y + start + offset, count: count)
                        let gradient = Vector.loading(dy + start + offset, count: count)
                        let passes = (value .> lower) .& (value .< upper)
                        Vector().replacing(with: gradient, where: passes).store(to: g + start + offset, count: count)
                    }
                }
            }
        }
    }

    /// Elements per unit of work when lanes share an element-wise pass (a multiple of every
    /// vector width, so that only the last block has a partial vector).
    static let elementBlock = 4096
}
