// Bad inputs: one table row per invalid argument of every public entry point, each with the
// specific typed error it must throw. Rows for calls that write into a caller's buffer (GEMM,
// the layers' `forward`) run against a sentinel-filled output (`BadInput(_:_:outputCount:_:)`),
// which must come back untouched: validation finishes before the first write. Random integers
// thrown at the same entry points live in Fuzz/IntegerFuzzTests.swift.

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


/// A GEMM on small buffers of ones: by default `2×4 · 4×3` with tight leading dimensions, C in `c`.
/// Each argument can be spoiled on its own; `aCount`/`bCount` shorten A and B.
func multiplyOnes(c: UnsafeMutableBufferPointer<Float>, transposeA: Bool = false, transposeB: Bool = false,
                  m: Int = 2, n: Int = 3, k: Int = 4, lda: Int? = nil, ldb: Int? = nil, ldc: Int = 3,
                  aCount: Int = 8, bCount: Int = 12, biasCount: Int? = nil, activation: Activation = .none,
                  lanes: Lanes = .serial) throws {
    let a = [Float](repeating: 1, count: aCount), b = [Float](repeating: 1, count: bCount)
    let bias = biasCount.map { [Float](repeating: 1, count: $0) }
    try a.withUnsafeBufferPointer { (a) in
        try b.withUnsafeBufferPointer { (b) in
            try bias.withOptionalUnsafeBuffer { (bias) in
                try GEMM.multiply(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                                  a: a, lda: lda ?? (transposeA ? m : k), b: b, ldb: ldb ?? (transposeB ? k : n),
                                  c: c, ldc: ldc, bias: bias, activation: activation, lanes: lanes)
            }
        }
    }
}

/// As `multiplyOnes`, with B (`4×3` ones) pre-packed.
func multiplyPackedOnes(c: UnsafeMutableBufferPointer<Float>, m: Int = 2, lda: Int = 4, aCount: Int = 8,
                        biasCount: Int? = nil, activation: Activation = .none,
                        lanes: Lanes = .serial) throws {
    let a = [Float](repeating: 1, count: aCount), b = [Float](repeating: 1, count: 12)
    let bias = biasCount.map { [Float](repeating: 1, count: $0) }
    let packed = try b.withUnsafeBufferPointer { (b) in
        try PackedMatrix(depth: 4, columns: 3, b: b, ldb: 3)
    }
    try a.withUnsafeBufferPointer { (a) in
        try bias.withOptionalUnsafeBuffer { (bias) in
            try GEMM.multiply(m: m, a: a, lda: lda, b: packed, c: c, ldc: 3, bias: bias, activation: activation,
                              lanes: lanes)
        }
    }
}

/// Packs a B of `count` ones.
func packOnes(depth: Int, columns: Int, ldb: Int, count: Int = 12, transposed: Bool = false) throws {
    let b = [Float](repeating: 1, count: count)
    _ = try b.withUnsafeBufferPointer { (b) in
        try PackedMatrix(depth: depth, columns: columns, b: b, ldb: ldb, transposed: transposed)
    }
}

/// The `ConvCase()` layer (3×3 SAME, 3 → 5 channels, bias) with `padding`, `strides` and `dilations`:
/// a `[1, 7, 7, 3]` input (147 floats) gives a `[1, 7, 7, 5]` output (245 floats) under SAME.
func convLayer(padding: Padding = .same, strides: Size2D = Size2D(1), dilations: Size2D = Size2D(1)) throws -> Conv2D {
    var c = ConvCase()
    c.padding = padding
    c.strides = strides
    c.dilations = dilations
    var rng = SeededGenerator(seed: 3)
    return try Conv2D(try c.descriptor(&rng))
}

/// Runs `layer.forward` on `inputCount` ones of `shape`, into `output`.
func convForward(_ layer: Conv2D, shape: [Int], inputCount: Int = 147, output: UnsafeMutableBufferPointer<Float>,
                 lanes: Lanes = .serial) throws {
    let input = [Float](repeating: 1, count: inputCount)
    try input.withUnsafeBufferPointer { try layer.forward(input: $0, shape: shape, output: output, lanes: lanes) }
}

/// A dense layer `6 → 5` with bias: a `[2, 6]` input (12 floats) gives a `[2, 5]` output (10 floats).
func denseLayer() throws -> Dense {
    try Dense(try DenseDescriptor(weight: try weight6x5(), bias: try Tensor(shape: [5], repeating: 0.25)))
}

/// Runs `layer.forward` on `inputCount` ones of `shape`, into `output`.
func denseForward(_ layer: Dense, shape: [Int], inputCount: Int = 12, output: UnsafeMutableBufferPointer<Float>,
                  lanes: Lanes = .serial) throws {
    let input = [Float](repeating: 1, count: inputCount)
    try input.withUnsafeBufferPointer { try layer.forward(input: $0, shape: shape, output: output, lanes: lanes) }
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

    /// `GEMM.multiply` with a strided B; the default call is `2×4 · 4×3` into 6 floats of C.
    static let gemmCases: [BadInput] = [
        BadInput("m zero", .nonPositiveSize(argument: "m", value: 0), outputCount: 6) { try multiplyOnes(c: $0, m: 0) },
        BadInput("m negative", .nonPositiveSize(argument: "m", value: -3), outputCount: 6) { try multiplyOnes(c: $0, m: -3) },
        BadInput("n zero", .nonPositiveSize(argument: "n", value: 0), outputCount: 6) { try multiplyOnes(c: $0, n: 0) },
        BadInput("n Int.min", .nonPositiveSize(argument: "n", value: .min), outputCount: 6) { try multiplyOnes(c: $0, n: .min) },
        BadInput("k zero", .nonPositiveSize(argument: "k", value: 0), outputCount: 6) { try multiplyOnes(c: $0, k: 0) },
        BadInput("k negative", .nonPositiveSize(argument: "k", value: -1), outputCount: 6) { try multiplyOnes(c: $0, k: -1) },
        BadInput("lda below k", .invalidLeadingDimension(argument: "lda", value: 3, minimum: 4), outputCount: 6) {
            try multiplyOnes(c: $0, lda: 3)
        },
        BadInput("lda below m (A transposed)", .invalidLeadingDimension(argument: "lda", value: 1, minimum: 2),
                 outputCount: 6) { try multiplyOnes(c: $0, transposeA: true, lda: 1) },
        BadInput("lda negative", .invalidLeadingDimension(argument: "lda", value: -4, minimum: 4), outputCount: 6) {
            try multiplyOnes(c: $0, lda: -4)
        },
        BadInput("ldb below n", .invalidLeadingDimension(argument: "ldb", value: 2, minimum: 3), outputCount: 6) {
            try multiplyOnes(c: $0, ldb: 2)
        },
        BadInput("ldb below k (B transposed)", .invalidLeadingDimension(argument: "ldb", value: 3, minimum: 4),
                 outputCount: 6) { try multiplyOnes(c: $0, transposeB: true, ldb: 3) },
        BadInput("ldc below n", .invalidLeadingDimension(argument: "ldc", value: 2, minimum: 3), outputCount: 6) {
            try multiplyOnes(c: $0, ldc: 2)
        },
        BadInput("A one element short", .bufferTooShort(argument: "a", required: 8, actual: 7), outputCount: 6) {
            try multiplyOnes(c: $0, aCount: 7)
        },
        BadInput("A short for its padded lda", .bufferTooShort(argument: "a", required: 11, actual: 8), outputCount: 6) {
            try multiplyOnes(c: $0, lda: 7)
        },
        BadInput("B one element short", .bufferTooShort(argument: "b", required: 12, actual: 11), outputCount: 6) {
            try multiplyOnes(c: $0, bCount: 11)
        },
        BadInput("B empty", .bufferTooShort(argument: "b", required: 12, actual: 0), outputCount: 6) {
            try multiplyOnes(c: $0, bCount: 0)
        },
        BadInput("C one element short", .bufferTooShort(argument: "c", required: 6, actual: 5), outputCount: 6) {
            try multiplyOnes(c: UnsafeMutableBufferPointer(rebasing: $0[0..<5]))
        },
        BadInput("C short for its padded ldc", .bufferTooShort(argument: "c", required: 8, actual: 7), outputCount: 7) {
            try multiplyOnes(c: $0, ldc: 5)
        },
        BadInput("bias too short", .biasLengthMismatch(expected: 3, actual: 2), outputCount: 6) {
            try multiplyOnes(c: $0, biasCount: 2)
        },
        BadInput("bias too long", .biasLengthMismatch(expected: 3, actual: 4), outputCount: 6) {
            try multiplyOnes(c: $0, biasCount: 4)
        },
        BadInput("m · lda overflows Int", .sizeOverflow(argument: "a"), outputCount: 6) {
            try multiplyOnes(c: $0, m: Int.max / 2)
        },
        BadInput("k · ldb overflows Int (B transposed)", .sizeOverflow(argument: "b"), outputCount: 6) {
            try multiplyOnes(c: $0, transposeB: true, n: Int.max / 3, ldb: Int.max / 3)
        },
        BadInput("A's byte count overflows Int", .sizeOverflow(argument: "a byte count"), outputCount: 6) {
            try multiplyOnes(c: $0, m: Int.max / 4 + 2, k: 1)
        },
        BadInput("reversed clamp", .invalidClampRange(min: 1, max: 0), outputCount: 6) {
            try multiplyOnes(c: $0, activation: .clamp(min: 1, max: 0))
        },
        BadInput("lanes fixed(0)", .nonPositiveSize(argument: "lanes", value: 0), outputCount: 6) {
            try multiplyOnes(c: $0, lanes: .fixed(0))
        },
        BadInput("lanes fixed(-2)", .nonPositiveSize(argument: "lanes", value: -2), outputCount: 6) {
            try multiplyOnes(c: $0, lanes: .fixed(-2))
        },
    ]

    /// `GEMM.multiply` with a pre-packed `4×3` B, and `PackedMatrix.init`.
    static let packedCases: [BadInput] = [
        BadInput("packed: m zero", .nonPositiveSize(argument: "m", value: 0), outputCount: 6) {
            try multiplyPackedOnes(c: $0, m: 0)
        },
        BadInput("packed: lda below k", .invalidLeadingDimension(argument: "lda", value: 3, minimum: 4), outputCount: 6) {
            try multiplyPackedOnes(c: $0, lda: 3)
        },
        BadInput("packed: A short", .bufferTooShort(argument: "a", required: 8, actual: 4), outputCount: 6) {
            try multiplyPackedOnes(c: $0, aCount: 4)
        },
        BadInput("packed: C short", .bufferTooShort(argument: "c", required: 6, actual: 3), outputCount: 6) {
            try multiplyPackedOnes(c: UnsafeMutableBufferPointer(rebasing: $0[0..<3]))
        },
        BadInput("packed: m · lda overflows Int", .sizeOverflow(argument: "a"), outputCount: 6) {
            try multiplyPackedOnes(c: $0, m: Int.max / 3)
        },
        BadInput("packed: bias length", .biasLengthMismatch(expected: 3, actual: 1), outputCount: 6) {
            try multiplyPackedOnes(c: $0, biasCount: 1)
        },
        BadInput("packed: reversed clamp", .invalidClampRange(min: 0, max: -1), outputCount: 6) {
            try multiplyPackedOnes(c: $0, activation: .clamp(min: 0, max: -1))
        },
        BadInput("packed: lanes fixed(0)", .nonPositiveSize(argument: "lanes", value: 0), outputCount: 6) {
            try multiplyPackedOnes(c: $0, lanes: .fixed(0))
        },
        BadInput("PackedMatrix: depth zero", .nonPositiveSize(argument: "depth", value: 0)) {
            try packOnes(depth: 0, columns: 3, ldb: 3)
        },
        BadInput("PackedMatrix: columns negative", .nonPositiveSize(argument: "columns", value: -1)) {
            try packOnes(depth: 4, columns: -1, ldb: 3)
        },
        BadInput("PackedMatrix: ldb below columns", .invalidLeadingDimension(argument: "ldb", value: 2, minimum: 3)) {
            try packOnes(depth: 4, columns: 3, ldb: 2)
        },
        BadInput("PackedMatrix: ldb below depth (transposed)",
                 .invalidLeadingDimension(argument: "ldb", value: 3, minimum: 4)) {
            try packOnes(depth: 4, columns: 3, ldb: 3, transposed: true)
        },
        BadInput("PackedMatrix: buffer short", .bufferTooShort(argument: "b", required: 12, actual: 11)) {
            try packOnes(depth: 4, columns: 3, ldb: 3, count: 11)
        },
        BadInput("PackedMatrix: depth · ldb overflows Int", .sizeOverflow(argument: "b")) {
            try packOnes(depth: Int.max / 2, columns: 3, ldb: 3)
        },
    ]

    /// The Conv2D layer's entry points; `forward` rows write into a 245-float output.
    static let convolutionLayerCases: [BadInput] = [
        BadInput("forward: input short", .bufferTooShort(argument: "input", required: 147, actual: 146), outputCount: 245) {
            try convForward(try convLayer(), shape: [1, 7, 7, 3], inputCount: 146, output: $0)
        },
        BadInput("forward: output short", .bufferTooShort(argument: "output", required: 245, actual: 244),
                 outputCount: 245) {
            try convForward(try convLayer(), shape: [1, 7, 7, 3], output: UnsafeMutableBufferPointer(rebasing: $0[0..<244]))
        },
        BadInput("forward: rank-3 shape", .rankMismatch(argument: "input", expected: 4, actual: 3), outputCount: 245) {
            try convForward(try convLayer(), shape: [7, 7, 3], output: $0)
        },
        BadInput("forward: rank-5 shape", .rankMismatch(argument: "input", expected: 4, actual: 5), outputCount: 245) {
            try convForward(try convLayer(), shape: [1, 1, 7, 7, 3], output: $0)
        },
        BadInput("forward: channels", .channelMismatch(argument: "input", expected: 3, actual: 4), outputCount: 245) {
            try convForward(try convLayer(), shape: [1, 7, 5, 4], output: $0)
        },
        BadInput("forward: batch zero", .nonPositiveSize(argument: "input batch", value: 0), outputCount: 245) {
            try convForward(try convLayer(), shape: [0, 7, 7, 3], output: $0)
        },
        BadInput("forward: width negative", .nonPositiveSize(argument: "input width", value: -7), outputCount: 245) {
            try convForward(try convLayer(), shape: [1, 7, -7, 3], output: $0)
        },
        BadInput("forward: VALID kernel taller than the input",
                 .kernelLargerThanPaddedInput(axis: "height", dilatedKernel: 3, paddedInput: 2), outputCount: 245) {
            try convForward(try convLayer(padding: .valid), shape: [1, 2, 7, 3], output: $0)
        },
        BadInput("forward: explicit padding, dilated kernel wider than the padded input",
                 .kernelLargerThanPaddedInput(axis: "width", dilatedKernel: 5, paddedInput: 4), outputCount: 245) {
            try convForward(try convLayer(padding: .explicit(top: 2, bottom: 2, left: 1, right: 0), dilations: Size2D(2)),
                            shape: [1, 7, 3, 3], inputCount: 63, output: $0)
        },
        BadInput("forward: output element count overflows Int", .sizeOverflow(argument: "output"), outputCount: 245) {
            try convForward(try convLayer(), shape: [1 << 40, 1 << 22, 1, 3], output: $0)
        },
        BadInput("forward: output byte count overflows Int", .sizeOverflow(argument: "output byte count"),
                 outputCount: 245) {
            try convForward(try convLayer(), shape: [1 << 40, 1 << 20, 1, 3], output: $0)  // 5 · 2⁶⁰ elements
        },
        BadInput("forward: input element count overflows Int", .sizeOverflow(argument: "input"), outputCount: 245) {
            // A stride of 2³⁰ keeps the output at [1, 2, 2, 5]; the input's own count overflows.
            try convForward(try convLayer(strides: Size2D(1 << 30)), shape: [1, 1 << 31, 1 << 31, 3], output: $0)
        },
        BadInput("forward: lanes fixed(0)", .nonPositiveSize(argument: "lanes", value: 0), outputCount: 245) {
            try convForward(try convLayer(), shape: [1, 7, 7, 3], output: $0, lanes: .fixed(0))
        },
        BadInput("callAsFunction: channels", .channelMismatch(argument: "input", expected: 3, actual: 2)) {
            _ = try convLayer()(try Tensor(shape: [1, 7, 7, 2]))
        },
        BadInput("callAsFunction: lanes fixed(0)", .nonPositiveSize(argument: "lanes", value: 0)) {
            _ = try convLayer()(try Tensor(shape: [1, 7, 7, 3]), lanes: .fixed(0))
        },
        BadInput("plan: lanes fixed(-1)", .nonPositiveSize(argument: "lanes", value: -1)) {
            _ = try convLayer().plan(forInput: [1, 7, 7, 3], lanes: .fixed(-1))
        },
        BadInput("workspaceBytes: rank-2 shape", .rankMismatch(argument: "input", expected: 4, actual: 2)) {
            _ = try convLayer().workspaceBytes(forInput: [7, 3])
        },
        BadInput("inputGradient: gradient channels",
                 .shapeMismatch(argument: "outputGradient", expected: [1, 7, 7, 5], actual: [1, 7, 7, 4])) {
            _ = try convLayer().inputGradient(outputGradient: try Tensor(shape: [1, 7, 7, 4]), inputShape: [1, 7, 7, 3])
        },
        BadInput("inputGradient: gradient for another batch",
                 .shapeMismatch(argument: "outputGradient", expected: [2, 7, 7, 5], actual: [1, 7, 7, 5])) {
            _ = try convLayer().inputGradient(outputGradient: try Tensor(shape: [1, 7, 7, 5]), inputShape: [2, 7, 7, 3])
        },
        BadInput("inputGradient: rank-3 input shape", .rankMismatch(argument: "input", expected: 4, actual: 3)) {
            _ = try convLayer().inputGradient(outputGradient: try Tensor(shape: [1, 7, 7, 5]), inputShape: [7, 7, 3])
        },
        BadInput("inputGradient: lanes fixed(0)", .nonPositiveSize(argument: "lanes", value: 0)) {
            _ = try convLayer().inputGradient(outputGradient: try Tensor(shape: [1, 7, 7, 5]), inputShape: [1, 7, 7, 3],
                                              lanes: .fixed(0))
        },
        BadInput("filterGradient: gradient shape",
                 .shapeMismatch(argument: "outputGradient", expected: [1, 7, 7, 5], actual: [1, 6, 7, 5])) {
            _ = try convLayer().filterGradient(input: try Tensor(shape: [1, 7, 7, 3]),
                                               outputGradient: try Tensor(shape: [1, 6, 7, 5]))
        },
        BadInput("filterGradient: input channels", .channelMismatch(argument: "input", expected: 3, actual: 1)) {
            _ = try convLayer().filterGradient(input: try Tensor(shape: [1, 7, 7, 1]),
                                               outputGradient: try Tensor(shape: [1, 7, 7, 5]))
        },
        BadInput("filterGradient: lanes fixed(0)", .nonPositiveSize(argument: "lanes", value: 0)) {
            _ = try convLayer().filterGradient(input: try Tensor(shape: [1, 7, 7, 3]),
                                               outputGradient: try Tensor(shape: [1, 7, 7, 5]), lanes: .fixed(0))
        },
        BadInput("biasGradient: rank-2 gradient", .rankMismatch(argument: "outputGradient", expected: 4, actual: 2)) {
            _ = try convLayer().biasGradient(outputGradient: try Tensor(shape: [49, 5]))
        },
        BadInput("biasGradient: gradient channels", .channelMismatch(argument: "outputGradient", expected: 5, actual: 6)) {
            _ = try convLayer().biasGradient(outputGradient: try Tensor(shape: [1, 7, 7, 6]))
        },
    ]

    /// The Dense layer's entry points; `forward` rows write into a 10-float output.
    static let denseLayerCases: [BadInput] = [
        BadInput("forward: input short", .bufferTooShort(argument: "input", required: 12, actual: 11), outputCount: 10) {
            try denseForward(try denseLayer(), shape: [2, 6], inputCount: 11, output: $0)
        },
        BadInput("forward: output short", .bufferTooShort(argument: "output", required: 10, actual: 9), outputCount: 10) {
            try denseForward(try denseLayer(), shape: [2, 6], output: UnsafeMutableBufferPointer(rebasing: $0[0..<9]))
        },
        BadInput("forward: features", .channelMismatch(argument: "input features", expected: 6, actual: 5),
                 outputCount: 10) { try denseForward(try denseLayer(), shape: [2, 5], output: $0) },
        BadInput("forward: rank-1 shape", .rankMismatch(argument: "input", expected: 2, actual: 1), outputCount: 10) {
            try denseForward(try denseLayer(), shape: [6], output: $0)
        },
        BadInput("forward: batch zero", .nonPositiveSize(argument: "input batch", value: 0), outputCount: 10) {
            try denseForward(try denseLayer(), shape: [0, 6], output: $0)
        },
        BadInput("forward: a zero feature dimension", .nonPositiveSize(argument: "input features[1]", value: 0),
                 outputCount: 10) { try denseForward(try denseLayer(), shape: [2, 6, 0], output: $0) },
        BadInput("forward: input byte count overflows Int", .sizeOverflow(argument: "input byte count"), outputCount: 10) {
            // 20 output bytes per sample still fit; 24 input bytes per sample do not.
            try denseForward(try denseLayer(), shape: [Int.max / 22, 6], output: $0)
        },
        BadInput("forward: lanes fixed(0)", .nonPositiveSize(argument: "lanes", value: 0), outputCount: 10) {
            try denseForward(try denseLayer(), shape: [2, 6], output: $0, lanes: .fixed(0))
        },
        BadInput("callAsFunction: features", .channelMismatch(argument: "input features", expected: 6, actual: 12)) {
            _ = try denseLayer()(try Tensor(shape: [1, 12]))
        },
        BadInput("gradients: gradient shape",
                 .shapeMismatch(argument: "outputGradient", expected: [2, 5], actual: [2, 4])) {
            _ = try denseLayer().gradients(input: try Tensor(shape: [2, 6]), outputGradient: try Tensor(shape: [2, 4]))
        },
        BadInput("gradients: gradient rank",
                 .shapeMismatch(argument: "outputGradient", expected: [2, 5], actual: [10])) {
            _ = try denseLayer().gradients(input: try Tensor(shape: [2, 6]), outputGradient: try Tensor(shape: [10]))
        },
        BadInput("gradients: input features", .channelMismatch(argument: "input features", expected: 6, actual: 3)) {
            _ = try denseLayer().gradients(input: try Tensor(shape: [2, 3]), outputGradient: try Tensor(shape: [2, 5]))
        },
        BadInput("gradients: lanes fixed(0)", .nonPositiveSize(argument: "lanes", value: 0)) {
            _ = try denseLayer().gradients(input: try Tensor(shape: [2, 6]), outputGradient: try Tensor(shape: [2, 5]),
                                           lanes: .fixed(0))
        },
        BadInput("plan: lanes fixed(0)", .nonPositiveSize(argument: "lanes", value: 0)) {
            _ = try denseLayer().plan(forInput: [2, 6], lanes: .fixed(0))
        },
    ]

    @Test(arguments: tensorCases + convolutionCases + denseCases + gemmCases + packedCases + convolutionLayerCases
              + denseLayerCases)
    func throwsTheSpecificError(_ bad: BadInput) {
        #expect(throws: bad.expected) { try bad.attempt() }
    }

    /// `fixed(0)` is an error inside a lane too, where every call runs on one lane (a regression:
    /// the inside-lane shortcut used to return one lane before checking the count).
    @Test func fixedZeroLanesThrowsInsideALane() {
        let errors = Recorder<ShardwiseError?>()
        Lanes.fixed(2).run(count: 2) { _ in
            var c = [Float](repeating: BadInput.sentinel, count: 6)
            let error = c.withUnsafeMutableBufferPointer { c -> ShardwiseError? in
                do {
                    try multiplyOnes(c: c, lanes: .fixed(0))
                    return nil
                } catch {
                    return error as? ShardwiseError
                }
            }
            errors.record(error)
        }
        #expect(errors.values == [.nonPositiveSize(argument: "lanes", value: 0), .nonPositiveSize(argument: "lanes", value: 0)])
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
