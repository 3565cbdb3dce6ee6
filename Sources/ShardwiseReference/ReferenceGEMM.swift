import Shardwise

/// The oracle: obviously correct loops that accumulate in `Double`.
///
/// Every fast path in Shardwise is tested against these functions, and the
/// benchmark verifies every case with them before timing it. They favour
/// clarity over speed, follow the same conventions as the fast API, and
/// validate their arguments with the same typed errors.
public enum Reference {}

extension Reference {
    /// `C = activation(alpha · op(A) · op(B) + beta · C + bias)` with the same conventions as
    /// `GEMM.multiply`; products and sums in `Double`, rounded to `Float` once per element.
    /// When `beta` is zero, C is not read.
    ///
    /// - Throws: what `GEMM.multiply` throws for the same arguments.
    public static func gemm(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int, alpha: Float = 1,
        a: [Float], lda: Int, b: [Float], ldb: Int,
        beta: Float = 0, c: inout [Float], ldc: Int,
        bias: [Float]? = nil, activation: Activation = .none
    ) throws(ShardwiseError) {
        try GEMM.validate(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a.count, lda: lda,
                          b: b.count, ldb: ldb, c: c.count, ldc: ldc, bias: bias?.count, activation: activation)
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k {
                    let x = transposeA ? a[p * lda + i] : a[i * lda + p]
                    let y = transposeB ? b[j * ldb + p] : b[p * ldb + j]
                    sum += Double(x) * Double(y)
                }
                var value = Double(alpha) * sum
                if beta != 0 { value += Double(beta) * Double(c[i * ldc + j]) }
                if let bias { value += Double(bias[j]) }
                c[i * ldc + j] = activation(Float(value))
            }
        }
    }
}
