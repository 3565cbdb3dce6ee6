import Testing
import Shardwise
import ShardwiseReference
import ShardwiseTestSupport

/// Random values with ties, zeros and the odd NaN, so that every branch of a selection rule runs.
func awkwardFloats(_ count: Int, _ rng: inout SeededGenerator, nanEvery: Int = 0) -> [Float] {
    (0..<count).map { i in
        if nanEvery > 0 && i % nanEvery == nanEvery - 1 { return .nan }
        return Float(Int.random(in: -4...4, using: &rng)) / 4  // nine levels: many ties and exact zeros
    }
}

@Suite struct TrainingKernelTests {
    /// Channel counts below, at and above the vector width exercise the partial-vector tail.
    static let channelCounts = [1, 3, 8, 16, 19, 35]

    @Test func reluForwardAndBackwardMatchTheReference() throws {
        var rng = SeededGenerator(seed: 11)
        for count in [1, 7, 16, 33, 100] {
            let x = try Tensor(shape: [count], scalars: awkwardFloats(count, &rng, nanEvery: 13))
            let y = Activation.relu.apply(to: x)
            #expect(y.scalars.map(\.bitPattern) == x.scalars.map { Activation.relu($0).bitPattern }, "count \(count)")
            let g = try Tensor(shape: [count], scalars: rng.floats(count))
            let expected = try Reference.reluBackward(output: y, outputGradient: g)
            let actual = try Activation.relu.backward(output: y, outputGradient: g)
            #expect(actual.scalars.map(\.bitPattern) == expected.scalars.map(\.bitPattern), "count \(count)")
        }
    }

    @Test func clampBackwardPassesOnlyStrictlyInside() throws {
        let y = try Tensor(shape: [5], scalars: [0, 3, 6, .nan, 1])
        let g = try Tensor(shape: [5], repeating: 2)
        #expect(try Activation.relu6.backward(output: y, outputGradient: g).scalars == [0, 2, 0, 0, 2])
        #expect(try Activation.none.backward(output: y, outputGradient: g) == g)
        #expect(throws: ShardwiseError.nonPositiveSize(argument: "lanes", value: 0)) {
            try Activation.none.backward(output: y, outputGradient: g, lanes: .fixed(0))
        }
        #expect(throws: ShardwiseError.shapeMismatch(argument: "outputGradient", expected: [5], actual: [4])) {
            try Activation.relu.backward(output: y, outputGradient: try Tensor(shape: [4]))
        }
    }

    @Test func maxPoolForwardAndBackwardMatchTheReference() throws {
        var rng = SeededGenerator(seed: 12)
        withEvery([(2, 2), (5, 4), (4, 7), (7, 9)], Self.channelCounts) { (extent, channels) in
            let shape = [2, extent.0, extent.1, channels]
            let count = shape.reduce(1, *)
            do {
                let x = try Tensor(shape: shape, scalars: awkwardFloats(count, &rng, nanEvery: 29))
                let expected = try Reference.maxPool2x2(input: x)
                let pooled = try MaxPool2x2.forward(x)
                #expect(pooled.shape == expected.shape)
                #expect(pooled.scalars.map(\.bitPattern) == expected.scalars.map(\.bitPattern), "shape \(shape)")
                let g = try Tensor(shape: expected.shape, scalars: rng.floats(expected.count))
                let expectedGradient = try Reference.maxPool2x2Backward(input: x, outputGradient: g)
                let gradient = try MaxPool2x2.backward(input: x, outputGradient: g)
                #expect(gradient.scalars.map(\.bitPattern) == expectedGradient.scalars.map(\.bitPattern),
                        "shape \(shape)")
            } catch {
                Issue.record("shape \(shape): \(error)")
            }
        }
    }

    /// Pooling and the activation backward split their passes among lanes once a tensor is large
    /// enough (each lane needs `Lanes.minimumFloatsPerLane` floats): at every lane count the
    /// result is the reference's, bit for bit, odd extents and channel tails included.
    @Test func largePassesSplitAmongLanesGiveTheSameBits() throws {
        var rng = SeededGenerator(seed: 13)
        let shape = [3, 41, 45, 67]
        let count = shape.reduce(1, *)
        #expect(count >= 5 * Lanes.minimumFloatsPerLane)
        let x = try Tensor(shape: shape, scalars: awkwardFloats(count, &rng, nanEvery: 101))
        let pooled = try Reference.maxPool2x2(input: x)
        let g = try Tensor(shape: pooled.shape, scalars: rng.floats(pooled.count))
        let poolGradient = try Reference.maxPool2x2Backward(input: x, outputGradient: g)
        let y = Activation.relu.apply(to: x)
        let h = try Tensor(shape: shape, scalars: rng.floats(count))
        let reluGradient = try Reference.reluBackward(output: y, outputGradient: h)
        for lanes in [Lanes.serial, .fixed(2), .fixed(3), .fixed(5), .automatic] {
            #expect(try MaxPool2x2.forward(x, lanes: lanes).scalars.map(\.bitPattern) == pooled.scalars.map(\.bitPattern))
            #expect(try MaxPool2x2.backward(input: x, outputGradient: g, lanes: lanes).scalars.map(\.bitPattern)
                    == poolGradient.scalars.map(\.bitPattern))
            #expect(try Activation.relu.backward(output: y, outputGradient: h, lanes: lanes).scalars.map(\.bitPattern)
                    == reluGradient.scalars.map(\.bitPattern))
        }
        #expect(throws: ShardwiseError.nonPositiveSize(argument: "lanes", value: 0)) {
            try MaxPool2x2.forward(x, lanes: .fixed(0))
        }
    }

    @Test func maxPoolRejectsBadShapes() throws {
        #expect(throws: ShardwiseError.rankMismatch(argument: "input", expected: 4, actual: 3)) {
            try MaxPool2x2.forward(try Tensor(shape: [2, 2, 2]))
        }
        #expect(throws: ShardwiseError.self) { try MaxPool2x2.forward(try Tensor(shape: [1, 1, 4, 2])) }
        #expect(throws: ShardwiseError.shapeMismatch(argument: "outputGradient", expected: [1, 2, 2, 1], actual: [1, 2, 1, 1])) {
            try MaxPool2x2.backward(input: try Tensor(shape: [1, 4, 4, 1]), outputGradient: try Tensor(shape: [1, 2, 1, 1]))
        }
    }

    @Test func softmaxCrossEntropyMatchesTheReference() throws {
        var rng = SeededGenerator(seed: 13)
        for (batch, classes, scale, offset) in [(1, 1, Float(1), Float(0)), (3, 10, 3, 0), (32, 10, 5, 0),
                                                (5, 7, 20, 1e4), (4, 3, 1, -1e4)] {
            let logits = try Tensor(shape: [batch, classes], scalars: rng.floats(batch * classes).map { $0 * scale + offset })
            let labels = (0..<batch).map { _ in Int.random(in: 0..<classes, using: &rng) }
            let expected = try Reference.softmaxCrossEntropy(logits: logits, labels: labels)
            let actual = try SoftmaxCrossEntropy.lossAndGradient(logits: logits, labels: labels)
            let context = "batch \(batch) classes \(classes) scale \(scale) offset \(offset)"
            #expect(actual.loss.isFinite, "\(context)")
            #expect(abs(Double(actual.loss) - expected.loss) <= 1e-5 * max(1, abs(expected.loss)), "\(context)")
            let tol = tolerance(depth: classes, magnitude: 1) / Float(batch)
            #expect(firstMismatch(actual.gradient.scalars, expected.gradient.scalars, tolerance: tol) == nil, "\(context)")
        }
    }

    @Test func softmaxCrossEntropyRejectsBadLabels() throws {
        let logits = try Tensor(shape: [2, 3])
        #expect(throws: ShardwiseError.elementCountMismatch(argument: "labels", expected: 2, actual: 1)) {
            try SoftmaxCrossEntropy.lossAndGradient(logits: logits, labels: [0])
        }
        #expect(throws: ShardwiseError.invalidArgument(argument: "labels[1]", reason: "class 3 is outside 0..<3")) {
            try SoftmaxCrossEntropy.lossAndGradient(logits: logits, labels: [0, 3])
        }
    }

    /// Three steps of SGD against the documented rule evaluated in Double.
    @Test func sgdFollowsItsDocumentedRule() throws {
        var rng = SeededGenerator(seed: 14)
        for (momentum, weightDecay) in [(Float(0), Float(0)), (0, 0.01), (0.9, 0), (0.5, 0.1)] {
            let shapes = [[3, 5], [17], [2, 2, 2, 3]]
            var parameters = try shapes.map { try Tensor(shape: $0, scalars: rng.floats($0.reduce(1, *))) }
            var expected = parameters.map { $0.scalars.map(Double.init) }
            var velocities = expected.map { $0.map { _ in 0.0 } }
            var sgd = try SGD(learningRate: 0.1, momentum: momentum, weightDecay: weightDecay)
            for _ in 0..<3 {
                let gradients = try shapes.map { try Tensor(shape: $0, scalars: rng.floats($0.reduce(1, *))) }
                try sgd.update(&parameters, gradients: gradients)
                for p in expected.indices {
                    for i in expected[p].indices {
                        let g = Double(gradients[p].scalars[i]) + Double(weightDecay) * expected[p][i]
                        velocities[p][i] = Double(momentum) * velocities[p][i] + g
                        expected[p][i] -= 0.1 * velocities[p][i]
                    }
                }
            }
            for p in expected.indices {
                let bad = firstMismatch(parameters[p].scalars, expected[p].map { Float($0) }, tolerance: 1e-5)
                #expect(bad == nil, "momentum \(momentum) weight decay \(weightDecay) parameter \(p): \(bad ?? "")")
            }
        }
    }

    @Test func sgdRejectsBadArguments() throws {
        #expect(throws: ShardwiseError.self) { try SGD(learningRate: 0) }
        #expect(throws: ShardwiseError.self) { try SGD(learningRate: 0.1, momentum: 1) }
        #expect(throws: ShardwiseError.self) { try SGD(learningRate: 0.1, weightDecay: -1) }
        var sgd = try SGD(learningRate: 0.1)
        var parameters = [try Tensor(shape: [2])]
        #expect(throws: ShardwiseError.shapeMismatch(argument: "gradients[0]", expected: [2], actual: [3])) {
            try sgd.update(&parameters, gradients: [try Tensor(shape: [3])])
        }
    }

    @Test func initializationIsSeededAndBounded() throws {
        var a = SplitMix64(seed: 5), b = SplitMix64(seed: 5)
        let x = try Tensor(randomWeights: [5, 5, 3, 8], initialization: .heUniform, using: &a)
        let y = try Tensor(randomWeights: [5, 5, 3, 8], initialization: .heUniform, using: &b)
        #expect(x == y)
        let limit = (6 / Float(75)).squareRoot()
        #expect(x.scalars.allSatisfy { abs($0) <= limit })
        #expect(x.scalars.max()! > 0.9 * limit && x.scalars.min()! < -0.9 * limit)
        let z = try Tensor(randomWeights: [100, 10], initialization: .glorotUniform, using: &a)
        #expect(z.scalars.allSatisfy { abs($0) <= (6 / Float(110)).squareRoot() })
    }
}

@Suite struct SoftmaxEdgeTests {
    @Test func aNaNLogitPoisonsOnlyItsRow() throws {
        let logits = try Tensor(shape: [2, 3], scalars: [.nan, 1, 2, 0, 1, 2])
        let (loss, gradient) = try SoftmaxCrossEntropy.lossAndGradient(logits: logits, labels: [2, 2])
        #expect(loss.isNaN)
        #expect(gradient.scalars[0..<3].allSatisfy { $0.isNaN })
        #expect(gradient.scalars[3..<6].allSatisfy { $0.isFinite })
    }
}
