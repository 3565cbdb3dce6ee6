import Testing
import Shardwise
import ShardwiseReference
import ShardwiseTestSupport

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
            let descriptor = try c.descriptor(&rng)
            let shape = [c.batch, c.height, c.width, c.inputChannels]
            guard let outputShape = try? descriptor.outputShape(forInput: shape) else { continue }
            let input = try Tensor(shape: shape, scalars: rng.floats(shape.reduce(1, *)))
            let dY = try Tensor(shape: outputShape, scalars: rng.floats(outputShape.reduce(1, *)))
            let layer = try Conv2D(descriptor)
            let expectedDX = try Reference.conv2DInputGradient(outputGradient: dY, inputShape: shape, descriptor: descriptor)
            let expectedDW = try Reference.conv2DFilterGradient(input: input, outputGradient: dY, descriptor: descriptor)
            let expectedDB = try Reference.conv2DBiasGradient(outputGradient: dY)
            var first: (Tensor, Tensor)?
            for lanes in [Lanes.serial, .fixed(2), .fixed(3)] {
                let dX = try layer.inputGradient(outputGradient: dY, inputShape: shape, lanes: lanes)
                let dW = try layer.filterGradient(input: input, outputGradient: dY, lanes: lanes)
                let dXDepth = c.kernel.height * c.kernel.width * c.outputChannels / c.groups
                let dWDepth = outputShape[0] * outputShape[1] * outputShape[2]
                let tolX = tolerance(depth: dXDepth, magnitude: Float(dXDepth).squareRoot())
                let tolW = tolerance(depth: dWDepth, magnitude: Float(dWDepth).squareRoot())
                if let bad = firstMismatch(dX.scalars, expectedDX.scalars, tolerance: tolX) {
                    Issue.record("input gradient, \(c): \(bad)")
                }
                if let bad = firstMismatch(dW.scalars, expectedDW.scalars, tolerance: tolW) {
                    Issue.record("filter gradient, \(c): \(bad)")
                }
                if let first {
                    #expect(first.0.scalars.map(\.bitPattern) == dX.scalars.map(\.bitPattern), "dX lanes \(c)")
                    #expect(first.1.scalars.map(\.bitPattern) == dW.scalars.map(\.bitPattern), "dW lanes \(c)")
                } else {
                    first = (dX, dW)
                }
            }
            let dB = try layer.biasGradient(outputGradient: dY)
            let depth = dY.count / c.outputChannels
            #expect(firstMismatch(dB.scalars, expectedDB.scalars,
                                  tolerance: tolerance(depth: depth, magnitude: Float(depth).squareRoot())) == nil)
            ran += 1
        }
        #expect(ran > 80)
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

@Suite struct DenseTests {
    @Test func forwardAndGradientsMatchReference() throws {
        var rng = SeededGenerator(seed: 77)
        for (batch, inputs, outputs) in [(1, 1, 1), (3, 17, 5), (32, 200, 10), (13, 70, 33)] {
            for activation in [Activation.none, .relu] {
                let weight = try Tensor(shape: [inputs, outputs], scalars: rng.floats(inputs * outputs))
                let bias = try Tensor(shape: [outputs], scalars: rng.floats(outputs))
                let descriptor = try DenseDescriptor(weight: weight, bias: bias, activation: activation)
                let layer = try Dense(descriptor)
                let x = try Tensor(shape: [batch, inputs], scalars: rng.floats(batch * inputs))
                let y = try layer(x, lanes: .fixed(2))
                let expected = try Reference.dense(input: x, descriptor: descriptor)
                let tol = tolerance(depth: inputs, magnitude: Float(inputs).squareRoot())
                #expect(firstMismatch(y.scalars, expected.scalars, tolerance: tol) == nil)
                let dY = try Tensor(shape: [batch, outputs], scalars: rng.floats(batch * outputs))
                let g = try layer.gradients(input: x, outputGradient: dY, lanes: .fixed(3))
                let r = try Reference.denseGradients(input: x, weight: weight, outputGradient: dY)
                #expect(firstMismatch(g.input.scalars, r.input.scalars,
                                      tolerance: tolerance(depth: outputs, magnitude: Float(outputs).squareRoot())) == nil)
                #expect(firstMismatch(g.weight.scalars, r.weight.scalars,
                                      tolerance: tolerance(depth: batch, magnitude: Float(batch).squareRoot())) == nil)
                #expect(firstMismatch(g.bias.scalars, r.bias.scalars,
                                      tolerance: tolerance(depth: batch, magnitude: Float(batch).squareRoot())) == nil)
                let serial = try layer.gradients(input: x, outputGradient: dY, lanes: .serial)
                #expect(serial.weight.scalars.map(\.bitPattern) == g.weight.scalars.map(\.bitPattern))
            }
        }
    }
}
