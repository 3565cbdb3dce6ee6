// Concurrent calls: one layer object shared by several threads at once.
//
// Strategy. The layers promise to be immutable after creation, each call with its own
// workspace. Eight calls on different inputs run at once from `concurrentPerform`, each
// itself sharded over `.fixed(2)` lanes (a call from a user's thread is not inside a
// Shardwise lane, so its own lanes really run); every result must equal, bit for bit, a
// serial call on the same input made beforehand. Under `.ci/sanitizers` the thread
// sanitizer watches the same run.

import Dispatch
import Testing
import Shardwise
import ShardwiseTestSupport

@Suite struct ConcurrentCallTests {
    static let calls = 8

    /// Runs `call` on each input from `calls` threads at once, then compares each result with `call(input, .serial)`.
    func expectConcurrentCallsMatchSerial(_ inputs: [Tensor], _ call: @Sendable (Tensor, Lanes) throws(ShardwiseError) -> Tensor) throws {
        let expected = try inputs.map { try call($0, .serial) }
        let results = Recorder<(index: Int, result: Result<Tensor, ShardwiseError>)>()
        DispatchQueue.concurrentPerform(iterations: inputs.count) { index in
            results.record((index, Result { () throws(ShardwiseError) in try call(inputs[index], .fixed(2)) }))
        }
        let byIndex = Dictionary(uniqueKeysWithValues: results.values.map { ($0.index, $0.result) })
        for index in inputs.indices {
            let actual = try #require(byIndex[index]).get()
            #expect(actual.shape == expected[index].shape, "call \(index)")
            #expect(actual.scalars.map(\.bitPattern) == expected[index].scalars.map(\.bitPattern), "call \(index)")
        }
    }

    @Test func oneConv2DFromEightThreads() throws {
        var rng = SeededGenerator(seed: 808)
        var c = ConvCase()
        c.inputChannels = 16; c.outputChannels = 40; c.strides = Size2D(height: 2, width: 1); c.activation = .relu
        let layer = try Conv2D(try c.descriptor(&rng))
        let inputs = try (0..<Self.calls).map { _ in try Tensor(shape: [2, 15, 13, 16], scalars: rng.floats(2 * 15 * 13 * 16)) }
        try expectConcurrentCallsMatchSerial(inputs) { (input, lanes) throws(ShardwiseError) in try layer(input, lanes: lanes) }
    }

    @Test func oneDenseFromEightThreads() throws {
        var rng = SeededGenerator(seed: 809)
        let weight = try Tensor(shape: [300, 70], scalars: rng.floats(300 * 70))
        let layer = try Dense(try DenseDescriptor(weight: weight, bias: try Tensor(shape: [70], scalars: rng.floats(70)),
                                                  activation: .relu6))
        let inputs = try (0..<Self.calls).map { _ in try Tensor(shape: [37, 300], scalars: rng.floats(37 * 300)) }
        try expectConcurrentCallsMatchSerial(inputs) { (input, lanes) throws(ShardwiseError) in try layer(input, lanes: lanes) }
    }
}
