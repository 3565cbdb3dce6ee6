// The 12 × 1-vector microkernel: the AVX-512 tile for a last B micropanel with at most
// 16 valid columns (an output-channel count such as 48, 80 or 33).
//
// Contract: that of the 12 × 2-vector kernel (TwoVectorTiles.swift) — A packed at
// `Blocking.aPitch`, B a micropanel of `depth` rows of NR = 32 floats, the tile written
// row-major with row stride NR — except that only the first 16 columns of B are read and
// only the first 16 columns of each tile row are written; the write-back reads no more.
// Each of those columns sees the same multiply-adds in the same order as in the 2-vector
// kernel, so an output's bits do not depend on which of the two computed it.
//
// Why: a panel of 32 columns with 16 or fewer valid ones would run the 24-accumulator tile
// for half (or less) useful work. This tile does 12 multiply-adds per step against 12
// broadcasts and one B load: bound by the loads rather than the FMA pipes, but at least
// twice the useful work per cycle of the wide tile on such a panel.

/// The 12 accumulators of a 12 × 1-vector tile, as named fields (see TwoVectorTiles.swift).
package struct Tile12x1V: RegisterTile {
    var c0 = Vector(), c1 = Vector(), c2 = Vector(), c3 = Vector(), c4 = Vector(), c5 = Vector()
    var c6 = Vector(), c7 = Vector(), c8 = Vector(), c9 = Vector(), c10 = Vector(), c11 = Vector()

    package init() {}

    /// One rank-1 update: row i gains `row(i) · b[0 ..< V]`.
    @inline(__always)
    package mutating func update(b: UnsafeRawPointer, row: (Int) -> Float) {
        let b0 = b.loadUnaligned(as: Vector.self)
        c0 = multiplyAdd(c0, Vector(repeating: row(0)), b0)
        c1 = multiplyAdd(c1, Vector(repeating: row(1)), b0)
        c2 = multiplyAdd(c2, Vector(repeating: row(2)), b0)
        c3 = multiplyAdd(c3, Vector(repeating: row(3)), b0)
        c4 = multiplyAdd(c4, Vector(repeating: row(4)), b0)
        c5 = multiplyAdd(c5, Vector(repeating: row(5)), b0)
        c6 = multiplyAdd(c6, Vector(repeating: row(6)), b0)
        c7 = multiplyAdd(c7, Vector(repeating: row(7)), b0)
        c8 = multiplyAdd(c8, Vector(repeating: row(8)), b0)
        c9 = multiplyAdd(c9, Vector(repeating: row(9)), b0)
        c10 = multiplyAdd(c10, Vector(repeating: row(10)), b0)
        c11 = multiplyAdd(c11, Vector(repeating: row(11)), b0)
    }

    /// Writes the first V floats of each tile row (`pitch` floats apart) to `tile`.
    @inline(__always)
    package func store(to tile: UnsafeMutablePointer<Float>, pitch: Int) {
        let t = UnsafeMutableRawPointer(tile)
        let row = pitch * 4
        t.storeBytes(of: c0, toByteOffset: 0 * row, as: Vector.self)
        t.storeBytes(of: c1, toByteOffset: 1 * row, as: Vector.self)
        t.storeBytes(of: c2, toByteOffset: 2 * row, as: Vector.self)
        t.storeBytes(of: c3, toByteOffset: 3 * row, as: Vector.self)
        t.storeBytes(of: c4, toByteOffset: 4 * row, as: Vector.self)
        t.storeBytes(of: c5, toByteOffset: 5 * row, as: Vector.self)
        t.storeBytes(of: c6, toByteOffset: 6 * row, as: Vector.self)
        t.storeBytes(of: c7, toByteOffset: 7 * row, as: Vector.self)
        t.storeBytes(of: c8, toByteOffset: 8 * row, as: Vector.self)
        t.storeBytes(of: c9, toByteOffset: 9 * row, as: Vector.self)
        t.storeBytes(of: c10, toByteOffset: 10 * row, as: Vector.self)
        t.storeBytes(of: c11, toByteOffset: 11 * row, as: Vector.self)
    }
}
