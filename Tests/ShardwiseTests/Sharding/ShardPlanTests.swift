import Dispatch
import Testing
import Shardwise
import ShardwiseTestSupport

@Suite struct ShardPlanTests {
    @Test func everyElementHasExactlyOneOwner() {
        for rows in [1, 5, 12, 13, 97, 250] {
            for columns in [1, 31, 32, 33, 100] {
                for lanes in 1...7 {
                    for strategy in [ShardStrategy.serial, .rows, .outputChannels] {
                        let plan = ShardPlan.split(rows: rows, columns: columns, lanes: lanes, strategy: strategy)
                        #expect(plan.owners(rows: rows, columns: columns).allSatisfy { $0 == 1 },
                                "rows \(rows) columns \(columns) lanes \(lanes) \(strategy)")
                        #expect(plan.laneCount <= lanes)
                    }
                }
            }
        }
    }

    @Test func boundariesFallOnWholeTiles() {
        let plan = ShardPlan.split(rows: 1000, columns: 1000, lanes: 5, strategy: .outputChannels)
        for shard in plan.shards.dropLast() { #expect(shard.columns.upperBound % Blocking.nr == 0) }
        let rowPlan = ShardPlan.split(rows: 1000, columns: 1000, lanes: 5, strategy: .rows)
        for shard in rowPlan.shards.dropLast() { #expect(shard.rows.upperBound % Blocking.mr == 0) }
    }

    @Test func automaticStaysSerialOnSmallWork() throws {
        let plan = try Planner.plan(rows: 16, columns: 16, depth: 16, lanes: .automatic, packsB: true)
        #expect(plan.strategy == .serial)
        #expect(plan.laneCount == 1)
    }

    @Test func fixedLanesBelowOneThrow() {
        #expect(throws: ShardwiseError.nonPositiveSize(argument: "lanes", value: 0)) {
            _ = try Planner.plan(rows: 100, columns: 100, depth: 100, lanes: .fixed(0), packsB: true)
        }
    }

    @Test func nestedCallsRunSerially() throws {
        let maxima = Recorder()
        Lanes.fixed(2).run(count: 2) { _ in maxima.record((try? Lanes.fixed(8).maximum()) ?? -1) }
        #expect(maxima.values == [1, 1])
    }

    /// GEMM C is bitwise identical for every lane count and every strategy.
    @Test func gemmIsBitwiseIdenticalAcrossLanesAndStrategies() throws {
        var rng = SeededGenerator(seed: 5)
        let (m, n, k) = (203, 171, 613)
        let a = rng.floats(m * k), b = rng.floats(k * n), bias = rng.floats(n)
        var reference: [UInt32]?
        for lanes in 1...(2 * Lanes.processorCount + 1) {
            for strategy in [ShardStrategy.rows, .outputChannels] {
                var c = [Float](repeating: .nan, count: m * n)
                a.withUnsafeBufferPointer { a in
                    b.withUnsafeBufferPointer { b in
                        c.withUnsafeMutableBufferPointer { c in
                            bias.withUnsafeBufferPointer { bias in
                                let plan = ShardPlan.split(rows: m, columns: n, lanes: lanes, strategy: strategy)
                                GEMM.run(plan: plan, depth: k, a: StridedMatrix(base: a.baseAddress!, rowStride: k, columnStride: 1),
                                         b: .strided(StridedMatrix(base: b.baseAddress!, rowStride: n, columnStride: 1)),
                                         c: c.baseAddress!, ldc: n,
                                         epilogue: Epilogue(alpha: 0.5, bias: bias.baseAddress, activation: .relu6),
                                         lanes: .fixed(lanes))
                            }
                        }
                    }
                }
                let bits = c.map(\.bitPattern)
                if let reference { #expect(bits == reference, "lanes \(lanes) \(strategy)") } else { reference = bits }
            }
        }
    }
}

/// Collects values recorded from several threads, behind a serial queue.
final class Recorder: @unchecked Sendable {
    // @unchecked: `storage` is only touched on `queue`.
    private let queue = DispatchQueue(label: "shardwise.tests.recorder")
    private var storage: [Int] = []
    func record(_ value: Int) { queue.sync { storage.append(value) } }
    var values: [Int] { queue.sync { storage } }
}
