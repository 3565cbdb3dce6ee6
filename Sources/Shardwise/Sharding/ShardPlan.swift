// Shard plans: which lane owns which block of the output, as pure values.
//
// A plan splits an output of `rows × columns` (a GEMM's C; a convolution's
// [N·OH·OW, Cout]) into one rectangle per lane. Splitting columns is the
// column-parallel (output-channel) split of Megatron-style tensor parallelism:
// each lane owns a slice of the weights and needs no reduction, but every lane
// packs the same A (for a convolution: the same im2col patches, or, where each
// lane's slice is narrow, a band of input rows: see Conv2D). Splitting rows
// is the batch/spatial split: each lane packs its own A rows, and, when B is not
// pre-packed, every lane packs the same B. Boundaries fall on whole register
// tiles (MR rows, NR columns; the skinny path's 4-row blocks, the depthwise kernel's
// 4-pixel groups), so no microtile is
// shared and each output element has exactly one owner; `ShardPlan.owners` checks
// that without running a thread.
//
// At run time lanes claim shards from a shared counter (`Lanes.run(_:_:)`), so a
// lane that starts late never holds up one that is free. Dispatch's second lane
// starts 10–30 µs after the caller (timestamps in back-to-back 2-lane calls), which
// with one shard per lane made it finish that much after the caller. So a row split
// ends with a tail of shards that halve in size (`guidedRanges`): a late lane claims
// less of the tail. Measured, Dispatch, 2 lanes, medians of 3 interleaved runs:
// 1×56×56×64 1×1→256 402 → 428 GFLOP/s, 1×28×28×128 3×3 446 → 458, the article's
// first layer 281 → 294, none slower. Shards of equal size cut finer (4 per lane)
// had cost 4 % more work per lane: each extra shard costs a partial tile and, on
// the band path, a band's halo rows again; the tail keeps them few (3–4 more).
// A first shard larger by the start latency's worth of tiles cost as often as it
// paid (the worker sometimes starts at once). Packing A once for all the lanes of
// an output-channel split (one buffer, each block claimed and published through an
// atomic state) was dropped too: on 1×14×14×256 3×3, 2 lanes ran 0.49–0.50 ms with
// and without it, and even 4 lanes on 2 cores, each packing all of A, ran as fast
// as 2 lanes. That layer's im2col is a few percent of its time, inside this
// machine's noise. It is a candidate again for many-core machines, where a column
// split's duplicated packing grows with the lane count. A guided tail for column
// splits too (the last eighth of the rows cut into smaller shards per column
// range) measured level there as well (0.51 ms either way, Dispatch, 2 lanes).
// (Since then that layer's 2-lane split reads bands instead, 0.496–0.506 →
// 0.469–0.476 ms: each lane copies a band of input rows and packs no patches at
// all; see PaddedBand.swift.)

/// How a plan divides the output among lanes.
public enum ShardStrategy: String, Sendable, Hashable, CustomStringConvertible {
    /// One lane does everything.
    case serial
    /// Lanes own ranges of output columns (output channels): column-parallel.
    case outputChannels = "output-channels"
    /// Lanes own ranges of output rows (batch × spatial positions).
    case rows
    /// Lanes own blocks of a rows × columns grid: each packs only its rows of A and its
    /// columns of B, the least duplicated packing when there are many lanes.
    case grid

    /// The strategy's name as the benchmark prints it.
    public var description: String { rawValue }
}

/// One lane's block of the output.
public struct LaneShard: Sendable, Hashable {
    /// Output rows this lane computes.
    public let rows: Range<Int>
    /// Output columns this lane computes.
    public let columns: Range<Int>

    /// The shard's columns within each group of `groupColumns` columns that they overlap, relative
    /// to the group's first column (a grouped convolution's plan: see `ShardPlan.groupedRanges`).
    package func groupPieces(groupColumns: Int) -> [(group: Int, columns: Range<Int>)] {
        let first = columns.lowerBound / groupColumns, last = (columns.upperBound - 1) / groupColumns
        return (first...last).map { group in
            let start = group * groupColumns
            let lower = Swift.max(columns.lowerBound, start), upper = Swift.min(columns.upperBound, start + groupColumns)
            return (group, (lower - start)..<(upper - start))
        }
    }
}

/// A division of a `rows × columns` output among lanes.
public struct ShardPlan: Sendable, Hashable, CustomStringConvertible {
    /// How the output is divided.
    public let strategy: ShardStrategy
    /// The blocks, in the order lanes claim them; together they cover the output exactly once.
    /// One per lane, except that a row split ends with a tail of smaller ones (see `guidedRanges`)
    /// and a GEMM's plan of several column parts on many lanes has several per lane (`Planner`'s
    /// `dynamicGrid`).
    public let shards: [LaneShard]
    /// The planner's estimates behind the choice (empty for a plan made by hand).
    package let estimates: [PlanEstimate]

    /// The number of lanes the plan uses (at most the number of shards).
    public let laneCount: Int

    /// Why the planner chose this plan, in one sentence.
    public var reason: String {
        guard let chosen = estimates.first(where: isChosen) else {
            return "fixed by the caller"
        }
        let others = estimates.filter { $0 != chosen }
        guard let runnerUp = others.min(by: { $0.seconds < $1.seconds }) else {
            return "the only candidate: \(chosen)"
        }
        return "\(chosen), against \(runnerUp) for the next best"
    }

    /// `strategy × lanes: reason`.
    public var description: String { "\(strategy) × \(laneCount): \(reason)" }

    /// Every candidate the planner weighed, one per line, the chosen one marked.
    public func explain() -> String {
        var lines = ["\(strategy) × \(laneCount) lanes" + (shards.count > laneCount ? ", \(shards.count) shards" : "")]
        for estimate in estimates.sorted(by: { $0.seconds < $1.seconds }) {
            let chosen = isChosen(estimate)
            lines.append("\(chosen ? "→" : " ") \(estimate)")
        }
        return lines.joined(separator: "\n")
    }

    /// Whether `estimate` describes this plan.
    private func isChosen(_ estimate: PlanEstimate) -> Bool {
        // Column parts, not row parts: `dynamicGrid` cuts the rows finer than planned, which makes
        // a grid of an output-channel split.
        estimate.lanes == laneCount
            && (estimate.strategy == strategy || (strategy == .grid && estimate.strategy == .outputChannels))
            && (strategy != .grid || estimate.columnParts == Set(shards.map(\.columns)).count)
    }

    /// A plan of `shards`, claimed by `laneCount` lanes (by default, one lane per shard).
    package init(strategy: ShardStrategy, shards: [LaneShard], laneCount: Int? = nil, estimates: [PlanEstimate] = []) {
        self.strategy = strategy
        self.shards = shards
        self.laneCount = laneCount ?? shards.count
        self.estimates = estimates
    }

    /// Splits `rows × columns` into `lanes` blocks by `strategy` (a grid takes the most nearly
    /// square factorization of `lanes`), in whole units of `rowUnit` rows (MR) or `columnUnit`
    /// columns (NR), as evenly as whole units allow. Fewer lanes are used when there are fewer units
    /// than lanes.
    package static func split(rows: Int, columns: Int, lanes: Int, strategy: ShardStrategy,
                              estimates: [PlanEstimate] = [], rowUnit: Int = Blocking.mr,
                              columnUnit: Int = Blocking.nr, groups: Int = 1) -> ShardPlan {
        let (rowParts, columnParts): (Int, Int)
        switch strategy {
        case .serial: (rowParts, columnParts) = (1, 1)
        case .rows: (rowParts, columnParts) = (lanes, 1)
        case .outputChannels: (rowParts, columnParts) = (1, lanes)
        case .grid:
            // The most nearly square factorization of the lane count.
            let parts = (1...lanes).last { lanes % $0 == 0 && $0 * $0 <= lanes } ?? 1
            (rowParts, columnParts) = (parts, lanes / parts)
        }
        return grid(rows: rows, columns: columns, rowParts: rowParts, columnParts: columnParts, estimates: estimates,
                    rowUnit: rowUnit, columnUnit: columnUnit, groups: groups)
    }

    /// Splits `rows × columns` into a `rowParts × columnParts` grid of blocks (row-major lane
    /// order), cut at whole `rowUnit`s of rows (MR unless a kernel says otherwise) and `columnUnit`s
    /// of columns (NR unless a kernel says otherwise; of `groups` groups: see `groupedRanges`); fewer
    /// parts where there are fewer units. A split of the rows alone is cut by `guidedRanges`. One
    /// lane per block, or `laneCount` lanes that claim the blocks in order.
    package static func grid(rows: Int, columns: Int, rowParts: Int, columnParts: Int,
                             estimates: [PlanEstimate] = [], rowUnit: Int = Blocking.mr, columnUnit: Int = Blocking.nr,
                             laneCount: Int? = nil, groups: Int = 1) -> ShardPlan {
        let evenRows = evenRanges(extent: rows, unit: rowUnit, parts: rowParts)
        let columnRanges = groupedRanges(columns: columns, groups: groups, parts: columnParts, unit: columnUnit)
        let guided = columnRanges.count == 1 && evenRows.count > 1
        let rowRanges = guided ? guidedRanges(extent: rows, unit: rowUnit, lanes: evenRows.count) : evenRows
        let shards = rowRanges.flatMap { r in columnRanges.map { LaneShard(rows: r, columns: $0) } }
        let strategy: ShardStrategy = shards.count == 1 ? .serial
            : columnRanges.count == 1 ? .rows : rowRanges.count == 1 ? .outputChannels : .grid
        return ShardPlan(strategy: strategy, shards: shards,
                         laneCount: Swift.min(laneCount ?? shards.count, evenRows.count * columnRanges.count),
                         estimates: estimates)
    }

    /// `extent` cut, at multiples of `unit`, for `lanes` lanes that claim shards in order: one
    /// large shard per lane (together seven eighths of the extent), then a tail of shards that
    /// halve down to a sixty-fourth of it. A lane that starts late claims less of the tail, so
    /// the lanes end within a small shard of each other instead of a start latency apart. Too
    /// few units for a tail: `evenRanges`.
    package static func guidedRanges(extent: Int, unit: Int, lanes: Int) -> [Range<Int>] {
        let units = (extent + unit - 1) / unit
        let tail = units / 8, smallest = Swift.max(1, units / 64)
        let large = (units - tail) / lanes
        guard large >= 1 && tail >= 2 * smallest else { return evenRanges(extent: extent, unit: unit, parts: lanes) }
        var sizes = [Int](repeating: large, count: lanes)
        var rest = units - large * lanes
        while rest > 0 {
            let take = rest <= 2 * smallest ? rest : Swift.max(smallest, (rest + 1) / 2)
            sizes.append(take)
            rest -= take
        }
        return consecutiveRanges(units: sizes, unit: unit, extent: extent)
    }

    /// `extent` cut into at most `parts` consecutive ranges whose bounds are multiples of `unit`
    /// (except the end), differing by at most one unit.
    package static func evenRanges(extent: Int, unit: Int, parts: Int) -> [Range<Int>] {
        let units = (extent + unit - 1) / unit
        let parts = Swift.max(1, Swift.min(parts, units))
        let sizes = (0..<parts).map { units / parts + ($0 < units % parts ? 1 : 0) }
        return consecutiveRanges(units: sizes, unit: unit, extent: extent)
    }

    /// `columns` of `groups` equal groups (a grouped convolution's output channels, each group its
    /// own product) cut into at most `parts` ranges that never cut a group's panels of `unit` columns
    /// (NR unless a kernel says otherwise): whole groups where `parts ≤ groups`, as evenly as whole
    /// groups allow, else each group into `parts / groups` ranges (rounded down) at multiples of
    /// `unit` from the group's start (fewer where the group has fewer panels). With one group:
    /// `evenRanges` at `unit`.
    package static func groupedRanges(columns: Int, groups: Int, parts: Int, unit: Int = Blocking.nr) -> [Range<Int>] {
        let width = columns / groups
        if parts <= groups {
            return evenRanges(extent: groups, unit: 1, parts: parts).map { ($0.lowerBound * width)..<($0.upperBound * width) }
        }
        let inGroup = evenRanges(extent: width, unit: unit, parts: parts / groups)
        return (0..<groups).flatMap { group in
            inGroup.map { (group * width + $0.lowerBound)..<(group * width + $0.upperBound) }
        }
    }

    /// Consecutive ranges from 0 of `units[i] · unit` each, the last cut at `extent`.
    private static func consecutiveRanges(units: [Int], unit: Int, extent: Int) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var start = 0
        for count in units {
            let end = Swift.min(extent, start + count * unit)
            ranges.append(start..<end)
            start = end
        }
        return ranges
    }

    /// The most rows and the most columns of any shard: what one lane's workspace is sized for
    /// (a lane may claim more than one shard).
    package var largestShard: (rows: Int, columns: Int) {
        shards.reduce((0, 0)) { (Swift.max($0.0, $1.rows.count), Swift.max($0.1, $1.columns.count)) }
    }

    /// For each output element (row-major), how many lanes own it: every entry is 1 in a valid plan.
    package func owners(rows: Int, columns: Int) -> [Int] {
        var count = [Int](repeating: 0, count: rows * columns)
        for shard in shards {
            for r in shard.rows { for c in shard.columns { count[r * columns + c] += 1 } }
        }
        return count
    }
}

/// The planner's estimate of one candidate plan's time.
package struct PlanEstimate: Sendable, Hashable, CustomStringConvertible {
    package let strategy: ShardStrategy
    package let lanes: Int
    /// The grid: parts along the rows and along the columns (`rowParts · columnParts == lanes`).
    package let rowParts: Int
    package let columnParts: Int
    /// Multiply-adds of the busiest lane, as FLOPs (whole register tiles).
    package let flopsPerLane: Double
    /// Elements the busiest lane packs (its own and the duplicated ones).
    package let packedPerLane: Double
    /// The estimated wall time, seconds.
    package let seconds: Double

    package var description: String {
        let micro = (seconds * 1e6 * 10).rounded() / 10
        let shape = strategy == .grid ? " (\(rowParts) × \(columnParts))" : ""
        return "\(strategy) × \(lanes)\(shape): ≈\(micro) µs (\(Self.whole(flopsPerLane / 1e3)) kFLOP and "
            + "\(Self.whole(packedPerLane)) packed elements on the busiest lane)"
    }

    /// `x` as a whole number: digits while it fits in `Int`, else Double's own spelling (`Int(_:)`
    /// traps beyond Int.max, and the counts of a shape that is only planned, never allocated, get there).
    static func whole(_ x: Double) -> String {
        x < 0x1p63 ? String(Int(x)) : String(x)
    }
}

/// Chooses a plan for a GEMM-shaped output from a cost model.
///
/// A candidate (strategy, lane count) costs the busiest lane's multiply-adds at the
/// kernel's speed, plus the elements it packs (with an output-channel split every lane
/// packs all of A, for a convolution the same im2col patches, priced by the caller per lane
/// width; with a row split every lane
/// packs all of B unless B is pre-packed; a grid duplicates a share of each), plus, when it
/// uses more than one lane, the start
/// latency the executor states (`startLatencySeconds`: 30 µs for Dispatch, 3 µs spinning). With
/// `Lanes.automatic` the planner weighs every lane count up to the processor count and
/// takes the cheapest; with `.fixed(n)` only n lanes (or fewer when there are fewer tiles).
///
/// The model assumes every lane runs at the same speed. On the 16-vCPU device machine they do
/// not: its FMA loop, with equal work per lane, reached 7.3–11.0× one lane on 16 lanes, and in a
/// fifth of the readings a lane never passed half rate, so a grid of one block per lane waits for
/// its slowest lane. For
/// GEMMs (`dynamicGrid`) a plan of several column parts on 8 lanes or more (a grid, or an
/// output-channel split) therefore cuts each row part into 4 shards, which the lanes claim in
/// order, so that faster lanes take more of them, where there are at least
/// `dynamicGridMinimumRows` rows per shard. Measured there, 16
/// lanes, spinning, four interleaved rounds (GFLOP/s, one block per lane → 4 per lane): 2048³
/// 977–1,034 → 1,127–1,211, dense 2048×2048→2048 1,092–1,128 → 1,206–1,394 (2 per lane:
/// 1,067–1,225 and 1,095–1,175). Not for convolutions: their row splits already end in a halving
/// tail, and finer ones lost there (8×56×56×64 3×3: 1,034–1,177 → 783–884, each shard refilling
/// its band's halo rows). Nor below 8 lanes: on the 2-core development machine, 2 lanes cut 4
/// times finer lost 2–15 % (each row shard of a per-call B packs its strip again). At 8 and 12
/// lanes (device run 6, two rounds) cut in 4 was level with or ahead of no cut: 2048³ 503–535
/// against 505–508 and 731–748 against 712–761, dense 2048×2048→2048 519–534 against 490–504 and
/// 744–801 against 731–740. No grid plan arises at 4 lanes on those shapes. Output-channel splits
/// cut the same way (device run 7, four interleaved rounds, medians, one row part → 4; cut in 2
/// was behind cut in 4 everywhere): 512×3072×768 573 → 616, 819 → 887 and 1,014 → 1,099 at 8, 12 and 16
/// lanes; 1024×4096×1024 544 → 589 at 8 and 1,082 → 1,214 at 16; dense 512×768→3072 548 → 627,
/// 816 → 896 and 912 → 1,225; dense 256×1024→4096 (64 rows a shard) level at 8, 789 → 886 and
/// 1,061 → 1,116 at 12 and 16. Smaller shards were not measured: with B packed per call each
/// one packs its columns of B again.
package enum Planner {
    /// Sustained kernel speed per lane assumed by the model, FLOP/s (about 80 % of this target's peak).
    package static let flopsPerSecond: Double = Blocking.vectorWidth >= 16 ? 200e9 : Blocking.vectorWidth >= 8 ? 100e9 : 20e9
    /// Packing speed assumed by the model, elements/s, for a contiguous copy (calibrated on the
    /// 8×56×56×64 3×3 convolution: its 28.9 M packed elements cost about a millisecond).
    package static let packedPerSecond = 16e9

    /// Plans a GEMM-shaped output of `rows × columns` over `depth`.
    ///
    /// - Parameters:
    ///   - packsB: whether each lane packs B itself (false when B is pre-packed weights).
    ///   - aPackingCost: relative cost of packing one element of A (im2col costs more than a copy),
    ///     for a lane that owns the given number of columns of a group and spans the given number of
    ///     groups (a convolution reads narrow column shards' patches from bands, for a fraction of
    ///     im2col's cost, except a height-strided layer's with long kernel rows, which it prices as
    ///     packing); it says what the lane's rows cost over one group's depth, so the default packs
    ///     A once per group the lane spans.
    ///   - allowsColumnSplit: false for kernels that can only split rows.
    ///   - kernelSpeed: the kernel's speed relative to the GEMM microkernel's (a memory-bound
    ///     depthwise kernel runs at about a tenth of it).
    ///   - rowUnit: the rows a kernel computes together, where row shards are cut (MR for the
    ///     outer-product microkernel).
    ///   - columnUnit: the columns a kernel computes together, where column shards are cut (NR for
    ///     the outer-product microkernel).
    ///   - dynamicGrid: whether a plan of several column parts on `dynamicGridLanes` lanes or more
    ///     cuts each row part into `dynamicGridCut` shards, which its lanes claim in order (see below).
    ///   - groups: the columns are this many equal groups, each its own product of depth `depth`
    ///     against its own A (a grouped convolution's): a column split gives lanes whole groups, or
    ///     each group's columns cut at NR (`ShardPlan.groupedRanges`).
    /// - Throws: `ShardwiseError.nonPositiveSize` for `Lanes.fixed(n)` with `n < 1`.
    package static func plan(rows: Int, columns: Int, depth: Int, lanes: Lanes, packsB: Bool,
                             aPackingCost: (_ laneColumns: Int, _ laneGroups: Int) -> Double = { Double($1) },
                             allowsColumnSplit: Bool = true,
                             kernelSpeed: Double = 1, rowUnit: Int = Blocking.mr,
                             columnUnit: Int = Blocking.nr, dynamicGrid: Bool = false,
                             groups: Int = 1) throws(ShardwiseError) -> ShardPlan {
        let maximum = try lanes.maximum()
        let rowUnits = (rows + rowUnit - 1) / rowUnit
        let groupColumns = columns / groups
        let laneCounts = lanes.isAutomatic ? Array(1...maximum) : [maximum]
        var estimates: [PlanEstimate] = []
        for count in laneCounts {
            for rowParts in 1...count where count % rowParts == 0 {
                let columnParts = count / rowParts
                if rowParts > rowUnits || (columnParts > 1 && !allowsColumnSplit) { continue }
                let columnRanges = ShardPlan.groupedRanges(columns: columns, groups: groups, parts: columnParts,
                                                           unit: columnUnit)
                if columnRanges.count < columnParts { continue }
                let strategy: ShardStrategy = count == 1 ? .serial
                    : columnParts == 1 ? .rows : rowParts == 1 ? .outputChannels : .grid
                // The busiest lane's block, in whole tiles, and the groups it spans.
                let myRows = Double(Swift.min(rows, (rowUnits + rowParts - 1) / rowParts * rowUnit))
                let myColumns = columnRanges.map(\.count).max() ?? columns
                let myGroups = (myColumns + groupColumns - 1) / groupColumns
                let flops = 2 * myRows * Double(myColumns) * Double(depth)
                let packed = myRows * Double(depth) * aPackingCost(Swift.min(myColumns, groupColumns), myGroups)
                    + (packsB ? Double(depth) * Double(myColumns) : 0)
                let start = count > 1 ? lanes.executor.startLatencySeconds : 0
                let seconds = flops / (flopsPerSecond * kernelSpeed) + packed / packedPerSecond + start
                estimates.append(PlanEstimate(strategy: strategy, lanes: count, rowParts: rowParts,
                                              columnParts: columnParts, flopsPerLane: flops, packedPerLane: packed,
                                              seconds: seconds))
            }
        }
        guard let best = estimates.min(by: { $0.seconds < $1.seconds }) else {
            // Fewer tiles than the fixed lane count along both axes: split the longer one.
            let columnUnits = groups * ((groupColumns + columnUnit - 1) / columnUnit)
            let strategy: ShardStrategy = rowUnits >= columnUnits || !allowsColumnSplit ? .rows : .outputChannels
            return .split(rows: rows, columns: columns, lanes: maximum, strategy: strategy, rowUnit: rowUnit,
                          columnUnit: columnUnit, groups: groups)
        }
        let cut = dynamicGrid && best.columnParts > 1 && best.lanes >= dynamicGridLanes
            && rows >= best.rowParts * dynamicGridCut * dynamicGridMinimumRows ? dynamicGridCut : 1
        return .grid(rows: rows, columns: columns, rowParts: best.rowParts * cut, columnParts: best.columnParts,
                     estimates: estimates, rowUnit: rowUnit, columnUnit: columnUnit, laneCount: best.lanes,
                     groups: groups)
    }

    /// The fewest lanes of a plan of several column parts whose row parts `dynamicGrid` cuts finer.
    package static let dynamicGridLanes = 8
    /// How many shards each row part of such a plan becomes.
    package static let dynamicGridCut = 4
    /// The fewest rows per shard, on average, for which a plan is cut (the smallest measured; see
    /// above). Shards are cut at whole tiles, so one may have fewer.
    package static let dynamicGridMinimumRows = 64
}
