// The blocking table: register tile and cache blocks for each target, chosen at compile time.
//
// BLIS vocabulary throughout the GEMM folder:
//   MR × NR  the register tile (microtile) one microkernel call computes;
//   KC       the depth of one rank-KC update (the PC loop's step);
//   MC       rows of A packed per block (the IC loop's step), sized for L2;
//   NC       columns of B packed per block (the JC loop's step), sized for L3.
//
// `Package.swift` defines SHARDWISE_AVX512 or SHARDWISE_AVX2 from the target CPU;
// anything else (baseline x86-64, arm64/NEON) takes the portable row, built on
// 4-lane vectors that every SIMD ISA has. On AVX-512 the 12 × 32 tile holds 24
// zmm accumulators, two B vectors and a broadcast: 27 of 32 registers, no spills.
// On 16-register ISAs the 6 × 2-vector tile holds 12 accumulators.
//
// Packed A uses a fixed row pitch (`Blocking.aPitch`, a compile-time constant) so
// that the microkernel's twelve broadcasts address `a + i·aPitch` with immediate
// offsets, and so that packing a row-major A, or an NHWC im2col row, is a plain
// copy of contiguous runs. The pitch is KC plus 16 floats so that the MR rows of
// a micropanel do not all fall into the same L1 set.

#if SHARDWISE_AVX512
/// The SIMD vector the microkernels are built from on this target.
package typealias Vector = SIMD16<Float>
#elseif SHARDWISE_AVX2
/// The SIMD vector the microkernels are built from on this target.
package typealias Vector = SIMD8<Float>
#else
/// The SIMD vector the microkernels are built from on this target.
package typealias Vector = SIMD4<Float>
#endif

/// One row of the blocking table: the register tile and cache blocks of this target.
package enum Blocking {
    /// Lanes per vector.
    package static let vectorWidth = Vector.scalarCount
    #if SHARDWISE_AVX512
    /// Rows of the register tile.
    package static let mr = 12
    #else
    /// Rows of the register tile.
    package static let mr = 6
    #endif
    /// Columns of the register tile: two vectors.
    package static let nr = 2 * Vector.scalarCount
    /// Depth of one rank-KC update at most: a K up to this is one block. 1152 = 3·3·128, so that a
    /// 3×3 convolution over 128 channels is one block: 1×28×28×128 and 1×56×56×128 s2 ran 5 %
    /// faster than at 1024 (two blocks, C read and written twice), the GEMMs level.
    package static let kc = 1152
    /// The block depth for deeper K: smaller B micropanels (128 KB on AVX-512) stay in L2 beside the
    /// A block. 1152 measured no better on 1×14×14×256 3×3 (K = 2304) and no better at 2048³. On
    /// Zen 5, 1024 (2048³ in two blocks, not three) was level with 768 over 8 interleaved runs (237
    /// against 239 GFLOP/s on 2 lanes); on Zen 4, whose write-back of each later block waits on C's
    /// lines (the C strip of a row block does not stay in L2 across a depth block), 1024 gained: 12
    /// interleaved runs, 768 → 1024, 2048³ 104–106 → 108 GFLOP/s on 1 lane and 206 → 213 on 2,
    /// 1024×1024×2048 107 → 109; 1536³ (two blocks either way), 1×7×7×512 3×3 (K = 4608), dense
    /// 512×2048→1024 and the rest of the suite level.
    package static let deepKC = 1024
    /// Row pitch, in floats, of a packed A micropanel: KC plus a 64-byte skew, which is also
    /// the slack im2col's whole-vector copies may write past a row's last element.
    package static let aPitch = kc + 16
    /// Rows of A packed per block: a multiple of MR near 96 (about 450 KB of packed A, L2-resident).
    /// 48 to 288 were measured on the GEMMs, and 204 (one block for all 196 rows) on 1×14×14×256
    /// 3×3: none gained; 48 and 144 on the suite's 3×3 convolutions, level again.
    package static let mc = 96 / mr * mr
    /// Columns of B packed per block when B is not pre-packed (9 MiB at KC = 1152).
    package static let nc = 2048
    /// Floats of packed B one lane may hold: KC × NC (9 MiB). When a whole-depth strip of B of
    /// at least `minimumWholeDepthColumns` fits, the driver packs B for all of K at once.
    /// Measured against 4 and 16 MiB: 16 MiB (all of 2048³'s B in one strip, half of L3) ran 200
    /// against 225 GFLOP/s; 4 MiB, over 6 interleaved runs, 227 against 239 at 2048³ (strips of
    /// 512 columns: A packed four times over) and level at 512×3072×768.
    package static let bBudget = kc * nc
    /// Whether the microkernel reads A's tiles in place (where A's rows are contiguous) for a block
    /// of `columns` columns of C, rather than from packed micropanels: up to 8 B micropanels, where
    /// a packed A row would be reused too few times to repay its copy. Measured on 1 lane against
    /// packing every tile: 25088×32×800 160 → 198 GFLOP/s, 25088×32×25 168 → 206, 4096×64×300
    /// 227 → 258, 4096×128×300 240 → 258, a 1×1 convolution 1×56×56×64 → 64 222 → 242. Wider
    /// blocks gained nothing (512×3072×768, 4096×512×300, 1000³ level), and rows 4 KB apart
    /// (1024³, 2048³) ran 3–5 % slower in place over wide blocks: all twelve fall into one L1 set.
    /// Within the limit such pitches still gain: 4096×64×1024 248 against 193–214 packed,
    /// 4096×64×2048 232 against 166–173, a dense 512×1024→64 255 against 230; and cut into strips of
    /// the limit's width (`wholeDepthStripColumns`), 1024³ and 2048³ gained too.
    package static func readsAInPlace(columns: Int) -> Bool {
        columns <= inPlaceColumns
    }
    /// Whether a tile's MR rows of A, `pitch` floats apart, stay in a level-1 data cache of `cache`'s
    /// sets and ways when read in place: no set receives more of the lines one depth step reads
    /// (one per row, or fewer where rows share a line) than it has ways (see DataCache.swift). Where
    /// they would not, A is packed: the packed block's pitch, `aPitch`, spreads its rows over the
    /// sets. Measured on Zen 4 (64 sets of 8 ways), 1 lane, three interleaved runs, in place →
    /// packed (GFLOP/s): 1024³ 99.1 → 108.0, 2048³ 98.4 → 104.4, 1024×1024×2048 98.3 → 104.4,
    /// 4096×64×1024 96.6 → 95.6; a pitch of 768 or 1536 floats (two sets) stays in place. (The
    /// in-place measurements of `readsAInPlace` above were made on Zen 5, whose 12 ways hold the
    /// twelve rows.)
    package static func keepsRowsInL1(pitch: Int, cache: (sets: Int, ways: Int) = DataCache.level1) -> Bool {
        let lineFloats = lineBytes / MemoryLayout<Float>.stride
        // Lines fewer than `sets` apart fall into distinct sets (the common case, decided at once).
        if (mr - 1) * pitch / lineFloats < cache.sets { return true }
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: cache.sets) { linesInSet in
            linesInSet.initialize(repeating: 0)
            // Rows that share a line count once: rows come in order, so only with the row before.
            var previous = -1
            for row in 0..<mr where row * pitch / lineFloats != previous {
                previous = row * pitch / lineFloats
                linesInSet[previous % cache.sets] += 1
                if linesInSet[previous % cache.sets] > cache.ways { return false }
            }
            return true
        }
    }

    /// The widest block of C whose A tiles the microkernel reads in place: 8 B micropanels.
    package static let inPlaceColumns = 8 * nr
    /// The narrowest whole-depth B strip worth packing (narrower: BLIS's KC × NC blocks).
    package static let minimumWholeDepthColumns = 4 * nr

    /// Columns of each whole-depth strip of a per-call B (the JC step) for a product of depth
    /// `depth`: as many as the B budget holds, or, when A's rows can be read in place, at most
    /// `inPlaceColumns`. Narrow strips trade A packing for B locality: the strip (K × 256 floats,
    /// 768 KB at K = 768) is written to and read from L2 rather than L3, and A is read in place, once
    /// per strip, rather than packed once per row block. Measured on 1 lane, 3 interleaved runs,
    /// against strips of the whole budget: 512×3072×768 224–233 → 246–257 GFLOP/s, 2048³ 227–250 →
    /// 247–251, 1536³ 232–247 → 251–259, 1000³ and 3072×768×512 1–4 % faster, 256³ level. Strips of
    /// 128 and 192 columns measured level with 256. Pre-packed weights (1×1 convolutions, dense
    /// layers) gained nothing from the same strips: their B is never written per call.
    package static func wholeDepthStripColumns(depth: Int, readsAInPlace: Bool) -> Int {
        let fits = bBudget / depth / nr * nr
        return readsAInPlace ? Swift.min(fits, inPlaceColumns) : fits
    }

    /// Columns of each strip in which the driver reads a pre-packed B against a row-major A (A's
    /// rows read in place, so a strip costs no packing): `inPlaceColumns` when there are several
    /// row blocks and several depth blocks and a row block's strip of C across all the columns
    /// (MC × columns floats) takes a quarter of L2 or more, else all the columns at once. With IC
    /// outside PC, that strip of C must stay in cache across its depth blocks; across 2048 columns
    /// it does not (768 KB beside the A block), and C is read and written from L3 once per depth
    /// block. Measured on 1 lane, two interleaved runs, all columns → strips (GFLOP/s): dense
    /// 2048×2048→2048 209–218 → 248, 1024×4096→4096 208–214 → 244–245, 1024×2048→1536 227 →
    /// 246–248, 1024×1536→2048 225–229 → 251–260, 1024×2048→1280 213–236 → 242–253; 1024 columns
    /// level (1024×2048→1024, 231–251 either way). Level in strips where the rule keeps all the
    /// columns: one depth block (1024×1024→2048, 4096×1152→2048), one row block (96×2048→2048,
    /// 215–227 in strips), and 1×1 convolutions to 512 and 1024 channels.
    package static func packedStripColumns(rows: Int, depth: Int, columns: Int) -> Int {
        let stripOfC = mc * columns * MemoryLayout<Float>.stride
        return rows > mc && depth > kc && 4 * stripOfC >= l2Bytes ? inPlaceColumns : columns
    }

    /// Whether the full B micropanels of a whole-depth strip `columns` wide are read in place from a
    /// row-major B whose rows lie `pitch` floats apart, rather than packed (A's rows read in place
    /// too): when the strip takes at most half of the L2 lines B's rows can reach. Packing a B that
    /// small costs more than it saves: every row block streams the strip from L2 either way, and the
    /// copy is a pass over all of B. Rows a multiple of a line apart reach only some of L2's sets,
    /// so a large power-of-two pitch shrinks the cache B can use (the rows' sets repeat every
    /// `l2Sets / gcd` rows). Measured on 1 lane, two interleaved runs each, packed → in place:
    /// 256³ 245 → 254–257 GFLOP/s, 128³ 222–232 → 242, 96³ 223–226 → 236–243, 64³ 190–192 →
    /// 194–204, 100×300×300 222 → 239–242, 256×256×512 235–241 → 252–256, 512×256×512 248–251 →
    /// 257. Past the rule, in place lost: 256×256×1024 (a 1 MB strip) 246–248 → 210–215,
    /// 1024³ (rows 4 KB apart) 245–247 → 176–179, 512×3072×768 (12 KB apart) 240–245 → 187–191.
    package static func readsBInPlace(depth: Int, columns: Int, pitch: Int) -> Bool {
        let lineFloats = lineBytes / MemoryLayout<Float>.stride
        let rowLines = (columns + lineFloats - 1) / lineFloats
        var reachableSets = l2Sets
        if pitch % lineFloats == 0 {
            var (x, y) = (pitch / lineFloats, l2Sets)
            while y != 0 { (x, y) = (y, x % y) }
            reachableSets = Swift.min(l2Sets, l2Sets / x * rowLines)
        }
        return 2 * depth * columns * MemoryLayout<Float>.stride <= reachableSets * l2Ways * lineBytes
    }
    /// The most MR-row tiles of A against which B is read in place whatever its size (see
    /// `readsBInPlace`): packing B is a pass over all of it, repaid only by many row tiles reading
    /// it back. Measured on 1 lane, two interleaved runs, packed → in place (GFLOP/s): 8×1024×1024
    /// 58–59 → 115–117, 12×1024×1024 100–101 → 235–237, 24×1024×1024 143–145 → 233–235,
    /// 36×1024×1024 168–172 → 229–233, 48×1024×1024 188 → 220–234, 48×2048×512 189–191 →
    /// 237–252, 24×1000×1000 178–182 → 243–254, 24×2048×1024 120–142 → 168, 36×8192×512 139–151 →
    /// 176–185. Where B streams from memory at a pitch of 16 KB it was level to slower:
    /// 24×4096×1024 127 → 118–139, 12×4096×2048 60 → 54–58.
    package static let fewRowTiles = 4
    /// The L2 cache the table is tuned for (Zen 4 and 5, Skylake-SP: 1 MiB, 16 ways, 64-byte lines).
    static let l2Bytes = 1 << 20, lineBytes = 64, l2Ways = 16, l2Sets = l2Bytes / l2Ways / lineBytes

    /// The depth of each KC block for a product of depth `depth`: the whole of K up to KC, else
    /// blocks of at most `deepKC`, as equal as possible (2304 = 768 · 3, not 1024 + 1024 + 256).
    /// Measured here: one block for the article's K = 800 layer, 175 → 209 GFLOP/s against two. A
    /// function of `depth` alone, so every lane and every loop order cuts K at the same places.
    package static func depthBlock(_ depth: Int) -> Int {
        if depth <= kc { return depth }
        let blocks = (depth + deepKC - 1) / deepKC
        return (depth + blocks - 1) / blocks
    }

    /// The IC loop's step for `rows` rows: as few blocks as MC allows, equal in whole MR tiles
    /// (at least one tile, so that a loop over no rows still has a step).
    /// With fixed MC-row steps the last block can be a sliver that streams all of B for one tile:
    /// 1×14×14×256 3×3 (196 rows) ran blocks of 96, 96 and 4 rows; now 72, 72 and 52.
    package static func rowBlock(_ rows: Int) -> Int {
        let tiles = Swift.max(1, (rows + mr - 1) / mr), tilesPerBlock = mc / mr
        let blocks = (tiles + tilesPerBlock - 1) / tilesPerBlock
        return (tiles + blocks - 1) / blocks * mr
    }

    /// Rows the last full tile of a block gives to a remainder of 1 or 2 rows (`RowTiles`): on
    /// AVX-512, 12 + 1 rows run as 8 + 5 (tiles of 8 and 6 rows, 14 cycles a step instead of 16),
    /// 12 + 2 as 8 + 6. Other targets' 6-row tile would give 2 rows for 4 + 3 (two 4-row tiles,
    /// 8 cycles a step instead of 10): not measured there, so not done.
    #if SHARDWISE_AVX512
    package static let tailLend = 4
    #else
    package static let tailLend = 0
    #endif

    /// The register tiles a microkernel call can run.
    package enum Tile {
        /// 12 rows × 1 vector: the AVX-512 tile for a panel with at most 16 wanted columns.
        case twelveByOneVector
        /// 2 rows × 2 vectors: AVX-512's tile for 1 or 2 wanted rows (a matrix-vector product).
        case twoByTwoVectors
        /// 4 rows × 2 vectors: the tile for at most 4 wanted rows (an M tail).
        case fourByTwoVectors
        /// 6 rows × 2 vectors: the tile of 16-register ISAs, and AVX-512's for 5 or 6 wanted rows.
        case sixByTwoVectors
        /// 8 rows × 2 vectors: AVX-512's tile for 7 or 8 wanted rows.
        case eightByTwoVectors
        /// 12 rows × 2 vectors: AVX-512's full tile.
        case twelveByTwoVectors
    }

    /// The tile that computes `rows` wanted rows and `columns` wanted columns of an MR × NR block
    /// with the least work. On AVX-512 a block with at most 16 wanted columns (the last panel of,
    /// say, 80 output channels: 200 → 230 GFLOP/s on 1×28×28×128 3×3 → 80; read in place,
    /// 1×56×56×64 3×3 → 48 180 → 227) runs the 1-vector tile, and one with at most 6 wanted rows
    /// (an M tail) the 6-row tile, at most 8 the 8-row tile, at most 4 the 4-row tile: each
    /// computes its rows and columns with the same multiply-adds in the same order, for less work
    /// (1×14×14×256 3×3, 196 rows, computed 16.5 tiles instead of 17 with the 6-row tile; a
    /// row-major A's short last tile, read in place, 64³ 182–189 → 196–199 GFLOP/s). A tile of R
    /// rows costs max(R, 4) cycles a step where two 512-bit FMAs issue a cycle (see
    /// TwoVectorTiles.swift), and R where one does (Zen 4): there the 2-row tile takes 1 or 2 wanted
    /// rows, in 4 cycles where the 4-row tile took 8. Other targets have the 6-row tile and the 4-row
    /// one.
    @inline(__always)
    package static func tile(rows: Int, columns: Int) -> Tile {
        #if SHARDWISE_AVX512
        if columns <= Vector.scalarCount { return .twelveByOneVector }
        if rows <= 2 { return .twoByTwoVectors }
        #endif
        if rows <= 4 { return .fourByTwoVectors }
        if rows <= 6 || mr == 6 { return .sixByTwoVectors }
        return rows <= 8 ? .eightByTwoVectors : .twelveByTwoVectors
    }

    /// The microkernel of this target (`tile(rows:columns:)`): `depth` rank-1 updates of an
    /// MR × NR block from packed panels, of which the first `rows` rows and `columns` columns are
    /// wanted.
    @inline(__always)
    package static func microkernel(depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                    tile: UnsafeMutablePointer<Float>, tilePitch: Int = nr, rows: Int = mr,
                                    columns: Int = nr) {
        let (t, p) = (tile, tilePitch)
        switch Blocking.tile(rows: rows, columns: columns) {
        case .twelveByOneVector: Shardwise.microkernel(Tile12x1V.self, depth: depth, a: a, b: b, tile: t, tilePitch: p)
        case .twoByTwoVectors: Shardwise.microkernel(Tile2x2V.self, depth: depth, a: a, b: b, tile: t, tilePitch: p)
        case .fourByTwoVectors: Shardwise.microkernel(Tile4x2V.self, depth: depth, a: a, b: b, tile: t, tilePitch: p)
        case .sixByTwoVectors: Shardwise.microkernel(Tile6x2V.self, depth: depth, a: a, b: b, tile: t, tilePitch: p)
        case .eightByTwoVectors: Shardwise.microkernel(Tile8x2V.self, depth: depth, a: a, b: b, tile: t, tilePitch: p)
        case .twelveByTwoVectors: Shardwise.microkernel(Tile12x2V.self, depth: depth, a: a, b: b, tile: t, tilePitch: p)
        }
    }

    /// The microkernel of this target reading A in place: row i at step k of segment s is
    /// `rows[i][segments[s].offset + k]`; B's rows over the segments' depth lie `bPitch` floats
    /// apart from `b` on (a packed micropanel's NR, or a row-major B's leading dimension); the
    /// first `wantedRows` rows and `columns` columns are wanted.
    @inline(__always)
    package static func microkernel(segments: UnsafeBufferPointer<PanelSegment>, rows: UnsafePointer<UnsafePointer<Float>>,
                                    b: UnsafePointer<Float>, bPitch: Int = nr, tile: UnsafeMutablePointer<Float>,
                                    tilePitch: Int = nr, wantedRows: Int = mr, columns: Int = nr) {
        switch Blocking.tile(rows: wantedRows, columns: columns) {
        case .twelveByOneVector:
            Shardwise.microkernel(Tile12x1V.self, segments: segments, rows: rows, b: b, bPitch: bPitch, tile: tile,
                                  tilePitch: tilePitch)
        case .twoByTwoVectors:
            Shardwise.microkernel(Tile2x2V.self, segments: segments, rows: rows, b: b, bPitch: bPitch, tile: tile,
                                  tilePitch: tilePitch)
        case .fourByTwoVectors:
            Shardwise.microkernel(Tile4x2V.self, segments: segments, rows: rows, b: b, bPitch: bPitch, tile: tile,
                                  tilePitch: tilePitch)
        case .sixByTwoVectors:
            Shardwise.microkernel(Tile6x2V.self, segments: segments, rows: rows, b: b, bPitch: bPitch, tile: tile,
                                  tilePitch: tilePitch)
        case .eightByTwoVectors:
            Shardwise.microkernel(Tile8x2V.self, segments: segments, rows: rows, b: b, bPitch: bPitch, tile: tile,
                                  tilePitch: tilePitch)
        case .twelveByTwoVectors:
            Shardwise.microkernel(Tile12x2V.self, segments: segments, rows: rows, b: b, bPitch: bPitch, tile: tile,
                                  tilePitch: tilePitch)
        }
    }

    /// The dot-product tail (DotTail.swift) for `count` columns of a tile over `depth` steps, row i
    /// at `rows[i] + offset`, of which the first `wantedRows` rows are wanted: the narrowest
    /// 2-vector tile that holds them.
    @inline(__always)
    package static func dotTail(depth: Int, rows: UnsafePointer<UnsafePointer<Float>>, offset: Int,
                                bT: UnsafePointer<Float>, bStride: Int, count: Int, tile: UnsafeMutablePointer<Float>,
                                wantedRows: Int) {
        switch Blocking.tile(rows: wantedRows, columns: nr) {
        case .fourByTwoVectors, .twoByTwoVectors:
            Shardwise.dotTail(Tile4x2V.self, depth: depth, rows: rows, offset: offset, bT: bT, bStride: bStride,
                              count: count, tile: tile)
        case .sixByTwoVectors:
            Shardwise.dotTail(Tile6x2V.self, depth: depth, rows: rows, offset: offset, bT: bT, bStride: bStride,
                              count: count, tile: tile)
        case .eightByTwoVectors:
            Shardwise.dotTail(Tile8x2V.self, depth: depth, rows: rows, offset: offset, bT: bT, bStride: bStride,
                              count: count, tile: tile)
        case .twelveByTwoVectors, .twelveByOneVector:
            Shardwise.dotTail(Tile12x2V.self, depth: depth, rows: rows, offset: offset, bT: bT, bStride: bStride,
                              count: count, tile: tile)
        }
    }

    /// The microkernel of this target with B's rows read in place, in runs (the filter gradient's
    /// patches), of which the first `rows` rows are wanted. B's micropanels are always full here
    /// (`PatchColumns` needs NR-aligned channel runs), so the 1-vector tile never applies.
    @inline(__always)
    package static func microkernel(a: UnsafePointer<Float>, runs: UnsafeBufferPointer<BRowRun>, bPitch: Int,
                                    tile: UnsafeMutablePointer<Float>, rows: Int) {
        switch Blocking.tile(rows: rows, columns: nr) {
        case .fourByTwoVectors, .twoByTwoVectors:
            Shardwise.microkernel(Tile4x2V.self, a: a, runs: runs, bPitch: bPitch, tile: tile)
        case .sixByTwoVectors: Shardwise.microkernel(Tile6x2V.self, a: a, runs: runs, bPitch: bPitch, tile: tile)
        case .eightByTwoVectors: Shardwise.microkernel(Tile8x2V.self, a: a, runs: runs, bPitch: bPitch, tile: tile)
        case .twelveByTwoVectors, .twelveByOneVector:
            Shardwise.microkernel(Tile12x2V.self, a: a, runs: runs, bPitch: bPitch, tile: tile)
        }
    }
}

/// A run of depth that the in-place microkernel reads: steps `0 ..< length` at `offset + k`
/// floats from each row's start.
package struct PanelSegment: Sendable, Equatable {
    /// Floats from a row's start to the segment's first element.
    package var offset: Int
    /// Depth steps in the segment (at least one).
    package var length: Int

    /// A segment of `length` steps from `offset` floats past each row's start.
    package init(offset: Int, length: Int) {
        self.offset = offset
        self.length = length
    }
}

/// `accumulator + a · b`, as one fused instruction where the target has it.
///
/// Without a target CPU that has FMA, `addingProduct` becomes a call to `fmaf`
/// per lane; there we multiply and add separately instead (a different rounding,
/// but the same one on every lane count, so determinism holds).
@inline(__always)
package func multiplyAdd(_ accumulator: Vector, _ a: Vector, _ b: Vector) -> Vector {
    #if SHARDWISE_FMA || arch(arm64)
    return accumulator.addingProduct(a, b)
    #else
    return accumulator + a * b
    #endif
}

/// The register tiles down a block of `rows` rows, in order, as (first row, rows): whole MR-row
/// tiles, except that a remainder of 1 or 2 rows after a full tile takes `Blocking.tailLend` rows
/// from it, so that the last two tiles are 8 and 5 or 6 rows on AVX-512 rather than 12 and a 4-row
/// tile mostly idle (a tile of R rows costs max(R, 4) cycles a step; see TwoVectorTiles.swift).
/// 49 rows (a 7 × 7 image) run 12, 12, 12, 8, 5: 50 cycles a step rather than 52. Measured on 1
/// lane, five interleaved runs, 12 + r → 8 + (4 + r) (ms): 1×7×7×512 3×3→512 0.998–1.051 →
/// 0.974–0.998, 1×7×7×2048 1×1→512 0.440–0.450 → 0.423–0.432, 1×14×14×512 3×3 s2→512
/// 1.018–1.070 → 0.971–1.030, GEMM 49×512×4608 1.334–1.416 → 1.295–1.376, 110×512×512
/// 0.260–0.274 → 0.254–0.260, dense 26×1024→1024 0.239–0.248 → 0.220–0.224; 2 lanes likewise;
/// 1×14×14×256 3×3 (196 rows, a remainder of 4) level. Every element
/// is the same chain of multiply-adds in any tile, so where the tiles fall never changes a bit.
/// A tile may read up to the next multiple of MR rows (its unwanted rows), as a short last tile
/// always could.
package struct RowTiles: Sequence, IteratorProtocol {
    private var start = 0
    private let rows: Int
    /// Where the tile that lends rows starts; -1 if none does.
    private let lender: Int

    /// The tiles of `rows` rows.
    @inline(__always)
    package init(_ rows: Int) {
        let mr = Blocking.mr, remainder = rows % mr
        self.rows = rows
        lender = Blocking.tailLend > 0 && rows > mr && (1...2).contains(remainder) ? rows - remainder - mr : -1
    }

    /// The next tile: its first row and its wanted rows.
    @inline(__always)
    package mutating func next() -> (start: Int, rows: Int)? {
        guard start < rows else { return nil }
        let count = start == lender ? Blocking.mr - Blocking.tailLend : Swift.min(Blocking.mr, rows - start)
        defer { start += count }
        return (start, count)
    }
}
