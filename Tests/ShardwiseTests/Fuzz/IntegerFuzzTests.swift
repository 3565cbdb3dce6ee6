// Integer fuzzing: extreme integers at every public initializer and entry point.
//
// Strategy. Each case draws integers from a pool that mixes the edges (0, ±1, Int.max,
// Int.min, powers of two up to 2⁶², Int.max / small, arbitrary bit patterns) with small valid
// sizes, and passes them as shapes, sizes, strides, dilations, paddings, groups, leading
// dimensions and lane counts. Typed throws already guarantee that only `ShardwiseError`
// escapes; this test checks the rest:
//   - nothing traps. In release the library is built -Ounchecked, where an overflow wraps
//     silently instead, so `.ci/sanitizers` also runs this test in debug under the address
//     sanitizer, where every unchecked overflow is a trap and every stray access a report;
//   - a call that succeeds is right: on tiny real buffers GEMM, PackedMatrix and the layers
//     must accept exactly the sizes that fit (an independent oracle below decides), a tensor's
//     count is its shape's product, a geometry's windows lie inside the padded input, and
//     whatever ran matches the reference.
// Nothing allocates more than the shape it was asked about once validated: calls that would
// legitimately allocate a huge valid tensor are skipped. Same seeds and counts as the
// differential fuzzer (`FuzzRun`).

import Testing
import Shardwise
import ShardwiseReference
import ShardwiseTestSupport

extension SeededGenerator {
    /// An integer from the edge pool (see the file header): small values half of the time.
    mutating func extremeInt() -> Int {
        switch int(0...9) {
        case 0, 1, 2, 3, 4: return int(-2...6)
        case 5: return [Int.max, Int.min, Int.max - 1, Int.min + 1].randomElement(using: &self)!
        case 6: return (1 << int(16...62)) + int(-1...1)
        case 7: return -(1 << int(0...62))
        case 8: return Int.max / int(1...64)
        default: return Int(bitPattern: UInt(next()))
        }
    }

    /// Usually a small positive size, sometimes an edge value.
    mutating func mostlySmall(_ range: ClosedRange<Int> = 1...4) -> Int {
        oneIn(5) ? extremeInt() : int(range)
    }

    /// `.serial`, `.automatic`, or `.fixed` of an edge value.
    mutating func extremeLanes() -> Lanes {
        switch int(0...3) {
        case 0: return .serial
        case 1: return .automatic
        default: return .fixed(oneIn(2) ? int(-1...5) : extremeInt())
        }
    }
}

/// The product of `values`, or nil when it overflows `Int`.
func checkedProduct(_ values: [Int]) -> Int? {
    var product = 1
    for value in values {
        let (next, overflow) = product.multipliedReportingOverflow(by: value)
        if overflow { return nil }
        product = next
    }
    return product
}

/// The element count of a valid tensor shape (non-empty, every extent ≥ 1, byte count fits `Int`), or nil.
func validElementCount(_ shape: [Int]) -> Int? {
    guard !shape.isEmpty, shape.allSatisfy({ $0 >= 1 }), let count = checkedProduct(shape),
          checkedProduct([count, MemoryLayout<Float>.stride]) != nil else { return nil }
    return count
}

/// The elements a `rows × columns` matrix with row stride `ld` spans, or nil when a size is below one,
/// `ld < columns`, or the span (or its byte count) overflows.
func matrixSpan(rows: Int, columns: Int, ld: Int) -> Int? {
    guard rows >= 1, columns >= 1, ld >= columns, let last = checkedProduct([rows - 1, ld]) else { return nil }
    let (span, overflow) = last.addingReportingOverflow(columns)
    return overflow || checkedProduct([span, MemoryLayout<Float>.stride]) == nil ? nil : span
}

/// The fuzz cases, one per entry point; each returns a failure description or nil.
enum IntegerFuzzCase {
    /// Elements in each tiny buffer the buffer-taking entry points get.
    static let tiny = 64

    /// `Tensor.init(shape:scalars:)` (never allocates beyond its scalars) and, for small valid
    /// shapes, `init(shape:repeating:)` and `init(shape:generator:)`.
    static func tensor(_ rng: inout SeededGenerator) -> String? {
        let shape = (0..<rng.int(0...5)).map { _ in rng.mostlySmall() }
        let scalars = [Float](repeating: 1, count: rng.int(0...8))
        let count = validElementCount(shape)
        let accepted = (try? Tensor(shape: shape, scalars: scalars)) != nil
        if accepted != (count == scalars.count) {
            return "Tensor(shape: \(shape), scalars: \(scalars.count) values) \(accepted ? "accepted" : "rejected")"
        }
        guard count == nil || count! <= 4096 else { return nil }  // a valid, huge shape would really allocate
        let repeated = try? Tensor(shape: shape, repeating: 2)
        let generated = try? Tensor(shape: shape) { Float($0) }
        if (repeated?.count, generated?.count) != (count, count) {
            return "Tensor(shape: \(shape)) gave \(String(describing: repeated?.count)) elements, expected \(String(describing: count))"
        }
        return nil
    }

    /// `ConvolutionGeometry.init`: on success the output is at least one and the last window lies
    /// inside the padded input; SAME gives ceil(input / stride).
    static func geometry(_ rng: inout SeededGenerator) -> String? {
        let input = Size2D(height: rng.mostlySmall(1...9), width: rng.mostlySmall(1...9))
        let kernel = Size2D(height: rng.mostlySmall(), width: rng.mostlySmall())
        let strides = Size2D(height: rng.mostlySmall(1...3), width: rng.mostlySmall(1...3))
        let dilations = Size2D(height: rng.mostlySmall(1...3), width: rng.mostlySmall(1...3))
        let padding = randomPadding(&rng)
        guard let g = try? ConvolutionGeometry(input: input, kernel: kernel, strides: strides, dilations: dilations,
                                               padding: padding) else { return nil }
        for axis in [g.height, g.width] {
            let dilated = checkedProduct([axis.kernel - 1, axis.dilation]).map { $0 + 1 }
            let lastStart = checkedProduct([axis.output - 1, axis.stride])
            let (padded, overflow) = axis.input.addingReportingOverflow(axis.padBefore &+ axis.padAfter)
            guard axis.output >= 1, axis.padBefore >= 0, axis.padAfter >= 0, let dilated, let lastStart, !overflow,
                  lastStart <= padded - dilated else {
                return "ConvolutionGeometry(input: \(input), kernel: \(kernel), strides: \(strides), "
                    + "dilations: \(dilations), padding: \(padding)) gave an inconsistent axis \(axis)"
            }
            if padding == .same && axis.output != (axis.input - 1) / axis.stride + 1 {
                return "SAME geometry \(axis): output is not ceil(input / stride)"
            }
        }
        return nil
    }

    /// SAME, VALID, or explicit padding of edge values.
    static func randomPadding(_ rng: inout SeededGenerator) -> Padding {
        switch rng.int(0...2) {
        case 0: return .same
        case 1: return .valid
        default:
            return .explicit(top: rng.mostlySmall(0...2), bottom: rng.mostlySmall(0...2), left: rng.mostlySmall(0...2),
                             right: rng.mostlySmall(0...2))
        }
    }

    /// A descriptor with a small real filter and edge-valued strides, dilations, padding and groups;
    /// then shape questions about edge-valued inputs, and, where a small input is valid, a forward
    /// pass on real buffers against the reference.
    static func convolution(_ rng: inout SeededGenerator) throws -> String? {
        let groups = rng.oneIn(3) ? rng.extremeInt() : rng.int(1...2)
        let filterShape = [rng.int(1...3), rng.int(1...3), rng.int(1...2), rng.int(1...2) * (groups >= 1 && groups <= 2 ? groups : 1)]
        let filter = try Tensor(shape: filterShape, scalars: rng.floats(filterShape.reduce(1, *)))
        guard let descriptor = try? Conv2DDescriptor(
            filter: filter, strides: Size2D(height: rng.mostlySmall(1...3), width: rng.mostlySmall(1...3)),
            padding: randomPadding(&rng), dilations: Size2D(height: rng.mostlySmall(1...2), width: rng.mostlySmall(1...2)),
            groups: groups, activation: .relu) else { return nil }
        let layer = try Conv2D(descriptor)
        let channels = rng.oneIn(4) ? rng.extremeInt() : descriptor.inputChannels
        let shape = (0..<(rng.oneIn(10) ? rng.int(0...5) : 4)).map { _ in rng.mostlySmall(1...6) }
            .enumerated().map { $0.offset == 3 ? channels : $0.element }
        let lanes = rng.extremeLanes()
        let outputShape = try? descriptor.outputShape(forInput: shape)
        if let outputShape, validElementCount(outputShape) == nil {
            return "Conv2D \(descriptor.strides) \(descriptor.padding) \(descriptor.dilations): output shape \(outputShape) for \(shape) is not a valid shape"
        }
        _ = try? layer.plan(forInput: shape, lanes: lanes)
        _ = try? layer.workspaceBytes(forInput: shape, lanes: lanes)
        guard let outputShape, let inputCount = validElementCount(shape), inputCount <= 4096,
              let outputCount = validElementCount(outputShape), outputCount <= 4096 else { return nil }
        let input = try Tensor(shape: shape, scalars: rng.floats(inputCount))
        var output = [Float](repeating: .nan, count: outputCount)
        do {
            try input.withUnsafeBufferPointer { source in
                try output.withUnsafeMutableBufferPointer { try layer.forward(input: source, shape: shape, output: $0, lanes: lanes) }
            }
        } catch ShardwiseError.nonPositiveSize(argument: "lanes", _) {
            return nil
        }
        let expected = try Reference.conv2D(input: input, descriptor: descriptor)
        let depth = filterShape[0] * filterShape[1] * filterShape[2]
        return firstMismatch(output, expected.scalars, tolerance: tolerance(depth: depth, magnitude: Float(depth)))
            .map { "Conv2D \(descriptor.strides) \(descriptor.padding) \(descriptor.dilations) groups \(groups) on \(shape): \($0)" }
    }

    /// A dense layer with a small real weight: shape questions and a forward pass on tiny buffers,
    /// which must succeed exactly when the shape is valid and fits them.
    static func dense(_ rng: inout SeededGenerator) throws -> String? {
        let inputs = rng.int(1...6), outputs = rng.int(1...6)
        let layer = try Dense(try DenseDescriptor(weight: try Tensor(shape: [inputs, outputs], scalars: rng.floats(inputs * outputs))))
        var shape = (0..<rng.int(0...4)).map { _ in rng.mostlySmall(1...6) }
        if shape.count >= 2 && !rng.oneIn(4) { shape = [shape[0], inputs] }
        let lanes = rng.extremeLanes()
        _ = try? layer.plan(forInput: shape, lanes: lanes)
        _ = try? layer.workspaceBytes(forInput: shape, lanes: lanes)
        let input = rng.floats(tiny)
        var output = [Float](repeating: .nan, count: tiny)
        let accepted = (try? input.withUnsafeBufferPointer { source in
            try output.withUnsafeMutableBufferPointer { try layer.forward(input: source, shape: shape, output: $0, lanes: lanes) }
        }) != nil
        let fits = shape.count >= 2 && validElementCount(shape).map { $0 <= tiny } == true
            && checkedProduct(Array(shape.dropFirst())) == inputs && shape[0] * outputs <= tiny
        if accepted != (fits && laneCountIsValid(lanes)) {
            return "Dense \(inputs) → \(outputs) on \(shape): \(accepted ? "accepted" : "rejected") with \(tiny)-float buffers"
        }
        return nil
    }

    /// `GEMM.multiply` (strided or pre-packed B) with edge-valued sizes on tiny buffers: it must
    /// succeed exactly when every matrix fits its buffer, and then match the reference.
    static func gemm(_ rng: inout SeededGenerator) throws -> String? {
        let tA = Bool.random(using: &rng), tB = Bool.random(using: &rng)
        let m = rng.mostlySmall(1...5), n = rng.mostlySmall(1...5), k = rng.mostlySmall(1...5)
        let lda = rng.mostlySmall(1...8), ldb = rng.mostlySmall(1...8), ldc = rng.mostlySmall(1...8)
        let biasCount = rng.oneIn(2) ? nil : Optional(rng.int(0...6))
        let lanes = rng.extremeLanes(), packed = rng.oneIn(3)
        let a = rng.floats(tiny), b = rng.floats(tiny), bias = biasCount.map { rng.floats($0) }
        var c = rng.floats(tiny)
        let before = c
        let name = "GEMM tA=\(tA) tB=\(tB) m=\(m) n=\(n) k=\(k) lda=\(lda) ldb=\(ldb) ldc=\(ldc) bias=\(String(describing: biasCount)) packed=\(packed)"
        let packedB = packed ? b.withUnsafeBufferPointer { try? PackedMatrix(depth: k, columns: n, b: $0, ldb: ldb, transposed: tB) } : nil
        let bFits = n >= 1 && k >= 1 && (tB ? matrixSpan(rows: n, columns: k, ld: ldb) : matrixSpan(rows: k, columns: n, ld: ldb)).map { $0 <= tiny } == true
        if packed && (packedB != nil) != bFits { return "PackedMatrix depth=\(k) columns=\(n) ldb=\(ldb) transposed=\(tB): \(packedB != nil ? "accepted" : "rejected")" }
        if packed && packedB == nil { return nil }
        let accepted = (try? a.withUnsafeBufferPointer { a in
            try b.withUnsafeBufferPointer { b in
                try c.withUnsafeMutableBufferPointer { c in
                    try bias.withOptionalUnsafeBuffer { bias in
                        if let packedB {
                            try GEMM.multiply(transposeA: tA, m: m, a: a, lda: lda, b: packedB, beta: 0.5, c: c, ldc: ldc,
                                              bias: bias, lanes: lanes)
                        } else {
                            try GEMM.multiply(transposeA: tA, transposeB: tB, m: m, n: n, k: k, a: a, lda: lda, b: b,
                                              ldb: ldb, beta: 0.5, c: c, ldc: ldc, bias: bias, lanes: lanes)
                        }
                    }
                }
            }
        }) != nil
        let aFits = (tA ? matrixSpan(rows: k, columns: m, ld: lda) : matrixSpan(rows: m, columns: k, ld: lda)).map { $0 <= tiny } == true
        let cFits = matrixSpan(rows: m, columns: n, ld: ldc).map { $0 <= tiny } == true
        let valid = m >= 1 && n >= 1 && k >= 1 && aFits && bFits && cFits && (biasCount == nil || biasCount == n) && laneCountIsValid(lanes)
        if accepted != valid { return "\(name): \(accepted ? "accepted" : "rejected")" }
        if !accepted {
            return c == before ? nil : "\(name): threw, but wrote into C"
        }
        var expected = before
        try Reference.gemm(transposeA: tA, transposeB: tB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: 0.5,
                           c: &expected, ldc: ldc, bias: bias)
        return firstMismatch(c, expected, tolerance: tolerance(depth: k, magnitude: Float(k) + 2)).map { "\(name): \($0)" }
    }

    /// Whether `lanes` passes validation (`fixed(n)` needs n ≥ 1).
    static func laneCountIsValid(_ lanes: Lanes) -> Bool {
        (try? Planner.plan(rows: 1, columns: 1, depth: 1, lanes: lanes, packsB: false)) != nil
    }

    /// Runs case `seed`: picks the entry point, then the integers.
    static func run(seed: UInt64) throws -> String? {
        var rng = SeededGenerator(seed: seed)
        switch rng.int(0...4) {
        case 0: return tensor(&rng)
        case 1: return geometry(&rng)
        case 2: return try convolution(&rng)
        case 3: return try dense(&rng)
        default: return try gemm(&rng)
        }
    }
}

@Suite struct IntegerFuzzTests {
    /// `FuzzRun.cases` cases of edge-valued integers at the public API (see the file header).
    @Test func edgeIntegersThrowTypedErrorsAndNeverTrap() throws {
        var failures = 0
        for index in 0..<FuzzRun.cases {
            let seed = FuzzRun.baseSeed &+ UInt64(index)
            let failure: String?
            do {
                failure = try IntegerFuzzCase.run(seed: seed)
            } catch {
                failure = "threw \(error)"
            }
            guard let failure else { continue }
            Issue.record("case seed \(seed) (base seed \(FuzzRun.baseSeed); replay with \(FuzzRun.replay(seed))): \(failure)")
            failures += 1
            if failures == FuzzRun.failureLimit { return }
        }
    }
}
