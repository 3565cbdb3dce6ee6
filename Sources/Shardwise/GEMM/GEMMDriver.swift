// The BLIS five-loop driver, for one lane's sub-range of C.
//
//   JC: columns in steps of NC   (B packed for L3; skipped when B is pre-packed)
//    IC: rows in steps of MC     (a strip of C that stays in cache across its depth blocks)
//     PC: depth in steps of KC   (one rank-KC update; A block packed here, L2-resident)
//      JR: columns in steps of NR  (one B micropanel, reused by every IR step)
//       IR: rows in steps of MR    (the microkernel, then the write-back)
//
// BLIS puts PC outside IC, packing B one KC × NC block at a time; measured here,
// that streamed C from memory once per depth block (8×56×56×64 3×3 convolution,
// K = 576: 157 → 195 GFLOP/s with IC outside). So when B is pre-packed, or a
// whole-depth strip of it fits the B budget, IC goes outside PC; only a very deep
// B (the filter gradient, whose K is the pixel count) keeps BLIS's order. (Taking
// BLIS's order for pre-packed weights when C is small enough to stay in L2 anyway,
// so that each depth block of B is read from L3 once rather than once per row
// block, measured level on 1×14×14×256 3×3 and 1×7×7×512 3×3. So did loading a
// tile's lines of C just before the microkernel of a later depth block, so that the
// write-back would find them in cache: 2048³, 1536³ and 1024×1024×2048 level.)
//
// Packing A pays when each packed row is reused against many B micropanels. Where
// few share it (a block of C at most 8 · NR columns wide: the article's layers as
// GEMMs, 1×1 convolutions to few channels) and A's rows are contiguous, the
// microkernel reads A's tiles in place, through a table of pointers to rows at
// A's leading dimension, with the same multiply-adds in the same order (so the
// same bits). A last tile short of MR rows repeats its last row's pointer: those
// rows are computed and never written back, and nothing is read past A. A B
// packed per call then goes in strips of that width
// (`Blocking.wholeDepthStripColumns`): each strip is written to L2 and read from
// there by every row block, and A is read in place once per strip instead of
// packed once per row block. Where that strip is small (`Blocking.readsBInPlace`:
// 256³, 128³, a 100 × 300 × 300 product) B is not packed either: the microkernel
// reads its full micropanels from B's own rows at its leading dimension, and only a
// last micropanel short of NR columns is packed. So it does, whatever B's size, when
// a lane has few rows (`Blocking.fewRowTiles`): each B element then meets so few A
// rows that a packed copy would be read back only a few times. Both operands then come straight
// from the caller's memory, as in the small-matrix kernels of libxsmm, and the call
// copies nothing but that tail.
//
// The driver knows nothing of lanes: it computes exactly the rows and columns it
// is given, with the workspace it is given. Sharding decides the ranges; layers
// compose the two. Because the depth blocks are a function of K alone (not of the
// range, nor of the loop order), an element of C sees the same sequence of
// operations whichever lane owns it.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The right-hand operand of a GEMM: pre-packed weights, or a matrix packed block by block.
package enum BOperand: @unchecked Sendable {
    // @unchecked: every case refers to memory that is read-only during the call.
    /// Weights packed once (a layer's filters).
    case packed(PackedMatrix)
    /// A strided matrix, packed per whole-depth strip or KC × NC block (a small row-major one is
    /// read in place instead: `rowsInPlace(depth:columns:readsAInPlace:)`).
    case strided(StridedMatrix)
    /// A convolution's patch matrix (rows: pixels, columns: taps), packed per block: the
    /// filter gradient's right-hand side.
    case patches(Im2ColPanelSource)
    /// A convolution's patch matrix read in place, never packed (see PatchColumns.swift).
    case patchesInPlace(PatchColumns)

    /// Whether each lane packs B blocks into its workspace.
    package var packsPerCall: Bool {
        switch self {
        case .packed, .patchesInPlace: return false
        case .strided, .patches: return true
        }
    }

    /// Whether the driver reads a row-major A in place against this B (for blocks of C up to
    /// `Blocking.inPlaceColumns` wide): not against patches read in place, whose loop packs A.
    package var letsAStayInPlace: Bool {
        if case .patchesInPlace = self { return false }
        return true
    }

    /// Self, when B is packed a micropanel at a time during the first row block, each just before
    /// its first use, so that the microkernel reads it from L2 rather than L3: patches (the filter
    /// gradient's B). A strided B is packed a block at a time, up front: a micropanel at a time
    /// would read each of its rows in NR-float pieces (2048³ measured 3 % slower).
    var packedPerMicropanel: BOperand? {
        if case .patches = self { return self }
        return nil
    }

    /// B's rows, when the full micropanels of a whole-depth strip `columns` wide are read from them
    /// in place against `rows` rows of A (read in place too): a row-major strided B that
    /// `Blocking.readsBInPlace` finds small enough, or any, against at most
    /// `Blocking.fewRowTiles` tiles of A.
    package func rowsInPlace(depth: Int, columns: Int, rows: Int, readsAInPlace: Bool)
        -> (base: UnsafePointer<Float>, pitch: Int)? {
        guard readsAInPlace, Blocking.readsAInPlace(columns: columns), case .strided(let matrix) = self,
              let bRows = matrix.rowMajorRows,
              rows <= Blocking.fewRowTiles * Blocking.mr
                || Blocking.readsBInPlace(depth: depth, columns: columns, pitch: bRows.pitch)
        else { return nil }
        return bRows
    }
}

/// The columns of a pre-packed B that take the dot-product tail, with their Bᵀ: row j (column
/// `columns.lowerBound + j`) at `bT + j · stride`, all of the depth.
package struct DotTailColumns {
    package var bT: UnsafePointer<Float>
    package var stride: Int
    package var columns: Range<Int>

    /// The dot-product tail of `matrix`, if it has one and it starts among `columns` (a shard's).
    package init?(of matrix: PackedMatrix, within shard: Range<Int>) {
        guard let tail = matrix.tail, shard.contains(matrix.tailColumns.lowerBound) else { return nil }
        (bT, stride, columns) = (UnsafePointer(tail), matrix.depth, matrix.tailColumns)
    }
}

/// Scratch memory for one lane of a GEMM: a packed A block, a packed B block and a tile.
package struct GEMMWorkspace {
    package let aBlock: UnsafeMutablePointer<Float>
    /// Floats at `aBlock` (none where A is only read in place).
    package let aCapacity: Int
    package let bBlock: UnsafeMutablePointer<Float>?
    package let tile: UnsafeMutablePointer<Float>

    /// The floats one lane needs for rows `m`, columns `n`, depth `k`; `readsAInPlace` when the
    /// driver reads A's rows in place for narrow blocks of C (a row-major A and a B that
    /// `letsAStayInPlace`; a per-call B is then packed in strips: `Blocking.wholeDepthStripColumns`).
    package static func floatCount(rows m: Int, columns n: Int, depth k: Int, packsB: Bool,
                                   readsAInPlace: Bool) -> (a: Int, b: Int, tile: Int) {
        let mr = Blocking.mr, nr = Blocking.nr
        let aRows = Swift.min(Blocking.mc, (m + mr - 1) / mr * mr)
        // A is packed unless every block of C the driver runs is narrow enough to read it in place:
        // all of C, or the strips a per-call B is packed in (BLIS's KC × NC blocks are wider).
        let strips = packsB && Blocking.wholeDepthStripColumns(depth: k, readsAInPlace: true)
            >= Blocking.minimumWholeDepthColumns
        let narrowBlocks = n <= Blocking.inPlaceColumns || strips
        let a = readsAInPlace && narrowBlocks ? 0 : aRows * Blocking.aPitch
        // B for the whole depth of a strip or one KC × NC block (at most the B budget either way),
        // plus one vector of slack for im2col's whole-vector copies. Reserved even where a small B
        // is read in place (`BOperand.rowsInPlace`), which depends on B's leading dimension: the
        // public workspace queries are not given it, and report what a call allocates.
        let paddedColumns = (n + nr - 1) / nr * nr
        let stripColumns = readsAInPlace ? Swift.min(paddedColumns, Blocking.inPlaceColumns) : paddedColumns
        let b = packsB ? Swift.min(Blocking.bBudget, k * stripColumns) + Vector.scalarCount : 0
        return (a, b, mr * nr)
    }

    /// Bytes `withWorkspace` allocates for one lane.
    package static func byteCount(rows m: Int, columns n: Int, depth k: Int, packsB: Bool, readsAInPlace: Bool) -> Int {
        let f = floatCount(rows: m, columns: n, depth: k, packsB: packsB, readsAInPlace: readsAInPlace)
        return (f.a + f.b + f.tile) * MemoryLayout<Float>.stride
    }

    /// Runs `body` with a workspace for one lane, carved from this thread's cached buffer.
    package static func withWorkspace<R>(rows m: Int, columns n: Int, depth k: Int, packsB: Bool, readsAInPlace: Bool,
                                         _ body: (GEMMWorkspace) throws -> R) rethrows -> R {
        let f = floatCount(rows: m, columns: n, depth: k, packsB: packsB, readsAInPlace: readsAInPlace)
        return try WorkspaceCache.withBuffer(floats: f.a + f.b + f.tile) { base in
            try body(GEMMWorkspace(aBlock: base, aCapacity: f.a, bBlock: f.b > 0 ? base + f.a : nil,
                                   tile: base + f.a + f.b))
        }
    }
}

/// One reusable, 64-byte-aligned scratch buffer per thread.
///
/// A GEMM's workspace is bounded (at most MC × aPitch + KC × NC floats, about 9.4 MiB), but
/// allocating it on every call costs more than a small multiply: above glibc's mmap
/// threshold each allocation is a fresh mapping, zero-filled page by page. So each thread
/// keeps the largest buffer it has needed and reuses it; the buffer is freed when the
/// thread exits. A call made while the buffer is in use on the same thread (re-entrancy)
/// gets a temporary one instead.
enum WorkspaceCache {
    private final class Buffer {
        var base: UnsafeMutableRawPointer?
        var floats = 0
        var inUse = false
        deinit { base?.deallocate() }
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { pointer in
            #if os(Linux)
            guard let pointer else { return }
            #endif
            Unmanaged<AnyObject>.fromOpaque(pointer).release()
        }
        return key
    }()

    private static var current: Buffer {
        if let pointer = pthread_getspecific(key) {
            return Unmanaged<Buffer>.fromOpaque(pointer).takeUnretainedValue()
        }
        let buffer = Buffer()
        pthread_setspecific(key, Unmanaged.passRetained(buffer).toOpaque())
        return buffer
    }

    /// Runs `body` with at least `floats` floats of scratch memory (contents undefined).
    static func withBuffer<R, E: Error>(floats: Int, _ body: (UnsafeMutablePointer<Float>) throws(E) -> R) throws(E) -> R {
        let buffer = current
        if buffer.inUse {
            let raw = UnsafeMutableRawPointer.allocate(byteCount: floats * 4, alignment: 64)
            defer { raw.deallocate() }
            return try body(raw.bindMemory(to: Float.self, capacity: floats))
        }
        if buffer.floats < floats {
            buffer.base?.deallocate()
            buffer.base = .allocate(byteCount: floats * 4, alignment: 64)
            buffer.floats = floats
        }
        buffer.inUse = true
        defer { buffer.inUse = false }
        return try body(buffer.base!.bindMemory(to: Float.self, capacity: floats))
    }
}

/// Computes `C[rows, columns] = epilogue(A[rows, 0..<depth] · B[0..<depth, columns])`.
///
/// Two loop orders, one result: each element of C sees the same depth blocks in the same
/// order (the blocks depend on `depth` alone), so the order changes speed, never bits.
///  - IC outside PC: each MC-row strip of C stays in cache across its depth blocks, which
///    matters once K needs several blocks (C would otherwise stream from memory once per
///    block). B must then be ready for all of K: pre-packed weights, or packed whole per
///    JC block when depth × NC fits the B budget.
///  - PC outside IC (BLIS's order): for a very deep B (the filter gradient's K is the pixel
///    count), B is packed one KC × NC block at a time.
/// A B of patches is packed during the first row block, each micropanel just before its first
/// use; a strided B a strip or block at a time, or, when small and row-major, not at all (read in
/// place, but for a last micropanel short of NR columns); patches read in place are never packed
/// (IC outside PC, as for pre-packed weights).
/// With a packed B, `columns.lowerBound` must be a multiple of NR.
package func gemmRange<A: APanelSource>(rows: Range<Int>, columns: Range<Int>, depth: Int, a: A, b: BOperand,
                                        c: UnsafeMutablePointer<Float>, ldc: Int, epilogue: Epilogue,
                                        workspace: GEMMWorkspace) {
    let nr = Blocking.nr, kc = Blocking.depthBlock(depth), mc = Blocking.rowBlock(rows.count)
    let block = Macrokernel(a: a, c: c, ldc: ldc, epilogue: epilogue, workspace: workspace, depth: depth)
    switch b {
    case .packed(let packed):
        let dotTail = DotTailColumns(of: packed, within: columns)
        // Against a row-major A, wide and deep weights go in strips (see Blocking).
        let strip = a.rowsInPlace == nil ? columns.count
            : Blocking.packedStripColumns(rows: rows.count, depth: depth, columns: columns.count)
        for jc in stride(from: columns.lowerBound, to: columns.upperBound, by: strip) {
            let stripColumns = jc..<Swift.min(jc + strip, columns.upperBound)
            for ic in stride(from: rows.lowerBound, to: rows.upperBound, by: mc) {
                for pc in stride(from: 0, to: depth, by: kc) {
                    let depthBlock = Swift.min(kc, depth - pc)
                    block.run(rows: ic..<Swift.min(ic + mc, rows.upperBound), k0: pc, kc: depthBlock,
                              columns: stripColumns,
                              bBlock: packed.block(k0: pc) + (stripColumns.lowerBound / nr) * nr * depthBlock,
                              dotTail: dotTail)
                }
            }
        }
    case .patchesInPlace(let patches):
        for ic in stride(from: rows.lowerBound, to: rows.upperBound, by: mc) {
            for pc in stride(from: 0, to: depth, by: kc) {
                block.run(rows: ic..<Swift.min(ic + mc, rows.upperBound), k0: pc, kc: Swift.min(kc, depth - pc),
                          columns: columns, readingB: patches)
            }
        }
    case .strided, .patches:
        let perPanel = b.packedPerMicropanel
        let wholeDepthColumns = Blocking.wholeDepthStripColumns(depth: depth, readsAInPlace: a.rowsInPlace != nil)
        if wholeDepthColumns >= Blocking.minimumWholeDepthColumns {
            for jc in stride(from: columns.lowerBound, to: columns.upperBound, by: wholeDepthColumns) {
                let jcEnd = Swift.min(jc + wholeDepthColumns, columns.upperBound)
                let panels = (jcEnd - jc + nr - 1) / nr
                let bRows = b.rowsInPlace(depth: depth, columns: jcEnd - jc, rows: rows.count,
                                          readsAInPlace: a.rowsInPlace != nil)
                // The strip's micropanels are packed from `packFrom` on: all of them, or, where B is
                // read in place, only a last one short of NR columns.
                let packFrom = bRows == nil ? jc : jc + (jcEnd - jc) / nr * nr
                if perPanel == nil && packFrom < jcEnd {
                    for pc in stride(from: 0, to: depth, by: kc) {
                        let depthBlock = Swift.min(kc, depth - pc)
                        b.packBBlock(k0: pc, depth: depthBlock, columns: packFrom..<jcEnd,
                                     into: workspace.bBlock! + pc * panels * nr + (packFrom - jc) * depthBlock)
                    }
                }
                for ic in stride(from: rows.lowerBound, to: rows.upperBound, by: mc) {
                    for pc in stride(from: 0, to: depth, by: kc) {
                        block.run(rows: ic..<Swift.min(ic + mc, rows.upperBound), k0: pc,
                                  kc: Swift.min(kc, depth - pc), columns: jc..<jcEnd,
                                  bBlock: workspace.bBlock! + pc * panels * nr,
                                  packingB: ic == rows.lowerBound ? perPanel : nil, bRows: bRows)
                    }
                }
            }
        } else {
            // With one row block no micropanel is read twice, so each is packed over the last
            // (seed-cnn's filter gradients: 128 KB that stay in L2, not 3 MB blocks in L3).
            let onePanel = perPanel != nil && rows.count <= mc
            for jc in stride(from: columns.lowerBound, to: columns.upperBound, by: Blocking.nc) {
                let jcEnd = Swift.min(jc + Blocking.nc, columns.upperBound)
                for pc in stride(from: 0, to: depth, by: kc) {
                    if perPanel == nil {
                        b.packBBlock(k0: pc, depth: Swift.min(kc, depth - pc), columns: jc..<jcEnd,
                                     into: workspace.bBlock!)
                    }
                    for ic in stride(from: rows.lowerBound, to: rows.upperBound, by: mc) {
                        block.run(rows: ic..<Swift.min(ic + mc, rows.upperBound), k0: pc,
                                  kc: Swift.min(kc, depth - pc), columns: jc..<jcEnd, bBlock: workspace.bBlock!,
                                  packingB: ic == rows.lowerBound ? perPanel : nil, intoOnePanel: onePanel)
                    }
                }
            }
        }
    }
}

/// The inner three loops for one MC × KC block of A against a block of B: pack A's
/// micropanels (IC; or read them in place, see the file header), then JR over B's micropanels
/// and IR over A's, each a microkernel call and a write-back.
private struct Macrokernel<A: APanelSource> {
    let a: A
    let c: UnsafeMutablePointer<Float>
    let ldc: Int
    let epilogue: Epilogue
    let workspace: GEMMWorkspace
    let depth: Int

    /// `bBlock` holds B[k0 ..< k0 + kc, columns] as consecutive NR-wide micropanels, or, with
    /// `packingB`, receives them: each is packed from it just before the IR loop that first
    /// uses it. With `intoOnePanel`, every micropanel is packed at `bBlock` itself, over the last.
    /// With `bRows`, the full micropanels are read in place from B's rows instead (A's must be read
    /// in place too), and only a last one short of NR columns is taken from `bBlock`. With
    /// `dotTail`, its columns take the dot-product tail (DotTail.swift) instead of a micropanel.
    ///
    /// Where the product is one KC block and the epilogue changes nothing (a plain `C = A·B`), a
    /// full tile (MR wanted rows, NR columns) is stored by the microkernel straight into C: the
    /// write-back would only have copied it there, 2·MR vector loads and stores more per tile.
    /// That is a tenth of a tile's work at K = 25 (25 steps of 24 multiply-adds): the article's
    /// first layer as a GEMM, 25088×32×25, 88.6 → 96.2 GFLOP/s on the Zen 4, 1 lane, seven
    /// interleaved runs; deep products level. A finishing bias and clamp moved into the
    /// microkernel's store instead cost more than the write-back (25088×32×25 with the epilogue
    /// in the kernel: 90 → 80; under `@_optimize(size)` the finishing closure stayed out of line
    /// and kept the accumulators in memory), so layers with a bias still write back.
    @inline(__always)
    func run(rows: Range<Int>, k0: Int, kc: Int, columns: Range<Int>, bBlock: UnsafePointer<Float>,
             packingB: BOperand? = nil, intoOnePanel: Bool = false,
             bRows: (base: UnsafePointer<Float>, pitch: Int)? = nil, dotTail: DotTailColumns? = nil) {
        let mr = Blocking.mr, nr = Blocking.nr
        let phase = DepthPhase(block: k0, length: kc, of: depth)
        // A full tile of a one-block product with no epilogue is C itself: the microkernel stores
        // it there, with C's pitch, and nothing is written back (see above).
        let finishedByTheKernel = phase.first && phase.last && epilogue.isIdentity
        let mc = rows.count
        let inPlace = Blocking.readsAInPlace(columns: columns.count) ? a.rowsInPlace : nil
        if inPlace == nil { packA(rows: rows, k0: k0, kc: kc) }
        // Only the in-place form of the microkernel takes B's pitch.
        if bRows != nil && inPlace == nil { fatalError("Shardwise: B read in place against a packed A (a driver bug)") }
        withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: Blocking.mc) { table in
            // In place, each tile reads its rows through a table of row pointers; a last tile short
            // of MR rows repeats its last row (computed, never written back), so nothing is packed.
            // The dot-product tail reads a packed A's rows through the table too.
            let rowSource = inPlace.map { (base: $0.base + rows.lowerBound * $0.pitch, pitch: $0.pitch) }
                ?? (dotTail != nil ? (base: UnsafePointer(workspace.aBlock), pitch: Blocking.aPitch) : nil)
            if let rowSource {
                for i in 0..<((mc + mr - 1) / mr * mr) { table[i] = rowSource.base + Swift.min(i, mc - 1) * rowSource.pitch }
            }
            withUnsafePointer(to: PanelSegment(offset: inPlace == nil ? 0 : k0, length: kc)) { segment in
                for jr in stride(from: columns.lowerBound, to: columns.upperBound, by: nr) {
                    let n = Swift.min(nr, columns.upperBound - jr)
                    if let dotTail, jr == dotTail.columns.lowerBound {
                        for (ir, tileRows) in RowTiles(mc) {
                            Blocking.dotTail(depth: kc, rows: table.baseAddress! + ir, offset: segment.pointee.offset,
                                             bT: dotTail.bT + k0, bStride: dotTail.stride, count: n,
                                             tile: workspace.tile, wantedRows: tileRows)
                            writeBack(row: rows.lowerBound + ir, rows: tileRows, column: jr, columns: n, phase: phase)
                        }
                        continue
                    }
                    let (bPanel, bPitch) = if let bRows, n == nr {
                        (bRows.base + k0 * bRows.pitch + jr, bRows.pitch)
                    } else {
                        (intoOnePanel ? bBlock : bBlock + ((jr - columns.lowerBound) / nr) * nr * kc, nr)
                    }
                    packingB?.packBBlock(k0: k0, depth: kc, columns: jr..<(jr + n),
                                         into: UnsafeMutablePointer(mutating: bPanel))
                    for (ir, tileRows) in RowTiles(mc) {
                        let direct = finishedByTheKernel && tileRows == mr && n == nr
                        let (tile, tilePitch) = direct
                            ? (c + (rows.lowerBound + ir) * ldc + jr, ldc) : (workspace.tile, nr)
                        if inPlace != nil {
                            Blocking.microkernel(segments: UnsafeBufferPointer(start: segment, count: 1),
                                                 rows: table.baseAddress! + ir, b: bPanel, bPitch: bPitch,
                                                 tile: tile, tilePitch: tilePitch, wantedRows: tileRows, columns: n)
                        } else {
                            Blocking.microkernel(depth: kc, a: workspace.aBlock + ir * Blocking.aPitch, b: bPanel,
                                                 tile: tile, tilePitch: tilePitch, rows: tileRows, columns: n)
                        }
                        if !direct {
                            writeBack(row: rows.lowerBound + ir, rows: tileRows, column: jr, columns: n, phase: phase)
                        }
                    }
                }
            }
        }
    }
}

extension Macrokernel {
    /// The block with B's rows read in place from `patches` (each micropanel as runs of rows, see
    /// PatchColumns.swift) against A's packed micropanels.
    @inline(__always)
    func run(rows: Range<Int>, k0: Int, kc: Int, columns: Range<Int>, readingB patches: PatchColumns) {
        let nr = Blocking.nr
        let phase = DepthPhase(block: k0, length: kc, of: depth)
        packA(rows: rows, k0: k0, kc: kc)
        withUnsafeTemporaryAllocation(of: BRowRun.self, capacity: kc) { runs in
            for jr in stride(from: columns.lowerBound, to: columns.upperBound, by: nr) {
                let count = patches.runs(column0: jr, k0: k0, depth: kc, into: runs.baseAddress!)
                for (ir, tileRows) in RowTiles(rows.count) {
                    Blocking.microkernel(a: workspace.aBlock + ir * Blocking.aPitch,
                                         runs: UnsafeBufferPointer(rebasing: runs[..<count]), bPitch: patches.pitch,
                                         tile: workspace.tile, rows: tileRows)
                    writeBack(row: rows.lowerBound + ir, rows: tileRows, column: jr, columns: nr, phase: phase)
                }
            }
        }
    }

    /// Packs A's micropanels for block `rows` over depth `k0 ..< k0 + kc` into the workspace's A block.
    @inline(__always)
    func packA(rows: Range<Int>, k0: Int, kc: Int) {
        let mr = Blocking.mr
        // The workspace was sized by `GEMMWorkspace.floatCount`, which must foresee every packed block.
        // (Not a precondition: the package builds with -Ounchecked, which removes those.)
        if (rows.count + mr - 1) / mr * mr * Blocking.aPitch > workspace.aCapacity {
            fatalError("Shardwise: an A block outside the GEMM workspace (a sizing bug)")
        }
        for ir in stride(from: 0, to: rows.count, by: mr) {
            a.packMicropanel(row0: rows.lowerBound + ir, rows: Swift.min(mr, rows.count - ir), k0: k0, depth: kc,
                             into: workspace.aBlock + ir * Blocking.aPitch)
        }
    }

    /// Writes the workspace's tile to C's `rows × columns` block at (`row`, `column`).
    @inline(__always)
    func writeBack(row: Int, rows: Int, column: Int, columns: Int, phase: DepthPhase) {
        Shardwise.writeBack(tile: workspace.tile, rows: rows, columns: columns, c: c + row * ldc + column,
                            ldc: ldc, column0: column, epilogue: epilogue, phase: phase)
    }
}

extension BOperand {
    /// Packs B[k0 ..< k0 + depth, columns] as consecutive NR-wide micropanels at `block`.
    func packBBlock(k0: Int, depth: Int, columns: Range<Int>, into block: UnsafeMutablePointer<Float>) {
        switch self {
        case .packed: preconditionFailure("pre-packed weights are never repacked")
        case .patchesInPlace: preconditionFailure("patches read in place are never packed")
        case .strided(let matrix): matrix.packBBlock(k0: k0, depth: depth, columns: columns, into: block)
        case .patches(let patches): patches.packBBlock(k0: k0, depth: depth, columns: columns, into: block)
        }
    }
}
