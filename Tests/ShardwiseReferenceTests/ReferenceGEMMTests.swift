import Testing
import Shardwise
import ShardwiseReference

@Suite struct ReferenceGEMMTests {
    @Test func twoByTwoComputedByHand() throws {
        // [1 2; 3 4] · [5 6; 7 8] = [19 22; 43 50]; then 2·AB + 1·C + bias, relu.
        var c: [Float] = [1, -200, 0, 0]
        try Reference.gemm(m: 2, n: 2, k: 2, alpha: 2, a: [1, 2, 3, 4], lda: 2, b: [5, 6, 7, 8], ldb: 2,
                           beta: 1, c: &c, ldc: 2, bias: [0.5, -1], activation: .relu)
        #expect(c == [39.5, 0, 86.5, 99])
    }
}
