// Test support shared by every test target: a seeded generator, the √K tolerance,
// a failure report that names the parameters, and rows for tables of bad inputs.

import Shardwise

/// The library's seeded SplitMix64 with the seed kept for failure reports, so every test is reproducible.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    /// The seed the generator started from; print it when a test fails.
    public let seed: UInt64
    private var generator: SplitMix64

    /// Creates a generator; the same seed gives the same sequence on every platform.
    public init(seed: UInt64) {
        self.seed = seed
        generator = SplitMix64(seed: seed)
    }

    /// The next 64 random bits (the library's SplitMix64).
    public mutating func next() -> UInt64 { generator.next() }

    /// `count` values uniform in `-1 ... 1`, never all zero.
    public mutating func floats(_ count: Int) -> [Float] {
        (0..<count).map { _ in Float.random(in: -1...1, using: &self) }
    }
}

/// The largest difference a correct Float kernel may show against the Double reference.
///
/// A dot product of length `depth` computed in Float (in any order) differs from the
/// exact value by at most about `depth · ε · Σ|xᵢ·yᵢ|`; random-sign errors grow like
/// `√depth`, so the tolerance is `8 · √depth · ε · magnitude`, with `magnitude` the
/// largest `Σ|xᵢ·yᵢ|` (or output magnitude) involved. It is far below any real bug
/// (a missed or doubled term changes an output by about one term's size).
public func tolerance(depth: Int, magnitude: Float) -> Float {
    8 * Float(Swift.max(depth, 1)).squareRoot() * Float.ulpOfOne * Swift.max(magnitude, 1)
}

/// The first element where `actual` and `expected` differ by more than `tolerance`, described,
/// or nil when they agree. NaN in `actual` (an unwritten, poisoned element) always fails.
public func firstMismatch(_ actual: [Float], _ expected: [Float], tolerance: Float, indices: Range<Int>? = nil) -> String? {
    if actual.count != expected.count { return "count \(actual.count) != \(expected.count)" }
    for i in indices ?? actual.indices {
        let a = actual[i], e = expected[i]
        if e.isNaN && a.isNaN { continue }
        if a.isNaN || abs(a - e) > tolerance {
            return "element \(i): got \(a), expected \(e) (tolerance \(tolerance))"
        }
    }
    return nil
}

/// Runs `body` for every combination of `first` and `second`, prefixing any failure with them.
public func withEvery<A, B>(_ first: [A], _ second: [B], _ body: (A, B) throws -> Void) rethrows {
    for a in first { for b in second { try body(a, b) } }
}

/// One bad argument and the typed error it must produce: a row of a table-driven test,
/// checked with `#expect(throws: bad.expected) { try bad.attempt() }`. Its description names the
/// row in the test report.
///
/// A row made with `init(_:_:outputCount:_:)` hands its call a caller-style output buffer filled
/// with `BadInput.sentinel`; `attempt` then also checks that the call left every element of it
/// untouched, and throws `OutputWritten` (never the expected error) when it did not.
public struct BadInput: Sendable, CustomStringConvertible {
    /// The value a row's output buffer holds before the call and must still hold after it.
    public static let sentinel: Float = -12345.5

    /// What is wrong with the argument, in a few words.
    public let description: String
    /// The error `attempt` must throw.
    public let expected: ShardwiseError
    /// The call with the bad argument (and, for rows with an output, the check that it wrote nothing).
    public let attempt: @Sendable () throws -> Void

    /// Creates a row: `description`, the `expected` error, and the call that must throw it.
    public init(_ description: String, _ expected: ShardwiseError, _ attempt: @escaping @Sendable () throws -> Void) {
        self.description = description
        self.expected = expected
        self.attempt = attempt
    }

    /// Creates a row whose call writes into a caller's buffer: `attempt` receives `outputCount`
    /// floats set to `sentinel` (it may pass a shorter slice of them) and must leave them all as they were.
    public init(_ description: String, _ expected: ShardwiseError, outputCount: Int,
                _ attempt: @escaping @Sendable (UnsafeMutableBufferPointer<Float>) throws -> Void) {
        self.init(description, expected) {
            var output = [Float](repeating: BadInput.sentinel, count: outputCount)
            let result = Result { try output.withUnsafeMutableBufferPointer { try attempt($0) } }
            if let index = output.firstIndex(where: { $0.bitPattern != BadInput.sentinel.bitPattern }) {
                throw OutputWritten(index: index, value: output[index])
            }
            try result.get()
        }
    }
}

/// Thrown by a `BadInput` row whose call wrote into its output buffer before (or instead of) throwing.
public struct OutputWritten: Error, CustomStringConvertible {
    /// The first element that no longer holds the sentinel.
    public let index: Int
    /// What was written there.
    public let value: Float
    /// Names the element and its new value.
    public var description: String { "the output was written at element \(index) (now \(value))" }
}
