// The loops around a register tile, written once for every tile shape.
//
// A register tile (`Tile12x2V`, `Tile8x2V`, `Tile6x2V`, `Tile4x2V`, `Tile12x1V`) is a struct of
// named SIMD accumulators with one rank-1 update and a store; everything here is
// inlined into the microkernels (the generic `microkernel` functions below the
// protocol, never inlined themselves, which the optimizer specializes for each
// tile), so the accumulators stay in registers. The update takes row i's value of A at the current step from a
// closure, which inlines into each loop's own addressing. Three loops drive it:
//  - packed panels: A at the fixed pitch `Blocking.aPitch`, depth contiguous;
//  - A read in place: each row from its own pointer (a table of MR), the depth as
//    runs at offsets from it (a convolution's kernel rows in a zero-padded band, see
//    PaddedBand.swift; a row-major A's rows at its leading dimension), B's rows
//    NR floats apart in a packed micropanel or, for a small row-major B, at its
//    leading dimension (see GEMMDriver.swift);
//  - B read in place: A from a packed panel, B's rows at a run-time pitch in runs
//    that skip the depth steps whose B row is all zeros (the filter gradient's
//    patches, read from the input itself; see PatchColumns.swift).
// The first two do the same multiply-adds in the same order, so they give the same
// bits; the third leaves out only products with a zero row of B.
//
// A table of row pointers rather than a base and a pitch lets a tile's rows be any
// MR rows (a band's tile may span two output rows with no padding pixels between
// them), and costs nothing: a throwaway timing of the 12 × 2-vector tile over a
// band ran 262–266 GFLOP/s with the table against 258–262 with a pitch.

/// The accumulators of one register tile: up to MR rows of NR floats.
package protocol RegisterTile {
    /// A tile of zeros.
    init()
    /// One rank-1 update: row i gains `row(i) · b[0 ..< NR]`.
    mutating func update(b: UnsafeRawPointer, row: (Int) -> Float)
    /// Writes the tile row-major, `pitch` floats per row, to `tile`: NR for the workspace's tile,
    /// C's leading dimension where a full tile goes straight to C (see GEMMDriver.swift).
    func store(to tile: UnsafeMutablePointer<Float>, pitch: Int)
}

/// Computes tile `T` of `a · b` over `depth` from packed panels: A's rows at `Blocking.aPitch`,
/// B a micropanel of `depth` rows of NR floats (see TwoVectorTiles.swift).
@inline(never)
package func microkernel<T: RegisterTile>(_: T.Type, depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                          tile: UnsafeMutablePointer<Float>, tilePitch: Int) {
    T.product(depth: depth, a: a, b: b, tile: tile, tilePitch: tilePitch)
}

/// Computes tile `T` of `a · b` where A is read in place (see
/// `RegisterTile.product(segments:rows:b:bPitch:tile:)`). Optimized for size: unrolled around
/// the row table, LLVM ran out of registers and spilled.
@inline(never) @_optimize(size)
package func microkernel<T: RegisterTile>(_: T.Type, segments: UnsafeBufferPointer<PanelSegment>,
                                          rows: UnsafePointer<UnsafePointer<Float>>, b: UnsafePointer<Float>,
                                          bPitch: Int, tile: UnsafeMutablePointer<Float>, tilePitch: Int) {
    T.product(segments: segments, rows: rows, b: b, bPitch: bPitch, tile: tile, tilePitch: tilePitch)
}

/// Computes tile `T` of `a · b` where A is a packed panel and B's rows are read in place, in
/// runs (see `RegisterTile.product(a:runs:bPitch:tile:)`). Optimized for size, as the form that
/// reads A in place.
@inline(never) @_optimize(size)
package func microkernel<T: RegisterTile>(_: T.Type, a: UnsafePointer<Float>, runs: UnsafeBufferPointer<BRowRun>,
                                          bPitch: Int, tile: UnsafeMutablePointer<Float>) {
    T.product(a: a, runs: runs, bPitch: bPitch, tile: tile)
}

extension RegisterTile {
    /// The tile of `a · b` over `depth` steps from packed panels: A rows at `Blocking.aPitch`, B
    /// rows of NR floats.
    @inline(__always)
    static func product(depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                        tile: UnsafeMutablePointer<Float>, tilePitch: Int) {
        var accumulators = Self()
        let step = Blocking.nr * MemoryLayout<Float>.stride
        for k in 0..<depth {
            accumulators.update(b: UnsafeRawPointer(b) + k * step) { a[k + $0 * Blocking.aPitch] }
        }
        accumulators.store(to: tile, pitch: tilePitch)
    }

    /// The tile of `a · b` with A read in place: row i at step k of segment s is
    /// `rows[i][segments[s].offset + k]`, the segments in order; B's rows over their total depth
    /// lie `bPitch` floats apart from `b` on (NR in a packed micropanel). There must be at least
    /// one segment, and every segment at least one step long.
    @inline(__always)
    static func product(segments: UnsafeBufferPointer<PanelSegment>, rows: UnsafePointer<UnsafePointer<Float>>,
                        b: UnsafePointer<Float>, bPitch: Int, tile: UnsafeMutablePointer<Float>, tilePitch: Int) {
        product(runs: segments.count, bStep: bPitch, tile: tile, tilePitch: tilePitch, run: { s in
            (segments[s].offset, s == 0 ? b : nil, segments[s].length)
        }, row: { position, i in rows[i][position] })
    }

    /// The tile of `a · b` with B read in place: run s covers A's depth steps
    /// `runs[s].aOffset ..< runs[s].aOffset + runs[s].length` (a packed panel at `Blocking.aPitch`)
    /// against B rows `runs[s].b + k · bPitch`. Steps no run covers are left out (B's rows there
    /// are zero); with no runs the tile is zero.
    @inline(__always)
    static func product(a: UnsafePointer<Float>, runs: UnsafeBufferPointer<BRowRun>, bPitch: Int,
                        tile: UnsafeMutablePointer<Float>) {
        if runs.isEmpty {
            Self().store(to: tile, pitch: Blocking.nr)
            return
        }
        product(runs: runs.count, bStep: bPitch, tile: tile, tilePitch: Blocking.nr, run: { s in
            (runs[s].aOffset, runs[s].b, runs[s].length)
        }, row: { position, i in a[position + i * Blocking.aPitch] })
    }

    /// The loop behind both in-place forms: `count` runs (at least one), run s covering A positions
    /// `run(s).start ..< run(s).start + run(s).length` (row i's value at position p is `row(p, i)`)
    /// against B's rows from `run(s).b` on, `bStep` floats apart, or, where `run(s).b` is nil, B
    /// continuing where the last run left it. One flat loop: nested per run, LLVM spilled at every
    /// run's end (the article's first convolution layer: 136 against 164 GFLOP/s like this).
    @inline(__always)
    private static func product(runs count: Int, bStep: Int, tile: UnsafeMutablePointer<Float>, tilePitch: Int,
                                run: (Int) -> (start: Int, b: UnsafePointer<Float>?, length: Int),
                                row: (Int, Int) -> Float) {
        var accumulators = Self()
        var index = 0
        var (position, start, left) = run(0)
        var b = UnsafeRawPointer(start!)
        let step = bStep * MemoryLayout<Float>.stride
        while true {
            accumulators.update(b: b) { row(position, $0) }
            b += step
            position += 1
            left -= 1
            if left == 0 {
                index += 1
                if index == count { break }
                (position, start, left) = run(index)
                if let start { b = UnsafeRawPointer(start) }
            }
        }
        accumulators.store(to: tile, pitch: tilePitch)
    }
}

/// A run of depth steps whose B rows are read in place: A's steps `aOffset ..< aOffset + length`
/// of a packed panel against B rows at `b`, `b + bPitch`, … (at least one step).
package struct BRowRun {
    /// The run's first depth step, from the panel's first.
    package var aOffset: Int
    /// B's row at the run's first step.
    package var b: UnsafePointer<Float>
    /// Depth steps in the run.
    package var length: Int

    /// A run of `length` steps from A's step `aOffset`, B's rows from `b` on.
    package init(aOffset: Int, b: UnsafePointer<Float>, length: Int) {
        self.aOffset = aOffset
        self.b = b
        self.length = length
    }
}
