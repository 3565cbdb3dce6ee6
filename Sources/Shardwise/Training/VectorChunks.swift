// Element-wise loops over whole vectors, with the tail as one more (partial) vector.
//
// The training kernels (activations, pooling, the optimizer) walk their arrays in
// chunks of `Vector.scalarCount` floats. The last chunk is usually shorter; rather
// than write every kernel twice, once in SIMD and once as a scalar tail loop, the
// tail is loaded into a zero-filled vector, run through the very same SIMD code,
// and only its valid lanes are stored. One code path means the tail cannot
// disagree with the body, bit for bit.

extension SIMD where Scalar == Float {
    /// The first `count` floats at `source` (`1...scalarCount`), the remaining lanes zero.
    @inline(__always)
    static func loading(_ source: UnsafePointer<Float>, count: Int) -> Self {
        if count == scalarCount { return UnsafeRawPointer(source).loadUnaligned(as: Self.self) }
        var vector = Self()
        for lane in 0..<count { vector[lane] = source[lane] }
        return vector
    }

    /// Stores the first `count` lanes (`1...scalarCount`) at `target`.
    @inline(__always)
    func store(to target: UnsafeMutablePointer<Float>, count: Int) {
        if count == Self.scalarCount {
            UnsafeMutableRawPointer(target).storeBytes(of: self, as: Self.self)
            return
        }
        for lane in 0..<count { target[lane] = self[lane] }
    }
}

/// Calls `body(offset, count)` for consecutive chunks covering `0..<total`: whole vectors
/// of `Vector.scalarCount` floats, then one shorter chunk if `total` is not a multiple.
@inline(__always)
func forEachVectorChunk(_ total: Int, _ body: (_ offset: Int, _ count: Int) -> Void) {
    let width = Vector.scalarCount
    var offset = 0
    while offset + width <= total {
        body(offset, width)
        offset += width
    }
    if offset < total { body(offset, total - offset) }
}
