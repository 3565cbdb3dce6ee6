// The reference convolution: forward and both backward passes from one list of terms.
//
// A 2-D convolution is a sum of products. Each product ("term") multiplies one
// input element by one filter element and adds the result into one output
// element; padding contributes nothing, so a term exists only where the tap reads
// a real input cell. Writing the three index computations once, in
// `forEachConvolutionTerm`, gives all three passes from the same list:
//
//   forward          output[t.output] += input[t.input]          · filter[t.filter]
//   input gradient   dInput[t.input]  += dOutput[t.output]       · filter[t.filter]
//   filter gradient  dFilter[t.filter] += input[t.input]         · dOutput[t.output]
//
// The backward passes are then the transposes of the forward pass by
// construction: strides, padding, dilation and groups are handled in one place,
// and a mistake there would show in the hand-computed forward tests as well.
// Sums run in `Double` and each result element is rounded to `Float` once.
//
// The padding arithmetic itself belongs to `ConvolutionGeometry` (asked through
// `Conv2DDescriptor.geometry(forInput:)`); the oracle only reads the indices it
// resolves.

import Shardwise

extension Reference {
    /// A 2-D convolution: NHWC input, HWIO filter, with TensorFlow's padding rules, then bias and activation.
    ///
    /// Output element `(n, y, x, o)` of group `g = o / outputChannelsPerGroup` is
    /// `activation(bias[o] + Σ filter[ky, kx, c, o] · input[n, iy, ix, g · inputChannelsPerGroup + c])`
    /// over the taps whose input row `iy` and column `ix` (as `AxisGeometry.inputIndex(output:tap:)`
    /// resolves them) lie inside the input; taps in the padding read zero. Products and sums are in
    /// `Double`, rounded to `Float` once per output element, before the activation.
    ///
    /// - Parameters:
    ///   - input: NHWC activations whose channel count is `descriptor.inputChannels`.
    ///   - descriptor: the layer.
    /// - Returns: a tensor of `descriptor.outputShape(forInput: input.shape)`.
    /// - Throws: what `Conv2DDescriptor.outputShape(forInput:)` throws for `input.shape`
    ///   (`.rankMismatch`, `.channelMismatch`, `.kernelLargerThanPaddedInput`, …).
    /// - Complexity: O(output elements × kernel height × kernel width × input channels per group).
    public static func conv2D(input: Tensor, descriptor: Conv2DDescriptor) throws(ShardwiseError) -> Tensor {
        let outputShape = try descriptor.outputShape(forInput: input.shape)
        var sums = [Double](repeating: 0, count: try CheckedSize.elementCount(of: outputShape, "output"))
        let filter = descriptor.filter.scalars
        try forEachConvolutionTerm(inputShape: input.shape, descriptor: descriptor) { term in
            sums[term.output] += Double(input.scalars[term.input]) * Double(filter[term.filter])
        }
        let bias = descriptor.bias?.scalars
        let outputChannels = descriptor.outputChannels
        return try Tensor(shape: outputShape) { index in
            let withBias = sums[index] + Double(bias?[index % outputChannels] ?? 0)
            return descriptor.activation(Float(withBias))
        }
    }

    /// The gradient of a convolution's loss with respect to its input.
    ///
    /// `outputGradient` is the gradient with respect to the layer's output *before* the activation
    /// (apply the activation's backward, such as `reluBackward`, first); bias and activation
    /// do not enter. Element `(n, iy, ix, i)` sums `outputGradient · filter` over every output
    /// element and tap that read it in the forward pass.
    ///
    /// - Parameters:
    ///   - outputGradient: shape `descriptor.outputShape(forInput: inputShape)`.
    ///   - inputShape: the NHWC shape of the forward pass's input.
    ///   - descriptor: the layer.
    /// - Returns: a tensor of `inputShape`.
    /// - Throws: what `Conv2DDescriptor.outputShape(forInput:)` throws for `inputShape`,
    ///   `.shapeMismatch` when `outputGradient` has another shape.
    public static func conv2DInputGradient(outputGradient: Tensor, inputShape: [Int],
                                           descriptor: Conv2DDescriptor) throws(ShardwiseError) -> Tensor {
        try requireShape(outputGradient, try descriptor.outputShape(forInput: inputShape), "outputGradient")
        var sums = [Double](repeating: 0, count: try CheckedSize.elementCount(of: inputShape, "inputShape"))
        let filter = descriptor.filter.scalars
        try forEachConvolutionTerm(inputShape: inputShape, descriptor: descriptor) { term in
            sums[term.input] += Double(outputGradient.scalars[term.output]) * Double(filter[term.filter])
        }
        return try Tensor(shape: inputShape) { Float(sums[$0]) }
    }

    /// The gradient of a convolution's loss with respect to its filter, in the filter's HWIO shape.
    ///
    /// `outputGradient` is the gradient with respect to the layer's output before the activation.
    /// Element `(ky, kx, c, o)` sums `input · outputGradient` over every batch item and output
    /// position where that tap read a real (not padding) input cell.
    ///
    /// - Parameters:
    ///   - input: the forward pass's NHWC input.
    ///   - outputGradient: shape `descriptor.outputShape(forInput: input.shape)`.
    ///   - descriptor: the layer.
    /// - Returns: a tensor of `descriptor.filter.shape`.
    /// - Throws: what `Conv2DDescriptor.outputShape(forInput:)` throws for `input.shape`,
    ///   `.shapeMismatch` when `outputGradient` has another shape.
    public static func conv2DFilterGradient(input: Tensor, outputGradient: Tensor,
                                            descriptor: Conv2DDescriptor) throws(ShardwiseError) -> Tensor {
        try requireShape(outputGradient, try descriptor.outputShape(forInput: input.shape), "outputGradient")
        var sums = [Double](repeating: 0, count: descriptor.filter.count)
        try forEachConvolutionTerm(inputShape: input.shape, descriptor: descriptor) { term in
            sums[term.filter] += Double(input.scalars[term.input]) * Double(outputGradient.scalars[term.output])
        }
        return try Tensor(shape: descriptor.filter.shape) { Float(sums[$0]) }
    }

    /// The gradient of a convolution's loss with respect to its bias: `outputGradient` summed over
    /// batch, height and width.
    ///
    /// - Parameter outputGradient: NHWC, the gradient with respect to the output before the activation.
    /// - Returns: a rank-1 tensor of `outputGradient.shape[3]` values.
    /// - Throws: `.rankMismatch` unless `outputGradient` is rank 4.
    public static func conv2DBiasGradient(outputGradient: Tensor) throws(ShardwiseError) -> Tensor {
        try outputGradient.requireRank(4, "outputGradient")
        return try sumOverLeadingAxes(outputGradient)
    }
}

// MARK: - The terms of a convolution

/// One product of a convolution's sum, as three flat indices.
struct ConvolutionTerm {
    /// The NHWC output element the product adds into.
    let output: Int
    /// The NHWC input element it reads.
    let input: Int
    /// The HWIO filter element it reads.
    let filter: Int
}

extension Reference {
    /// Calls `body` once for every product of the convolution `descriptor` applies to an input of
    /// `inputShape`, skipping taps that read padding. See the file header.
    ///
    /// - Throws: what `Conv2DDescriptor.geometry(forInput:)` throws.
    static func forEachConvolutionTerm(inputShape: [Int], descriptor: Conv2DDescriptor,
                                       _ body: (ConvolutionTerm) -> Void) throws(ShardwiseError) {
        let geometry = try descriptor.geometry(forInput: inputShape)
        let (rows, columns) = (geometry.height, geometry.width)
        let batch = inputShape[0], inputChannels = descriptor.inputChannels
        let outputChannels = descriptor.outputChannels
        let inputChannelsPerGroup = descriptor.inputChannelsPerGroup
        let outputChannelsPerGroup = descriptor.outputChannelsPerGroup
        for n in 0..<batch {
            for outputRow in 0..<rows.output {
                for outputColumn in 0..<columns.output {
                    for outputChannel in 0..<outputChannels {
                        let output = ((n * rows.output + outputRow) * columns.output + outputColumn) * outputChannels
                            + outputChannel
                        let firstInputChannel = (outputChannel / outputChannelsPerGroup) * inputChannelsPerGroup
                        for tapRow in 0..<rows.kernel {
                            let inputRow = rows.inputIndex(output: outputRow, tap: tapRow)
                            guard 0 <= inputRow && inputRow < rows.input else { continue }  // zero padding
                            for tapColumn in 0..<columns.kernel {
                                let inputColumn = columns.inputIndex(output: outputColumn, tap: tapColumn)
                                guard 0 <= inputColumn && inputColumn < columns.input else { continue }  // zero padding
                                for channelInGroup in 0..<inputChannelsPerGroup {
                                    let input = ((n * rows.input + inputRow) * columns.input + inputColumn) * inputChannels
                                        + firstInputChannel + channelInGroup
                                    let filter = ((tapRow * columns.kernel + tapColumn) * inputChannelsPerGroup
                                        + channelInGroup) * outputChannels + outputChannel
                                    body(ConvolutionTerm(output: output, input: input, filter: filter))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
