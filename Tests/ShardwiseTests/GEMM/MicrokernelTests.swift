import Testing
import Shardwise
import ShardwiseTestSupport

/// Each microkernel alone against a naive reference microkernel (BLIS's practice): random
/// packed panels in exactly the layout the contract states, a tile poisoned with NaN, every
/// depth from 1 to a few past the unroll, and the result compared with Double sums.
@Suite struct MicrokernelTests {
    /// The naive reference microkernel: `rows × nr` tile of Σ_k a[i·pitch + k] · b[k·nr + j].
    func referenceTile(rows: Int, depth: Int, a: [Float], b: [Float]) -> [Float] {
        let nr = Blocking.nr
        var tile = [Float](repeating: 0, count: rows * nr)
        for i in 0..<rows {
            for j in 0..<nr {
                var sum = 0.0
                for k in 0..<depth { sum += Double(a[i * Blocking.aPitch + k]) * Double(b[k * nr + j]) }
                tile[i * nr + j] = Float(sum)
            }
        }
        return tile
    }

    /// Runs `kernel` on random panels at many depths, storing the tile `NR` and `NR + 5` floats a
    /// row (the workspace's tile, and C's rows where a full tile goes straight to C); the first
    /// `columns` columns of each of the `rows` tile rows must match the reference, and the rest of
    /// the tile, the gaps between rows included, must stay untouched.
    func check(rows: Int, columns: Int = Blocking.nr,
               kernel: (Int, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) {
        var rng = SeededGenerator(seed: UInt64(rows))
        let nr = Blocking.nr
        for (index, depth) in [1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 64, 511, Blocking.kc - 1, Blocking.kc].enumerated() {
            let pitch = index % 2 == 0 ? nr : nr + 5
            let a = rng.floats(rows * Blocking.aPitch)
            let b = rng.floats(depth * Blocking.nr)
            var tile = [Float](repeating: .nan, count: rows * pitch)
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    tile.withUnsafeMutableBufferPointer {
                        kernel(depth, a.baseAddress!, b.baseAddress!, $0.baseAddress!, pitch)
                    }
                }
            }
            let expected = referenceTile(rows: rows, depth: depth, a: a, b: b)
            let written = (0..<rows).flatMap { i in tile[(i * pitch)..<(i * pitch + columns)] }
            let wanted = (0..<rows).flatMap { i in expected[(i * nr)..<(i * nr + columns)] }
            let failure = firstMismatch(written, wanted, tolerance: tolerance(depth: depth, magnitude: Float(depth).squareRoot()))
            #expect(failure == nil, "\(rows)×\(columns) kernel, depth \(depth), pitch \(pitch): \(failure ?? "")")
            let untouched = (0..<rows).flatMap { i in tile[(i * pitch + columns)..<(i * pitch + pitch)] }
            let wroteOnlyItsColumns = untouched.allSatisfy { $0.isNaN }
            #expect(wroteOnlyItsColumns, "\(rows)×\(columns) kernel wrote past its columns, depth \(depth), pitch \(pitch)")
        }
    }

    @Test func microkernel12x2V() {
        check(rows: 12) { Shardwise.microkernel(Tile12x2V.self, depth: $0, a: $1, b: $2, tile: $3, tilePitch: $4) }
    }

    @Test func microkernel12x1V() {
        check(rows: 12, columns: Blocking.vectorWidth) {
            Shardwise.microkernel(Tile12x1V.self, depth: $0, a: $1, b: $2, tile: $3, tilePitch: $4)
        }
    }

    @Test func microkernel6x2V() {
        check(rows: 6) { Shardwise.microkernel(Tile6x2V.self, depth: $0, a: $1, b: $2, tile: $3, tilePitch: $4) }
    }

    @Test func microkernel8x2V() {
        check(rows: 8) { Shardwise.microkernel(Tile8x2V.self, depth: $0, a: $1, b: $2, tile: $3, tilePitch: $4) }
    }

    @Test func microkernel2x2V() {
        check(rows: 2) { Shardwise.microkernel(Tile2x2V.self, depth: $0, a: $1, b: $2, tile: $3, tilePitch: $4) }
    }

    @Test func microkernel4x2V() {
        check(rows: 4) { Shardwise.microkernel(Tile4x2V.self, depth: $0, a: $1, b: $2, tile: $3, tilePitch: $4) }
    }

    /// The dot-product tail alone, for each 2-vector tile and every column count it takes: rows
    /// read from an offset, Bᵀ rows a stride apart, depths below, at and around whole vectors.
    /// The wanted columns of every row match Double sums; the tile's other columns stay NaN.
    @Test func dotTailMatchesTheReference() {
        func check<T: RowPairTile>(_ tile: T.Type) {
            var rng = SeededGenerator(seed: UInt64(T.rows))
            let width = Blocking.vectorWidth, nr = Blocking.nr
            for depth in [1, width - 1, width, width + 1, 3 * width + 5, 300] {
                let offset = 3, pitch = depth + offset + 7, bStride = depth + 2
                let a = rng.floats(T.rows * pitch), bT = rng.floats(DotTail.maximumColumns * bStride)
                for count in 1...DotTail.maximumColumns {
                    var out = [Float](repeating: .nan, count: T.rows * nr)
                    a.withUnsafeBufferPointer { a in
                        let rows = (0..<T.rows).map { a.baseAddress! + $0 * pitch }
                        rows.withUnsafeBufferPointer { rows in
                            bT.withUnsafeBufferPointer { bT in
                                out.withUnsafeMutableBufferPointer {
                                    Shardwise.dotTail(tile, depth: depth, rows: rows.baseAddress!, offset: offset,
                                                      bT: bT.baseAddress!, bStride: bStride, count: count,
                                                      tile: $0.baseAddress!)
                                }
                            }
                        }
                    }
                    var wanted: [Float] = [], written: [Float] = [], untouched = true
                    for i in 0..<T.rows {
                        for j in 0..<nr {
                            if j < count {
                                var sum = 0.0
                                for k in 0..<depth { sum += Double(a[i * pitch + offset + k]) * Double(bT[j * bStride + k]) }
                                wanted.append(Float(sum))
                                written.append(out[i * nr + j])
                            } else if !out[i * nr + j].isNaN {
                                untouched = false
                            }
                        }
                    }
                    let failure = firstMismatch(written, wanted,
                                                tolerance: tolerance(depth: depth, magnitude: Float(depth).squareRoot()))
                    #expect(failure == nil, "\(T.rows) rows, \(count) columns, depth \(depth): \(failure ?? "")")
                    #expect(untouched, "\(T.rows) rows, \(count) columns, depth \(depth): wrote past its columns")
                }
            }
        }
        check(Tile4x2V.self)
        check(Tile6x2V.self)
        check(Tile8x2V.self)
        check(Tile12x2V.self)
    }

    /// The tile each count of wanted rows and columns runs: the smallest that holds them.
    @Test func tileChoice() {
        for rows in 1...Blocking.mr {
            let tile = Blocking.tile(rows: rows, columns: Blocking.nr)
            let expected: Blocking.Tile = rows <= 2 && Blocking.mr == 12 ? .twoByTwoVectors : rows <= 4 ? .fourByTwoVectors
                : rows <= 6 ? .sixByTwoVectors : rows <= 8 ? .eightByTwoVectors : .twelveByTwoVectors
            #expect(tile == expected, "\(rows) rows")
        }
    }

    /// The tiles down a block: consecutive from row 0, covering every row once, none taller than
    /// MR nor reading past the block's whole tiles, and on AVX-512 a remainder of 1 or 2 rows after
    /// a full tile borrows 4 rows from it.
    @Test func rowTilesCoverTheBlock() {
        let mr = Blocking.mr
        for rows in 1...(4 * mr + 3) {
            let tiles = Array(RowTiles(rows))
            var next = 0
            for tile in tiles {
                #expect(tile.start == next && (1...mr).contains(tile.rows), "\(rows) rows: \(tiles)")
                // Any tile reads MR rows at most, all inside the rows a block holds (whole tiles).
                #expect(tile.start + mr <= (rows + mr - 1) / mr * mr, "\(rows) rows: \(tiles)")
                next = tile.start + tile.rows
            }
            #expect(next == rows, "\(rows) rows: \(tiles)")
            let lends = Blocking.tailLend > 0 && rows > mr && (1...2).contains(rows % mr)
            let expectedLast = lends ? [mr - Blocking.tailLend, Blocking.tailLend + rows % mr]
                : rows % mr == 0 ? [mr] : [rows % mr]
            #expect(tiles.suffix(expectedLast.count).map(\.rows) == expectedLast, "\(rows) rows: \(tiles)")
        }
        if Blocking.mr == 12 && Blocking.tailLend > 0 {
            #expect(RowTiles(49).map(\.rows) == [12, 12, 12, 8, 5])
        }
    }

    /// The in-place forms of each tile against its packed form, bitwise: A's rows scattered in a
    /// buffer and read through a table of row pointers in three segments (the table's last rows
    /// repeating one pointer, as a short tile's do), against B packed and against B's rows read in
    /// place at a pitch wider than NR; then B's rows read in place in runs with gaps,
    /// against a packed B whose rows in the gaps are zero; and runs of none, a tile of zeros.
    @Test func inPlaceFormsMatchThePackedForm() {
        typealias Packed = (Int, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
        typealias Segmented = (UnsafeBufferPointer<PanelSegment>, UnsafePointer<UnsafePointer<Float>>, UnsafePointer<Float>,
                               Int, UnsafeMutablePointer<Float>) -> Void
        typealias Runs = (UnsafePointer<Float>, UnsafeBufferPointer<BRowRun>, Int, UnsafeMutablePointer<Float>) -> Void
        func forms<T: RegisterTile>(_ tile: T.Type, rows: Int, runs: Bool = true)
            -> (rows: Int, packed: Packed, segmented: Segmented, runs: Runs?) {
            (rows, { Shardwise.microkernel(tile, depth: $0, a: $1, b: $2, tile: $3, tilePitch: Blocking.nr) },
             { Shardwise.microkernel(tile, segments: $0, rows: $1, b: $2, bPitch: $3, tile: $4, tilePitch: Blocking.nr) },
             runs ? { Shardwise.microkernel(tile, a: $0, runs: $1, bPitch: $2, tile: $3) } : nil)
        }
        let kernels = [forms(Tile4x2V.self, rows: 4), forms(Tile6x2V.self, rows: 6), forms(Tile8x2V.self, rows: 8),
                       forms(Tile12x2V.self, rows: 12),
                       forms(Tile12x1V.self, rows: 12, runs: false)]
        let nr = Blocking.nr
        var rng = SeededGenerator(seed: 77)
        for (rows, packed, segmented, runs) in kernels {
            // A in place: rows 41 floats apart plus a skew, segments of 5, 1 and 19 steps.
            let segments = [PanelSegment(offset: 3, length: 5), PanelSegment(offset: 11, length: 1),
                            PanelSegment(offset: 14, length: 19)]
            let depth = segments.reduce(0) { $0 + $1.length }
            let source = rng.floats(rows * 41 + 64), b = rng.floats(depth * nr)
            var panel = [Float](repeating: 0, count: rows * Blocking.aPitch)
            let used = rows - 2  // the last two table entries repeat row used - 1, a short tile's way
            for i in 0..<rows {
                var k = 0
                for segment in segments {
                    for step in 0..<segment.length {
                        panel[i * Blocking.aPitch + k] = source[Swift.min(i, used - 1) * 41 + i % 3 + segment.offset + step]
                        k += 1
                    }
                }
            }
            // The same B as rows `wide` floats apart, the gaps poisoned.
            let wide = nr + 13
            var bWide = [Float](repeating: .nan, count: depth * wide)
            for k in 0..<depth { for j in 0..<nr { bWide[k * wide + j] = b[k * nr + j] } }
            var fromPanel = [Float](repeating: .nan, count: rows * nr), inPlace = fromPanel, bothInPlace = fromPanel
            source.withUnsafeBufferPointer { source in
                let table = (0..<rows).map { UnsafePointer(source.baseAddress! + Swift.min($0, used - 1) * 41 + $0 % 3) }
                b.withUnsafeBufferPointer { b in
                    panel.withUnsafeBufferPointer { packed(depth, $0.baseAddress!, b.baseAddress!, &fromPanel) }
                    segments.withUnsafeBufferPointer { segments in
                        table.withUnsafeBufferPointer { table in
                            segmented(segments, table.baseAddress!, b.baseAddress!, nr, &inPlace)
                            bWide.withUnsafeBufferPointer {
                                segmented(segments, table.baseAddress!, $0.baseAddress!, wide, &bothInPlace)
                            }
                        }
                    }
                }
            }
            #expect(inPlace.prefix(used * nr).map(\.bitPattern) == fromPanel.prefix(used * nr).map(\.bitPattern),
                    "\(rows)-row tile, A in place")
            #expect(bothInPlace.prefix(used * nr).map(\.bitPattern) == fromPanel.prefix(used * nr).map(\.bitPattern),
                    "\(rows)-row tile, A and B in place")
            guard let runs else { continue }

            // B in place: rows 45 floats apart, runs over steps 0..<4, 9..<10 and 13..<20 of 20.
            let steps = 20, bPitch = 45
            let a = rng.floats(rows * Blocking.aPitch), bSource = rng.floats(steps * bPitch + nr)
            let spans = [0..<4, 9..<10, 13..<20]
            var bPanel = [Float](repeating: 0, count: steps * nr)
            for span in spans { for k in span { for j in 0..<nr { bPanel[k * nr + j] = bSource[k * bPitch + j] } } }
            var packedB = [Float](repeating: .nan, count: rows * nr), runB = packedB, none = packedB
            a.withUnsafeBufferPointer { a in
                bSource.withUnsafeBufferPointer { bSource in
                    bPanel.withUnsafeBufferPointer { packed(steps, a.baseAddress!, $0.baseAddress!, &packedB) }
                    let list = spans.map { BRowRun(aOffset: $0.lowerBound, b: bSource.baseAddress! + $0.lowerBound * bPitch,
                                                   length: $0.count) }
                    list.withUnsafeBufferPointer { runs(a.baseAddress!, $0, bPitch, &runB) }
                    list.withUnsafeBufferPointer { runs(a.baseAddress!, UnsafeBufferPointer(rebasing: $0[..<0]), bPitch, &none) }
                }
            }
            #expect(runB.map(\.bitPattern) == packedB.map(\.bitPattern), "\(rows)-row tile, B in place")
            #expect(none.allSatisfy { $0 == 0 }, "\(rows)-row tile, no runs")
        }
    }

    /// The dot-product kernel: 4 rows of A and 5 rows of Bᵀ, K contiguous, accumulating into
    /// `partial`; the lane-wise partial sums must add up to the dot products.
    @Test func dotMicrokernel4x5V() {
        var rng = SeededGenerator(seed: 45)
        let width = Blocking.vectorWidth
        for depth in [width, 2 * width, 7 * width, 64 * width] {
            let a = (0..<4).map { _ in rng.floats(depth) }
            let b = (0..<5).map { _ in rng.floats(depth) }
            let start = rng.floats(20 * width)
            var partial = start
            a[0].withUnsafeBufferPointer { a0 in a[1].withUnsafeBufferPointer { a1 in
            a[2].withUnsafeBufferPointer { a2 in a[3].withUnsafeBufferPointer { a3 in
            b[0].withUnsafeBufferPointer { b0 in b[1].withUnsafeBufferPointer { b1 in b[2].withUnsafeBufferPointer { b2 in
            b[3].withUnsafeBufferPointer { b3 in b[4].withUnsafeBufferPointer { b4 in
                partial.withUnsafeMutableBufferPointer { p in
                    Shardwise.dotMicrokernel4x5V(depth: depth, a0: a0.baseAddress!, a1: a1.baseAddress!, a2: a2.baseAddress!,
                                                 a3: a3.baseAddress!, b0: b0.baseAddress!, b1: b1.baseAddress!,
                                                 b2: b2.baseAddress!, b3: b3.baseAddress!, b4: b4.baseAddress!,
                                                 partial: p.baseAddress!)
                }
            } } } } } } } } }
            for r in 0..<4 {
                for s in 0..<5 {
                    let lanes = (r * 5 + s) * width
                    let got = partial[lanes..<(lanes + width)].reduce(0.0) { $0 + Double($1) }
                    let initial = start[lanes..<(lanes + width)].reduce(0.0) { $0 + Double($1) }
                    let exact = zip(a[r], b[s]).reduce(initial) { $0 + Double($1.0) * Double($1.1) }
                    let tol = Double(tolerance(depth: depth, magnitude: Float(depth).squareRoot()))
                    #expect(abs(got - exact) <= tol, "row \(r) column \(s) depth \(depth): \(got) vs \(exact)")
                }
            }
        }
    }
}
