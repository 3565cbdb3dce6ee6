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

    /// Floats of workspace one lane needs: partial sums of a row group plus the K-tail buffer.
    static func workspaceFloats(columns: Int) -> Int {
        let blocks = (groupRows / blockRows) * ((columns + blockColumns - 1) / blockColumns)
        return blocks * blockRows * blockColumns * Vector.scalarCount + blockRows * Vector.scalarCount
    }

    /// Computes the shards `next` hands this lane, `C[rows, columns] = epilogue(A[rows, 0..<depth] ·
    /// B[0..<depth, columns])`, where `bT` holds Bᵀ, a row of `bStride` floats a column (at least
    /// `depth` rounded up to a vector, zero past `depth`): a pre-packed B's `transposed`.
    package static func run(shards next: () -> LaneShard?, depth: Int, a: UnsafePointer<Float>, lda: Int,
                            bT: UnsafePointer<Float>, bStride: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
                            epilogue: Epilogue, largestShard: (rows: Int, columns: Int)) {
        WorkspaceCache.withBuffer(floats: workspaceFloats(columns: largestShard.columns)) { workspace in
            while let shard = next() {
                run(rows: shard.rows, columns: shard.columns, depth: depth, a: a, lda: lda,
                    bT: bT + shard.columns.lowerBound * bStride, bStride: bStride, c: c, ldc: ldc, epilogue: epilogue,
                    workspace: workspace)
            }
        }
    }

    /// Computes the shards `next` hands this lane, as above, for a B passed per call: each shard's
    /// columns of `b` transposed first (once for consecutive shards of the same columns, as a row
    /// split's are) into this thread's workspace, or, past the GEMM's B budget, a buffer of their
    /// own (the cache never keeps more than a GEMM's workspace).
    package static func run(shards next: () -> LaneShard?, depth: Int, a: UnsafePointer<Float>, lda: Int,
                            b: StridedMatrix, c: UnsafeMutablePointer<Float>, ldc: Int, epilogue: Epilogue,
                            largestShard: (rows: Int, columns: Int)) {
        let stride = transposedStride(depth: depth)
        let transposed = largestShard.columns * stride, partial = workspaceFloats(columns: largestShard.columns)
        func run(bT: UnsafeMutablePointer<Float>, workspace: UnsafeMutablePointer<Float>) {
            var columnsInBT: Range<Int>?
            while let shard = next() {
                if shard.columns != columnsInBT {
                    b.transpose(depth: depth, columns: shard.columns, into: bT, stride: stride)
                    columnsInBT = shard.columns
                }
                self.run(rows: shard.rows, columns: shard.columns, depth: depth, a: a, lda: lda, bT: bT,
                         bStride: stride, c: c, ldc: ldc, epilogue: epilogue, workspace: workspace)
            }
        }
        if transposed <= Blocking.bBudget {
            WorkspaceCache.withBuffer(floats: transposed + partial) { run(bT: $0, workspace: $0 + transposed) }
        } else {
            let bT = UnsafeMutablePointer<Float>.allocate(capacity: transposed)
            defer { bT.deallocate() }
            WorkspaceCache.withBuffer(floats: partial) { run(bT: bT, workspace: $0) }
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
