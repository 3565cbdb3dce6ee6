/// A validated description of a 2-D convolution layer: NHWC input, HWIO filter.
///
/// The filter has shape `[kernelHeight, kernelWidth, inputChannels / groups, outputChannels]`
/// (TensorFlow's HWIO); output channel `o` belongs to group `o / (outputChannels / groups)`
/// and reads that group's slice of the input channels. Depthwise convolution is
/// `groups == inputChannels`.
public struct Conv2DDescriptor: Sendable, Hashable {
    /// The filter, HWIO.
    public let filter: Tensor
    /// One value per output channel, or `nil`.
    public let bias: Tensor?
    /// Stride per axis.
    public let strides: Size2D
    /// Padding rule.
    public let padding: Padding
    /// Dilation per axis.
    public let dilations: Size2D
    /// Number of channel groups.
    public let groups: Int
    /// Activation applied after the bias.
    public let activation: Activation

    /// Creates and validates a descriptor.
    ///
    /// - Parameters:
    ///   - filter: HWIO filter, rank 4.
    ///   - bias: rank-1 tensor of `outputChannels` values, or `nil`.
    ///   - strides: at least 1 along each axis.
    ///   - padding: `.same`, `.valid` or `.explicit`.
    ///   - dilations: at least 1 along each axis.
    ///   - groups: divides both channel counts.
    ///   - activation: fused into the write-back.
    /// - Throws: `ShardwiseError.rankMismatch`, `.invalidStride`, `.invalidDilation`,
    ///   `.negativePadding`, `.invalidGroups`, `.biasLengthMismatch`, `.invalidClampRange`.
    public init(filter: Tensor, bias: Tensor? = nil, strides: Size2D = Size2D(1), padding: Padding = .same,
                dilations: Size2D = Size2D(1), groups: Int = 1, activation: Activation = .none) throws(ShardwiseError) {
        try filter.requireRank(4, "filter")
        if strides.height < 1 { throw .invalidStride(axis: "height", value: strides.height) }
        if strides.width < 1 { throw .invalidStride(axis: "width", value: strides.width) }
        if dilations.height < 1 { throw .invalidDilation(axis: "height", value: dilations.height) }
        if dilations.width < 1 { throw .invalidDilation(axis: "width", value: dilations.width) }
        if case let .explicit(top, bottom, left, right) = padding {
            for (side, value) in [("top", top), ("bottom", bottom), ("left", left), ("right", right)] where value < 0 {
                throw .negativePadding(side: side, value: value)
            }
        }
        let outputChannels = filter.shape[3]
        if groups < 1 || outputChannels % groups != 0 {
            throw .invalidGroups(groups: groups, inputChannels: filter.shape[2] &* Swift.max(groups, 1),
                                 outputChannels: outputChannels)
        }
        _ = try CheckedSize.product(filter.shape[2], groups, "filter input channels × groups")
        if let bias {
            try bias.requireRank(1, "bias")
            if bias.count != outputChannels { throw .biasLengthMismatch(expected: outputChannels, actual: bias.count) }
        }
        try activation.validate()
        self.filter = filter
        self.bias = bias
        self.strides = strides
        self.padding = padding
        self.dilations = dilations
        self.groups = groups
        self.activation = activation
    }

    /// Kernel extent per axis.
    public var kernel: Size2D { Size2D(height: filter.shape[0], width: filter.shape[1]) }
    /// Input channels the layer expects (`filter.shape[2] * groups`).
    public var inputChannels: Int { filter.shape[2] * groups }
    /// Output channels the layer produces.
    public var outputChannels: Int { filter.shape[3] }
    /// Input channels per group.
    public var inputChannelsPerGroup: Int { filter.shape[2] }
    /// Output channels per group.
    public var outputChannelsPerGroup: Int { filter.shape[3] / groups }

    /// The geometry for an input of `inputShape` (NHWC), after checking its rank and channels.
    ///
    /// - Throws: `.rankMismatch`, `.channelMismatch`, and what `ConvolutionGeometry.init` throws.
    public func geometry(forInput inputShape: [Int]) throws(ShardwiseError) -> ConvolutionGeometry {
        if inputShape.count != 4 { throw .rankMismatch(argument: "input", expected: 4, actual: inputShape.count) }
        if inputShape[0] < 1 { throw .nonPositiveSize(argument: "input batch", value: inputShape[0]) }
        if inputShape[3] != inputChannels {
            throw .channelMismatch(argument: "input", expected: inputChannels, actual: inputShape[3])
        }
        return try ConvolutionGeometry(input: Size2D(height: inputShape[1], width: inputShape[2]), kernel: kernel,
                                       strides: strides, dilations: dilations, padding: padding)
    }

    /// The NHWC output shape for an input of `inputShape`.
    ///
    /// - Throws: what `geometry(forInput:)` throws, and `.sizeOverflow`.
    public func outputShape(forInput inputShape: [Int]) throws(ShardwiseError) -> [Int] {
        let g = try geometry(forInput: inputShape)
        let shape = [inputShape[0], g.height.output, g.width.output, outputChannels]
        _ = try CheckedSize.elementCount(of: shape, "output")
        return shape
    }
}

/// A validated description of a fully connected layer: `y = activation(x · W + b)`.
public struct DenseDescriptor: Sendable, Hashable {
    /// The weight, `[inputs, outputs]`.
    public let weight: Tensor
    /// One value per output, or `nil`.
    public let bias: Tensor?
    /// Activation applied after the bias.
    public let activation: Activation

    /// Creates and validates a descriptor.
    ///
    /// - Throws: `ShardwiseError.rankMismatch` unless `weight` is rank 2 and `bias` rank 1,
    ///   `.biasLengthMismatch`, `.invalidClampRange`.
    public init(weight: Tensor, bias: Tensor? = nil, activation: Activation = .none) throws(ShardwiseError) {
        try weight.requireRank(2, "weight")
        if let bias {
            try bias.requireRank(1, "bias")
            if bias.count != weight.shape[1] { throw .biasLengthMismatch(expected: weight.shape[1], actual: bias.count) }
        }
        try activation.validate()
        self.weight = weight
        self.bias = bias
        self.activation = activation
    }

    /// Inputs per sample.
    public var inputs: Int { weight.shape[0] }
    /// Outputs per sample.
    public var outputs: Int { weight.shape[1] }

    /// The output shape `[batch, outputs]` for an input of `inputShape`: `[batch, inputs]`,
    /// or any rank ≥ 2 whose trailing dimensions multiply to `inputs` (an NHWC activation is flattened).
    ///
    /// - Throws: `.rankMismatch`, `.channelMismatch` when the trailing dimensions do not multiply to `inputs`,
    ///   `.sizeOverflow`.
    public func outputShape(forInput inputShape: [Int]) throws(ShardwiseError) -> [Int] {
        if inputShape.count < 2 { throw .rankMismatch(argument: "input", expected: 2, actual: inputShape.count) }
        let features = try CheckedSize.elementCount(of: Array(inputShape.dropFirst()), "input features")
        if features != inputs { throw .channelMismatch(argument: "input features", expected: inputs, actual: features) }
        if inputShape[0] < 1 { throw .nonPositiveSize(argument: "input batch", value: inputShape[0]) }
        let shape = [inputShape[0], outputs]
        _ = try CheckedSize.elementCount(of: shape, "output")
        return shape
    }
}
