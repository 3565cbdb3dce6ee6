import Testing
import Shardwise
import ShardwiseReference
import ShardwiseTestSupport

/// Runs the three gradients of case `c` (weights, input and output gradient drawn from `seed`) at
/// each lane count and through the reference; returns a description of the first disagreement, or
/// nil. All lane counts must agree bitwise. Throws the descriptor's typed error when `c`'s geometry is invalid.
func checkConvGradients(_ c: ConvCase, seed: UInt64, lanes: [Lanes]) throws -> String? {
    var rng = SeededGenerator(seed: seed)
    let descriptor = try c.descriptor(&rng)
    let shape = [c.batch, c.height, c.width, c.inputChannels]
    let outputShape = try descriptor.outputShape(forInput: shape)
    let input = try Tensor(shape: shape, scalars: rng.floats(shape.reduce(1, *)))
    let dY = try Tensor(shape: outputShape, scalars: rng.floats(outputShape.reduce(1, *)))
    let layer = try Conv2D(descriptor)
    let expectedDX = try Reference.conv2DInputGradient(outputGradient: dY, inputShape: shape, descriptor: descriptor)
    let expectedDW = try Reference.conv2DFilterGradient(input: input, outputGradient: dY, descriptor: descriptor)
    let expectedDB = try Reference.conv2DBiasGradient(outputGradient: dY)
    let dXDepth = c.kernel.height * c.kernel.width * c.outputChannels / c.groups
    let dWDepth = outputShape[0] * outputShape[1] * outputShape[2]
    let tolX = tolerance(depth: dXDepth, magnitude: Float(dXDepth).squareRoot())
    let tolW = tolerance(depth: dWDepth, magnitude: Float(dWDepth).squareRoot())
    var first: (Tensor, Tensor)?
    for lane in lanes {
        let dX = try layer.inputGradient(outputGradient: dY, inputShape: shape, lanes: lane)
        let dW = try layer.filterGradient(input: input, outputGradient: dY, lanes: lane)
        if let bad = firstMismatch(dX.scalars, expectedDX.scalars, tolerance: tolX) {
            return "input gradient, \(c) seed \(seed): \(bad)"
        }
        if let bad = firstMismatch(dW.scalars, expectedDW.scalars, tolerance: tolW) {
            return "filter gradient, \(c) seed \(seed): \(bad)"
        }
        if let first {
            if first.0.scalars.map(\.bitPattern) != dX.scalars.map(\.bitPattern) {
                return "input gradient, \(c) seed \(seed): lane counts disagree bitwise"
            }
            if first.1.scalars.map(\.bitPattern) != dW.scalars.map(\.bitPattern) {
                return "filter gradient, \(c) seed \(seed): lane counts disagree bitwise"
            }
        } else {
            first = (dX, dW)
        }
    }
    let dB = try layer.biasGradient(outputGradient: dY)
    if let bad = firstMismatch(dB.scalars, expectedDB.scalars,
                               tolerance: tolerance(depth: dWDepth, magnitude: Float(dWDepth).squareRoot())) {
        return "bias gradient, \(c) seed \(seed): \(bad)"
    }
    return nil
}

/// Runs a dense layer of `inputs → outputs` on an input of `inputShape` (its trailing dimensions
/// multiply to `inputs`) at each lane count: the buffer forward pass into a NaN-poisoned output, and
/// the three gradients, each against the reference. Weights and data are drawn from `seed`. Returns a
/// description of the first disagreement, or nil. All lane counts must agree bitwise.
func checkDense(inputShape: [Int], outputs: Int, bias: Bool, activation: Activation, lanes: [Lanes],
                seed: UInt64) throws -> String? {
    var rng = SeededGenerator(seed: seed)
    let batch = inputShape[0], inputs = inputShape.dropFirst().reduce(1, *)
    let weight = try Tensor(shape: [inputs, outputs], scalars: rng.floats(inputs * outputs))
    let biasTensor = bias ? try Tensor(shape: [outputs], scalars: rng.floats(outputs)) : nil
    let descriptor = try DenseDescriptor(weight: weight, bias: biasTensor, activation: activation)
    let layer = try Dense(descriptor)
    let x = try Tensor(shape: inputShape, scalars: rng.floats(batch * inputs))
    let dY = try Tensor(shape: [batch, outputs], scalars: rng.floats(batch * outputs))
    let expected = try Reference.dense(input: x, descriptor: descriptor)
    let r = try Reference.denseGradients(input: x, weight: weight, outputGradient: dY)
    let name = "dense \(inputShape) → \(outputs) bias=\(bias) act=\(activation) seed \(seed)"
    var first: [[Float]]?
    for lane in lanes {
        var y = [Float](repeating: .nan, count: batch * outputs)
        try x.withUnsafeBufferPointer { source in
            try y.withUnsafeMutableBufferPointer { target in
                try layer.forward(input: source, shape: inputShape, output: target, lanes: lane)
            }
        }
        let g = try layer.gradients(input: x, outputGradient: dY, lanes: lane)
        let checks: [(String, [Float], [Float], Int)] = [
            ("forward", y, expected.scalars, inputs), ("input gradient", g.input.scalars, r.input.scalars, outputs),
            ("weight gradient", g.weight.scalars, r.weight.scalars, batch),
            ("bias gradient", g.bias.scalars, r.bias.scalars, batch),
        ]
        for (what, actual, wanted, depth) in checks {
            let tol = tolerance(depth: depth, magnitude: Float(depth).squareRoot() + 1)
            if let bad = firstMismatch(actual, wanted, tolerance: tol) { return "\(what), \(name): \(bad)" }
        }
        let bits = checks.map { $0.1 }
        if let first, first.map({ $0.map(\.bitPattern) }) != bits.map({ $0.map(\.bitPattern) }) {
            return "\(name): lane counts disagree bitwise"
        }
        first = bits
    }
    return nil
}

@Suite struct Conv2DBackwardTests {
    /// Input, filter and bias gradients against the reference over a seeded walk of the descriptor
    /// grid, and bitwise equality across lane counts.
    @Test func gradientsMatchReferenceAndAgreeAcrossLanes() throws {
        var rng = SeededGenerator(seed: 606)
        let kernels = [Size2D(1), Size2D(2), Size2D(3), Size2D(5), Size2D(height: 3, width: 1)]
        let strides = [Size2D(1), Size2D(2), Size2D(height: 2, width: 1), Size2D(3)]
        let paddings: [Padding] = [.same, .valid, .explicit(top: 0, bottom: 2, left: 1, right: 0)]
        var ran = 0
        for index in 0..<120 {
            var c = ConvCase()
            c.batch = [1, 2].randomElement(using: &rng)!
            c.height = [1, 4, 7, 9].randomElement(using: &rng)!
            c.width = [1, 5, 8].randomElement(using: &rng)!
            c.kernel = kernels.randomElement(using: &rng)!
            c.strides = strides.randomElement(using: &rng)!
            c.dilations = Size2D([1, 2].randomElement(using: &rng)!)
            c.padding = paddings.randomElement(using: &rng)!
            c.inputChannels = [1, 3, 17, 34].randomElement(using: &rng)!
            c.outputChannels = [1, 5, 33].randomElement(using: &rng)!
            if index % 3 == 1 && c.inputChannels % 2 == 0 {
                c.groups = 2
                c.outputChannels += c.outputChannels % 2
            } else if index % 3 == 2 {
                c.groups = c.inputChannels
                c.outputChannels = c.inputChannels
            }
            do {
                let failure = try checkConvGradients(c, seed: UInt64(index), lanes: [.serial, .fixed(2), .fixed(3)])
                #expect(failure == nil, "\(failure ?? "")")
                ran += 1
            } catch ShardwiseError.kernelLargerThanPaddedInput {
                continue
            }
        }
        #expect(ran > 80)
    }

    /// With stride 1 and one group the input gradient runs as a forward convolution of the output
    /// gradient with the flipped filter: seed-cnn's second layer (read in place from bands), a
    /// dilated one with asymmetric padding, a 3-channel one, and explicit padding wider than the
    /// kernel (negative padding for the flipped layer: the gathering path instead). Against the
    /// reference, bitwise across lane counts.
    @Test func strideOneInputGradientRunsAsAConvolution() throws {
        func gradientCase(_ batch: Int, _ height: Int, _ width: Int, _ cin: Int, _ cout: Int, kernel: Size2D,
                          dilations: Size2D = Size2D(1), padding: Padding = .same) -> ConvCase {
            var c = ConvCase()
            c.batch = batch; c.height = height; c.width = width; c.inputChannels = cin; c.outputChannels = cout
            c.kernel = kernel; c.dilations = dilations; c.padding = padding
            return c
        }
        let cases = [
            gradientCase(3, 28, 28, 32, 32, kernel: Size2D(5)),
            gradientCase(2, 11, 13, 5, 7, kernel: Size2D(height: 3, width: 2), dilations: Size2D(2),
                         padding: .explicit(top: 1, bottom: 3, left: 0, right: 2)),
            gradientCase(1, 9, 30, 3, 40, kernel: Size2D(3), padding: .valid),
            gradientCase(2, 6, 7, 4, 6, kernel: Size2D(3), padding: .explicit(top: 3, bottom: 0, left: 0, right: 4)),
        ]
        for (index, c) in cases.enumerated() {
            let failure = try checkConvGradients(c, seed: UInt64(700 + index), lanes: [.serial, .fixed(2), .fixed(5)])
            #expect(failure == nil, "\(failure ?? "")")
        }
    }

    /// The filter gradient's B (the patches) is packed a micropanel at a time, just before use:
    /// over the whole depth when it fits the B budget, else (K = the pixel count, deep) one KC
    /// block at a time, every micropanel into the same place when Cout fits one row block. Both
    /// branches, with one row block (Cout 7) and several (Cout 100 > MC), several micropanels
    /// (5 channels · 9 taps), against the reference and bitwise across lane counts.
    @Test func filterGradientPacksPatchesPanelByPanel() throws {
        let deep = Blocking.bBudget / Blocking.minimumWholeDepthColumns + 1  // pixels for the KC-block branch
        let imagesForDeep = (deep + 31 * 31 - 1) / (31 * 31)
        for (batch, outputChannels) in [(2, 100), (imagesForDeep, 7), (imagesForDeep, 100)] {
            var c = ConvCase()
            (c.batch, c.height, c.width) = (batch, 31, 31)
            (c.inputChannels, c.outputChannels, c.kernel) = (5, outputChannels, Size2D(3))
            #expect(outputChannels < Blocking.mc || outputChannels > Blocking.mc)
            let failure = try checkConvGradients(c, seed: UInt64(batch * 1000 + outputChannels),
                                                 lanes: [.serial, .fixed(2), .fixed(3)])
            #expect(failure == nil, "\(failure ?? "")")
        }
    }

    /// With each group's input channels a multiple of NR, the filter gradient reads the patches in
    /// place, in runs that leave out the taps in the padding: seed-cnn's second layer over two depth
    /// blocks, strides (2, and 2×1 under VALID), asymmetric explicit padding, dilation, a kernel
    /// larger than the input, taps that never touch the input (a 1-wide input padded on the right
    /// only, under a width stride: their micropanels have no run at all), two groups, and one output
    /// channel (whose dYᵀ has a unit column stride, yet is packed: the run loop always packs A).
    /// Against the reference, bitwise across lane counts.
    @Test func filterGradientReadsPatchesInPlace() throws {
        let nr = Blocking.nr
        func gradientCase(_ batch: Int, _ height: Int, _ width: Int, _ cin: Int, _ cout: Int, kernel: Size2D,
                          strides: Size2D = Size2D(1), dilations: Size2D = Size2D(1), padding: Padding = .same,
                          groups: Int = 1) -> ConvCase {
            var c = ConvCase()
            c.batch = batch; c.height = height; c.width = width; c.inputChannels = cin; c.outputChannels = cout
            c.kernel = kernel; c.strides = strides; c.dilations = dilations; c.padding = padding; c.groups = groups
            return c
        }
        let cases = [
            gradientCase(2, 28, 28, nr, 32, kernel: Size2D(5)),
            gradientCase(1, 9, 8, 2 * nr, 5, kernel: Size2D(3), strides: Size2D(2),
                         padding: .explicit(top: 2, bottom: 0, left: 1, right: 3)),
            gradientCase(2, 7, 10, nr, 13, kernel: Size2D(height: 3, width: 2), dilations: Size2D(2)),
            gradientCase(3, 3, 3, nr, 7, kernel: Size2D(5)),
            gradientCase(1, 6, 9, 2 * nr, 6, kernel: Size2D(3), groups: 2),
            gradientCase(2, 11, 6, nr, 3, kernel: Size2D(height: 2, width: 3), strides: Size2D(height: 2, width: 1),
                         padding: .valid),
            gradientCase(2, 3, 1, nr, 4, kernel: Size2D(height: 1, width: 5), strides: Size2D(height: 1, width: 2),
                         padding: .explicit(top: 0, bottom: 0, left: 0, right: 4)),
            gradientCase(1, 6, 6, nr, 1, kernel: Size2D(2)),
            gradientCase(1, 5, 7, nr, 1, kernel: Size2D(3)),
        ]
        #expect(28 * 28 * 2 > Blocking.kc)  // the first case's depth needs two blocks
        for (index, c) in cases.enumerated() {
            var rng = SeededGenerator(seed: 1)
            #expect(try Conv2D(try c.descriptor(&rng)).readsFilterGradientPatchesInPlace, "\(c)")
            let failure = try checkConvGradients(c, seed: UInt64(800 + index), lanes: [.serial, .fixed(2), .fixed(3)])
            #expect(failure == nil, "\(failure ?? "")")
        }
    }

    @Test func wrongGradientShapeThrows() throws {
        var rng = SeededGenerator(seed: 1)
        let layer = try Conv2D(try ConvCase().descriptor(&rng))
        let dY = try Tensor(shape: [1, 7, 7, 4])
        #expect(throws: ShardwiseError.shapeMismatch(argument: "outputGradient", expected: [1, 7, 7, 5], actual: [1, 7, 7, 4])) {
            _ = try layer.inputGradient(outputGradient: dY, inputShape: [1, 7, 7, 3])
        }
    }
}
