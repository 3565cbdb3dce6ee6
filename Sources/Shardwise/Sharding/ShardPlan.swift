// Shard plans: which lane owns which block of the output, as pure values.
//
// A plan splits an output of `rows × columns` (a GEMM's C; a convolution's
// [N·OH·OW, Cout]) into one rectangle per lane. Splitting columns is the
// column-parallel (output-channel) split of Megatron-style tensor parallelism:
// each lane owns a slice of the weights and needs no reduction, but every lane
// packs the same A (for a convolution: the same im2col patches). Splitting rows
// is the batch/spatial split: each lane packs its own A rows, and, when B is not
// pre-packed, every lane packs the same B. Boundaries fall on whole register
// tiles (MR rows, NR columns), so no microtile is shared and each output element
// has exactly one owner; `ShardPlan.owners` checks that without running a thread.

/// How a plan divides the output among lanes.
public enum ShardStrategy: String, Sendable, Hashable, CustomStringConvertible {
    /// One lane does everything.
    case serial
    /// Lanes own ranges of output columns (output channels): column-parallel.
    case outputChannels = "output-channels"
    /// Lanes own ranges of output rows (batch × spatial positions).
    case rows

    /// The strategy's name as the benchmark prints it.
    public var description: String { rawValue }
}

/// One lane's block of the output.
public struct LaneShard: Sendable, Hashable {
    /// Output rows this lane computes.
    public let rows: Range<Int>
    /// Output columns this lane computes.
    public let columns: Range<Int>
}

/// A division of a `rows × columns` output among lanes.
public struct ShardPlan: Sendable, Hashable, CustomStringConvertible {
    /// How the output is divided.
    public let strategy: ShardStrategy
    /// One block per lane; together they cover the output exactly once.
    public let shards: [LaneShard]
    /// Why the planner chose this plan, in one sentence.
    public let reason: String

    /// The number of lanes the plan uses.
    public var laneCount: Int { shards.count }

    /// `strategy × lanes: reason`.
    public var description: String { "\(strategy) × \(laneCount): \(reason)" }

    /// Splits `rows × columns` into `lanes` blocks along one axis, in whole units of `unit`
    /// (MR for rows, NR for columns), as evenly as whole units allow. Fewer lanes are used
    /// when there are fewer units than lanes.
    package static func split(rows: Int, columns: Int, lanes: Int, strategy: ShardStrategy, reason: String) -> ShardPlan {
        let extent = strategy == .rows ? rows : columns
        let unit = strategy == .rows ? Blocking.mr : Blocking.nr
        let ranges = evenRanges(extent: extent, unit: unit, parts: strategy == .serial ? 1 : lanes)
        let shards = ranges.map { range in
            strategy == .rows ? LaneShard(rows: range, columns: 0..<columns)
                : strategy == .outputChannels ? LaneShard(rows: 0..<rows, columns: range)
                : LaneShard(rows: 0..<rows, columns: 0..<columns)
        }
        return ShardPlan(strategy: shards.count == 1 ? .serial : strategy, shards: shards, reason: reason)
    }

    /// `extent` cut into at most `parts` consecutive ranges whose bounds are multiples of `unit`
    /// (except the end), differing by at most one unit.
    package static func evenRanges(extent: Int, unit: Int, parts: Int) -> [Range<Int>] {
        let units = (extent + unit - 1) / unit
        let parts = Swift.max(1, Swift.min(parts, units))
        var ranges: [Range<Int>] = []
        var start = 0
        for part in 0..<parts {
            let take = units / parts + (part < units % parts ? 1 : 0)
            let end = Swift.min(extent, start + take * unit)
            ranges.append(start..<end)
            start = end
        }
        return ranges
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

/// Chooses a plan for an output from a cost model (see `plan`'s comments).
package enum Planner {
    /// FLOPs below which a call stays on one lane when the lane count is automatic: Dispatch's
    /// second lane starts 15–60 µs late here (SWIFT-SIMD.md), about 2–7 MFLOP at this machine's speed.
    package static let minimumFlopsPerExtraLane = 4_000_000.0

    /// `x` as a whole number for a plan's reason: digits while it fits in `Int`, else Double's own spelling
    /// (`Int(_:)` traps beyond Int.max, and a planned shape's counts can get there).
    static func whole(_ x: Double) -> String {
        x < 0x1p63 ? String(Int(x)) : String(x)
    }

    /// Plans a GEMM-shaped output of `rows × columns` over `depth`.
    ///
    /// - Parameters:
    ///   - packsB: whether each lane would pack B itself (false when B is pre-packed weights).
    ///   - aPackingCost: relative cost of packing one element of A (im2col costs more than a copy).
    package static func plan(rows: Int, columns: Int, depth: Int, lanes: Lanes, packsB: Bool,
                             aPackingCost: Double = 1) throws(ShardwiseError) -> ShardPlan {
        let maximum = try lanes.maximum()
        let flops = 2.0 * Double(rows) * Double(columns) * Double(depth)
        var count = maximum
        if lanes.isAutomatic {
            // Clamp in Double before converting: the FLOP count of a shape that is only planned
            // (never allocated) can exceed Int.max · 4e6, and Int(_:) of such a Double traps.
            count = Swift.max(1, Int(Swift.min(flops / minimumFlopsPerExtraLane, Double(maximum))))
        }
        if count <= 1 {
            let why = maximum <= 1 ? "one lane allowed" : "too little work (\(whole(flops)) FLOPs) to pay for a second lane"
            return .split(rows: rows, columns: columns, lanes: 1, strategy: .serial, reason: why)
        }
        let rowUnits = (rows + Blocking.mr - 1) / Blocking.mr
        let columnUnits = (columns + Blocking.nr - 1) / Blocking.nr
        // Duplicated packing: a row split makes every lane pack all of B (when B is not
        // pre-packed); a column split makes every lane pack all of A.
        let rowSplitWaste = packsB ? Double(depth) * Double(columns) * Double(count - 1) : 0
        let columnSplitWaste = Double(rows) * Double(depth) * Double(count - 1) * aPackingCost
        let rowsBalance = rowUnits >= count, columnsBalance = columnUnits >= count
        if rowsBalance && (rowSplitWaste <= columnSplitWaste || !columnsBalance) {
            return .split(rows: rows, columns: columns, lanes: count, strategy: .rows,
                          reason: "rows split: \(rowUnits) row tiles; duplicates \(whole(rowSplitWaste)) packed B elements "
                              + "against \(whole(columnSplitWaste)) for a column split")
        }
        if columnsBalance {
            return .split(rows: rows, columns: columns, lanes: count, strategy: .outputChannels,
                          reason: "output-channel split: \(columnUnits) column tiles; duplicates \(whole(columnSplitWaste)) "
                              + "packed A elements against \(whole(rowSplitWaste)) for a row split")
        }
        let strategy: ShardStrategy = rowUnits >= columnUnits ? .rows : .outputChannels
        return .split(rows: rows, columns: columns, lanes: count, strategy: strategy,
                      reason: "too few tiles for \(count) lanes; split the longer axis")
    }
}
