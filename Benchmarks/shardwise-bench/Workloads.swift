// Workloads: a case made real — seeded operands, the layer built (weights packed
// once, as a model would), an output buffer — with the fast call the timer runs
// and the reference values the verifier compares against.
//
// Reference values come from ShardwiseReference (naive loops in Double). When the
// whole reference would cost more than a budget of multiply-adds, it is run on a
// slice instead and compared on that slice only ("sampled"):
//   gemm   whole rows of C: Reference.gemm with m = 1 on sampled rows of op(A);
//   conv   whole images: Reference.conv2D on sampled images of the batch;
//   dense  whole rows: Reference.dense on sampled samples of the batch.
// Samples always include the first, middle and last row (image), so each lane's
// block of a row split and every column of a column split is checked.

import Shardwise
import ShardwiseReference

/// Reference values for part or all of a workload's output.
struct ReferenceCheck {
    /// Runs of the output (flat offset, expected values) covered by the reference.
    var slices: [(offset: Int, values: [Float])]
    /// Whether the whole output is covered.
    var isFull: Bool
    /// What was compared: `all 4096 elements` or `8 of 2048 rows`.
    var detail: String
}

/// A case ready to run: operands, layer and output in memory.
protocol Workload: AnyObject {
    /// The output buffer every call writes.
    var output: UnsafeMutableBufferPointer<Float> { get }
    /// Bytes of A, B and C one call touches when the case is a skinny GEMM (M = 1 or N ≤ 16),
    /// else nil: such shapes are bound by memory, so GB/s says more than GFLOP/s.
    var skinnyBytes: Int? { get }
    /// The plan the library chooses for `lanes`.
    func plan(_ lanes: Lanes) throws(ShardwiseError) -> ShardPlan
    /// The workspace one call allocates over all its lanes.
    func workspaceBytes(_ lanes: Lanes) throws(ShardwiseError) -> Int
    /// One call of the fast path, writing `output`.
    func run(_ lanes: Lanes) throws(ShardwiseError)
    /// The reference values, full when that costs at most `budget` multiply-adds, else sampled.
    func reference(budget: Double) throws(ShardwiseError) -> ReferenceCheck
}

/// Builds the workload of `benchCase` with operands drawn from `seed`.
///
/// - Throws: the library's `ShardwiseError` when it rejects the case.
func makeWorkload(_ benchCase: BenchCase, seed: UInt64, inputOffset: Int?) throws(ShardwiseError) -> any Workload {
    var random = SplitMix(seed: seed)
    switch benchCase.operation {
    case let .gemm(shape): return GEMMWorkload(shape, random: &random)
    case let .conv(shape): return try ConvWorkload(shape, random: &random, inputOffset: inputOffset)
    case let .dense(shape): return try DenseWorkload(shape, random: &random, inputOffset: inputOffset)
    }
}

/// `wanted` distinct indices of `0..<count` in ascending order: first, last, middle, then random ones.
func sampleIndices(count: Int, wanted: Int, random: inout SplitMix) -> [Int] {
    let wanted = Swift.min(count, Swift.max(1, wanted))
    var chosen = Set([0, count - 1, count / 2].prefix(wanted))
    while chosen.count < wanted { chosen.insert(Int.random(in: 0..<count, using: &random)) }
    return chosen.sorted()
}

// MARK: - GEMM

/// `C = op(A) · op(B)` through `GEMM.multiply` (B packed inside every call, as a caller
/// without `PackedMatrix` would see it).
final class GEMMWorkload: Workload {
    let shape: GEMMCase
    let a: [Float], b: [Float]
    let lda: Int, ldb: Int
    let output: UnsafeMutableBufferPointer<Float>
    private var random: SplitMix

    init(_ shape: GEMMCase, random: inout SplitMix) {
        self.shape = shape
        a = random.floats(shape.m * shape.k)
        b = random.floats(shape.k * shape.n)
        lda = shape.transposeA ? shape.m : shape.k
        ldb = shape.transposeB ? shape.k : shape.n
        output = .allocate(capacity: shape.m * shape.n)
        output.initialize(repeating: 0)
        self.random = random
    }

    deinit { output.deallocate() }

    var skinnyBytes: Int? { skinnyGEMMBytes(m: shape.m, n: shape.n, k: shape.k) }

    func plan(_ lanes: Lanes) throws(ShardwiseError) -> ShardPlan {
        try GEMM.plan(m: shape.m, n: shape.n, k: shape.k, lanes: lanes)
    }

    func workspaceBytes(_ lanes: Lanes) throws(ShardwiseError) -> Int {
        try GEMM.workspaceBytes(m: shape.m, n: shape.n, k: shape.k, lanes: lanes)
    }

    func run(_ lanes: Lanes) throws(ShardwiseError) {
        let s = shape, lda = lda, ldb = ldb, c = output
        try a.withUnsafeBufferPointer { (a) throws(ShardwiseError) in
            try b.withUnsafeBufferPointer { (b) throws(ShardwiseError) in
                try GEMM.multiply(transposeA: s.transposeA, transposeB: s.transposeB, m: s.m, n: s.n, k: s.k,
                                  a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: s.n, lanes: lanes)
            }
        }
    }

    func reference(budget: Double) throws(ShardwiseError) -> ReferenceCheck {
        let s = shape
        let rowCost = Double(s.n) * Double(s.k)
        if Double(s.m) * rowCost <= budget {
            var c = [Float](repeating: 0, count: s.m * s.n)
            try Reference.gemm(transposeA: s.transposeA, transposeB: s.transposeB, m: s.m, n: s.n, k: s.k,
                               a: a, lda: lda, b: b, ldb: ldb, c: &c, ldc: s.n)
            return ReferenceCheck(slices: [(0, c)], isFull: true, detail: "all \(s.m * s.n) elements")
        }
        let rows = sampleIndices(count: s.m, wanted: Int(budget / rowCost), random: &random)
        var slices: [(offset: Int, values: [Float])] = []
        for i in rows {
            // Row i of op(A) as a 1 × k matrix; the reference then yields row i of C.
            let row = (0..<s.k).map { p in s.transposeA ? a[p * lda + i] : a[i * lda + p] }
            var c = [Float](repeating: 0, count: s.n)
            try Reference.gemm(transposeB: s.transposeB, m: 1, n: s.n, k: s.k, a: row, lda: s.k,
                               b: b, ldb: ldb, c: &c, ldc: s.n)
            slices.append((i * s.n, c))
        }
        return ReferenceCheck(slices: slices, isFull: false, detail: "\(rows.count) of \(s.m) rows")
    }
}

/// Bytes of A, B and C an `m × n × k` product touches when it is skinny (M = 1 or N ≤ 16: bound
/// by memory, so GB/s says more than GFLOP/s), else nil.
func skinnyGEMMBytes(m: Int, n: Int, k: Int) -> Int? {
    guard m == 1 || n <= 16 else { return nil }
    return (m * k + k * n + m * n) * MemoryLayout<Float>.stride
}

// MARK: - Layers

/// A workload that runs a library layer on one input through its buffer-form forward pass.
protocol LayerWorkload: Workload {
    associatedtype Layer: ShardedLayer
    var layer: Layer { get }
    var input: Tensor { get }
    /// A copy of `input` at a chosen offset from a 64-byte boundary (`--input-offset`), or nil.
    var placedInput: PlacedFloats? { get }
}

/// Floats copied to a chosen offset from a 64-byte boundary, freed with the object.
final class PlacedFloats {
    private let storage: UnsafeMutableRawPointer
    /// The copy.
    let buffer: UnsafeBufferPointer<Float>

    /// Copies `values` to `offset` floats past a 64-byte boundary.
    init(_ values: [Float], offset: Int) {
        storage = .allocate(byteCount: (offset + values.count) * MemoryLayout<Float>.stride, alignment: 64)
        let start = storage.bindMemory(to: Float.self, capacity: offset + values.count) + offset
        start.initialize(from: values, count: values.count)
        buffer = UnsafeBufferPointer(start: start, count: values.count)
    }

    deinit { storage.deallocate() }
}

extension LayerWorkload {
    func plan(_ lanes: Lanes) throws(ShardwiseError) -> ShardPlan {
        try layer.plan(forInput: input.shape, lanes: lanes)
    }

    func workspaceBytes(_ lanes: Lanes) throws(ShardwiseError) -> Int {
        try layer.workspaceBytes(forInput: input.shape, lanes: lanes)
    }

    func run(_ lanes: Lanes) throws(ShardwiseError) {
        let layer = layer, shape = input.shape, output = output
        if let placedInput {
            try layer.forward(input: placedInput.buffer, shape: shape, output: output, lanes: lanes)
            return
        }
        try input.withUnsafeBufferPointer { (source) throws(ShardwiseError) in
            try layer.forward(input: source, shape: shape, output: output, lanes: lanes)
        }
    }
}

// MARK: - Convolution

/// A `Conv2D` layer with a bias, run through `forward(input:shape:output:lanes:)`.
final class ConvWorkload: LayerWorkload {
    let shape: ConvCase
    let layer: Conv2D
    let input: Tensor
    let outputShape: [Int]
    let output: UnsafeMutableBufferPointer<Float>
    private var random: SplitMix

    let placedInput: PlacedFloats?

    init(_ shape: ConvCase, random: inout SplitMix, inputOffset: Int?) throws(ShardwiseError) {
        self.shape = shape
        let filterShape = [shape.kernelHeight, shape.kernelWidth, shape.inputChannels / shape.groups,
                           shape.outputChannels]
        let filter = try Tensor(shape: filterShape, scalars: random.floats(filterShape.reduce(1, *)))
        let bias = try Tensor(shape: [shape.outputChannels], scalars: random.floats(shape.outputChannels))
        let descriptor = try Conv2DDescriptor(filter: filter, bias: bias, strides: shape.strides,
                                              padding: shape.padding, dilations: shape.dilations,
                                              groups: shape.groups, activation: shape.activation)
        layer = try Conv2D(descriptor)
        let input = try Tensor(shape: shape.inputShape, scalars: random.floats(shape.inputShape.reduce(1, *)))
        self.input = input
        placedInput = inputOffset.map { PlacedFloats(input.scalars, offset: $0) }
        outputShape = try descriptor.outputShape(forInput: shape.inputShape)
        output = .allocate(capacity: outputShape.reduce(1, *))
        output.initialize(repeating: 0)
        self.random = random
    }

    deinit { output.deallocate() }

    var skinnyBytes: Int? { nil }

    func reference(budget: Double) throws(ShardwiseError) -> ReferenceCheck {
        let batch = shape.batch
        let imageOutput = outputShape[1] * outputShape[2] * outputShape[3]
        let imageCost = Double(imageOutput) * Double(shape.kernelHeight * shape.kernelWidth)
            * Double(shape.inputChannels / shape.groups)
        if Double(batch) * imageCost <= budget || batch == 1 {
            let expected = try Reference.conv2D(input: input, descriptor: layer.descriptor)
            return ReferenceCheck(slices: [(0, expected.scalars)], isFull: true,
                                  detail: "all \(expected.count) elements")
        }
        // At least two images (first and last), more while the budget allows.
        let images = sampleIndices(count: batch, wanted: Swift.max(2, Int(budget / imageCost)), random: &random)
        let imageInput = shape.height * shape.width * shape.inputChannels
        var slices: [(offset: Int, values: [Float])] = []
        for image in images {
            let start = image * imageInput
            let one = try Tensor(shape: [1, shape.height, shape.width, shape.inputChannels],
                                 scalars: Array(input.scalars[start..<start + imageInput]))
            let expected = try Reference.conv2D(input: one, descriptor: layer.descriptor)
            slices.append((image * imageOutput, expected.scalars))
        }
        return ReferenceCheck(slices: slices, isFull: false, detail: "\(images.count) of \(batch) images")
    }
}

// MARK: - Dense

/// A `Dense` layer with a bias, run through `forward(input:shape:output:lanes:)`.
final class DenseWorkload: LayerWorkload {
    let shape: DenseCase
    let layer: Dense
    let input: Tensor
    let output: UnsafeMutableBufferPointer<Float>
    private var random: SplitMix

    let placedInput: PlacedFloats?

    init(_ shape: DenseCase, random: inout SplitMix, inputOffset: Int?) throws(ShardwiseError) {
        self.shape = shape
        let weight = try Tensor(shape: [shape.inputs, shape.outputs], scalars: random.floats(shape.inputs * shape.outputs))
        let bias = try Tensor(shape: [shape.outputs], scalars: random.floats(shape.outputs))
        layer = try Dense(try DenseDescriptor(weight: weight, bias: bias, activation: shape.activation))
        let input = try Tensor(shape: [shape.batch, shape.inputs], scalars: random.floats(shape.batch * shape.inputs))
        self.input = input
        placedInput = inputOffset.map { PlacedFloats(input.scalars, offset: $0) }
        output = .allocate(capacity: shape.batch * shape.outputs)
        output.initialize(repeating: 0)
        self.random = random
    }

    deinit { output.deallocate() }

    var skinnyBytes: Int? { skinnyGEMMBytes(m: shape.batch, n: shape.outputs, k: shape.inputs) }

    func reference(budget: Double) throws(ShardwiseError) -> ReferenceCheck {
        let s = shape
        let rowCost = Double(s.inputs) * Double(s.outputs)
        if Double(s.batch) * rowCost <= budget {
            let expected = try Reference.dense(input: input, descriptor: layer.descriptor)
            return ReferenceCheck(slices: [(0, expected.scalars)], isFull: true, detail: "all \(expected.count) elements")
        }
        let rows = sampleIndices(count: s.batch, wanted: Int(budget / rowCost), random: &random)
        var slices: [(offset: Int, values: [Float])] = []
        for row in rows {
            let start = row * s.inputs
            let one = try Tensor(shape: [1, s.inputs], scalars: Array(input.scalars[start..<start + s.inputs]))
            slices.append((row * s.outputs, try Reference.dense(input: one, descriptor: layer.descriptor).scalars))
        }
        return ReferenceCheck(slices: slices, isFull: false, detail: "\(rows.count) of \(s.batch) rows")
    }
}
