// The narrow-tail tile: the last micropanel of a pre-packed B when it has at most
// `DotTail.maximumColumns` valid columns (33 output channels leave one, 40 leave eight).
//
// The outer-product tiles compute whole vectors of columns, so such a panel ran the
// 12 × 1-vector tile: 12 multiply-adds a depth step for 16 columns, of which 1 to 8
// were wanted. Here the vectors run along the depth instead, as in the skinny path's
// kernel: for each pair of wanted columns, a column of row pairs (`RowPair`, 12 rows
// × 2 columns on AVX-512) gains, lane by lane, the products of a vector of A's depth
// steps and a vector of Bᵀ's. That is 24 multiply-adds per V depth steps instead of
// 12 per step: an eighth of the work for one or two wanted columns (a lone column runs
// as a pair with itself), half for eight.
//
// Bᵀ of the tail's columns is kept by the `PackedMatrix` (`tail`, made when the
// weights are packed). A's rows must be contiguous over the depth block: a packed
// micropanel's and a row-major A's are; a band's kernel rows are first copied into a
// staging block in the band's workspace (`stageRows`). Every source gives the same
// vectors: a block's last, short vector is loaded in part, zeros after.
//
// Bits: lane l sums, in order, the depth steps of a KC block congruent to l modulo V;
// then `laneSum` adds the lanes in one fixed order. That is not the outer-product
// tiles' order, but these columns take this path whatever the lane count, the split or
// the source of A: the tail depends on the column count and the depth alone, and splits cut at whole
// micropanels. So every output element still sees the same operations whichever lane
// owns it.

/// The narrow-tail tile's limits.
package enum DotTail {
    /// The most valid columns of a last micropanel that takes the dot-product tail: 8, and fewer
    /// than NR (a full micropanel takes the outer-product tile).
    package static let maximumColumns = Swift.min(8, Blocking.nr - 1)

    /// The columns of a `depth × columns` B that take the dot-product tail: those of its last
    /// micropanel when it has 1 to `maximumColumns` of them and the depth repays the tail's lane
    /// sums, else none (an empty range at the end).
    ///
    /// Each pair of columns ends in 2 · MR lane sums (about 120 cycles for 12 rows on AVX-512),
    /// against a 12 × 1-vector tile that costs about 6 cycles a depth step: the tail takes at least
    /// 64 steps per pair of columns. Measured on 1 lane against the 1-vector tile (GFLOP/s):
    /// 8×28×28×33 3×3 → 33 163 → 192–195, 3×13×13×17 5×5 → 33 153 → 190, 1×56×56×64 3×3 → 5
    /// 65–66 → 93–94, 1×56×56×96 3×3 → 40 s2 170–181 → 191, a dense 512 → 40 on 256 rows 194–197 →
    /// 215; a 1×1 convolution 128 → 72 (eight columns, depth 128) lost 213–216 → 201–204, below
    /// the 256 steps its four pairs need.
    package static func columns(of columns: Int, depth: Int) -> Range<Int> {
        let tail = columns % Blocking.nr
        let repays = tail >= 1 && tail <= maximumColumns && depth >= 64 * ((tail + 1) / 2)
        return (repays ? columns - tail : columns)..<columns
    }
}

/// Columns `0 ..< count` of tile `T`'s rows of `a · b` over `depth` steps, by dot products along
/// the depth: row i's steps are `rows[i][offset ..< offset + depth]`, column j's
/// `bT[j · bStride ..< j · bStride + depth]`. Writes those columns of the tile's `T.rows` rows (row
/// stride NR) and reads nothing past either run: a last vector shorter than V is loaded in part.
@inline(never)
package func dotTail<T: RowPairTile>(_: T.Type, depth: Int, rows: UnsafePointer<UnsafePointer<Float>>, offset: Int,
                                     bT: UnsafePointer<Float>, bStride: Int, count: Int,
                                     tile: UnsafeMutablePointer<Float>) {
    let width = Vector.scalarCount, whole = depth / width * width
    for column in stride(from: 0, to: count, by: 2) {
        let b0 = bT + column * bStride, b1 = bT + Swift.min(column + 1, count - 1) * bStride
        var accumulators = T()
        // Whole vectors, then the rest in part: a partial load's test in the main loop spilled.
        for k in stride(from: 0, to: whole, by: width) {
            let x = UnsafeRawPointer(b0 + k).loadUnaligned(as: Vector.self)
            let y = UnsafeRawPointer(b1 + k).loadUnaligned(as: Vector.self)
            accumulators.forEachPair { pair, first in
                pair.dot(UnsafeRawPointer(rows[first] + offset + k).loadUnaligned(as: Vector.self),
                         UnsafeRawPointer(rows[first + 1] + offset + k).loadUnaligned(as: Vector.self), x, y)
            }
        }
        if whole < depth {
            let steps = depth - whole
            let x = loadPartial(b0 + whole, steps), y = loadPartial(b1 + whole, steps)
            accumulators.forEachPair { pair, first in
                pair.dot(loadPartial(rows[first] + offset + whole, steps),
                         loadPartial(rows[first + 1] + offset + whole, steps), x, y)
            }
        }
        accumulators.forEachPair { pair, first in
            pair.storeSums(to: tile, row: first, column: column, count: Swift.min(2, count - column))
        }
    }
}

/// Copies the depth of `rows` tile rows, read as the segmented microkernel reads them (row i's
/// step k of segment s at `rows[i][segments[s].offset + k]`), into `staged`, one contiguous run
/// per row, `pitch` floats apart: where the dot-product tail reads a band's rows.
package func stageRows(_ rows: Int, segments: UnsafeBufferPointer<PanelSegment>, from table: UnsafePointer<UnsafePointer<Float>>,
                       into staged: UnsafeMutablePointer<Float>, pitch: Int) {
    for i in 0..<rows {
        var target = staged + i * pitch
        for segment in segments {
            target.update(from: table[i] + segment.offset, count: segment.length)
            target += segment.length
        }
    }
}
