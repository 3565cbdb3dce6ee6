// The Dense layer: y = activation(x · W + b) as one GEMM with W packed once.
//
// x is [batch, inputs] (an NHWC activation is read as its flattened rows),
// W is [inputs, outputs] and becomes the GEMM's pre-packed B; bias and
// activation are fused into the write-back. The planner splits the batch rows or
// the output columns among lanes.

/// A fully connected layer with its weight packed for the GEMM.
///
/// Immutable after creation: one layer may be called from several threads at once.
public final class Dense: Sendable {
    /// What the layer computes.
    public let descriptor: DenseDescriptor
    /// The weight packed as the GEMM's B.
    let packedWeight: PackedMatrix

    /// Creates the layer and packs its weight.
    ///
    /// - Throws: `ShardwiseError.sizeOverflow` if the packed weight's size overflows.
    public init(_ descriptor: DenseDescriptor) throws(ShardwiseError) {
        self.descriptor = descriptor
        packedWeight = try descriptor.weight.withUnsafeBufferPointer { (w) throws(ShardwiseError) in
            try PackedMatrix(depth: descriptor.inputs, columns: descriptor.outputs,
                             source: StridedMatrix(base: w.baseAddress!, rowStride: descriptor.outputs, columnStride: 1))
        }
    }

    /// The plan a call with an input of `shape` would use.
    ///
    /// - Throws: what `descriptor.outputShape(forInput:)` throws.
    public func plan(forInput shape: [Int], lanes: Lanes = .automatic) throws(ShardwiseError) -> ShardPlan {
        try GEMM.plan(m: try descriptor.outputShape(forInput: shape)[0], b: packedWeight, lanes: lanes)
    }

    /// Bytes of workspace a call with an input of `shape` allocates, over all its lanes.
    public func workspaceBytes(forInput shape: [Int], lanes: Lanes = .automatic) throws(ShardwiseError) -> Int {
        try GEMM.workspaceBytes(m: try descriptor.outputShape(forInput: shape)[0], b: packedWeight, lanes: lanes)
    }

    /// Runs the layer on `input` (`[batch, inputs]`, or any rank whose trailing dimensions multiply to `inputs`).
    ///
    /// - Throws: `ShardwiseError.rankMismatch`, `.channelMismatch`.
    public func callAsFunction(_ input: Tensor, lanes: Lanes = .automatic) throws(ShardwiseError) -> Tensor {
        try input.mapped(to: try descriptor.outputShape(forInput: input.shape)) { (source, target) throws(ShardwiseError) in
            try forward(input: source, shape: input.shape, output: target, lanes: lanes)
        }
    }

    /// Runs the layer on caller memory: `input` holds a tensor of `shape`, `output` receives `[batch, outputs]`.
    ///
    /// - Throws: as `callAsFunction(_:lanes:)`, and `.bufferTooShort`. Nothing is written when it throws.
    public func forward(input: UnsafeBufferPointer<Float>, shape: [Int], output: UnsafeMutableBufferPointer<Float>,
                        lanes: Lanes = .automatic) throws(ShardwiseError) {
        let outputShape = try descriptor.outputShape(forInput: shape)
        let batch = outputShape[0]
        let d = descriptor
        // Checked here, not left to the GEMM, so that the error names this method's arguments.
        let inputCount = try CheckedSize.elementCount(of: shape, "input")
        if input.count < inputCount { throw .bufferTooShort(argument: "input", required: inputCount, actual: input.count) }
        let outputCount = try CheckedSize.elementCount(of: outputShape, "output")
        if output.count < outputCount {
            throw .bufferTooShort(argument: "output", required: outputCount, actual: output.count)
        }
        try d.bias.map(\.scalars).withOptionalUnsafeBuffer { (bias) throws(ShardwiseError) in
            try GEMM.multiply(m: batch, a: input, lda: d.inputs, b: packedWeight, c: output, ldc: d.outputs,
                              bias: bias, activation: d.activation, lanes: lanes)
        }
    }
}
