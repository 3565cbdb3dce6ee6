// Softmax cross-entropy: the loss of a batch of logits against integer labels.
//
// For a row of logits z with label y, the loss is −log softmax(z)_y. Computed
// literally, exp(z) overflows for logits above about 88. Subtracting the row's
// maximum m first changes nothing mathematically (softmax is shift-invariant)
// and makes every exponent ≤ 0, so every exponential lies in (0, 1] and the sum
// in [1, classes]: no overflow, and log(sum) never sees zero.
//
//   loss_row  = log Σⱼ exp(zⱼ − m) − (z_y − m)
//   dL/dzⱼ    = (softmaxⱼ − [j == y]) / batch        (the gradient of the batch mean)
//
// Rows are independent and processed in order; the batch sum of the losses
// runs in Double in row order, so the result does not depend on anything but
// the inputs.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The softmax cross-entropy loss, averaged over a batch, and its gradient.
public enum SoftmaxCrossEntropy {
    /// The mean loss of `logits` against `labels`, and its gradient with respect to `logits`.
    ///
    /// A NaN or infinite logit makes its row's loss and gradient NaN.
    ///
    /// - Parameters:
    ///   - logits: `[batch, classes]`.
    ///   - labels: one class index in `0..<classes` per row.
    /// - Returns: `loss`: the mean over the batch of `log Σⱼ exp(zⱼ − m) − (z_label − m)`;
    ///   `gradient`: `(softmax(z) − onehot(label)) / batch`, in `logits`' shape.
    /// - Throws: `.rankMismatch` unless `logits` is rank 2, `.elementCountMismatch` unless there is
    ///   one label per row, `.invalidArgument` for a label outside `0..<classes`.
    /// - Complexity: O(`logits.count`), on the calling thread.
    public static func lossAndGradient(logits: Tensor, labels: [Int]) throws(ShardwiseError)
        -> (loss: Float, gradient: Tensor)
    {
        try logits.requireRank(2, "logits")
        let batch = logits.shape[0], classes = logits.shape[1]
        if labels.count != batch { throw .elementCountMismatch(argument: "labels", expected: batch, actual: labels.count) }
        for (row, label) in labels.enumerated() where !(0..<classes).contains(label) {
            throw .invalidArgument(argument: "labels[\(row)]", reason: "class \(label) is outside 0..<\(classes)")
        }
        var gradient = logits
        var totalLoss = 0.0
        let inverseBatch = 1 / Float(batch)
        gradient.withUnsafeMutableBufferPointer { buffer in
            for row in 0..<batch {
                let z = buffer.baseAddress! + row * classes  // logits on entry, gradient on exit
                var largest = z[0]
                for j in 1..<classes where z[j] > largest || (z[j].isNaN && !largest.isNaN) {
                    largest = z[j]  // a NaN, once found, stays: its row's loss and gradient are NaN
                }
                let target = z[labels[row]] - largest
                var sum: Float = 0
                for j in 0..<classes {
                    z[j] = exp(z[j] - largest)
                    sum += z[j]
                }
                totalLoss += Double(log(sum) - target)
                for j in 0..<classes {
                    z[j] = (z[j] / sum - (j == labels[row] ? 1 : 0)) * inverseBatch
                }
            }
        }
        return (Float(totalLoss / Double(batch)), gradient)
    }
}
