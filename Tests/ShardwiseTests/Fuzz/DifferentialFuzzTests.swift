// Differential fuzzing: thousands of random cases, every public kernel against the reference.
//
// Strategy. Case i of a run draws everything it does from its own seed, `base seed + i`:
// which operation (GEMM, Conv2D forward, Dense forward and gradients, Conv2D gradients),
// its sizes and options, its data and its lanes. A failure names that seed, and
//   SHARDWISE_FUZZ_SEED=<seed> SHARDWISE_FUZZ_CASES=1 swift test -c release --filter DifferentialFuzz
// replays exactly that case alone. The cases themselves run through the same checkers the
// unit tests use (`checkGEMM`, `checkConv`, `checkConvGradients`, `checkDense`): outputs of
// the buffer forms start NaN-poisoned (an element the kernel forgets fails the comparison),
// padding columns of C must come back bit-identical, and when a case draws two lane counts
// their results must agree bitwise.
//
// Sizes are small (each case takes well under a millisecond or two), with a few percent of
// cases pushed past the blocking table's edges: depth past KC, rows past MC (96),
// columns past NC (2048). SHARDWISE_FUZZ_CASES=N changes the count (100000 for a long
// local run); SHARDWISE_FUZZ_SEED=S changes the base seed.

import Testing
import Shardwise
import ShardwiseTestSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The fuzzers' run settings, read from the environment (without Foundation).
enum FuzzRun {
    /// Cases per run: `SHARDWISE_FUZZ_CASES`, or 5,000.
    static let cases: Int = environment("SHARDWISE_FUZZ_CASES").flatMap { Int($0) }.map { Swift.max($0, 0) } ?? 5000
    /// The first case's seed: `SHARDWISE_FUZZ_SEED`, or a fixed default so every run is reproducible.
    static let baseSeed: UInt64 = environment("SHARDWISE_FUZZ_SEED").flatMap { UInt64($0) } ?? 20_260_707

    /// Failures reported per test before the rest of the run is skipped (one bug tends to fail many cases).
    static let failureLimit = 10

    /// The value of an environment variable, or nil when unset or empty.
    static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let string = String(cString: value)
        return string.isEmpty ? nil : string
    }

    /// The environment settings that replay case `seed` alone, for a failure message.
    static func replay(_ seed: UInt64) -> String { "SHARDWISE_FUZZ_SEED=\(seed) SHARDWISE_FUZZ_CASES=1" }
}

/// A lane setting with a name for the failure report (`Lanes` itself has none).
struct LaneChoice: CustomStringConvertible {
    let lanes: Lanes
    let description: String

    /// `.serial`, `.fixed(1...5)` or `.automatic`, uniformly.
    static func random(using rng: inout SeededGenerator) -> LaneChoice {
        switch Int.random(in: 0...6, using: &rng) {
        case 0: return LaneChoice(lanes: .serial, description: "serial")
        case 6: return LaneChoice(lanes: .automatic, description: "automatic")
        case let n: return LaneChoice(lanes: .fixed(n), description: "fixed(\(n))")
        }
    }

    /// One lane setting, or (a quarter of the time) two whose results must then agree bitwise.
    static func randomList(using rng: inout SeededGenerator) -> [LaneChoice] {
        let count = Int.random(in: 0..<4, using: &rng) == 0 ? 2 : 1
        return (0..<count).map { _ in random(using: &rng) }
    }
}

/// Random draws shared by the case generators.
extension SeededGenerator {
    /// True with probability `1 / n`.
    mutating func oneIn(_ n: Int) -> Bool { Int.random(in: 0..<n, using: &self) == 0 }

    /// An integer in `range`.
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }

    /// Every activation, the clamp with random bounds (sometimes equal ones).
    mutating func activation() -> Activation {
        switch int(0...4) {
        case 0, 1: return .none
        case 2: return .relu
        case 3: return .relu6
        default:
            let lower = Float.random(in: -1...0.5, using: &self)
            return .clamp(min: lower, max: oneIn(8) ? lower : lower + Float.random(in: 0...1.5, using: &self))
        }
    }

    /// A leading-dimension padding for a row of `columns`: none, a few, or up to the next prime.
    mutating func padding(columns: Int) -> Int {
        switch int(0...3) {
        case 0, 1: return 0
        case 2: return int(1...7)
        default: return nextPrime(after: columns) - columns
        }
    }
}

/// The smallest prime above `n`.
func nextPrime(after n: Int) -> Int {
    var candidate = n + 1
    while candidate < 2 || (2..<candidate).contains(where: { $0 * $0 <= candidate && candidate % $0 == 0 }) {
        candidate += 1
    }
    return candidate
}

/// The dilated extent of a kernel: `(kernel − 1) · dilation + 1`.
func dilatedExtent(kernel: Int, dilation: Int) -> Int { (kernel - 1) * dilation + 1 }

/// One random case of every kind; each returns a failure description or nil.
enum FuzzCase {
    /// A GEMM: both transposes, padded (sometimes prime) leading dimensions, alpha/beta (beta = 0 with
    /// NaN-poisoned C), bias, every activation, B strided or pre-packed.
    static func gemm(_ rng: inout SeededGenerator, seed: UInt64) throws -> String? {
        var m = rng.int(1...24), n = rng.int(1...40), k = rng.int(1...24)
        switch rng.int(0...19) {
        case 0: k = rng.int((Blocking.kc - 20)...(Blocking.kc + 80))  // past KC: several rank-KC updates, beta applied once
        case 1: m = rng.int(90...130)  // past MC
        case 2: (m, n, k) = (rng.int(1...3), rng.int(2040...2100), rng.int(1...3))  // past NC
        default: break
        }
        let tA = Bool.random(using: &rng), tB = Bool.random(using: &rng)
        let padA = rng.padding(columns: tA ? m : k), padB = rng.padding(columns: tB ? k : n)
        let padC = rng.padding(columns: n)
        let alpha: Float = [1, 1, -1, 0.5, 2, 0, Float.random(in: -2...2, using: &rng)].randomElement(using: &rng)!
        let beta: Float = rng.oneIn(2) ? 0 : [1, -0.5, Float.random(in: -2...2, using: &rng)].randomElement(using: &rng)!
        let bias = Bool.random(using: &rng), packed = rng.oneIn(3)
        let activation = rng.activation()
        for lane in LaneChoice.randomList(using: &rng) {
            if let failure = try checkGEMM(transposeA: tA, transposeB: tB, m: m, n: n, k: k, padA: padA, padB: padB,
                                           padC: padC, alpha: alpha, beta: beta, bias: bias, activation: activation,
                                           lanes: lane.lanes, packed: packed, seed: seed) {
                return "GEMM lanes \(lane): \(failure)"
            }
        }
        return nil
    }

    /// A convolution over every descriptor option: kernel sizes (square or not), strides (mixed
    /// per axis), dilations, SAME/VALID/explicit asymmetric padding, groups and depthwise, odd
    /// sizes (a quarter of them wide), batch 1–4, bias, activation. `valid` is false when the
    /// dilated kernel was made larger than the padded input on purpose.
    static func convolution(_ rng: inout SeededGenerator) -> (ConvCase, valid: Bool) {
        var c = ConvCase()
        c.batch = rng.int(1...4)
        let side = rng.int(1...5)
        c.kernel = rng.oneIn(2) ? Size2D(side) : Size2D(height: rng.int(1...5), width: rng.int(1...5))
        c.strides = Size2D(height: rng.int(1...3), width: rng.int(1...3))
        c.dilations = rng.oneIn(3) ? Size2D(height: rng.int(1...3), width: rng.int(1...3)) : Size2D(1)
        switch rng.int(0...2) {
        case 0: c.padding = .same
        case 1: c.padding = .valid
        default: c.padding = .explicit(top: rng.int(0...3), bottom: rng.int(0...3), left: rng.int(0...3), right: rng.int(0...3))
        }
        switch rng.int(0...3) {
        case 0:  // grouped
            c.groups = rng.int(2...3)
            c.inputChannels = c.groups * rng.int(1...3)
            c.outputChannels = c.groups * rng.int(1...8)
        case 1:  // depthwise, channel multiplier 1 or 2
            c.inputChannels = rng.int(1...9)
            c.groups = c.inputChannels
            c.outputChannels = c.inputChannels * rng.int(1...2)
        default:
            c.inputChannels = rng.int(1...9)
            c.outputChannels = rng.int(1...40)
        }
        if rng.oneIn(25) {  // depth KH·KW·Cin past KC: a KC block ends inside a channel run
            c.kernel = Size2D(5)
            c.groups = 1
            c.inputChannels = rng.int((Blocking.kc / 25 - 3)...(Blocking.kc / 25 + 6))
            c.outputChannels = rng.int(1...8)
        }
        c.bias = Bool.random(using: &rng)
        c.activation = rng.activation()
        // Input extents: anything under SAME; under VALID and explicit padding, large enough for the
        // dilated kernel, except in one case of twenty, made too small on purpose.
        let (top, bottom, left, right): (Int, Int, Int, Int)
        if case let .explicit(t, b, l, r) = c.padding { (top, bottom, left, right) = (t, b, l, r) } else { (top, bottom, left, right) = (0, 0, 0, 0) }
        let needHeight = dilatedExtent(kernel: c.kernel.height, dilation: c.dilations.height) - top - bottom
        let needWidth = dilatedExtent(kernel: c.kernel.width, dilation: c.dilations.width) - left - right
        // One case in four is wider, so that the padding is a small part of a row and the layer
        // reads its patches in place from padded bands (see Conv2D's band path).
        let extraWidth = rng.oneIn(4) ? rng.int(10...30) : 0
        if c.padding == .same {
            c.height = rng.int(1...12)
            c.width = rng.int(1...12) + extraWidth
            return (c, true)
        }
        c.height = Swift.max(1, needHeight) + rng.int(0...6)
        c.width = Swift.max(1, needWidth) + rng.int(0...6) + extraWidth
        if rng.oneIn(20) && needHeight > 1 {
            c.height = rng.int(1...(needHeight - 1))
            return (c, false)
        }
        return (c, true)
    }

    /// A convolution forward pass into a NaN-poisoned output; a case made invalid on purpose must
    /// throw `kernelLargerThanPaddedInput` and nothing else.
    static func convolutionForward(_ rng: inout SeededGenerator, seed: UInt64) throws -> String? {
        let (c, valid) = convolution(&rng)
        let lanes = LaneChoice.randomList(using: &rng)
        do {
            if let failure = try checkConv(c, seed: seed, lanes: lanes.map(\.lanes)) {
                return "Conv2D forward lanes \(lanes): \(failure)"
            }
            return valid ? nil : "Conv2D forward \(c): ran, but its kernel is larger than the padded input"
        } catch ShardwiseError.kernelLargerThanPaddedInput where !valid {
            return nil
        }
    }

    /// The three gradients of a valid convolution.
    static func convolutionGradients(_ rng: inout SeededGenerator, seed: UInt64) throws -> String? {
        var (c, valid) = convolution(&rng)
        while !valid { (c, valid) = convolution(&rng) }
        let lanes = LaneChoice.randomList(using: &rng)
        return try checkConvGradients(c, seed: seed, lanes: lanes.map(\.lanes)).map { "Conv2D gradients lanes \(lanes): \($0)" }
    }

    /// A dense layer's forward pass (NaN-poisoned output) and gradients, on a matrix input or an
    /// NHWC one flattened per sample.
    static func dense(_ rng: inout SeededGenerator, seed: UInt64) throws -> String? {
        let batch = rng.oneIn(20) ? rng.int(90...130) : rng.int(1...40)
        var features = rng.oneIn(3) ? [rng.int(1...4), rng.int(1...4), rng.int(1...6)] : [rng.int(1...80)]
        if rng.oneIn(20) { features = [rng.int(500...600)] }
        let outputs = rng.int(1...70)
        let bias = Bool.random(using: &rng), activation = rng.activation()
        let lanes = LaneChoice.randomList(using: &rng)
        return try checkDense(inputShape: [batch] + features, outputs: outputs, bias: bias, activation: activation,
                              lanes: lanes.map(\.lanes), seed: seed).map { "Dense lanes \(lanes): \($0)" }
    }

    /// Runs case `seed`: picks the operation, then the case.
    static func run(seed: UInt64) throws -> String? {
        var rng = SeededGenerator(seed: seed)
        switch rng.int(0...9) {
        case 0, 1, 2: return try gemm(&rng, seed: seed)
        case 3, 4, 5: return try convolutionForward(&rng, seed: seed)
        case 6, 7: return try convolutionGradients(&rng, seed: seed)
        default: return try dense(&rng, seed: seed)
        }
    }
}

@Suite struct DifferentialFuzzTests {
    /// The generator reaches every convolution path: a share of its valid cases read their patches
    /// in place from padded bands (the rest pack them, or are depthwise or pointwise).
    @Test func convolutionsReachThePaddedBandPath() throws {
        var bands = 0, total = 0
        for index in 0..<2_000 {
            var rng = SeededGenerator(seed: UInt64(index))
            let (c, valid) = FuzzCase.convolution(&rng)
            guard valid else { continue }
            var weights = SeededGenerator(seed: 1)
            let layer = try Conv2D(try c.descriptor(&weights))
            total += 1
            if try layer.readsPatchesFromBands(forInput: [c.batch, c.height, c.width, c.inputChannels]) { bands += 1 }
        }
        // 1,729 of 1,963 on one lane on AVX-512, 1,691 on the portable target, since grouped layers
        // read bands too (1,060 and 1,022 before; bands serve at most eight NR panels a group, two
        // under a height stride with long kernel rows, and any depth).
        #expect(bands * 50 >= total, "only \(bands) of \(total) cases take the band path")
    }

    /// `FuzzRun.cases` random cases against the reference (see the file header).
    @Test func randomCasesMatchTheReference() throws {
        var failures = 0
        for index in 0..<FuzzRun.cases {
            let seed = FuzzRun.baseSeed &+ UInt64(index)
            let failure: String?
            do {
                failure = try FuzzCase.run(seed: seed)
            } catch {
                failure = "threw \(error)"
            }
            guard let failure else { continue }
            Issue.record("case seed \(seed) (base seed \(FuzzRun.baseSeed); replay with \(FuzzRun.replay(seed))): \(failure)")
            failures += 1
            if failures == FuzzRun.failureLimit {
                Issue.record("stopped after \(failures) failures at case \(index + 1) of \(FuzzRun.cases)")
                return
            }
        }
    }
}
