// The skinny-GEMM driver: C = A · B for a B of at most `maximumColumns` columns.
//
// A classifier layer (32 × 25088 times 25088 × 10) is the typical case: the
// outer-product kernel would use 10 of its 32 columns and pack all of A to feed
// just 20 FLOPs per packed element. Here A is read in place, Bᵀ comes with K
// contiguous (`PackedMatrix` keeps it for narrow matrices; a B passed per call is
// transposed by each lane, the columns it computes only), and the 4 × 5 dot-product
// microkernel accumulates vectors along K.
//
// Lanes split the rows (a layer's Bᵀ is shared), or, for a B transposed per call,
// the columns in whole 5-column blocks: each lane then transposes only its own
// columns, and no lane waits for another's copy. (Transposed once by the caller
// and handed to the other lane, the article's dense layer as a GEMM, 32×10×25088,
// ran no faster on 2 lanes than on 1: its Bᵀ, 1 MB, is a third of the call.)
//
// Loops: rows in groups of `groupRows` (their A rows and the partial sums stay in
// L2), then K in chunks of `chunk` (an A chunk of the group and the Bᵀ chunk
// stay in L2 while every 4 × 5 block passes over them), then the blocks. A K tail
// shorter than a vector is copied, zero-padded, into a small buffer. At the end
// each output's vector of partial sums is reduced in one fixed order and the
// epilogue is applied, so every output is bitwise independent of the lane split.

/// Skinny GEMM parameters and driver.
package enum SkinnyGEMM {
    /// The widest B this path takes.
    package static let maximumColumns = 16
    /// The shallowest K for which it beats the outer-product path.
    package static let minimumDepth = 64
    static let blockRows = 4, blockColumns = 5
    static let groupRows = 32
    static let chunk = 2048

    /// Whether a multiply of this shape takes the skinny path (a function of the shape only,
    /// so every lane count takes the same path).
    package static func applies(columns: Int, depth: Int) -> Bool {
        columns <= maximumColumns && depth >= minimumDepth
    }

    /// The row stride of a packed Bᵀ: `depth` rounded up to an odd number of 64-byte lines (a whole
    /// number of vectors on every target), so that the five rows a block reads fall into different
    /// sets of a level-1 data cache.
    package static func transposedStride(depth: Int) -> Int {
        let lineFloats = 64 / MemoryLayout<Float>.stride
        return ((depth + lineFloats - 1) / lineFloats | 1) * lineFloats
    }

    /// Floats of workspace one lane needs for partial sums: those of a row group plus the K-tail buffer.
    private static func workspaceFloats(columns: Int) -> Int {
        let blocks = (groupRows / blockRows) * ((columns + blockColumns - 1) / blockColumns)
        return blocks * blockRows * blockColumns * Vector.scalarCount + blockRows * Vector.scalarCount
    }

    /// Where the lanes find Bᵀ.
    package enum TransposedB: @unchecked Sendable {
        // @unchecked: both cases refer to memory that is read-only during the call.
        /// Bᵀ kept with a pre-packed B (`PackedMatrix.transposed`), a row of `stride` floats a column.
        case packed(UnsafePointer<Float>, stride: Int)
        /// A B passed per call, whose columns each lane transposes for itself.
        case perCall(StridedMatrix)

        /// Whether each lane transposes its columns of B.
        var isPerCall: Bool {
            if case .perCall = self { return true }
            return false
        }
    }

    /// Floats of workspace one lane needs for shards of at most `columns` columns of depth `depth`:
    /// the transposed columns of B where it is passed per call (`perCall`), and the partial sums.
    static func laneFloats(columns: Int, depth: Int, perCall: Bool) -> (transposed: Int, partial: Int) {
        (perCall ? columns * transposedStride(depth: depth) : 0, workspaceFloats(columns: columns))
    }

    /// Computes `plan` on `lanes`: for each shard, `C[rows, columns] = epilogue(A[rows, 0..<depth] ·
    /// B[0..<depth, columns])`. A B passed per call has each shard's columns transposed first by the
    /// lane that claims it (once for consecutive shards of the same columns, as a row split's are),
    /// into its thread's workspace, or, past the GEMM's B budget, a buffer of their own (the cache
    /// never keeps more than a GEMM's workspace).
    package static func run(plan: ShardPlan, lanes: Lanes, depth: Int, a: UnsafePointer<Float>, lda: Int,
                            b: TransposedB, c: UnsafeMutablePointer<Float>, ldc: Int, epilogue: Epilogue) {
        nonisolated(unsafe) let (a, c) = (a, c)
        let floats = laneFloats(columns: plan.largestShard.columns, depth: depth, perCall: b.isPerCall)
        lanes.run(plan) { next in
            func run(transposing buffer: UnsafeMutablePointer<Float>, workspace: UnsafeMutablePointer<Float>) {
                var columnsInBuffer: Range<Int>?
                while let shard = next() {
                    let (bT, stride): (UnsafePointer<Float>, Int)
                    switch b {
                    case .packed(let rows, let rowStride):
                        (bT, stride) = (rows + shard.columns.lowerBound * rowStride, rowStride)
                    case .perCall(let matrix):
                        (bT, stride) = (UnsafePointer(buffer), transposedStride(depth: depth))
                        if shard.columns != columnsInBuffer {
                            matrix.transpose(depth: depth, columns: shard.columns, into: buffer, stride: stride)
                            columnsInBuffer = shard.columns
                        }
                    }
                    self.run(rows: shard.rows, columns: shard.columns, depth: depth, a: a, lda: lda, bT: bT,
                             bStride: stride, c: c, ldc: ldc, epilogue: epilogue, workspace: workspace)
                }
            }
            if floats.transposed <= Blocking.bBudget {
                WorkspaceCache.withBuffer(floats: floats.transposed + floats.partial) {
                    run(transposing: $0, workspace: $0 + floats.transposed)
                }
            } else {
                let buffer = UnsafeMutablePointer<Float>.allocate(capacity: floats.transposed)
                defer { buffer.deallocate() }
                WorkspaceCache.withBuffer(floats: floats.partial) { run(transposing: buffer, workspace: $0) }
            }
        }
    }

    /// The driver itself, for rows `rows` and columns `columns` (`bT`: their Bᵀ), with
    /// `workspaceFloats(columns: columns.count)` floats of `workspace`.
    private static func run(rows: Range<Int>, columns: Range<Int>, depth: Int, a: UnsafePointer<Float>, lda: Int,
                            bT: UnsafePointer<Float>, bStride: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
                            epilogue: Epilogue, workspace: UnsafeMutablePointer<Float>) {
        let width = Vector.scalarCount
        let blockSize = blockRows * blockColumns * width
        let column0 = columns.lowerBound, columns = columns.count
        let columnBlocks = (columns + blockColumns - 1) / blockColumns
        let mainDepth = depth / width * width
        let tail = workspace + (groupRows / blockRows) * columnBlocks * blockSize
        for g0 in stride(from: rows.lowerBound, to: rows.upperBound, by: groupRows) {
            let groupEnd = Swift.min(g0 + groupRows, rows.upperBound)
            let rowBlocks = (groupEnd - g0 + blockRows - 1) / blockRows
            workspace.update(repeating: 0, count: rowBlocks * columnBlocks * blockSize)
            func rowPointer(_ r: Int) -> UnsafePointer<Float> { a + Swift.min(r, groupEnd - 1) * lda }
            func columnPointer(_ j: Int) -> UnsafePointer<Float> { bT + Swift.min(j, columns - 1) * bStride }
            for k0 in stride(from: 0, to: mainDepth, by: chunk) {
                let length = Swift.min(chunk, mainDepth - k0)
                for rb in 0..<rowBlocks {
                    let r = g0 + rb * blockRows
                    for cb in 0..<columnBlocks {
                        let j = cb * blockColumns
                        dotMicrokernel4x5V(depth: length, a0: rowPointer(r) + k0, a1: rowPointer(r + 1) + k0,
                                           a2: rowPointer(r + 2) + k0, a3: rowPointer(r + 3) + k0,
                                           b0: columnPointer(j) + k0, b1: columnPointer(j + 1) + k0,
                                           b2: columnPointer(j + 2) + k0, b3: columnPointer(j + 3) + k0,
                                           b4: columnPointer(j + 4) + k0,
                                           partial: workspace + (rb * columnBlocks + cb) * blockSize)
                    }
                }
            }
            if mainDepth < depth {
                for rb in 0..<rowBlocks {
                    let r = g0 + rb * blockRows
                    tail.update(repeating: 0, count: blockRows * width)
                    for i in 0..<blockRows {
                        (tail + i * width).update(from: rowPointer(r + i) + mainDepth, count: depth - mainDepth)
                    }
                    for cb in 0..<columnBlocks {
                        let j = cb * blockColumns
                        dotMicrokernel4x5V(depth: width, a0: tail, a1: tail + width, a2: tail + 2 * width,
                                           a3: tail + 3 * width, b0: columnPointer(j) + mainDepth,
                                           b1: columnPointer(j + 1) + mainDepth, b2: columnPointer(j + 2) + mainDepth,
                                           b3: columnPointer(j + 3) + mainDepth, b4: columnPointer(j + 4) + mainDepth,
                                           partial: workspace + (rb * columnBlocks + cb) * blockSize)
                    }
                }
            }
            for row in g0..<groupEnd {
                let rb = (row - g0) / blockRows, i = (row - g0) % blockRows
                for column in 0..<columns {
                    let cb = column / blockColumns, s = column % blockColumns
                    let lanes = workspace + (rb * columnBlocks + cb) * blockSize + (i * blockColumns + s) * width
                    let sum = UnsafeRawPointer(lanes).loadUnaligned(as: Vector.self).sum()
                    let target = c + row * ldc + column0 + column
                    target.pointee = epilogue.apply(sum, old: target.pointee, column: column0 + column)
                }
            }
        }
    }
}
