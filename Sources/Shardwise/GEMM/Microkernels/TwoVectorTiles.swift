// The 2-vector register tiles: 12, 8, 6 or 4 rows × NR = 2 vectors (on AVX-512, 12 × 32 floats in
// 24 zmm accumulators).
//
// Contract (BLIS's): `a` is a row of a packed A block, whose rows lie at a fixed
// pitch of `Blocking.aPitch` floats, row i holding A[i, 0..<depth] (a tile starts at
// any row: `RowTiles`); `b` is a packed B micropanel, `depth` rows of NR contiguous
// floats. The kernel writes the
// rows × NR product, row-major with row stride NR, to `tile`; it reads nothing
// else and writes nothing else. Edge tiles (fewer valid rows or columns) run on
// zero-padded panels, and the write-back copies only the valid part. Every
// element of C is the same chain of fused multiply-adds, one per depth step in
// order from zero, whichever tile computes it and wherever it sits: the root of
// bitwise determinism across lane counts.
//
// Two more forms read an operand in place (the loops, shared by every tile, are
// in RegisterTile.swift). The segmented form reads A through a table of row
// pointers, the depth as runs at given offsets (a convolution's kernel rows in a
// zero-padded input band, see PaddedBand.swift; a row-major A's rows at its
// leading dimension); a short tile repeats its last row's pointer rather than
// reading zero rows; its B is a packed micropanel or, for a small row-major B,
// B's own rows at their pitch. The run form reads B's rows in place from the
// input, in runs that leave out zero rows (the filter gradient's patches, see
// PatchColumns.swift).
//
// Why these heights. The 12-row tile is AVX-512's: 24 accumulators, two B vectors
// and a broadcast, 27 of 32 registers. The 6-row tile is the full tile of
// 16-register ISAs (AVX2, SSE, NEON), and AVX-512's for an M tail of 5 or 6 rows.
// The 4-row tile takes a tail of 1 to 4 rows: its 8 accumulators are just enough
// to keep two FMA pipes of latency 4 busy, so it costs 4 cycles a step where the
// 6-row tile costs 6, whatever few rows are wanted. On AVX-512 an 8-row tile takes
// a tail of 7 or 8 rows (32, 128 or 392 rows end in 8) for 8 cycles a step instead
// of 12, and a tail of 1 or 2 rows borrows 4 from the full tile before it
// (`RowTiles`): 49 rows, a 7 × 7 image, end in 8 + 5 rather than 12 + 1. Where a
// block has only 1 or 2 rows (a matrix-vector product), AVX-512 runs the 2-row
// tile: Zen 4 issues one 512-bit FMA a cycle, so the 4-row tile's 8 multiply-adds
// take 8 cycles a step there, and the 2-row tile's 4 take 4 (their latency); where
// two issue a cycle, both take 4.
//
// Each tile is a column of `RowPair`s, each pair two rows' accumulators as named
// fields, joined two tiles at a time (`Joined`: 4 = 2 + 2, 6 = 4 + 2, 8 = 4 + 4,
// 12 = 6 + 6), with methods that are always inlined; the loads go through raw pointers.
// LLVM then keeps every accumulator in a register. Passing SIMD values into a
// non-inlined function instead, or unrolling K by hand (LLVM already unrolls it by
// two), spilled and ran 25–30 % slower when this was measured.

/// Two rows of a 2-vector tile: four accumulators, as named fields.
package struct RowPair {
    var first0 = Vector(), first1 = Vector()
    var second0 = Vector(), second1 = Vector()

    /// Two rows of zeros.
    package init() {}

    /// The B row of one depth step: NR floats at `b`, as two vectors.
    @inline(__always)
    static func loadB(_ b: UnsafeRawPointer) -> (Vector, Vector) {
        (b.loadUnaligned(as: Vector.self), b.loadUnaligned(fromByteOffset: Vector.scalarCount * 4, as: Vector.self))
    }

    /// One rank-1 update: the first row gains `a0 · (b0, b1)`, the second `a1 · (b0, b1)`.
    @inline(__always)
    mutating func update(_ b0: Vector, _ b1: Vector, _ a0: Float, _ a1: Float) {
        let x = Vector(repeating: a0)
        first0 = multiplyAdd(first0, x, b0)
        first1 = multiplyAdd(first1, x, b1)
        let y = Vector(repeating: a1)
        second0 = multiplyAdd(second0, y, b0)
        second1 = multiplyAdd(second1, y, b1)
    }

    /// One step of dot products along the depth (DotTail.swift): the accumulator of row r and
    /// column c gains, lane by lane, `a_r · b_c` over a vector of depth steps.
    @inline(__always)
    mutating func dot(_ a0: Vector, _ a1: Vector, _ b0: Vector, _ b1: Vector) {
        first0 = multiplyAdd(first0, a0, b0)
        first1 = multiplyAdd(first1, a0, b1)
        second0 = multiplyAdd(second0, a1, b0)
        second1 = multiplyAdd(second1, a1, b1)
    }

    /// Writes the two rows as tile rows `row` and `row + 1` (`pitch` floats per row) at `tile`.
    @inline(__always)
    func store(to tile: UnsafeMutablePointer<Float>, row: Int, pitch: Int) {
        let t = UnsafeMutableRawPointer(tile + row * pitch), u = UnsafeMutableRawPointer(tile + (row + 1) * pitch)
        let width = Vector.scalarCount * 4
        t.storeBytes(of: first0, as: Vector.self)
        t.storeBytes(of: first1, toByteOffset: width, as: Vector.self)
        u.storeBytes(of: second0, as: Vector.self)
        u.storeBytes(of: second1, toByteOffset: width, as: Vector.self)
    }

    /// Writes the dot products (each accumulator's lanes summed) of the two rows and the first
    /// `count` (1 or 2) of the two columns at tile rows `row`, `row + 1`, columns `column …`.
    @inline(__always)
    func storeSums(to tile: UnsafeMutablePointer<Float>, row: Int, column: Int, count: Int) {
        let t = tile + row * Blocking.nr + column
        t[0] = laneSum(first0)
        t[Blocking.nr] = laneSum(second0)
        if count > 1 {
            t[1] = laneSum(first1)
            t[Blocking.nr + 1] = laneSum(second1)
        }
    }
}

/// The sum of a vector's lanes, halves first: one fixed order, in vector adds. (The standard
/// library's `sum()` compiled to a call per vector, which took most of a dot-product tail's time
/// at a depth of 128.)
@inline(__always)
func laneSum(_ v: SIMD16<Float>) -> Float { laneSum(v.lowHalf + v.highHalf) }
/// The sum of a vector's lanes, halves first.
@inline(__always)
func laneSum(_ v: SIMD8<Float>) -> Float { laneSum(v.lowHalf + v.highHalf) }
/// The sum of a vector's lanes, halves first.
@inline(__always)
func laneSum(_ v: SIMD4<Float>) -> Float {
    let half = v.lowHalf + v.highHalf
    return half[0] + half[1]
}

/// A 2-vector register tile as a column of row pairs, which its loops visit in order.
package protocol RowPairTile: RegisterTile {
    /// Rows of the tile.
    static var rows: Int { get }
    /// Runs `body` on each row pair, in order, with the index of the pair's first row.
    mutating func forEachPair(_ body: (inout RowPair, Int) -> Void)
}

extension RowPairTile {
    @inline(__always)
    package mutating func update(b: UnsafeRawPointer, row: (Int) -> Float) {
        let (b0, b1) = RowPair.loadB(b)
        forEachPair { pair, first in pair.update(b0, b1, row(first), row(first + 1)) }
    }

    @inline(__always)
    package func store(to tile: UnsafeMutablePointer<Float>, pitch: Int) {
        var pairs = self
        pairs.forEachPair { pair, first in pair.store(to: tile, row: first, pitch: pitch) }
    }
}

/// One row pair is the smallest tile: the unit the others are joined from.
extension RowPair: RowPairTile {
    package static var rows: Int { 2 }

    @inline(__always)
    package mutating func forEachPair(_ body: (inout RowPair, Int) -> Void) {
        body(&self, 0)
    }
}

/// Two tiles one above the other: the upper's rows, then the lower's.
package struct Joined<Upper: RowPairTile, Lower: RowPairTile>: RowPairTile {
    var upper = Upper(), lower = Lower()

    package init() {}

    package static var rows: Int { Upper.rows + Lower.rows }

    @inline(__always)
    package mutating func forEachPair(_ body: (inout RowPair, Int) -> Void) {
        upper.forEachPair(body)
        lower.forEachPair { pair, first in body(&pair, first + Upper.rows) }
    }
}

/// The 4 accumulators of a 2 × 2-vector tile: AVX-512's for 1 or 2 wanted rows.
package typealias Tile2x2V = RowPair

/// The 8 accumulators of a 4 × 2-vector tile: an M tail of at most 4 rows.
package typealias Tile4x2V = Joined<RowPair, RowPair>

/// The 12 accumulators of a 6 × 2-vector tile: the full tile of 16-register ISAs.
package typealias Tile6x2V = Joined<Tile4x2V, RowPair>

/// The 16 accumulators of an 8 × 2-vector tile: AVX-512's for an M tail of 7 or 8 rows.
package typealias Tile8x2V = Joined<Tile4x2V, Tile4x2V>

/// The 24 accumulators of a 12 × 2-vector tile: AVX-512's full tile.
package typealias Tile12x2V = Joined<Tile6x2V, Tile6x2V>
