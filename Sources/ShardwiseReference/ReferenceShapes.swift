// Shape checks and reductions that more than one reference layer needs.

import Shardwise

extension Reference {
    /// Throws `.shapeMismatch` naming `argument` unless `tensor` has exactly `shape`.
    static func requireShape(_ tensor: Tensor, _ shape: [Int], _ argument: String) throws(ShardwiseError) {
        if tensor.shape != shape { throw .shapeMismatch(argument: argument, expected: shape, actual: tensor.shape) }
    }

    /// `tensor` summed over every axis but the last, in `Double`: the bias gradient of a layer whose
    /// output's last axis is its channels (NHWC for a convolution, `[batch, outputs]` for a dense layer).
    ///
    /// - Returns: a rank-1 tensor of `tensor.shape.last` values.
    static func sumOverLeadingAxes(_ tensor: Tensor) throws(ShardwiseError) -> Tensor {
        let channels = tensor.shape[tensor.rank - 1]
        var sums = [Double](repeating: 0, count: channels)
        for (index, value) in tensor.scalars.enumerated() {
            sums[index % channels] += Double(value)
        }
        return try Tensor(shape: [channels]) { Float(sums[$0]) }
    }
}
