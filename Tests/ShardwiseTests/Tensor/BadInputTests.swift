import Testing
import Shardwise
import ShardwiseTestSupport

/// A valid 3×3 filter from 2 input channels to 4 output channels.
func filter3x3x2x4() throws(ShardwiseError) -> Tensor {
    try Tensor(shape: [3, 3, 2, 4], repeating: 0.5)
}

/// A valid `[6, 5]` dense weight.
func weight6x5() throws(ShardwiseError) -> Tensor {
    try Tensor(shape: [6, 5], repeating: 0.5)
}

@Suite struct BadInputTests {
    static let tensorCases: [BadInput] = [
        BadInput("zero dimension", .nonPositiveSize(argument: "shape[1]", value: 0)) {
            _ = try Tensor(shape: [2, 0, 3], repeating: 0)
        },
        BadInput("negative dimension", .nonPositiveSize(argument: "shape[0]", value: -4)) {
            _ = try Tensor(shape: [-4], scalars: [])
        },
        BadInput("no dimensions", .rankMismatch(argument: "shape", expected: 1, actual: 0)) {
            _ = try Tensor(shape: [], scalars: [])
        },
        BadInput("too few scalars", .elementCountMismatch(argument: "scalars", expected: 6, actual: 5)) {
            _ = try Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5])
        },
        BadInput("too many scalars", .elementCountMismatch(argument: "scalars", expected: 2, actual: 3)) {
            _ = try Tensor(shape: [2], scalars: [1, 2, 3])
        },
        BadInput("element count overflows Int", .sizeOverflow(argument: "shape")) {
            _ = try Tensor(shape: [Int.max / 2, 3], repeating: 0)
        },
        BadInput("element count overflows Int (generator)", .sizeOverflow(argument: "shape")) {
            _ = try Tensor(shape: [3, Int.max / 2]) { _ in 1 }
        },
        BadInput("byte count overflows Int", .sizeOverflow(argument: "shape byte count")) {
            _ = try Tensor(shape: [Int.max / 8, 3], repeating: 0)  // 3/8 of Int.max elements, 4 bytes each
        },
    ]

    static let convolutionCases: [BadInput] = [
        BadInput("rank-3 filter", .rankMismatch(argument: "filter", expected: 4, actual: 3)) {
            _ = try Conv2DDescriptor(filter: try Tensor(shape: [3, 3, 2], repeating: 1))
        },
        BadInput("stride 0", .invalidStride(axis: "height", value: 0)) {
            _ = try Conv2DDescriptor(filter: try filter3x3x2x4(), strides: Size2D(height: 0, width: 1))
        },
        BadInput("negative width stride", .invalidStride(axis: "width", value: -2)) {
            _ = try Conv2DDescriptor(filter: try filter3x3x2x4(), strides: Size2D(height: 1, width: -2))
        },
        BadInput("dilation 0", .invalidDilation(axis: "height", value: 0)) {
            _ = try Conv2DDescriptor(filter: try filter3x3x2x4(), dilations: Size2D(0))
        },
        BadInput("dilation -1", .invalidDilation(axis: "width", value: -1)) {
            _ = try Conv2DDescriptor(filter: try filter3x3x2x4(), dilations: Size2D(height: 1, width: -1))
        },
        BadInput("negative explicit padding", .negativePadding(side: "right", value: -1)) {
            _ = try Conv2DDescriptor(filter: try filter3x3x2x4(), padding: .explicit(top: 0, bottom: 1, left: 2, right: -1))
        },
        BadInput("groups 0", .invalidGroups(groups: 0, inputChannels: 2, outputChannels: 4)) {
            _ = try Conv2DDescriptor(filter: try filter3x3x2x4(), groups: 0)
        },
        BadInput("negative groups", .invalidGroups(groups: -1, inputChannels: 2, outputChannels: 4)) {
            _ = try Conv2DDescriptor(filter: try filter3x3x2x4(), groups: -1)
        },
        BadInput("groups not dividing the output channels", .invalidGroups(groups: 3, inputChannels: 6, outputChannels: 4)) {
            _ = try Conv2DDescriptor(filter: try filter3x3x2x4(), groups: 3)
        },
        BadInput("bias too short", .biasLengthMismatch(expected: 4, actual: 3)) {
            _ = try Conv2DDescriptor(filter: try filter3x3x2x4(), bias: try Tensor(shape: [3], repeating: 0))
        },
        BadInput("bias of rank 2", .rankMismatch(argument: "bias", expected: 1, actual: 2)) {
            _ = try Conv2DDescriptor(filter: try filter3x3x2x4(), bias: try Tensor(shape: [1, 4], repeating: 0))
        },
        BadInput("reversed clamp", .invalidClampRange(min: 2, max: 1)) {
            _ = try Conv2DDescriptor(filter: try filter3x3x2x4(), activation: .clamp(min: 2, max: 1))
        },
        BadInput("input channels differ from the filter's", .channelMismatch(argument: "input", expected: 2, actual: 3)) {
            _ = try Conv2DDescriptor(filter: try filter3x3x2x4()).outputShape(forInput: [1, 5, 5, 3])
        },
        BadInput("grouped input channels differ", .channelMismatch(argument: "input", expected: 4, actual: 2)) {
            _ = try Conv2DDescriptor(filter: try filter3x3x2x4(), groups: 2).outputShape(forInput: [1, 5, 5, 2])
        },
        BadInput("rank-3 input", .rankMismatch(argument: "input", expected: 4, actual: 3)) {
            _ = try Conv2DDescriptor(filter: try filter3x3x2x4()).outputShape(forInput: [5, 5, 2])
        },
        BadInput("empty batch", .nonPositiveSize(argument: "input batch", value: 0)) {
            _ = try Conv2DDescriptor(filter: try filter3x3x2x4()).outputShape(forInput: [0, 5, 5, 2])
        },
        BadInput("zero-height input", .nonPositiveSize(argument: "input height", value: 0)) {
            _ = try Conv2DDescriptor(filter: try filter3x3x2x4()).outputShape(forInput: [1, 0, 5, 2])
        },
        BadInput("VALID kernel larger than the input",
                 .kernelLargerThanPaddedInput(axis: "width", dilatedKernel: 3, paddedInput: 2)) {
            _ = try Conv2DDescriptor(filter: try filter3x3x2x4(), padding: .valid).outputShape(forInput: [1, 5, 2, 2])
        },
    ]

    static let denseCases: [BadInput] = [
        BadInput("rank-1 weight", .rankMismatch(argument: "weight", expected: 2, actual: 1)) {
            _ = try DenseDescriptor(weight: try Tensor(shape: [6], repeating: 1))
        },
        BadInput("rank-3 weight", .rankMismatch(argument: "weight", expected: 2, actual: 3)) {
            _ = try DenseDescriptor(weight: try Tensor(shape: [2, 3, 5], repeating: 1))
        },
        BadInput("bias length", .biasLengthMismatch(expected: 5, actual: 6)) {
            _ = try DenseDescriptor(weight: try weight6x5(), bias: try Tensor(shape: [6], repeating: 0))
        },
        BadInput("bias of rank 2", .rankMismatch(argument: "bias", expected: 1, actual: 2)) {
            _ = try DenseDescriptor(weight: try weight6x5(), bias: try Tensor(shape: [5, 1], repeating: 0))
        },
        BadInput("reversed clamp", .invalidClampRange(min: 2, max: 1)) {
            _ = try DenseDescriptor(weight: try weight6x5(), activation: .clamp(min: 2, max: 1))
        },
        BadInput("input features differ", .channelMismatch(argument: "input features", expected: 6, actual: 5)) {
            _ = try DenseDescriptor(weight: try weight6x5()).outputShape(forInput: [2, 5])
        },
        BadInput("flattened input features differ", .channelMismatch(argument: "input features", expected: 6, actual: 8)) {
            _ = try DenseDescriptor(weight: try weight6x5()).outputShape(forInput: [2, 2, 2, 2])
        },
        BadInput("rank-1 input", .rankMismatch(argument: "input", expected: 2, actual: 1)) {
            _ = try DenseDescriptor(weight: try weight6x5()).outputShape(forInput: [6])
        },
        BadInput("output element count overflows Int", .sizeOverflow(argument: "output")) {
            // (Int.max / 4) · 5 outputs overflows; no such input tensor could exist, but a shape alone can be asked about.
            _ = try DenseDescriptor(weight: try weight6x5()).outputShape(forInput: [Int.max / 4, 6])
        },
    ]

    @Test(arguments: tensorCases + convolutionCases + denseCases)
    func throwsTheSpecificError(_ bad: BadInput) {
        #expect(throws: bad.expected) { try bad.attempt() }
    }

    @Test func clampWithNaNBoundThrows() {
        // A NaN payload makes the error unequal to itself, so match the case instead of comparing.
        #expect {
            _ = try Conv2DDescriptor(filter: try filter3x3x2x4(), activation: .clamp(min: .nan, max: 1))
        } throws: { error in
            guard case let ShardwiseError.invalidClampRange(min, max)? = error as? ShardwiseError else { return false }
            return min.isNaN && max == 1
        }
    }
}
