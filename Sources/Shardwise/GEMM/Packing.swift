// Packing: copying operands into the layouts the microkernel streams through.
//
// A micropanel (MR rows × KC depth): row i at `panel + i · Blocking.aPitch`,
// holding A[row0 + i, k0 ..< k0 + kc] contiguously. For a row-major A (or an
// NHWC im2col row) this is a copy of contiguous runs; for a transposed A it is
// a gather. Rows past the matrix's end are zero-filled.
//
// B micropanel (KC depth × NR columns): row k at `panel + k · NR`, holding
// B[k0 + k, col0 ..< col0 + NR]; columns past the matrix's end are zero-filled.
// Micropanels of one KC block lie one after another, so a block of B is
// `panels × NR × kc` contiguous floats.
//
// Cost: packing touches each element of a block once, against 2 · NR (for A) or
// 2 · MC-ish (for B) FLOPs per element in the microkernel; weights that are
// reused across calls (`PackedMatrix`) are packed once, when a layer is made.

/// A source of A micropanels: a strided matrix, or an im2col view of a convolution input.
package protocol APanelSource {
    /// Packs rows `row0 ..< row0 + rows` (at most MR) and depth `k0 ..< k0 + depth` into a
    /// micropanel at `panel` (row pitch `Blocking.aPitch`), zero-filling rows `rows ..< MR`.
    func packMicropanel(row0: Int, rows: Int, k0: Int, depth: Int, into panel: UnsafeMutablePointer<Float>)
    /// A's rows where the microkernel may read them in place (row i at `base + i · pitch`, its
    /// depth contiguous), or nil where only packing can gather them.
    var rowsInPlace: (base: UnsafePointer<Float>, pitch: Int)? { get }
}

extension APanelSource {
    /// None: rows are gathered (im2col, a transposed matrix).
    package var rowsInPlace: (base: UnsafePointer<Float>, pitch: Int)? { nil }
}

/// A matrix addressed as `base[row · rowStride + column · columnStride]`.
///
/// With `columnStride == 1` it is a row-major matrix; with `rowStride == 1` the
/// transpose of one.
package struct StridedMatrix: APanelSource, @unchecked Sendable {
    // @unchecked: a read-only view of caller memory that outlives every lane of the call.
    package let base: UnsafePointer<Float>
    package let rowStride: Int
    package let columnStride: Int
    /// As A, its rows where it is row-major and a tile of them stays in the level-1 data cache
    /// (`Blocking.keepsRowsInL1`): decided once, here, rather than on each of the driver's blocks.
    package let rowsInPlace: (base: UnsafePointer<Float>, pitch: Int)?

    package init(base: UnsafePointer<Float>, rowStride: Int, columnStride: Int) {
        self.base = base
        self.rowStride = rowStride
        self.columnStride = columnStride
        rowsInPlace = columnStride == 1 && Blocking.keepsRowsInL1(pitch: rowStride) ? (base, rowStride) : nil
    }

    /// `op(X)` of a row-major X with leading dimension `leadingDimension`: X itself, or its
    /// transpose when `transposed` (BLAS's convention for `op(A)` and `op(B)`).
    package init(base: UnsafePointer<Float>, leadingDimension: Int, transposed: Bool) {
        self.init(base: base, rowStride: transposed ? 1 : leadingDimension, columnStride: transposed ? leadingDimension : 1)
    }

    /// A row-major matrix's rows, at its leading dimension; nil for a transposed one.
    package var rowMajorRows: (base: UnsafePointer<Float>, pitch: Int)? {
        columnStride == 1 ? (base, rowStride) : nil
    }

    package func packMicropanel(row0: Int, rows: Int, k0: Int, depth: Int, into panel: UnsafeMutablePointer<Float>) {
        if columnStride == 1 {
            for i in 0..<rows {
                (panel + i * Blocking.aPitch).update(from: base + (row0 + i) * rowStride + k0, count: depth)
            }
        } else {
            // A transposed matrix: the panel's `rows` values of one depth step lie together (in one
            // stored row when `rowStride` is 1), so each step is read once, all rows at a time.
            // Row by row, each step's cache line was read once per panel row: 512³ with A
            // transposed ran 199 GFLOP/s that way, 230 this way (256×1024×1024: 213 → 227).
            var done = 0
            #if SHARDWISE_AVX512
            if rowStride == 1 && rows == Blocking.mr {
                done = packTransposedTile(from: base + row0 + k0 * columnStride, stride: columnStride, depth: depth,
                                          into: panel)
            }
            #endif
            for k in done..<depth {
                let source = base + row0 * rowStride + (k0 + k) * columnStride
                for i in 0..<rows { panel[i * Blocking.aPitch + k] = source[i * rowStride] }
            }
        }
        for i in rows..<Blocking.mr {
            (panel + i * Blocking.aPitch).update(repeating: 0, count: depth)
        }
    }

    #if SHARDWISE_AVX512
    /// Packs a full micropanel of a transposed A, 16 depth steps at a time (`transposeInBlocks`): the
    /// 12 rows of each step (contiguous at `source + k · stride`) are loaded as one vector, and each
    /// panel row is stored as a vector. Element by element, LLVM vectorized the loop into scatters,
    /// which were most of the filter gradient's own time in seed-cnn. Returns the depth packed (a
    /// multiple of 16); the caller packs the rest.
    private func packTransposedTile(from source: UnsafePointer<Float>, stride: Int, depth: Int,
                                    into panel: UnsafeMutablePointer<Float>) -> Int {
        typealias Half = SIMD8<Float>
        return transposeInBlocks(depth: depth, rows: Blocking.mr, load: { k in
            // Exactly the 12 floats of the step: 8 + 4, never past the stored row's last column.
            let p = UnsafeRawPointer(source + k * stride)
            let low = p.loadUnaligned(as: Half.self)
            let high = Half(lowHalf: p.loadUnaligned(fromByteOffset: 32, as: SIMD4<Float>.self), highHalf: .zero)
            return Vector(lowHalf: low, highHalf: high)
        }, store: { row, i, k in
            UnsafeMutableRawPointer(panel + i * Blocking.aPitch + k).storeBytes(of: row, as: Vector.self)
        })
    }
    #endif

    /// Writes Bᵀ of `columns` of this `depth`-row B to `target`: a row of `stride` floats per
    /// column, in order, zero past `depth` (the skinny path's layout).
    /// On AVX-512 a row-major B goes 16 rows at a time through an in-register transpose
    /// (`transposeInBlocks`; element by element it had been a third of the GEMM 32×10×25088 on 1
    /// lane: 70 → 84 GFLOP/s). Elsewhere, and for its last rows, it goes in runs of `transposeChunk`
    /// rows: each run's cache lines are read once for all the columns (column by column over all of
    /// B, each line was read once per column: the same GEMM, on Zen 5, ran at 86–96 GFLOP/s, then
    /// 120–125), and the writes stay sequential per column. A B stored transposed is read along its
    /// rows in one run.
    package func transpose(depth: Int, columns: Range<Int>, into target: UnsafeMutablePointer<Float>, stride: Int) {
        var done = 0
        #if SHARDWISE_AVX512
        if columnStride == 1 && rowStride > 1 {
            // 16 rows at a time, each loaded as a vector of 16 floats from its first column and
            // transposed in registers. A load may read past `columns` (the rows' other columns, the
            // next row's first), but never past the last row's last column of `columns`: the rows
            // whose load would go there are left to the loop below.
            let last = (depth - 1) * rowStride + columns.upperBound
            let reach = last - columns.lowerBound - 16
            let loadable = reach < 0 ? 0 : Swift.min(depth, reach / rowStride + 1)
            let source = base + columns.lowerBound
            done = transposeInBlocks(depth: loadable, rows: columns.count, load: { k in
                UnsafeRawPointer(source + k * rowStride).loadUnaligned(as: Vector.self)
            }, store: { row, j, k in
                UnsafeMutableRawPointer(target + j * stride + k).storeBytes(of: row, as: Vector.self)
            })
        }
        #endif
        let chunk = rowStride == 1 ? depth : StridedMatrix.transposeChunk
        for k0 in Swift.stride(from: done, to: depth, by: chunk) {
            let k1 = Swift.min(depth, k0 + chunk)
            for j in columns {
                let row = target + (j - columns.lowerBound) * stride
                for k in k0..<k1 { row[k] = base[k * rowStride + j * columnStride] }
            }
        }
        for j in 0..<columns.count {
            (target + j * stride + depth).initialize(repeating: 0, count: stride - depth)
        }
    }

    /// Rows of B per run of `transpose`: 256 rows of up to 16 columns are 16 KB, L1-resident.
    static let transposeChunk = 256

    /// Packs B[k0 ..< k0 + depth, columns] into consecutive NR-wide micropanels at `block`.
    package func packBBlock(k0: Int, depth: Int, columns: Range<Int>, into block: UnsafeMutablePointer<Float>) {
        let nr = Blocking.nr
        var panel = block
        var col0 = columns.lowerBound
        if columnStride == 1 {
            // Whole panels row by row: each row of B is read as one contiguous run across all of
            // them, two vector copies per panel (a memmove call per 128 bytes cost 3 % of 2048³).
            // Panel by panel, each panel's pass had read 128 bytes of every row, a row pitch
            // apart: in `perf`, packing took 6.5 % of 512×3072×768 that way and 3.9 % this way.
            // 1 lane / 2 lanes, five interleaved runs (GFLOP/s): 512×3072×768 247 / 474 →
            // 252 / 494, 1024³ 253 / 499 → 256 / 502, 2048³ 245 / 481 → 246 / 487.
            let whole = columns.count / nr
            let half = Vector.scalarCount * MemoryLayout<Float>.stride
            let panelBytes = nr * depth * MemoryLayout<Float>.stride
            var source = UnsafeRawPointer(base + k0 * rowStride + col0)
            var target = UnsafeMutableRawPointer(panel)
            for _ in 0..<(whole > 0 ? depth : 0) {
                for p in 0..<whole {
                    target.storeBytes(of: source.loadUnaligned(fromByteOffset: 2 * p * half, as: Vector.self),
                                      toByteOffset: p * panelBytes, as: Vector.self)
                    target.storeBytes(of: source.loadUnaligned(fromByteOffset: (2 * p + 1) * half, as: Vector.self),
                                      toByteOffset: p * panelBytes + half, as: Vector.self)
                }
                source += rowStride * MemoryLayout<Float>.stride
                target += 2 * half
            }
            panel += whole * nr * depth
            col0 += whole * nr
        }
        for col0 in stride(from: col0, to: columns.upperBound, by: nr) {
            let width = Swift.min(nr, columns.upperBound - col0)
            if columnStride == 1 {
                for k in 0..<depth {
                    let target = panel + k * nr
                    target.update(from: base + (k0 + k) * rowStride + col0, count: width)
                    (target + width).update(repeating: 0, count: nr - width)
                }
            } else {
                for j in 0..<width {
                    let source = base + k0 * rowStride + (col0 + j) * columnStride
                    for k in 0..<depth { panel[k * nr + j] = source[k * rowStride] }
                }
                if width < nr {
                    for k in 0..<depth { (panel + k * nr + width).update(repeating: 0, count: nr - width) }
                }
            }
            panel += nr * depth
        }
    }
}

/// A `depth × columns` right-hand operand (B) packed once into NR-wide micropanels.
///
/// Layers pack their weights into one of these when they are created, so a
/// forward pass never repacks its filters. The layout is KC block by KC block;
/// within a block, micropanel after micropanel (see the file header).
public final class PackedMatrix: @unchecked Sendable {
    // @unchecked: the storage is written only in `init` and read-only afterwards.
    /// Rows of B (the GEMM's K).
    public let depth: Int
    /// Columns of B (the GEMM's N).
    public let columns: Int
    /// Number of NR-wide micropanels (columns rounded up to NR).
    package let panelCount: Int
    package let storage: UnsafeMutablePointer<Float>
    /// For a narrow B (`SkinnyGEMM.maximumColumns` columns or fewer): Bᵀ, `columns` rows of
    /// `transposedStride` floats, zero past `depth`, for the skinny path. Nil otherwise.
    package let transposed: UnsafeMutablePointer<Float>?
    /// Row stride of `transposed`: `depth` rounded up to a whole vector.
    package let transposedStride: Int
    /// The columns whose products take the dot-product tail (`DotTail.columns(of:depth:)`; maybe none).
    package let tailColumns: Range<Int>
    /// Bᵀ of `tailColumns`, one row of `depth` floats per column, for the dot-product tail (see
    /// DotTail.swift); nil when there are no such columns.
    package let tail: UnsafeMutablePointer<Float>?
    /// Bytes held by the packed copies.
    public var byteCount: Int {
        (panelCount * Blocking.nr * depth + (transposed == nil ? 0 : columns * transposedStride)
            + tailColumns.count * depth) * MemoryLayout<Float>.stride
    }

    /// Packs `B` (`depth × columns`; element (k, j) at `b[k · ldb + j]`, or at `b[j · ldb + k]` when
    /// `transposed`).
    ///
    /// - Throws: `ShardwiseError.nonPositiveSize`, `.invalidLeadingDimension`, `.bufferTooShort`, `.sizeOverflow`.
    public convenience init(depth: Int, columns: Int, b: UnsafeBufferPointer<Float>, ldb: Int,
                            transposed: Bool = false) throws(ShardwiseError) {
        if depth < 1 { throw .nonPositiveSize(argument: "depth", value: depth) }
        if columns < 1 { throw .nonPositiveSize(argument: "columns", value: columns) }
        let (rows, cols) = transposed ? (columns, depth) : (depth, columns)
        try GEMM.validateMatrix("b", rows: rows, columns: cols, leadingDimension: ldb, buffer: b.count)
        let view = StridedMatrix(base: b.baseAddress!, leadingDimension: ldb, transposed: transposed)
        try self.init(depth: depth, columns: columns, source: view)
    }

    /// Packs `source`; `keepsTransposed: false` skips the Bᵀ copy of a narrow matrix for callers
    /// that never take the skinny path (convolution filters go through `GEMM.run`).
    package init(depth: Int, columns: Int, source: StridedMatrix, keepsTransposed: Bool = true) throws(ShardwiseError) {
        self.depth = depth
        self.columns = columns
        panelCount = (columns + Blocking.nr - 1) / Blocking.nr
        let count = try CheckedSize.product(try CheckedSize.product(panelCount, Blocking.nr, "packed B"), depth, "packed B")
        _ = try CheckedSize.product(count, MemoryLayout<Float>.stride, "packed B byte count")
        storage = .allocate(capacity: count)
        transposedStride = SkinnyGEMM.transposedStride(depth: depth)
        if keepsTransposed && columns <= SkinnyGEMM.maximumColumns {
            let rows = UnsafeMutablePointer<Float>.allocate(capacity: columns * transposedStride)
            source.transpose(depth: depth, columns: 0..<columns, into: rows, stride: transposedStride)
            transposed = rows
        } else {
            transposed = nil
        }
        tailColumns = DotTail.columns(of: columns, depth: depth)
        if tailColumns.isEmpty {
            tail = nil
        } else {
            let rows = UnsafeMutablePointer<Float>.allocate(capacity: tailColumns.count * depth)
            source.transpose(depth: depth, columns: tailColumns, into: rows, stride: depth)
            tail = rows
        }
        let blockDepth = Blocking.depthBlock(depth)
        for k0 in stride(from: 0, to: depth, by: blockDepth) {
            source.packBBlock(k0: k0, depth: Swift.min(blockDepth, depth - k0), columns: 0..<columns, into: block(k0: k0))
        }
    }

    deinit {
        storage.deallocate()
        transposed?.deallocate()
        tail?.deallocate()
    }

    /// The first micropanel of the depth block that starts at row `k0` (blocks of
    /// `Blocking.depthBlock(depth)` rows).
    @inline(__always)
    package func block(k0: Int) -> UnsafeMutablePointer<Float> {
        storage + k0 * panelCount * Blocking.nr
    }
}

// MARK: - Short copies into panels

/// Copies `count` floats from `source` (readable up to `readableEnd`) into a panel row, as whole
/// vectors (a load and a store each, no call to memmove) wherever `vectorCopyFits`, else with
/// memmove. See `copyVectors`.
@inline(__always)
package func copyFloats(from source: UnsafePointer<Float>, to target: UnsafeMutablePointer<Float>, count: Int,
                        readableEnd: UnsafePointer<Float>) {
    if vectorCopyFits(from: source, count: count, readableEnd: readableEnd) {
        copyVectors(from: source, to: target, count: count)
    } else {
        target.update(from: source, count: count)
    }
}

/// Whether `count` floats from `source` may be copied as whole vectors: a run of at least one
/// vector always (it reads nothing past `count`), a shorter one where a whole vector from
/// `source` lies before `readableEnd`.
@inline(__always)
package func vectorCopyFits(from source: UnsafePointer<Float>, count: Int, readableEnd: UnsafePointer<Float>) -> Bool {
    count >= Vector.scalarCount || source + Vector.scalarCount <= readableEnd
}

/// The whole-vector copy of `copyFloats`, where `vectorCopyFits` holds. A run of at least one
/// vector is copied exactly: whole vectors, the last one ending at `count` (overlapping the one
/// before it; up to two vectors, two stores and no loop). A shorter run is one whole vector,
/// which may write up to a vector past `count`: the packers place that on positions they write
/// next, in an A row's pitch skew (`aPitch - KC` = 16 floats, at least one vector) or in the
/// slack after a B block, never in another row.
/// (Runs of more than two vectors had gone to memmove: 64-channel groups of 1×7×7×2048 3×3 in
/// 32 groups spent 7 % of their time in it, a call per 256 bytes.)
@inline(__always)
package func copyVectors(from source: UnsafePointer<Float>, to target: UnsafeMutablePointer<Float>, count: Int) {
    let bytes = Vector.scalarCount * MemoryLayout<Float>.stride
    let from = UnsafeRawPointer(source), to = UnsafeMutableRawPointer(target)
    let last = Swift.max(0, count * MemoryLayout<Float>.stride - bytes)
    to.storeBytes(of: from.loadUnaligned(as: Vector.self), as: Vector.self)
    var offset = bytes
    while offset < last {
        to.storeBytes(of: from.loadUnaligned(fromByteOffset: offset, as: Vector.self), toByteOffset: offset,
                      as: Vector.self)
        offset += bytes
    }
    to.storeBytes(of: from.loadUnaligned(fromByteOffset: last, as: Vector.self), toByteOffset: last, as: Vector.self)
}

#if SHARDWISE_AVX512
/// Transposes 16 × 16 blocks in registers, 16 steps at a time over `depth`: step k's vector
/// (`load(k)`, lane i the value for row i) goes into row i's vector of the block (`store(row, i,
/// k)` for the first `rows` rows, each vector holding steps k ..< k + 16), by four rounds of the
/// perfect unshuffle (the even lanes of two vectors, then the odd ones: 64 two-source permutes a
/// block). Returns the depth done, a multiple of 16; the caller does the rest.
@inline(__always)
func transposeInBlocks(depth: Int, rows: Int, load: (_ k: Int) -> Vector,
                       store: (_ row: Vector, _ i: Int, _ k: Int) -> Void) -> Int {
    // Spelled out lane by lane: through SIMD32's `evenHalf` and `oddHalf`, which are loops, the
    // optimizer left both as calls once this function served two callers (4 % of seed-cnn's time).
    @_transparent func unzip(_ a: Vector, _ b: Vector) -> (Vector, Vector) {
        (Vector(a[0], a[2], a[4], a[6], a[8], a[10], a[12], a[14], b[0], b[2], b[4], b[6], b[8], b[10], b[12], b[14]),
         Vector(a[1], a[3], a[5], a[7], a[9], a[11], a[13], a[15], b[1], b[3], b[5], b[7], b[9], b[11], b[13], b[15]))
    }
    var k = 0
    while k + 16 <= depth {
        var r = (load(k), load(k + 1), load(k + 2), load(k + 3), load(k + 4), load(k + 5), load(k + 6),
                 load(k + 7), load(k + 8), load(k + 9), load(k + 10), load(k + 11), load(k + 12), load(k + 13),
                 load(k + 14), load(k + 15))
        for _ in 0..<4 {
            let (n0, n8) = unzip(r.0, r.1), (n1, n9) = unzip(r.2, r.3)
            let (n2, n10) = unzip(r.4, r.5), (n3, n11) = unzip(r.6, r.7)
            let (n4, n12) = unzip(r.8, r.9), (n5, n13) = unzip(r.10, r.11)
            let (n6, n14) = unzip(r.12, r.13), (n7, n15) = unzip(r.14, r.15)
            r = (n0, n1, n2, n3, n4, n5, n6, n7, n8, n9, n10, n11, n12, n13, n14, n15)
        }
        @_transparent func put(_ row: Vector, _ i: Int) { if i < rows { store(row, i, k) } }
        put(r.0, 0); put(r.1, 1); put(r.2, 2); put(r.3, 3); put(r.4, 4); put(r.5, 5); put(r.6, 6); put(r.7, 7)
        put(r.8, 8); put(r.9, 9); put(r.10, 10); put(r.11, 11); put(r.12, 12); put(r.13, 13); put(r.14, 14)
        put(r.15, 15)
        k += 16
    }
    return k
}
#endif
