// The reference pieces of training around the layers: the ReLU backward, 2×2 max
// pooling forward and backward, and the softmax cross-entropy loss.
//
// Max pooling's forward and backward share one decision, which input cell a
// window's output comes from; `firstMaximumOfEachWindow` makes it once, so the
// backward routes each gradient to exactly the cell the forward copied. The
// window positions are a VALID convolution with a 2×2 kernel and stride 2, so
// `ConvolutionGeometry` resolves them as it does for every convolution.

#if canImport(Darwin)
import Darwin
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(ucrt)
import ucrt
#endif
import Shardwise

extension Reference {
    /// The ReLU's backward: `outputGradient` where the forward `output` is positive, zero elsewhere.
    ///
    /// - Parameters:
    ///   - output: the ReLU's forward output (a NaN output passes no gradient).
    ///   - outputGradient: the gradient with respect to `output`, the same shape.
    /// - Returns: the gradient with respect to the ReLU's input, in `output`'s shape.
    /// - Throws: `.shapeMismatch` when the shapes differ.
    public static func reluBackward(output: Tensor, outputGradient: Tensor) throws(ShardwiseError) -> Tensor {
        try requireShape(outputGradient, output.shape, "outputGradient")
        return try Tensor(shape: output.shape) { index in
            output.scalars[index] > 0 ? outputGradient.scalars[index] : 0
        }
    }

    /// 2×2 max pooling with stride 2 and VALID padding over an NHWC input, per channel.
    ///
    /// The output is `[N, H / 2, W / 2, C]` (rounded down: an odd last row or column is dropped).
    /// Each output is the largest of its window's four inputs; a NaN in a window wins.
    ///
    /// - Parameter input: NHWC, with height and width at least 2.
    /// - Returns: the pooled tensor.
    /// - Throws: `.rankMismatch` unless `input` is rank 4, `.kernelLargerThanPaddedInput` when
    ///   its height or width is 1.
    public static func maxPool2x2(input: Tensor) throws(ShardwiseError) -> Tensor {
        let (outputShape, sources) = try firstMaximumOfEachWindow(input)
        return try Tensor(shape: outputShape) { input.scalars[sources[$0]] }
    }

    /// The backward of `maxPool2x2`: each output's gradient goes to the input cell the forward
    /// copied, the first maximum of its window in row-major order (ties go to the earliest cell);
    /// every other cell, and the dropped odd row or column, gets zero.
    ///
    /// - Parameters:
    ///   - input: the forward pass's NHWC input.
    ///   - outputGradient: the gradient with respect to the pooled output, `[N, H / 2, W / 2, C]`.
    /// - Returns: the gradient with respect to `input`, in its shape.
    /// - Throws: what `maxPool2x2` throws, `.shapeMismatch` when `outputGradient` has another shape.
    public static func maxPool2x2Backward(input: Tensor, outputGradient: Tensor) throws(ShardwiseError) -> Tensor {
        let (outputShape, sources) = try firstMaximumOfEachWindow(input)
        try requireShape(outputGradient, outputShape, "outputGradient")
        var gradient = try Tensor(shape: input.shape, repeating: 0)
        gradient.withUnsafeMutableBufferPointer { gradient in
            for (output, source) in sources.enumerated() {
                gradient[source] += outputGradient.scalars[output]  // windows do not overlap: one writer per cell
            }
        }
        return gradient
    }

    /// The softmax cross-entropy loss of a batch of logits against integer labels, and its gradient.
    ///
    /// For each row `z` with label `y`, with `m = max(z)` subtracted first so that no exponential
    /// overflows: `loss = log Σⱼ exp(zⱼ − m) − (z_y − m)` and `softmaxⱼ = exp(zⱼ − m) / Σₖ exp(zₖ − m)`.
    /// Everything is computed in `Double`. A NaN or infinite logit makes its row's loss and gradient NaN.
    ///
    /// - Parameters:
    ///   - logits: `[batch, classes]`.
    ///   - labels: one class index in `0..<classes` per row.
    /// - Returns: `loss`: the mean over the batch; `gradient`: `(softmax − onehot(labels)) / batch`,
    ///   the gradient of that mean with respect to `logits`, in their shape.
    /// - Throws: `.rankMismatch` unless `logits` is rank 2, `.elementCountMismatch` unless there is
    ///   one label per row, `.invalidArgument` for a label outside `0..<classes`.
    public static func softmaxCrossEntropy(logits: Tensor, labels: [Int])
        throws(ShardwiseError) -> (loss: Double, gradient: Tensor)
    {
        try logits.requireRank(2, "logits")
        let batch = logits.shape[0], classes = logits.shape[1]
        if labels.count != batch { throw .elementCountMismatch(argument: "labels", expected: batch, actual: labels.count) }
        for (row, label) in labels.enumerated() where !(0..<classes).contains(label) {
            throw .invalidArgument(argument: "labels[\(row)]", reason: "class \(label) is outside 0..<\(classes)")
        }
        var totalLoss = 0.0
        var gradient = [Float](repeating: 0, count: logits.count)
        for row in 0..<batch {
            let z = logits.scalars[(row * classes)..<((row + 1) * classes)].map(Double.init)
            let largest = z.max()!  // classes >= 1: a Tensor has no empty dimension
            let exponentials = z.map { exp($0 - largest) }
            let sum = exponentials.reduce(0, +)
            totalLoss += log(sum) - (z[labels[row]] - largest)
            for j in 0..<classes {
                let target = j == labels[row] ? 1.0 : 0.0
                gradient[row * classes + j] = Float((exponentials[j] / sum - target) / Double(batch))
            }
        }
        return (loss: totalLoss / Double(batch), gradient: try Tensor(shape: logits.shape, scalars: gradient))
    }
}

// MARK: - Max pooling windows

extension Reference {
    /// The shape of `maxPool2x2(input)` and, for each of its elements, the flat index of the input
    /// cell it copies: its window's first NaN, or else its first maximum in row-major order.
    static func firstMaximumOfEachWindow(_ input: Tensor) throws(ShardwiseError) -> (shape: [Int], sources: [Int]) {
        try input.requireRank(4, "input")
        let windows = try ConvolutionGeometry(input: Size2D(height: input.shape[1], width: input.shape[2]),
                                              kernel: Size2D(2), strides: Size2D(2), dilations: Size2D(1),
                                              padding: .valid)
        let (rows, columns) = (windows.height, windows.width)
        let batch = input.shape[0], channels = input.shape[3]
        var sources: [Int] = []
        sources.reserveCapacity(batch * rows.output * columns.output * channels)
        for n in 0..<batch {
            for outputRow in 0..<rows.output {
                for outputColumn in 0..<columns.output {
                    for channel in 0..<channels {
                        var window: [Int] = []  // the window's four cells, in row-major order
                        for tapRow in 0..<rows.kernel {
                            for tapColumn in 0..<columns.kernel {
                                let inputRow = rows.inputIndex(output: outputRow, tap: tapRow)
                                let inputColumn = columns.inputIndex(output: outputColumn, tap: tapColumn)
                                window.append(((n * rows.input + inputRow) * columns.input + inputColumn) * channels
                                    + channel)
                            }
                        }
                        var best = window[0]
                        for candidate in window.dropFirst() {
                            let (value, bestValue) = (input.scalars[candidate], input.scalars[best])
                            // Strictly greater keeps the first of equal maxima; the first NaN wins and stays.
                            if value > bestValue || (value.isNaN && !bestValue.isNaN) { best = candidate }
                        }
                        sources.append(best)
                    }
                }
            }
        }
        return ([batch, rows.output, columns.output, channels], sources)
    }
}
