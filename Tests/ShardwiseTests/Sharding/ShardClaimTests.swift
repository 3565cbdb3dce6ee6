import Dispatch
import Testing
import Shardwise
import ShardwiseTestSupport

/// Runs the lanes one after another on the caller's thread, the last index first: the first
/// lane to run claims every shard, and the others find none left.
struct OneAfterAnotherExecutor: LaneExecutor {
    func run(count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        for lane in (0..<count).reversed() { body(lane) }
    }
}

/// Runs the lanes concurrently, every lane but the first starting `delayMicroseconds` late:
/// longer than a finished lane spins for the others, so that lane returns before they end.
struct LateStartExecutor: LaneExecutor {
    var delayMicroseconds = 2_000
    func run(count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        DispatchQueue.concurrentPerform(iterations: count) { lane in
            if lane > 0 {
                let deadline = DispatchTime.now() + .microseconds(delayMicroseconds)
                _ = DispatchSemaphore(value: 0).wait(timeout: deadline)
            }
            body(lane)
        }
    }
}

/// Lanes claim shards as they come free, so how the executor schedules them must never change
/// the result: every shard is computed exactly once, with the same bits, even when one lane does
/// all of them or when the others start long after the first has finished.
@Suite struct ShardClaimTests {
    @Test func convolutionsGiveTheSameBitsWhoeverClaimsTheShards() throws {
        var c = ConvCase()
        c.batch = 2; c.height = 13; c.width = 29; c.inputChannels = 3; c.outputChannels = 70; c.activation = .relu
        let lanes: [Lanes] = [.serial, .fixed(3).using(OneAfterAnotherExecutor()), .fixed(2).using(LateStartExecutor()),
                              .fixed(5).using(LateStartExecutor(delayMicroseconds: 300))]
        #expect(try checkConv(c, seed: 60, lanes: lanes) == nil)
        c.strides = Size2D(2)  // the packed (im2col) path rather than the band
        #expect(try checkConv(c, seed: 61, lanes: lanes) == nil)
    }

    @Test func gemmGivesTheSameBitsWhoeverClaimsTheShards() throws {
        var rng = SeededGenerator(seed: 62)
        let (m, n, k) = (131, 97, 75)
        let a = rng.floats(m * k), b = rng.floats(k * n)
        var results: [[UInt32]] = []
        for lanes in [Lanes.serial, .fixed(4).using(OneAfterAnotherExecutor()), .fixed(3).using(LateStartExecutor())] {
            var c = [Float](repeating: .nan, count: m * n)
            try a.withUnsafeBufferPointer { a in
                try b.withUnsafeBufferPointer { b in
                    try c.withUnsafeMutableBufferPointer { c in
                        try GEMM.multiply(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: c, ldc: n, lanes: lanes)
                    }
                }
            }
            results.append(c.map(\.bitPattern))
        }
        #expect(results.allSatisfy { $0 == results[0] })
        #expect(!results[0].contains(Float.nan.bitPattern))
    }
}
