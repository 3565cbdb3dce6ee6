import Dispatch
import Testing
import Shardwise
import ShardwiseTestSupport

@Suite struct ShardPlanTests {
    @Test func everyElementHasExactlyOneOwner() {
        for rows in [1, 5, 12, 13, 97, 250] {
            for columns in [1, 31, 32, 33, 100] {
                for lanes in 1...7 {
                    for strategy in [ShardStrategy.serial, .rows, .outputChannels, .grid] {
                        let plan = ShardPlan.split(rows: rows, columns: columns, lanes: lanes, strategy: strategy)
                        #expect(plan.owners(rows: rows, columns: columns).allSatisfy { $0 == 1 },
                                "rows \(rows) columns \(columns) lanes \(lanes) \(strategy)")
                        #expect(plan.laneCount <= lanes)
                    }
                }
            }
        }
    }

    /// A row split: one large shard per lane, then a tail that halves; whole tiles, in order,
    /// covering the rows once; too few tiles for a tail: one shard per lane.
    @Test func rowSplitsEndWithAHalvingTail() {
        for rows in [1, 12, 13, 190, 192, 1000, 3136, 25088] {
            for lanes in 1...7 {
                let ranges = ShardPlan.guidedRanges(extent: rows, unit: Blocking.mr, lanes: lanes)
                #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == rows)
                #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
                #expect(ranges.dropLast().allSatisfy { $0.upperBound % Blocking.mr == 0 && !$0.isEmpty })
                let units = (rows + Blocking.mr - 1) / Blocking.mr
                if units >= 64 {
                    let sizes = ranges.dropLast().map(\.count)
                    #expect(ranges.count > lanes && Set(sizes.prefix(lanes)).count == 1, "rows \(rows) lanes \(lanes)")
                    #expect(zip(sizes.dropFirst(lanes - 1), sizes.dropFirst(lanes)).allSatisfy { $0 >= $1 })
                    #expect(sizes.prefix(lanes).reduce(0, +) >= rows * 3 / 4)
                } else if units < 16 {
                    #expect(ranges == ShardPlan.evenRanges(extent: rows, unit: Blocking.mr, parts: lanes))
                }
            }
        }
        let plan = ShardPlan.split(rows: 3136, columns: 64, lanes: 2, strategy: .rows)
        #expect(plan.laneCount == 2 && plan.shards.count > 2)
        #expect(plan.owners(rows: 3136, columns: 64).allSatisfy { $0 == 1 })
    }

    @Test func boundariesFallOnWholeTiles() {
        let plan = ShardPlan.split(rows: 1000, columns: 1000, lanes: 5, strategy: .outputChannels)
        for shard in plan.shards.dropLast() { #expect(shard.columns.upperBound % Blocking.nr == 0) }
        let rowPlan = ShardPlan.split(rows: 1000, columns: 1000, lanes: 5, strategy: .rows)
        for shard in rowPlan.shards.dropLast() { #expect(shard.rows.upperBound % Blocking.mr == 0) }
    }

    /// The skinny (dot-product) path computes 4 × 5 blocks, and its plans cut there. A layer's Bᵀ,
    /// packed once, is shared, and the rows split: the article's 32-row dense layer 16 + 16 over 2
    /// lanes, not 24 + 8 as at MR. A B passed per call is transposed by each lane, its own columns:
    /// the same product as a plain GEMM splits its 10 columns 5 + 5. Any split cuts at the blocks.
    @Test func skinnyPlansCutAtFourByFiveBlocks() throws {
        var rng = SeededGenerator(seed: 3)
        let weights = rng.floats(25088 * 10)
        let packed = try weights.withUnsafeBufferPointer { try PackedMatrix(depth: 25088, columns: 10, b: $0, ldb: 10) }
        let layer = try GEMM.plan(m: 32, b: packed, lanes: .fixed(2))
        #expect(layer.shards.map(\.rows) == [0..<16, 16..<32])
        #expect(layer.shards.allSatisfy { $0.columns == 0..<10 })
        let plain = try GEMM.plan(m: 32, n: 10, k: 25088, lanes: .fixed(2))
        #expect(plain.shards.map(\.columns) == [0..<5, 5..<10])
        #expect(plain.shards.allSatisfy { $0.rows == 0..<32 })
        for lanes in 1...7 {
            for n in [10, 16] {
                let plan = try GEMM.plan(m: 37, n: n, k: 500, lanes: .fixed(lanes))
                for shard in plan.shards {
                    #expect(shard.rows.upperBound % 4 == 0 || shard.rows.upperBound == 37)
                    #expect(shard.columns.upperBound % 5 == 0 || shard.columns.upperBound == n)
                }
                #expect(plan.owners(rows: 37, columns: n).allSatisfy { $0 == 1 })
            }
        }
    }

    /// A shape can be planned without being allocated, so its FLOP count may exceed what `Int` holds:
    /// the planner must still work in Double and use every processor (an earlier planner trapped here).
    @Test func automaticPlansAShapeWhoseFLOPsOverflowInt() throws {
        let plan = try Planner.plan(rows: 1 << 40, columns: 1 << 40, depth: 1 << 40, lanes: .automatic, packsB: false)
        #expect(plan.laneCount == Lanes.processorCount)
    }

    /// A huge fixed lane count is capped: planning a huge (never allocated) shape with it used to
    /// ask for one shard per row tile, billions of them, and abort on the allocation (and the grid
    /// planner would walk every candidate row split up to the count).
    @Test func hugeFixedLaneCountsAreCapped() throws {
        let plan = try Planner.plan(rows: 1 << 50, columns: 1, depth: 1, lanes: .fixed(Int.max), packsB: false)
        #expect(plan.laneCount == Lanes.limit)
        let dense = try Dense(try DenseDescriptor(weight: try Tensor(shape: [6, 5], repeating: 1)))
        #expect(try dense.plan(forInput: [1 << 50, 6], lanes: .fixed(1 << 40)).laneCount == Lanes.limit)
    }

    /// A plan's explanation spells its FLOP and packing counts; for a huge planned shape they exceed
    /// Int.max (a regression: converting them trapped in debug, and under -Ounchecked printed Int.min).
    @Test func reasonsSpellCountsBeyondIntMax() throws {
        for lanes in [Lanes.serial, .fixed(64)] {
            let plan = try Planner.plan(rows: 1 << 40, columns: 1 << 40, depth: 1 << 40, lanes: lanes, packsB: true)
            #expect(!plan.reason.contains(String(Int.min)), "\(plan.reason)")
            #expect(!plan.explain().contains(String(Int.min)), "\(plan.explain())")
        }
    }

    @Test func gridsCoverEveryElementOnce() {
        for (rowParts, columnParts) in [(2, 2), (4, 4), (3, 5), (8, 2)] {
            let plan = ShardPlan.grid(rows: 500, columns: 300, rowParts: rowParts, columnParts: columnParts)
            #expect(plan.strategy == .grid)
            #expect(plan.laneCount == rowParts * columnParts)
            #expect(plan.owners(rows: 500, columns: 300).allSatisfy { $0 == 1 })
        }
    }

    /// A grouped output's column splits never cut a group's panels: whole groups where there are
    /// no more parts than groups, else each group cut at NR from its own first column; they cover
    /// the columns once, and a shard's pieces give back its columns group by group.
    @Test func groupedSplitsKeepEachGroupsPanelsWhole() {
        for groups in [1, 2, 3, 5, 32] {
            for width in [1, 24, Blocking.nr, 2 * Blocking.nr, 3 * Blocking.nr + 5] {
                let columns = groups * width, panels = (width + Blocking.nr - 1) / Blocking.nr
                for parts in 1...9 {
                    let plan = ShardPlan.grid(rows: 1, columns: columns, rowParts: 1, columnParts: parts, groups: groups)
                    let ranges = plan.shards.map(\.columns), label = "groups \(groups) width \(width) parts \(parts)"
                    #expect(ranges == ShardPlan.groupedRanges(columns: columns, groups: groups, parts: parts))
                    #expect(ranges.count == (parts <= groups ? parts : groups * Swift.min(parts / groups, panels)), "\(label)")
                    #expect(plan.owners(rows: 1, columns: columns).allSatisfy { $0 == 1 }, "\(label)")
                    for range in ranges {
                        let wholeGroups = range.lowerBound % width == 0 && range.upperBound % width == 0
                        let withinOne = range.lowerBound / width == (range.upperBound - 1) / width
                            && range.lowerBound % width % Blocking.nr == 0
                        #expect(wholeGroups || withinOne, "\(label): \(range)")
                    }
                    for shard in plan.shards {
                        let pieces = shard.groupPieces(groupColumns: width)
                        #expect(pieces.flatMap { piece in piece.columns.map { piece.group * width + $0 } } == Array(shard.columns))
                        #expect(pieces.allSatisfy { !$0.columns.isEmpty && $0.columns.upperBound <= width })
                    }
                }
            }
        }
        // 32 groups of 64 channels over 49 pixels: the planner gives each of 2 lanes 16 groups.
        let plan = try? Planner.plan(rows: 49, columns: 2048, depth: 576, lanes: .fixed(2), packsB: false, groups: 32)
        #expect(plan?.shards.map(\.columns) == [0..<1024, 1024..<2048], "\(plan?.explain() ?? "")")
    }

    @Test func plannerExplainsItsChoice() throws {
        let plan = try Planner.plan(rows: 2048, columns: 2048, depth: 2048, lanes: .fixed(16), packsB: true)
        #expect(plan.laneCount == 16)
        let explanation = plan.explain()
        #expect(explanation.contains("→"))
        #expect(explanation.split(separator: "\n").count >= 3)
        #expect(!plan.reason.isEmpty)
    }

    /// A GEMM's plan of several column parts (a grid, or an output-channel split) on
    /// `dynamicGridLanes` lanes or more cuts each row part into `dynamicGridCut` shards that the
    /// lanes claim in order, where each keeps `dynamicGridMinimumRows` rows: every element owned
    /// once, the planned lane count, the chosen estimate still marked, and the same bits as one lane,
    /// with B packed per call and pre-packed. Shorter row parts, fewer lanes, and convolutions keep
    /// one block per lane. (Which shapes plan a grid differs by target, so each case checks the
    /// rule against the estimate the planner chose, and the first must be cut on every target.)
    @Test func manyLaneGEMMPlansAreClaimedInFinerShards() throws {
        let cases = [(301, 1500, 97, 8), (301, 1500, 97, 16), (1100, 1100, 100, 16), (1100, 700, 130, 16),
                     (200, 900, 300, 8), (203, 171, 613, 16)]
        var cut = 0, uncut = 0
        /// Checks `plan` (of `m` rows on `lanes` lanes) against the rule; true if it was cut.
        func followsTheRule(_ plan: ShardPlan, m: Int, n: Int, lanes: Int) throws -> Bool {
            let columnParts = Set(plan.shards.map(\.columns)).count
            let chosen = try #require(plan.estimates.first { $0.lanes == plan.laneCount && $0.columnParts == columnParts },
                                      "\(plan.explain())")
            #expect(plan.laneCount == lanes && plan.explain().contains("→"), "\(plan.explain())")
            #expect(plan.owners(rows: m, columns: n).allSatisfy { $0 == 1 })
            if chosen.columnParts > 1 && m >= chosen.rowParts * Planner.dynamicGridCut * Planner.dynamicGridMinimumRows {
                #expect(plan.strategy == .grid && plan.shards.count == lanes * Planner.dynamicGridCut, "\(plan.explain())")
                return true
            }
            #expect(plan.shards.count == plan.laneCount || plan.strategy == .rows, "\(plan.explain())")
            return false
        }
        for (index, (m, n, k, lanes)) in cases.enumerated() {
            let plan = try GEMM.plan(m: m, n: n, k: k, lanes: .fixed(lanes))
            if try followsTheRule(plan, m: m, n: n, lanes: lanes) { cut += 1 } else { uncut += 1 }
            if index == 0 { #expect(plan.strategy == .grid && plan.explain().contains("→ output-channels"), "\(plan.explain())") }
            let bits = try gemmBits(m: m, n: n, k: k, seed: UInt64(index), lanes: [.serial, .fixed(lanes)])
            #expect(bits[0] == bits[1], "m=\(m) n=\(n) k=\(k) lanes \(lanes)")

            let product = try PrePackedProduct(m: m, n: n, k: k, seed: UInt64(index + 10))
            let packedPlan = try GEMM.plan(m: m, b: product.packed, lanes: .fixed(lanes))
            _ = try followsTheRule(packedPlan, m: m, n: n, lanes: lanes)
            #expect(try product.bits(transposeA: false, lanes: .fixed(lanes)) == product.bits(transposeA: false, lanes: .serial))
        }
        #expect(cut >= 2 && uncut >= 2, "cut \(cut), uncut \(uncut)")
        let fewer = try GEMM.plan(m: 1100, n: 1100, k: 100, lanes: .fixed(Planner.dynamicGridLanes - 2))
        #expect(fewer.shards.count == fewer.laneCount || fewer.strategy == .rows, "\(fewer.explain())")
        let filter = try Tensor(shape: [3, 3, 64, 64], scalars: [Float](repeating: 0.5, count: 9 * 64 * 64))
        let conv = try Conv2D(Conv2DDescriptor(filter: filter))
        let convPlan = try conv.plan(forInput: [1, 56, 56, 64], lanes: .fixed(16))
        #expect(convPlan.strategy != .grid || convPlan.shards.count == convPlan.laneCount, "\(convPlan.explain())")
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
        let maxima = Recorder<Int>()
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
            for strategy in [ShardStrategy.rows, .outputChannels, .grid] {
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
///
/// A Dispatch queue rather than `Synchronization.Mutex`: on Linux the mutex is a raw futex the
/// thread sanitizer cannot see, so it reports every access behind it as a race.
final class Recorder<Value: Sendable>: @unchecked Sendable {
    // @unchecked: `storage` is only touched on `queue`.
    private let queue = DispatchQueue(label: "shardwise.tests.recorder")
    private var storage: [Value] = []
    func record(_ value: Value) { queue.sync { storage.append(value) } }
    var values: [Value] { queue.sync { storage } }
}
