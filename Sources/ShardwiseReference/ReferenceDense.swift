// The reference dense (fully connected) layer and its gradients, as products of
// matrices handed to `Reference.gemm`. With X the input flattened to
// `[batch, inputs]`, W the weight `[inputs, outputs]` and dY the gradient of the
// output before the activation:
//
//   forward   Y  = activation(X · W + b)
//   input     dX = dY · Wᵀ
//   weight    dW = Xᵀ · dY
//   bias      db = Σ over the batch of dY

import Shardwise

extension Reference {
    /// A fully connected layer: `activation(x · W + b)` for each sample.
    ///
    /// An input of rank above 2 is flattened per sample in row-major order (an NHWC activation
    /// becomes `[N, H·W·C]`). Products and sums are in `Double`, rounded to `Float` once per output
    /// element, before the activation.
    ///
    /// - Parameters:
    ///   - input: `[batch, inputs]`, or any rank ≥ 2 whose trailing dimensions multiply to `inputs`.
    ///   - descriptor: the layer.
    /// - Returns: a tensor of `[batch, outputs]`.
    /// - Throws: what `DenseDescriptor.outputShape(forInput:)` throws for `input.shape`
    ///   (`.rankMismatch`, `.channelMismatch`), `.sizeOverflow`.
    /// - Complexity: O(batch × inputs × outputs).
    public static func dense(input: Tensor, descriptor: DenseDescriptor) throws(ShardwiseError) -> Tensor {
        let outputShape = try descriptor.outputShape(forInput: input.shape)
        var output = [Float](repeating: 0, count: try CheckedSize.elementCount(of: outputShape, "output"))
        try gemm(m: outputShape[0], n: descriptor.outputs, k: descriptor.inputs,
                 a: input.scalars, lda: descriptor.inputs, b: descriptor.weight.scalars, ldb: descriptor.outputs,
                 c: &output, ldc: descriptor.outputs, bias: descriptor.bias?.scalars, activation: descriptor.activation)
        return try Tensor(shape: outputShape, scalars: output)
    }

    /// The gradients of a dense layer's loss with respect to its input, weight and bias.
    ///
    /// `outputGradient` is the gradient with respect to the layer's output *before* the
    /// activation (apply the activation's backward, such as `reluBackward`, first).
    ///
    /// - Parameters:
    ///   - input: the forward pass's input, `[batch, inputs]` or flattened per sample as in `dense`.
    ///   - weight: `[inputs, outputs]`.
    ///   - outputGradient: `[batch, outputs]`.
    /// - Returns: `input`: `outputGradient · weightᵀ` in `input`'s shape; `weight`:
    ///   `inputᵀ · outputGradient`, `[inputs, outputs]`; `bias`: `outputGradient` summed over the batch, `[outputs]`.
    /// - Throws: `.rankMismatch` unless `weight` is rank 2, what `DenseDescriptor.outputShape(forInput:)`
    ///   throws for `input.shape`, `.shapeMismatch` when `outputGradient` is not `[batch, outputs]`.
    public static func denseGradients(input: Tensor, weight: Tensor, outputGradient: Tensor)
        throws(ShardwiseError) -> (input: Tensor, weight: Tensor, bias: Tensor)
    {
        let layer = try DenseDescriptor(weight: weight)
        try requireShape(outputGradient, try layer.outputShape(forInput: input.shape), "outputGradient")
        let batch = input.shape[0], inputs = layer.inputs, outputs = layer.outputs
        var inputGradient = [Float](repeating: 0, count: input.count)
        try gemm(transposeB: true, m: batch, n: inputs, k: outputs,
                 a: outputGradient.scalars, lda: outputs, b: weight.scalars, ldb: outputs,
                 c: &inputGradient, ldc: inputs)
        var weightGradient = [Float](repeating: 0, count: weight.count)
        try gemm(transposeA: true, m: inputs, n: outputs, k: batch,
                 a: input.scalars, lda: inputs, b: outputGradient.scalars, ldb: outputs,
                 c: &weightGradient, ldc: outputs)
        return (input: try Tensor(shape: input.shape, scalars: inputGradient),
                weight: try Tensor(shape: weight.shape, scalars: weightGradient),
                bias: try sumOverLeadingAxes(outputGradient))
    }
}
