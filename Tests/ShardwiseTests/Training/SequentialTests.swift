import Testing
import Shardwise
import ShardwiseReference
import ShardwiseTestSupport

/// conv 3×3 1→`channels` SAME ReLU → max-pool → flatten → dense → `classes`, for `side`×`side` inputs.
func tinyModel(seed: UInt64, side: Int = 6, channels: Int = 2, classes: Int = 3) throws -> Sequential {
    var generator = SplitMix64(seed: seed)
    let conv = try Conv2DDescriptor(
        filter: try Tensor(randomWeights: [3, 3, 1, channels], initialization: .heUniform, using: &generator),
        bias: try Tensor(shape: [channels], scalars: (0..<channels).map { Float($0) * 0.1 - 0.05 }),
        activation: .relu)
    let features = (side / 2) * (side / 2) * channels
    let dense = try DenseDescriptor(
        weight: try Tensor(randomWeights: [features, classes], initialization: .glorotUniform, using: &generator),
        bias: try Tensor(shape: [classes], scalars: (0..<classes).map { Float($0) * 0.01 }))
    return try Sequential([.conv2D(conv), .maxPool2x2, .flatten, .dense(dense)])
}

/// `count` images of `side`×`side`: class c is a bright c-th third of the rows, plus noise.
func tinyData(count: Int, side: Int = 6, classes: Int = 3, _ rng: inout SeededGenerator) throws -> (Tensor, [Int]) {
    let labels = (0..<count).map { $0 % classes }
    var scalars: [Float] = []
    for label in labels {
        for row in 0..<side {
            for _ in 0..<side {
                let bright = row * classes / side == label
                scalars.append((bright ? 1 : 0) + 0.3 * Float.random(in: -1...1, using: &rng))
            }
        }
    }
    return (try Tensor(shape: [count, side, side, 1], scalars: scalars), labels)
}

@Suite struct SequentialTests {
    /// Every parameter's gradient from `backward` against a central difference of the loss.
    @Test func backwardMatchesFiniteDifferences() throws {
        var rng = SeededGenerator(seed: 21)
        let model = try tinyModel(seed: 7)
        let (input, labels) = try tinyData(count: 2, &rng)
        let trace = try model.forward(input, lanes: .serial)
        let (_, outputGradient) = try SoftmaxCrossEntropy.lossAndGradient(logits: trace.output, labels: labels)
        let gradients = try model.backward(trace, outputGradient: outputGradient, lanes: .serial)
        let parameters = model.parameters
        #expect(gradients.map(\.shape) == parameters.map(\.shape))

        func loss(_ parameters: [Tensor]) throws -> Double {
            var probe = model
            try probe.setParameters(parameters)
            return Double(try SoftmaxCrossEntropy.lossAndGradient(logits: try probe(input, lanes: .serial),
                                                                  labels: labels).loss)
        }
        // Small enough that no perturbation moves a ReLU input across zero or changes a pooling
        // window's winner (at 1e-2 one filter element did), large enough for Float's rounding.
        let h: Float = 1e-3
        for p in parameters.indices {
            for i in parameters[p].scalars.indices {
                var plus = parameters, minus = parameters
                plus[p].withUnsafeMutableBufferPointer { $0[i] += h }
                minus[p].withUnsafeMutableBufferPointer { $0[i] -= h }
                let numeric = (try loss(plus) - loss(minus)) / Double(2 * h)
                let analytic = Double(gradients[p].scalars[i])
                #expect(abs(numeric - analytic) <= 2e-3 + 2e-2 * abs(analytic),
                        "parameter \(p) element \(i): backward \(analytic), finite difference \(numeric)")
            }
        }
    }

    @Test func lossDecreasesOnATinyProblem() throws {
        var rng = SeededGenerator(seed: 22)
        var model = try tinyModel(seed: 8)
        var sgd = try SGD(learningRate: 0.2, momentum: 0.5)
        let (input, labels) = try tinyData(count: 12, &rng)
        var losses: [Float] = []
        for _ in 0..<20 { losses.append(try model.trainingStep(input: input, labels: labels, optimizer: &sgd)) }
        #expect(losses.allSatisfy { $0.isFinite })
        #expect(losses.suffix(3).reduce(0, +) < 0.5 * losses.prefix(3).reduce(0, +), "losses \(losses)")
    }

    /// Two lanes must give the same bits as one; the layer sizes make sure both lanes get work.
    @Test func trainingIsBitwiseTheSameOnOneAndTwoLanes() throws {
        let side = 16, channels = 16
        var results: [[Tensor]] = []
        for (laneCount, lanes) in [(1, Lanes.serial), (2, .fixed(2))] {
            var rng = SeededGenerator(seed: 23)
            var model = try tinyModel(seed: 9, side: side, channels: channels)
            var sgd = try SGD(learningRate: 0.1, momentum: 0.9)
            let (input, labels) = try tinyData(count: 16, side: side, &rng)
            if case .conv2D(let d) = model.layers[0] {
                #expect(try Conv2D(d).plan(forInput: input.shape, lanes: lanes).laneCount == laneCount)
            }
            for _ in 0..<3 { try model.trainingStep(input: input, labels: labels, optimizer: &sgd, lanes: lanes) }
            results.append(model.parameters)
        }
        #expect(results[0].map { $0.scalars.map(\.bitPattern) } == results[1].map { $0.scalars.map(\.bitPattern) })
    }

    @Test func setParametersChecksCountAndShapes() throws {
        var model = try tinyModel(seed: 1)
        var parameters = model.parameters
        #expect(throws: ShardwiseError.elementCountMismatch(argument: "parameters", expected: 4, actual: 3)) {
            try model.setParameters(Array(parameters.dropLast()))
        }
        parameters[1] = try Tensor(shape: [3])
        #expect(throws: ShardwiseError.shapeMismatch(argument: "parameters[1]", expected: [2], actual: [3])) {
            try model.setParameters(parameters)
        }
        #expect(model.parameters == (try tinyModel(seed: 1)).parameters)
    }
}
