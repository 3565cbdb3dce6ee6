// Seeded weight initialization: a tiny generator and the He/Glorot uniform rules.
//
// Training is reproducible only if the initial weights are: the same seed must
// give the same bits on every platform and Swift version. So the generator
// (SplitMix64) and the conversion of its bits to a Float are written out here,
// not borrowed from `Float.random(in:using:)`, whose algorithm the standard
// library does not promise to keep.

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast, seeded pseudo-random generator.
///
/// The same seed gives the same sequence everywhere. Not for cryptography.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator starting from `seed`.
    public init(seed: UInt64) {
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

    /// A float uniform in `[0, 1)`: the top 24 bits of `next()` times 2⁻²⁴ (exact in Float).
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * 0x1p-24
    }
}

/// How to draw a layer's initial weights: uniform in `[-limit, limit)`.
///
/// For a weight of shape `[…, fanInAxis, fanOutAxis]` (HWIO filters, `[inputs, outputs]` dense
/// weights), with `receptive` the product of the leading axes (`H·W`, or 1):
/// `fanIn = receptive · shape[rank − 2]`, `fanOut = receptive · shape[rank − 1]`, as in Keras.
public enum WeightInitialization: Sendable, Hashable {
    /// `limit = √(6 / fanIn)` (He et al. 2015), for layers followed by a ReLU.
    case heUniform
    /// `limit = √(6 / (fanIn + fanOut))` (Glorot and Bengio 2010).
    case glorotUniform

    /// The limit for a weight of `shape` (rank ≥ 2).
    func limit(forShape shape: [Int]) -> Float {
        let receptive = shape.dropLast(2).reduce(1, *)
        let fanIn = receptive * shape[shape.count - 2], fanOut = receptive * shape[shape.count - 1]
        switch self {
        case .heUniform: return (6 / Float(fanIn)).squareRoot()
        case .glorotUniform: return (6 / Float(fanIn + fanOut)).squareRoot()
        }
    }
}

extension Tensor {
    /// A weight tensor of `shape` drawn with `initialization` from `generator`, element by element in
    /// row-major order: `(2u − 1) · limit` with `u = generator.nextUnitFloat()`.
    ///
    /// - Throws: `.rankMismatch` for a shape of rank below 2, and what `init(shape:scalars:)` throws.
    public init(randomWeights shape: [Int], initialization: WeightInitialization,
                using generator: inout SplitMix64) throws(ShardwiseError) {
        if shape.count < 2 { throw .rankMismatch(argument: "shape", expected: 2, actual: shape.count) }
        let count = try CheckedSize.elementCount(of: shape, "shape")
        let limit = initialization.limit(forShape: shape)
        var scalars = [Float]()
        scalars.reserveCapacity(count)
        for _ in 0..<count { scalars.append((2 * generator.nextUnitFloat() - 1) * limit) }
        try self.init(shape: shape, scalars: scalars)
    }
}
