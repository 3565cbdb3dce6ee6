import Testing
import Shardwise
import ShardwiseReference
import ShardwiseTestSupport

@Suite struct DenseTests {
    @Test func forwardAndGradientsMatchReference() throws {
        var rng = SeededGenerator(seed: 77)
        for (batch, inputs, outputs) in [(1, 1, 1), (3, 17, 5), (32, 200, 10), (13, 70, 33)] {
            for activation in [Activation.none, .relu] {
                let failure = try checkDense(inputShape: [batch, inputs], outputs: outputs, bias: true,
                                             activation: activation, lanes: [.fixed(2), .fixed(3), .serial],
                                             seed: rng.next())
                #expect(failure == nil, "\(failure ?? "")")
            }
        }
    }
}
