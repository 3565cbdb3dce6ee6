// The backward passes checked against central finite differences of the forward passes.
//
// Each check contracts a layer's output with a fixed random `outputGradient` into the scalar
// loss L = Σ outputGradient · output, computed in Double. The backward pass claims ∂L/∂v for
// every element v of an argument; the check nudges each v by ±step and compares
// (L(v + step) − L(v − step)) / (2·step). The convolution and dense layers are linear in each
// argument, so the difference is exact apart from rounding and a large step is safe; max pooling is
// linear while no window's maximum changes, so its inputs are distinct and the step is a quarter
// of their spacing; softmax cross-entropy is smooth, with a small step.

import Testing
import Shardwise
import ShardwiseReference
import ShardwiseTestSupport

/// Σ aᵢ·bᵢ in Double.
func dot(_ a: [Float], _ b: [Float]) -> Double {
    zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) }
}

/// `(loss(values + step·eᵢ) − loss(values − step·eᵢ)) / (2·step)` for every i, using the step that
/// Float rounding actually took.
func centralDifferences(of values: [Float], step: Float, _ loss: ([Float]) throws -> Double) rethrows -> [Double] {
    try values.indices.map { i in
        var plus = values, minus = values
        plus[i] += step
        minus[i] -= step
        return (try loss(plus) - loss(minus)) / (Double(plus[i]) - Double(minus[i]))
    }
}

/// Records an issue at the first element where `analytic` and `numeric` differ by more than
/// `tolerance · max(1, |numeric|)`.
func expectClose(_ analytic: Tensor, _ numeric: [Double], tolerance: Double, _ context: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(analytic.count == numeric.count, "\(context)", sourceLocation: sourceLocation)
    for (index, (a, n)) in zip(analytic.scalars, numeric).enumerated()
    where !(abs(Double(a) - n) <= tolerance * max(1, abs(n))) {
        Issue.record("\(context): element \(index): backward \(a), finite difference \(n)", sourceLocation: sourceLocation)
        return
    }
}

/// One convolution layout whose three gradients the finite differences check.
struct ConvolutionGradientCase: Sendable, CustomTestStringConvertible {
    var kernel: Size2D
    var strides = Size2D(1)
    var padding = Padding.same
    var dilations = Size2D(1)
    var groups = 1
    var inputShape = [2, 5, 6, 4]
    var outputChannels = 4

    var testDescription: String {
        "k=\(kernel) s=\(strides) pad=\(padding) d=\(dilations) g=\(groups) in=\(inputShape) out=\(outputChannels)"
    }

    func descriptor(filter: [Float], bias: [Float]) throws -> Conv2DDescriptor {
        let filterShape = [kernel.height, kernel.width, inputShape[3] / groups, outputChannels]
        return try Conv2DDescriptor(filter: try Tensor(shape: filterShape, scalars: filter),
                                    bias: try Tensor(shape: [outputChannels], scalars: bias), strides: strides,
                                    padding: padding, dilations: dilations, groups: groups)
    }

    static let all: [ConvolutionGradientCase] = [
        .init(kernel: Size2D(3)),
        .init(kernel: Size2D(2), strides: Size2D(2)),
        .init(kernel: Size2D(height: 3, width: 2), strides: Size2D(2), padding: .valid),
        .init(kernel: Size2D(height: 2, width: 3), strides: Size2D(height: 2, width: 1),
              padding: .explicit(top: 1, bottom: 0, left: 2, right: 1)),
        .init(kernel: Size2D(2), dilations: Size2D(2), groups: 2),
        .init(kernel: Size2D(3), padding: .valid, dilations: Size2D(height: 2, width: 1)),
        .init(kernel: Size2D(3), strides: Size2D(2), padding: .explicit(top: 0, bottom: 2, left: 1, right: 1),
              dilations: Size2D(height: 1, width: 2), groups: 4, outputChannels: 8),
        .init(kernel: Size2D(1), strides: Size2D(2), groups: 2, outputChannels: 2),
    ]
}

@Suite struct ReferenceGradientTests {
    @Test(arguments: ConvolutionGradientCase.all)
    func conv2DGradientsMatchFiniteDifferences(_ layout: ConvolutionGradientCase) throws {
        var rng = SeededGenerator(seed: 7)
        let input = try Tensor(shape: layout.inputShape, scalars: rng.floats(layout.inputShape.reduce(1, *)))
        let filterCount = layout.kernel.height * layout.kernel.width * layout.inputShape[3] / layout.groups
            * layout.outputChannels
        let filter = rng.floats(filterCount), bias = rng.floats(layout.outputChannels)
        let conv = try layout.descriptor(filter: filter, bias: bias)
        let outputShape = try conv.outputShape(forInput: layout.inputShape)
        let outputGradient = try Tensor(shape: outputShape, scalars: rng.floats(outputShape.reduce(1, *)))
        let dY = outputGradient.scalars
        let step: Float = 0.25

        let inputGradient = try Reference.conv2DInputGradient(outputGradient: outputGradient,
                                                              inputShape: layout.inputShape, descriptor: conv)
        let numericInput = try centralDifferences(of: input.scalars, step: step) { values in
            dot(try Reference.conv2D(input: try Tensor(shape: layout.inputShape, scalars: values), descriptor: conv)
                .scalars, dY)
        }
        expectClose(inputGradient, numericInput, tolerance: 1e-5, "input gradient, \(layout.testDescription)")

        let filterGradient = try Reference.conv2DFilterGradient(input: input, outputGradient: outputGradient,
                                                                descriptor: conv)
        #expect(filterGradient.shape == conv.filter.shape)
        let numericFilter = try centralDifferences(of: filter, step: step) { values in
            dot(try Reference.conv2D(input: input, descriptor: try layout.descriptor(filter: values, bias: bias))
                .scalars, dY)
        }
        expectClose(filterGradient, numericFilter, tolerance: 1e-5, "filter gradient, \(layout.testDescription)")

        let biasGradient = try Reference.conv2DBiasGradient(outputGradient: outputGradient)
        let numericBias = try centralDifferences(of: bias, step: step) { values in
            dot(try Reference.conv2D(input: input, descriptor: try layout.descriptor(filter: filter, bias: values))
                .scalars, dY)
        }
        expectClose(biasGradient, numericBias, tolerance: 1e-5, "bias gradient, \(layout.testDescription)")
    }

    @Test func denseGradientsMatchFiniteDifferences() throws {
        var rng = SeededGenerator(seed: 11)
        let inputShape = [3, 2, 2, 2]  // flattened to 8 inputs per sample
        let input = try Tensor(shape: inputShape, scalars: rng.floats(24))
        let weight = try Tensor(shape: [8, 5], scalars: rng.floats(40))
        let bias = try Tensor(shape: [5], scalars: rng.floats(5))
        let outputGradient = try Tensor(shape: [3, 5], scalars: rng.floats(15))
        let dY = outputGradient.scalars
        let gradients = try Reference.denseGradients(input: input, weight: weight, outputGradient: outputGradient)
        #expect(gradients.input.shape == inputShape)

        func loss(input: [Float], weight: [Float], bias: [Float]) throws -> Double {
            let layer = try DenseDescriptor(weight: try Tensor(shape: [8, 5], scalars: weight),
                                            bias: try Tensor(shape: [5], scalars: bias))
            return dot(try Reference.dense(input: try Tensor(shape: inputShape, scalars: input), descriptor: layer)
                .scalars, dY)
        }
        let step: Float = 0.25
        expectClose(gradients.input, try centralDifferences(of: input.scalars, step: step) {
            try loss(input: $0, weight: weight.scalars, bias: bias.scalars)
        }, tolerance: 1e-5, "dense input gradient")
        expectClose(gradients.weight, try centralDifferences(of: weight.scalars, step: step) {
            try loss(input: input.scalars, weight: $0, bias: bias.scalars)
        }, tolerance: 1e-5, "dense weight gradient")
        expectClose(gradients.bias, try centralDifferences(of: bias.scalars, step: step) {
            try loss(input: input.scalars, weight: weight.scalars, bias: $0)
        }, tolerance: 1e-5, "dense bias gradient")
    }

    @Test func reluBackwardMatchesFiniteDifferences() throws {
        // Values at least 0.1 away from the kink, a step of 0.01: no value crosses zero.
        var rng = SeededGenerator(seed: 13)
        let values = rng.floats(30).map { $0 < 0 ? $0 - 0.1 : $0 + 0.1 }
        let outputGradient = try Tensor(shape: [5, 6], scalars: rng.floats(30))
        func relu(_ values: [Float]) throws -> Tensor {
            try Reference.dense(input: try Tensor(shape: [5, 6], scalars: values),
                                descriptor: try DenseDescriptor(weight: identity(6), activation: .relu))
        }
        let gradient = try Reference.reluBackward(output: try relu(values), outputGradient: outputGradient)
        let numeric = try centralDifferences(of: values, step: 0.01) { dot(try relu($0).scalars, outputGradient.scalars) }
        expectClose(gradient, numeric, tolerance: 1e-5, "relu")
    }

    @Test func maxPoolBackwardMatchesFiniteDifferences() throws {
        // Distinct values k/120, shuffled; a step of a quarter of their spacing changes no window's maximum.
        var rng = SeededGenerator(seed: 17)
        let shape = [2, 5, 4, 3]
        let values = (0..<120).map { Float($0) / 120 }.shuffled(using: &rng)
        let input = try Tensor(shape: shape, scalars: values)
        let outputGradient = try Tensor(shape: [2, 2, 2, 3], scalars: rng.floats(24))
        let gradient = try Reference.maxPool2x2Backward(input: input, outputGradient: outputGradient)
        let numeric = try centralDifferences(of: values, step: 1.0 / 480) { values in
            dot(try Reference.maxPool2x2(input: try Tensor(shape: shape, scalars: values)).scalars,
                outputGradient.scalars)
        }
        expectClose(gradient, numeric, tolerance: 1e-5, "max pool")
    }

    @Test func softmaxCrossEntropyGradientMatchesFiniteDifferences() throws {
        var rng = SeededGenerator(seed: 19)
        let logits = rng.floats(15).map { $0 * 3 }
        let labels = (0..<3).map { _ in Int.random(in: 0..<5, using: &rng) }
        let (_, gradient) = try Reference.softmaxCrossEntropy(logits: try Tensor(shape: [3, 5], scalars: logits),
                                                              labels: labels)
        let numeric = try centralDifferences(of: logits, step: 1e-3) { values in
            try Reference.softmaxCrossEntropy(logits: try Tensor(shape: [3, 5], scalars: values), labels: labels).loss
        }
        expectClose(gradient, numeric, tolerance: 1e-5, "softmax cross-entropy")
    }
}

/// The `size × size` identity matrix.
func identity(_ size: Int) throws -> Tensor {
    try Tensor(shape: [size, size]) { $0 / size == $0 % size ? 1 : 0 }
}
