/// A dense, row-major tensor of `Float` with a validated shape.
///
/// Shardwise follows TensorFlow's layouts: activations are NHWC
/// (`[batch, height, width, channels]`), convolution filters HWIO
/// (`[height, width, inputChannels / groups, outputChannels]`), dense weights
/// `[inputs, outputs]`. Every dimension is at least one and the byte count of the
/// storage fits in `Int`; the initializers throw `ShardwiseError` otherwise.
public struct Tensor: Sendable, Hashable {
    /// The extent of each dimension, outermost first.
    public let shape: [Int]
    /// The elements in row-major order; `scalars.count` is the product of `shape`.
    public private(set) var scalars: [Float]

    /// Creates a tensor from its shape and elements.
    ///
    /// - Throws: `ShardwiseError.nonPositiveSize` for a dimension below one,
    ///   `.sizeOverflow` when the element or byte count overflows `Int`,
    ///   `.elementCountMismatch` when `scalars.count` is not the product of `shape`.
    public init(shape: [Int], scalars: [Float]) throws(ShardwiseError) {
        let count = try Tensor.elementCount(of: shape)
        if count != scalars.count {
            throw .elementCountMismatch(argument: "scalars", expected: count, actual: scalars.count)
        }
        self.shape = shape
        self.scalars = scalars
    }

    /// Creates a tensor of `shape` with every element equal to `value`.
    ///
    /// - Throws: `ShardwiseError.nonPositiveSize` or `.sizeOverflow` as `init(shape:scalars:)`.
    public init(shape: [Int], repeating value: Float = 0) throws(ShardwiseError) {
        let count = try Tensor.elementCount(of: shape)
        self.shape = shape
        self.scalars = [Float](repeating: value, count: count)
    }

    /// Creates a tensor of `shape` whose elements are `generator(index)` for each flat index.
    ///
    /// - Throws: `ShardwiseError.nonPositiveSize` or `.sizeOverflow` as `init(shape:scalars:)`.
    public init(shape: [Int], generator: (Int) -> Float) throws(ShardwiseError) {
        let count = try Tensor.elementCount(of: shape)
        self.shape = shape
        self.scalars = (0..<count).map(generator)
    }

    /// Creates a tensor of `shape` whose storage `body` fills, every element of it. The storage
    /// starts uninitialized: a large output (a layer's forward pass, a gradient) is not first
    /// written with zeros on the calling thread. If `body` throws, the storage is discarded.
    ///
    /// - Throws: what `init(shape:repeating:)` throws, then what `body` throws.
    package init(shape: [Int], writingEveryElement body: (UnsafeMutableBufferPointer<Float>) throws(ShardwiseError)
                    -> Void) throws(ShardwiseError) {
        let count = try Tensor.elementCount(of: shape)
        var failure: ShardwiseError?
        let scalars = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            do throws(ShardwiseError) { try body(buffer) } catch { failure = error }
            initialized = count  // Float is trivial: on failure the values are discarded unread
        }
        if let failure { throw failure }
        self.shape = shape
        self.scalars = scalars
    }

    /// The element count of a valid shape: at least one dimension, each at least one, the byte
    /// count representable.
    private static func elementCount(of shape: [Int]) throws(ShardwiseError) -> Int {
        if shape.isEmpty { throw .rankMismatch(argument: "shape", expected: 1, actual: 0) }
        return try CheckedSize.elementCount(of: shape, "shape")
    }

    /// The number of dimensions.
    public var rank: Int { shape.count }

    /// The number of elements.
    public var count: Int { scalars.count }

    /// Calls `body` with the elements' storage for reading.
    public func withUnsafeBufferPointer<R, E: Error>(_ body: (UnsafeBufferPointer<Float>) throws(E) -> R) throws(E) -> R {
        try scalars.withUnsafeBufferPointer(body)
    }

    /// Calls `body` with the elements' storage for writing; the shape cannot change.
    public mutating func withUnsafeMutableBufferPointer<R, E: Error>(
        _ body: (inout UnsafeMutableBufferPointer<Float>) throws(E) -> R
    ) throws(E) -> R {
        try scalars.withUnsafeMutableBufferPointer(body)
    }

    /// A new tensor of `shape` filled by `body` from this tensor's storage: the buffer form of a
    /// layer's forward pass, wrapped for tensors.
    /// `body` must write every element of the new tensor.
    package func mapped(to shape: [Int], _ body: (UnsafeBufferPointer<Float>, UnsafeMutableBufferPointer<Float>)
                            throws(ShardwiseError) -> Void) throws(ShardwiseError) -> Tensor {
        try Tensor(shape: shape, writingEveryElement: { (target) throws(ShardwiseError) in
            try withUnsafeBufferPointer { (source) throws(ShardwiseError) in try body(source, target) }
        })
    }

    /// Throws `.rankMismatch` unless the tensor has `rank` dimensions.
    package func requireRank(_ rank: Int, _ argument: String) throws(ShardwiseError) {
        if shape.count != rank { throw .rankMismatch(argument: argument, expected: rank, actual: shape.count) }
    }
}
