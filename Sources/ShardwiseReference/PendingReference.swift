// TEMPORARY STAND-IN — delete this file when the real Reference.conv2D and
// Reference.dense land from their own branch.
//
// The benchmark on the `bench` branch needs those two oracles to compile. These
// naive loops have the agreed signatures and semantics (Double accumulation,
// one rounding to Float per element, bias then activation) so that the bench can
// be built and exercised before the merge; they are not meant to survive it.

import Shardwise

extension Reference {
    /// Stand-in: a 2-D convolution of an NHWC `input` by `descriptor` (HWIO filter, groups,
    /// strides, dilations, TensorFlow padding), accumulated in `Double`.
    ///
    /// - Throws: what `descriptor.outputShape(forInput:)` throws.
    public static func conv2D(input: Tensor, descriptor d: Conv2DDescriptor) throws(ShardwiseError) -> Tensor {
        let outputShape = try d.outputShape(forInput: input.shape)
        let g = try d.geometry(forInput: input.shape)
        let (batch, height, width) = (input.shape[0], input.shape[1], input.shape[2])
        let (outH, outW, cout) = (outputShape[1], outputShape[2], outputShape[3])
        let cinTotal = d.inputChannels, cinGroup = d.inputChannelsPerGroup, coutGroup = d.outputChannelsPerGroup
        let x = input.scalars, w = d.filter.scalars, bias = d.bias?.scalars
        var y = [Float](repeating: 0, count: batch * outH * outW * cout)
        var sums = [Double](repeating: 0, count: cout)
        for n in 0..<batch {
            for oy in 0..<outH {
                for ox in 0..<outW {
                    for o in 0..<cout { sums[o] = bias.map { Double($0[o]) } ?? 0 }
                    for ky in 0..<d.kernel.height {
                        let iy = g.height.inputIndex(output: oy, tap: ky)
                        if iy < 0 || iy >= height { continue }
                        for kx in 0..<d.kernel.width {
                            let ix = g.width.inputIndex(output: ox, tap: kx)
                            if ix < 0 || ix >= width { continue }
                            let pixel = ((n * height + iy) * width + ix) * cinTotal
                            for o in 0..<cout {
                                let group = o / coutGroup
                                var sum = 0.0
                                for ci in 0..<cinGroup {
                                    let filterIndex = ((ky * d.kernel.width + kx) * cinGroup + ci) * cout + o
                                    sum += Double(x[pixel + group * cinGroup + ci]) * Double(w[filterIndex])
                                }
                                sums[o] += sum
                            }
                        }
                    }
                    let base = ((n * outH + oy) * outW + ox) * cout
                    for o in 0..<cout { y[base + o] = d.activation(Float(sums[o])) }
                }
            }
        }
        return try Tensor(shape: outputShape, scalars: y)
    }

    /// Stand-in: `activation(x · W + b)` for `input` of shape `[batch, inputs]` (or any rank whose
    /// trailing dimensions multiply to `inputs`), accumulated in `Double`.
    ///
    /// - Throws: what `descriptor.outputShape(forInput:)` throws.
    public static func dense(input: Tensor, descriptor d: DenseDescriptor) throws(ShardwiseError) -> Tensor {
        let outputShape = try d.outputShape(forInput: input.shape)
        let batch = outputShape[0]
        let x = input.scalars, w = d.weight.scalars, bias = d.bias?.scalars
        var y = [Float](repeating: 0, count: batch * d.outputs)
        for b in 0..<batch {
            for o in 0..<d.outputs {
                var sum = bias.map { Double($0[o]) } ?? 0
                for i in 0..<d.inputs { sum += Double(x[b * d.inputs + i]) * Double(w[i * d.outputs + o]) }
                y[b * d.outputs + o] = d.activation(Float(sum))
            }
        }
        return try Tensor(shape: outputShape, scalars: y)
    }
}
