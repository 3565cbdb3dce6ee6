// The 12 × 2-vector microkernel: the AVX-512 register tile (12 × 32 floats: 24 zmm accumulators).
//
// Contract (BLIS's): `a` is a packed A micropanel, 12 rows at a fixed pitch of
// `Blocking.aPitch` floats, row i holding A[i, 0..<depth]; `b` is a packed B
// micropanel, `depth` rows of NR = 2 · Vector.scalarCount contiguous floats.
// The kernel writes the 12 × NR product, row-major with row stride NR, to
// `tile`; it reads nothing else and writes nothing else. Edge tiles (fewer valid
// rows or columns) run the same kernel on zero-padded panels, and the write-back
// copies only the valid part, so every element of C is computed by the same
// instructions in the same order wherever it sits: the root of bitwise
// determinism across lane counts.
//
// Two more forms read an operand in place. The segmented form reads A through a
// table of row pointers, the depth as runs at given offsets (a convolution's
// kernel rows in a zero-padded input band, see PaddedBand.swift; a row-major A's
// rows at its leading dimension); a short tile repeats its last row's pointer
// rather than reading zero rows; its B is a packed micropanel or, for a small
// row-major B, B's own rows at their pitch. It runs the packed form's
// multiply-adds in the same order, so both give the same bits. The run form
// reads B's rows in place from the input, in runs that leave out zero rows (the
// filter gradient's patches, see PatchColumns.swift). The loops of all three are
// in RegisterTile.swift, shared by every tile shape.
//
// The accumulators are named fields of a struct whose methods are always
// inlined, and the loads go through raw pointers: LLVM then keeps all of them
// in registers. Passing SIMD values into a non-inlined function instead, or
// unrolling K by hand (LLVM already unrolls it by two), spilled and ran
// 25–30 % slower when this was measured.

/// The 24 accumulators of a 12 × 2-vector tile, as named fields: inlined into a kernel,
/// the struct dissolves into 24 vector registers.
struct Tile12x2V: RegisterTile {
    var c0x0 = Vector(), c0x1 = Vector()
    var c1x0 = Vector(), c1x1 = Vector()
    var c2x0 = Vector(), c2x1 = Vector()
    var c3x0 = Vector(), c3x1 = Vector()
    var c4x0 = Vector(), c4x1 = Vector()
    var c5x0 = Vector(), c5x1 = Vector()
    var c6x0 = Vector(), c6x1 = Vector()
    var c7x0 = Vector(), c7x1 = Vector()
    var c8x0 = Vector(), c8x1 = Vector()
    var c9x0 = Vector(), c9x1 = Vector()
    var c10x0 = Vector(), c10x1 = Vector()
    var c11x0 = Vector(), c11x1 = Vector()

    /// One rank-1 update: row i gains `row(i) · b[0 ..< NR]`.
    @inline(__always)
    mutating func update(b: UnsafeRawPointer, row: (Int) -> Float) {
        let b0 = b.loadUnaligned(as: Vector.self)
        let b1 = b.loadUnaligned(fromByteOffset: Vector.scalarCount * 4, as: Vector.self)
        let a0 = Vector(repeating: row(0))
        c0x0 = multiplyAdd(c0x0, a0, b0)
        c0x1 = multiplyAdd(c0x1, a0, b1)
        let a1 = Vector(repeating: row(1))
        c1x0 = multiplyAdd(c1x0, a1, b0)
        c1x1 = multiplyAdd(c1x1, a1, b1)
        let a2 = Vector(repeating: row(2))
        c2x0 = multiplyAdd(c2x0, a2, b0)
        c2x1 = multiplyAdd(c2x1, a2, b1)
        let a3 = Vector(repeating: row(3))
        c3x0 = multiplyAdd(c3x0, a3, b0)
        c3x1 = multiplyAdd(c3x1, a3, b1)
        let a4 = Vector(repeating: row(4))
        c4x0 = multiplyAdd(c4x0, a4, b0)
        c4x1 = multiplyAdd(c4x1, a4, b1)
        let a5 = Vector(repeating: row(5))
        c5x0 = multiplyAdd(c5x0, a5, b0)
        c5x1 = multiplyAdd(c5x1, a5, b1)
        let a6 = Vector(repeating: row(6))
        c6x0 = multiplyAdd(c6x0, a6, b0)
        c6x1 = multiplyAdd(c6x1, a6, b1)
        let a7 = Vector(repeating: row(7))
        c7x0 = multiplyAdd(c7x0, a7, b0)
        c7x1 = multiplyAdd(c7x1, a7, b1)
        let a8 = Vector(repeating: row(8))
        c8x0 = multiplyAdd(c8x0, a8, b0)
        c8x1 = multiplyAdd(c8x1, a8, b1)
        let a9 = Vector(repeating: row(9))
        c9x0 = multiplyAdd(c9x0, a9, b0)
        c9x1 = multiplyAdd(c9x1, a9, b1)
        let a10 = Vector(repeating: row(10))
        c10x0 = multiplyAdd(c10x0, a10, b0)
        c10x1 = multiplyAdd(c10x1, a10, b1)
        let a11 = Vector(repeating: row(11))
        c11x0 = multiplyAdd(c11x0, a11, b0)
        c11x1 = multiplyAdd(c11x1, a11, b1)
    }

    /// Writes the tile row-major, NR floats per row, to `tile`.
    @inline(__always)
    func store(to tile: UnsafeMutablePointer<Float>) {
        let width = Vector.scalarCount
        let t = UnsafeMutableRawPointer(tile)
        let row = 2 * width * 4
        t.storeBytes(of: c0x0, toByteOffset: 0 * row, as: Vector.self)
        t.storeBytes(of: c0x1, toByteOffset: 0 * row + width * 4, as: Vector.self)
        t.storeBytes(of: c1x0, toByteOffset: 1 * row, as: Vector.self)
        t.storeBytes(of: c1x1, toByteOffset: 1 * row + width * 4, as: Vector.self)
        t.storeBytes(of: c2x0, toByteOffset: 2 * row, as: Vector.self)
        t.storeBytes(of: c2x1, toByteOffset: 2 * row + width * 4, as: Vector.self)
        t.storeBytes(of: c3x0, toByteOffset: 3 * row, as: Vector.self)
        t.storeBytes(of: c3x1, toByteOffset: 3 * row + width * 4, as: Vector.self)
        t.storeBytes(of: c4x0, toByteOffset: 4 * row, as: Vector.self)
        t.storeBytes(of: c4x1, toByteOffset: 4 * row + width * 4, as: Vector.self)
        t.storeBytes(of: c5x0, toByteOffset: 5 * row, as: Vector.self)
        t.storeBytes(of: c5x1, toByteOffset: 5 * row + width * 4, as: Vector.self)
        t.storeBytes(of: c6x0, toByteOffset: 6 * row, as: Vector.self)
        t.storeBytes(of: c6x1, toByteOffset: 6 * row + width * 4, as: Vector.self)
        t.storeBytes(of: c7x0, toByteOffset: 7 * row, as: Vector.self)
        t.storeBytes(of: c7x1, toByteOffset: 7 * row + width * 4, as: Vector.self)
        t.storeBytes(of: c8x0, toByteOffset: 8 * row, as: Vector.self)
        t.storeBytes(of: c8x1, toByteOffset: 8 * row + width * 4, as: Vector.self)
        t.storeBytes(of: c9x0, toByteOffset: 9 * row, as: Vector.self)
        t.storeBytes(of: c9x1, toByteOffset: 9 * row + width * 4, as: Vector.self)
        t.storeBytes(of: c10x0, toByteOffset: 10 * row, as: Vector.self)
        t.storeBytes(of: c10x1, toByteOffset: 10 * row + width * 4, as: Vector.self)
        t.storeBytes(of: c11x0, toByteOffset: 11 * row, as: Vector.self)
        t.storeBytes(of: c11x1, toByteOffset: 11 * row + width * 4, as: Vector.self)
    }
}

/// Computes a 12 × NR tile of `a · b` over `depth` from packed panels (see the file header).
@inline(never)
package func microkernel12x2V(depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                              tile: UnsafeMutablePointer<Float>) {
    Tile12x2V.product(depth: depth, a: a, b: b, tile: tile)
}

/// Computes a 12 × NR tile of `a · b` where A is read in place: row i at step k of segment s is
/// `rows[i][segments[s].offset + k]` (see `RegisterTile.product(segments:rows:b:bPitch:tile:)`).
/// Optimized for size: unrolled around the row table, LLVM ran out of registers and spilled.
@inline(never) @_optimize(size)
package func microkernel12x2V(segments: UnsafeBufferPointer<PanelSegment>, rows: UnsafePointer<UnsafePointer<Float>>,
                              b: UnsafePointer<Float>, bPitch: Int, tile: UnsafeMutablePointer<Float>) {
    Tile12x2V.product(segments: segments, rows: rows, b: b, bPitch: bPitch, tile: tile)
}

/// Computes a 12 × NR tile of `a · b` where A is a packed panel and B's rows are read in place,
/// in runs (see `RegisterTile.product(a:runs:bPitch:tile:)`). Optimized for size, as the form
/// that reads A in place.
@inline(never) @_optimize(size)
package func microkernel12x2V(a: UnsafePointer<Float>, runs: UnsafeBufferPointer<BRowRun>, bPitch: Int,
                              tile: UnsafeMutablePointer<Float>) {
    Tile12x2V.product(a: a, runs: runs, bPitch: bPitch, tile: tile)
}
