// Test support shared by every test target: a seeded generator, the √K tolerance,
// a failure report that names the parameters, and rows for tables of bad inputs.

import Shardwise

/// A small, fast, seeded pseudo-random generator (SplitMix64), so every test is reproducible.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    /// The seed the generator started from; print it when a test fails.
    public let seed: UInt64
    private var state: UInt64

    /// Creates a generator; the same seed gives the same sequence on every platform.
    public init(seed: UInt64) {
        self.seed = seed
        state = seed
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

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
public struct BadInput: Sendable, CustomStringConvertible {
    /// What is wrong with the argument, in a few words.
    public let description: String
    /// The error `attempt` must throw.
    public let expected: ShardwiseError
    /// The call with the bad argument.
    public let attempt: @Sendable () throws -> Void

    /// Creates a row: `description`, the `expected` error, and the call that must throw it.
    public init(_ description: String, _ expected: ShardwiseError, _ attempt: @escaping @Sendable () throws -> Void) {
        self.description = description
        self.expected = expected
        self.attempt = attempt
    }
}
