import Testing
import Shardwise
import ShardwiseReference
import ShardwiseTestSupport

/// A 3×3 SAME convolution from 2 to 4 channels; on a `[1, 5, 5, 2]` input its output is `[1, 5, 5, 4]`.
func conv3x3From2To4() throws -> Conv2DDescriptor {
    try Conv2DDescriptor(filter: try Tensor(shape: [3, 3, 2, 4], repeating: 0.5))
}

/// A tensor of `shape` holding ones.
func ones(_ shape: [Int]) throws -> Tensor {
    try Tensor(shape: shape, repeating: 1)
}

@Suite struct ReferenceBadInputTests {
    static let cases: [BadInput] = [
        BadInput("conv2D: input channels", .channelMismatch(argument: "input", expected: 2, actual: 3)) {
            _ = try Reference.conv2D(input: try ones([1, 5, 5, 3]), descriptor: try conv3x3From2To4())
        },
        BadInput("conv2D: rank-3 input", .rankMismatch(argument: "input", expected: 4, actual: 3)) {
            _ = try Reference.conv2D(input: try ones([5, 5, 2]), descriptor: try conv3x3From2To4())
        },
        BadInput("conv2DInputGradient: gradient shape",
                 .shapeMismatch(argument: "outputGradient", expected: [1, 5, 5, 4], actual: [1, 5, 5, 3])) {
            _ = try Reference.conv2DInputGradient(outputGradient: try ones([1, 5, 5, 3]), inputShape: [1, 5, 5, 2],
                                                  descriptor: try conv3x3From2To4())
        },
        BadInput("conv2DInputGradient: input shape", .nonPositiveSize(argument: "input width", value: 0)) {
            _ = try Reference.conv2DInputGradient(outputGradient: try ones([1, 5, 5, 4]), inputShape: [1, 5, 0, 2],
                                                  descriptor: try conv3x3From2To4())
        },
        BadInput("conv2DFilterGradient: gradient shape",
                 .shapeMismatch(argument: "outputGradient", expected: [1, 5, 5, 4], actual: [1, 4, 5, 4])) {
            _ = try Reference.conv2DFilterGradient(input: try ones([1, 5, 5, 2]), outputGradient: try ones([1, 4, 5, 4]),
                                                   descriptor: try conv3x3From2To4())
        },
        BadInput("conv2DBiasGradient: rank", .rankMismatch(argument: "outputGradient", expected: 4, actual: 2)) {
            _ = try Reference.conv2DBiasGradient(outputGradient: try ones([5, 4]))
        },
        BadInput("dense: input features", .channelMismatch(argument: "input features", expected: 3, actual: 4)) {
            _ = try Reference.dense(input: try ones([2, 4]), descriptor: try DenseDescriptor(weight: try ones([3, 5])))
        },
        BadInput("denseGradients: rank-1 weight", .rankMismatch(argument: "weight", expected: 2, actual: 1)) {
            _ = try Reference.denseGradients(input: try ones([2, 3]), weight: try ones([3]),
                                             outputGradient: try ones([2, 5]))
        },
        BadInput("denseGradients: gradient shape",
                 .shapeMismatch(argument: "outputGradient", expected: [2, 5], actual: [2, 4])) {
            _ = try Reference.denseGradients(input: try ones([2, 3]), weight: try ones([3, 5]),
                                             outputGradient: try ones([2, 4]))
        },
        BadInput("reluBackward: shapes differ", .shapeMismatch(argument: "outputGradient", expected: [2, 3], actual: [3, 2])) {
            _ = try Reference.reluBackward(output: try ones([2, 3]), outputGradient: try ones([3, 2]))
        },
        BadInput("maxPool2x2: rank", .rankMismatch(argument: "input", expected: 4, actual: 3)) {
            _ = try Reference.maxPool2x2(input: try ones([4, 4, 1]))
        },
        BadInput("maxPool2x2: one row", .kernelLargerThanPaddedInput(axis: "height", dilatedKernel: 2, paddedInput: 1)) {
            _ = try Reference.maxPool2x2(input: try ones([1, 1, 4, 1]))
        },
        BadInput("maxPool2x2Backward: gradient shape",
                 .shapeMismatch(argument: "outputGradient", expected: [1, 2, 2, 1], actual: [1, 2, 3, 1])) {
            _ = try Reference.maxPool2x2Backward(input: try ones([1, 5, 5, 1]), outputGradient: try ones([1, 2, 3, 1]))
        },
        BadInput("softmaxCrossEntropy: rank", .rankMismatch(argument: "logits", expected: 2, actual: 1)) {
            _ = try Reference.softmaxCrossEntropy(logits: try ones([5]), labels: [0])
        },
        BadInput("softmaxCrossEntropy: label count", .elementCountMismatch(argument: "labels", expected: 2, actual: 3)) {
            _ = try Reference.softmaxCrossEntropy(logits: try ones([2, 5]), labels: [0, 1, 2])
        },
        BadInput("softmaxCrossEntropy: label too large",
                 .invalidArgument(argument: "labels[1]", reason: "class 5 is outside 0..<5")) {
            _ = try Reference.softmaxCrossEntropy(logits: try ones([2, 5]), labels: [0, 5])
        },
        BadInput("softmaxCrossEntropy: negative label",
                 .invalidArgument(argument: "labels[0]", reason: "class -1 is outside 0..<5")) {
            _ = try Reference.softmaxCrossEntropy(logits: try ones([2, 5]), labels: [-1, 0])
        },
    ]

    @Test(arguments: cases)
    func throwsTheSpecificError(_ bad: BadInput) {
        #expect(throws: bad.expected) { try bad.attempt() }
    }
}
