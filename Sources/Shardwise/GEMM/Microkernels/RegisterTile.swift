// The loops around a register tile, written once for every tile shape.
//
// A register tile (`Tile12x2V`, `Tile6x2V`) is a struct of named SIMD
// accumulators with one rank-1 update and a store; everything here is inlined
// into each tile's non-inlined microkernel entry points, so the accumulators stay
// in registers. Two loops drive the updates:
//  - packed panels: A at the fixed pitch `Blocking.aPitch`, depth contiguous;
//  - A read in place: rows at a run-time pitch, the depth as runs at offsets (a
//    convolution's kernel rows in a zero-padded band; see PaddedBand.swift).
// Both do the same multiply-adds in the same order, so they give the same bits.

/// The accumulators of one register tile: MR rows of NR floats.
protocol RegisterTile {
    /// A tile of zeros.
    init()
    /// One rank-1 update: row i gains `a[i · pitch] · b[0 ..< NR]`.
    mutating func update(a: UnsafePointer<Float>, pitch: Int, b: UnsafeRawPointer)
    /// Writes the tile row-major, NR floats per row, to `tile`.
    func store(to tile: UnsafeMutablePointer<Float>)
}

extension RegisterTile {
    /// The tile of `a · b` over `depth` steps from packed panels: A rows at `Blocking.aPitch`, B
    /// rows of NR floats.
    @inline(__always)
    static func product(depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                        tile: UnsafeMutablePointer<Float>) {
        var accumulators = Self()
        let step = Blocking.nr * MemoryLayout<Float>.stride
        for k in 0..<depth {
            accumulators.update(a: a + k, pitch: Blocking.aPitch, b: UnsafeRawPointer(b) + k * step)
        }
        accumulators.store(to: tile)
    }

    /// The tile of `a · b` with A read in place: row i at step k of segment s is
    /// `a[i · pitch + segments[s].offset + k]`, the segments in order; B is packed over their
    /// total depth. There must be at least one segment, and every segment at least one step
    /// long. One flat loop: nested per segment, LLVM spilled at every segment's end (the
    /// article's first convolution layer: 136 against 164 GFLOP/s like this).
    @inline(__always)
    static func product(segments: UnsafeBufferPointer<PanelSegment>, a: UnsafePointer<Float>, pitch: Int,
                        b: UnsafePointer<Float>, tile: UnsafeMutablePointer<Float>) {
        var accumulators = Self()
        let step = Blocking.nr * MemoryLayout<Float>.stride
        var b = UnsafeRawPointer(b)
        var segment = 0
        var row = a + segments[0].offset
        var left = segments[0].length
        while true {
            accumulators.update(a: row, pitch: pitch, b: b)
            b += step
            row += 1
            left -= 1
            if left == 0 {
                segment += 1
                if segment == segments.count { break }
                row = a + segments[segment].offset
                left = segments[segment].length
            }
        }
        accumulators.store(to: tile)
    }
}
