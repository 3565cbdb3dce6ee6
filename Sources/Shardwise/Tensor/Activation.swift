/// An element-wise activation fused into a layer's write-back.
public enum Activation: Sendable, Hashable, CustomStringConvertible {
    /// The identity.
    case none
    /// `max(x, 0)`.
    case relu
    /// `min(max(x, 0), 6)`.
    case relu6
    /// `min(max(x, min), max)`; requires `min <= max`, neither NaN.
    case clamp(min: Float, max: Float)

    /// The interval the activation clamps to; `none` is `(-inf, +inf)`.
    ///
    /// Every activation Shardwise offers is a clamp, which lets one SIMD
    /// min/max pair implement all of them in the write-back.
    public var bounds: (lower: Float, upper: Float) {
        switch self {
        case .none: return (-.infinity, .infinity)
        case .relu: return (0, .infinity)
        case .relu6: return (0, 6)
        case let .clamp(lower, upper): return (lower, upper)
        }
    }

    /// Applies the activation to one value. NaN stays NaN.
    @inlinable
    public func callAsFunction(_ x: Float) -> Float {
        switch self {
        case .none: return x
        case .relu: return x.isNaN ? x : Swift.max(x, 0)
        case .relu6: return x.isNaN ? x : Swift.min(Swift.max(x, 0), 6)
        case let .clamp(lower, upper): return x.isNaN ? x : Swift.min(Swift.max(x, lower), upper)
        }
    }

    /// Throws `ShardwiseError.invalidClampRange` for a clamp whose bounds are NaN or reversed.
    public func validate() throws(ShardwiseError) {
        if case let .clamp(lower, upper) = self, lower.isNaN || upper.isNaN || lower > upper {
            throw .invalidClampRange(min: lower, max: upper)
        }
    }

    /// `none`, `relu`, `relu6` or `clamp(min,max)`: the spelling the benchmark's case keys use.
    public var description: String {
        switch self {
        case .none: return "none"
        case .relu: return "relu"
        case .relu6: return "relu6"
        case let .clamp(lower, upper): return "clamp(\(lower),\(upper))"
        }
    }
}
