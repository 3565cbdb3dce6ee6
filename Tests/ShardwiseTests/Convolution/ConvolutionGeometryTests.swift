import Testing
import Shardwise
import ShardwiseReference

/// One axis of a convolution and the geometry TensorFlow gives it, worked out by hand.
struct AxisCase: Sendable, CustomTestStringConvertible {
    var input: Int, kernel: Int, stride = 1, dilation = 1
    var padding: Padding
    var output: Int, padBefore: Int, padAfter: Int
    let why: String

    var testDescription: String {
        "i=\(input) k=\(kernel) s=\(stride) d=\(dilation) \(padding) → o=\(output) pad \(padBefore)+\(padAfter)"
    }
}

@Suite struct ConvolutionGeometryTests {
    // SAME: o = ceil(i / s), p = max((o - 1)·s + dk - i, 0), floor(p / 2) before, the rest after.
    // VALID: o = floor((i - dk) / s) + 1. Explicit: o = floor((i + before + after - dk) / s) + 1.
    static let cases: [AxisCase] = [
        AxisCase(input: 4, kernel: 2, stride: 2, padding: .same, output: 2, padBefore: 0, padAfter: 0,
                 why: "o = 2, p = 1·2 + 2 - 4 = 0"),
        AxisCase(input: 5, kernel: 2, stride: 2, padding: .same, output: 3, padBefore: 0, padAfter: 1,
                 why: "o = 3, p = 2·2 + 2 - 5 = 1: the odd cell goes after"),
        AxisCase(input: 224, kernel: 3, stride: 2, padding: .same, output: 112, padBefore: 0, padAfter: 1,
                 why: "o = 112, p = 111·2 + 3 - 224 = 1 (the ResNet/MobileNet stem)"),
        AxisCase(input: 7, kernel: 3, stride: 2, padding: .same, output: 4, padBefore: 1, padAfter: 1,
                 why: "o = 4, p = 3·2 + 3 - 7 = 2"),
        AxisCase(input: 6, kernel: 4, stride: 2, padding: .same, output: 3, padBefore: 1, padAfter: 1,
                 why: "o = 3, p = 2·2 + 4 - 6 = 2"),
        AxisCase(input: 10, kernel: 4, stride: 3, padding: .same, output: 4, padBefore: 1, padAfter: 2,
                 why: "o = ceil(10/3) = 4, p = 3·3 + 4 - 10 = 3"),
        AxisCase(input: 9, kernel: 3, stride: 3, padding: .same, output: 3, padBefore: 0, padAfter: 0,
                 why: "o = 3, p = 2·3 + 3 - 9 = 0"),
        AxisCase(input: 7, kernel: 2, stride: 3, padding: .same, output: 3, padBefore: 0, padAfter: 1,
                 why: "o = ceil(7/3) = 3, p = 2·3 + 2 - 7 = 1"),
        AxisCase(input: 5, kernel: 2, stride: 3, padding: .same, output: 2, padBefore: 0, padAfter: 0,
                 why: "o = 2, p = max(1·3 + 2 - 5, 0) = 0"),
        AxisCase(input: 2, kernel: 5, padding: .same, output: 2, padBefore: 2, padAfter: 2,
                 why: "kernel larger than input: o = 2, p = 1 + 5 - 2 = 4"),
        AxisCase(input: 3, kernel: 7, stride: 2, padding: .same, output: 2, padBefore: 3, padAfter: 3,
                 why: "kernel larger than input: o = 2, p = 1·2 + 7 - 3 = 6"),
        AxisCase(input: 5, kernel: 3, dilation: 2, padding: .same, output: 5, padBefore: 2, padAfter: 2,
                 why: "dk = 2·2 + 1 = 5, o = 5, p = 4 + 5 - 5 = 4"),
        AxisCase(input: 6, kernel: 3, stride: 2, dilation: 3, padding: .same, output: 3, padBefore: 2, padAfter: 3,
                 why: "dk = 2·3 + 1 = 7, o = 3, p = 2·2 + 7 - 6 = 5"),
        AxisCase(input: 7, kernel: 3, stride: 2, padding: .valid, output: 3, padBefore: 0, padAfter: 0,
                 why: "o = (7 - 3)/2 + 1 = 3"),
        AxisCase(input: 8, kernel: 3, stride: 2, padding: .valid, output: 3, padBefore: 0, padAfter: 0,
                 why: "o = floor((8 - 3)/2) + 1 = 3"),
        AxisCase(input: 5, kernel: 5, padding: .valid, output: 1, padBefore: 0, padAfter: 0,
                 why: "kernel exactly the input: o = 1"),
        AxisCase(input: 7, kernel: 3, dilation: 3, padding: .valid, output: 1, padBefore: 0, padAfter: 0,
                 why: "dk = 7, o = (7 - 7)/1 + 1 = 1"),
        AxisCase(input: 5, kernel: 3, stride: 2, padding: .explicit(top: 1, bottom: 2, left: 1, right: 2),
                 output: 3, padBefore: 1, padAfter: 2, why: "padded 8, o = (8 - 3)/2 + 1 = 3"),
        AxisCase(input: 2, kernel: 5, padding: .explicit(top: 2, bottom: 1, left: 2, right: 1),
                 output: 1, padBefore: 2, padAfter: 1, why: "padded 5, o = (5 - 5)/1 + 1 = 1"),
    ]

    @Test(arguments: cases)
    func matchesTensorFlow(_ axis: AxisCase) throws {
        let geometry = try ConvolutionGeometry(input: Size2D(axis.input), kernel: Size2D(axis.kernel),
                                               strides: Size2D(axis.stride), dilations: Size2D(axis.dilation),
                                               padding: axis.padding)
        for resolved in [geometry.height, geometry.width] {
            #expect(resolved.output == axis.output, "\(axis.why)")
            #expect(resolved.padBefore == axis.padBefore, "\(axis.why)")
            #expect(resolved.padAfter == axis.padAfter, "\(axis.why)")
        }
    }

    @Test func axesAreResolvedIndependently() throws {
        // Height: i = 5, k = 2, s = 2, top 1, bottom 0 → padded 6, o = (6 - 2)/2 + 1 = 3.
        // Width:  i = 8, k = 3, s = 3, d = 2 (dk = 5), left 0, right 2 → padded 10, o = (10 - 5)/3 + 1 = 2.
        let geometry = try ConvolutionGeometry(input: Size2D(height: 5, width: 8), kernel: Size2D(height: 2, width: 3),
                                               strides: Size2D(height: 2, width: 3),
                                               dilations: Size2D(height: 1, width: 2),
                                               padding: .explicit(top: 1, bottom: 0, left: 0, right: 2))
        #expect((geometry.height.output, geometry.height.padBefore, geometry.height.padAfter) == (3, 1, 0))
        #expect((geometry.width.output, geometry.width.padBefore, geometry.width.padAfter) == (2, 0, 2))
    }

    @Test func inputIndexCountsPaddingBeforeTheInput() throws {
        // SAME, i = 7, k = 3, s = 2: one padding cell before, so output 0 tap 0 reads -1 (padding),
        // output 3 tap 2 reads 3·2 + 2 - 1 = 7 (the padding cell after the input).
        let axis = try ConvolutionGeometry(input: Size2D(7), kernel: Size2D(3), strides: Size2D(2),
                                           dilations: Size2D(1), padding: .same).height
        #expect(axis.inputIndex(output: 0, tap: 0) == -1)
        #expect(axis.inputIndex(output: 1, tap: 1) == 2)
        #expect(axis.inputIndex(output: 3, tap: 2) == 7)
    }

    /// `tapsInside(output:)` against a tap-by-tap test, over inputs, kernels, strides, dilations and
    /// paddings (asymmetric and wider than the kernel's reach, so that some outputs read only padding).
    @Test func tapsInsideAreTheTapsThatReadTheInput() throws {
        for input in [1, 2, 5, 8] {
            for kernel in [1, 3, 4] {
                for stride in [1, 2, 3] {
                    for dilation in [1, 2] {
                        for padding in [Padding.same, .valid, .explicit(top: 0, bottom: 3, left: 5, right: 1)] {
                            guard let axis = try? ConvolutionGeometry(
                                input: Size2D(input), kernel: Size2D(kernel), strides: Size2D(stride),
                                dilations: Size2D(dilation), padding: padding).height else { continue }
                            for o in 0..<axis.output {
                                let inside = (0..<kernel).filter { (0..<input).contains(axis.inputIndex(output: o, tap: $0)) }
                                let range = axis.tapsInside(output: o)
                                #expect(Array(range) == inside, "\(axis) output \(o)")
                            }
                        }
                    }
                }
            }
        }
    }

    @Test func validKernelLargerThanInputThrows() {
        #expect(throws: ShardwiseError.kernelLargerThanPaddedInput(axis: "height", dilatedKernel: 5, paddedInput: 4)) {
            try ConvolutionGeometry(input: Size2D(4), kernel: Size2D(5), strides: Size2D(1), dilations: Size2D(1),
                                    padding: .valid)
        }
        // Dilation 2 makes a 3-tap kernel span 5 > 4; only the width is too small here.
        #expect(throws: ShardwiseError.kernelLargerThanPaddedInput(axis: "width", dilatedKernel: 5, paddedInput: 4)) {
            try ConvolutionGeometry(input: Size2D(height: 5, width: 4), kernel: Size2D(3), strides: Size2D(1),
                                    dilations: Size2D(2), padding: .valid)
        }
        #expect(throws: ShardwiseError.kernelLargerThanPaddedInput(axis: "height", dilatedKernel: 5, paddedInput: 4)) {
            try ConvolutionGeometry(input: Size2D(2), kernel: Size2D(5), strides: Size2D(1), dilations: Size2D(1),
                                    padding: .explicit(top: 1, bottom: 1, left: 2, right: 2))
        }
    }

    @Test func sameWithKernelLargerThanInputConvolves() throws {
        // 2×2 input [1 2; 3 4], 5×5 kernel of ones, SAME: padding 2 on each side, so every output's
        // window covers the whole input: each of the four outputs is 1 + 2 + 3 + 4 = 10.
        let conv = try Conv2DDescriptor(filter: try Tensor(shape: [5, 5, 1, 1], repeating: 1), padding: .same)
        let output = try Reference.conv2D(input: try Tensor(shape: [1, 2, 2, 1], scalars: [1, 2, 3, 4]),
                                          descriptor: conv)
        #expect(output.scalars == [10, 10, 10, 10])
    }
}
