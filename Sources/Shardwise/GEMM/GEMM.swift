// The public single-precision matrix multiply: validate, plan, run the lanes.
//
// C = activation(alpha · op(A) · op(B) + beta · C + bias) on row-major matrices
// with leading dimensions. Validation happens before anything is written; then
// the planner splits C among lanes and each lane runs the five-loop driver on its
// block with its own workspace.

/// Single-precision matrix multiplication (SGEMM) with a fused epilogue.
public enum GEMM {
    /// Computes `C = activation(alpha · op(A) · op(B) + beta · C + bias)`.
    ///
    /// Matrices are row-major: element (i, j) of an `r × c` matrix `X` with leading dimension
    /// `ldx` is `x[i · ldx + j]`. `op(A)` is `m × k`: A itself (stored `m × k`), or when
    /// `transposeA` the transpose of a stored `k × m` matrix; likewise `op(B)` is `k × n`.
    /// When `beta` is zero, C is not read (NaN there is ignored, as in BLAS).
    ///
    /// - Parameters:
    ///   - bias: `n` values added to every row, or `nil`.
    ///   - activation: applied last.
    ///   - lanes: how many threads may share the work; the result is bitwise the same for any.
    /// - Throws: `ShardwiseError.nonPositiveSize` for `m`, `n` or `k` below one,
    ///   `.invalidLeadingDimension`, `.bufferTooShort`, `.biasLengthMismatch`, `.invalidClampRange`,
    ///   `.sizeOverflow`. Nothing is written when it throws.
    /// - Complexity: 2·m·n·k FLOPs; workspace per lane of at most MC × aPitch + KC × NC floats.
    public static func multiply(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafeBufferPointer<Float>, lda: Int,
        b: UnsafeBufferPointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutableBufferPointer<Float>, ldc: Int,
        bias: UnsafeBufferPointer<Float>? = nil, activation: Activation = .none,
        lanes: Lanes = .automatic
    ) throws(ShardwiseError) {
        try validate(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a.count, lda: lda,
                     b: b.count, ldb: ldb, c: c.count, ldc: ldc, bias: bias?.count, activation: activation)
        let epilogue = Epilogue(alpha: alpha, beta: beta, bias: bias?.baseAddress, activation: activation)
        let bView = StridedMatrix(base: b.baseAddress!, leadingDimension: ldb, transposed: transposeB)
        if !transposeA && SkinnyGEMM.applies(columns: n, depth: k) {
            // A narrow B: each lane transposes the columns it computes (n ≤ 16 rows of k floats, into
            // its thread's cached workspace: allocated per call, a large Bᵀ is a fresh mapping above
            // glibc's mmap threshold, zero-filled page by page: 256×16×4096, B 256 KB, 126 → 138
            // GFLOP/s on 1 lane), then takes the skinny path.
            let plan = try skinnyPlan(m: m, n: n, k: k, lanes: lanes, transposedPerCall: true)
            SkinnyGEMM.run(plan: plan, lanes: lanes, depth: k, a: a.baseAddress!, lda: lda, b: .perCall(bView),
                           c: c.baseAddress!, ldc: ldc, epilogue: epilogue)
            return
        }
        let aView = StridedMatrix(base: a.baseAddress!, leadingDimension: lda, transposed: transposeA)
        let plan = try plan(m: m, n: n, k: k, transposeA: transposeA, lanes: lanes)
        run(plan: plan, depth: k, a: aView, b: .strided(bView), c: c.baseAddress!, ldc: ldc, epilogue: epilogue,
            lanes: lanes)
    }

    /// Computes `C = activation(alpha · op(A) · B + beta · C + bias)` with a pre-packed `B`.
    ///
    /// - Throws: as `multiply(transposeA:transposeB:m:n:k:…)`; `k` and `n` come from `b`.
    public static func multiply(
        transposeA: Bool = false, m: Int, alpha: Float = 1,
        a: UnsafeBufferPointer<Float>, lda: Int,
        b: PackedMatrix,
        beta: Float = 0,
        c: UnsafeMutableBufferPointer<Float>, ldc: Int,
        bias: UnsafeBufferPointer<Float>? = nil, activation: Activation = .none,
        lanes: Lanes = .automatic
    ) throws(ShardwiseError) {
        let n = b.columns, k = b.depth
        try validate(transposeA: transposeA, transposeB: false, m: m, n: n, k: k, a: a.count, lda: lda,
                     b: nil, ldb: n, c: c.count, ldc: ldc, bias: bias?.count, activation: activation)
        let epilogue = Epilogue(alpha: alpha, beta: beta, bias: bias?.baseAddress, activation: activation)
        if takesSkinnyPath(b: b, transposeA: transposeA), let bT = b.transposed {
            let plan = try skinnyPlan(m: m, n: n, k: k, lanes: lanes, transposedPerCall: false)
            SkinnyGEMM.run(plan: plan, lanes: lanes, depth: k, a: a.baseAddress!, lda: lda,
                           b: .packed(bT, stride: b.transposedStride), c: c.baseAddress!, ldc: ldc, epilogue: epilogue)
            return
        }
        let aView = StridedMatrix(base: a.baseAddress!, leadingDimension: lda, transposed: transposeA)
        let plan = try plan(m: m, b: b, transposeA: transposeA, lanes: lanes)
        run(plan: plan, depth: k, a: aView, b: .packed(b), c: c.baseAddress!, ldc: ldc, epilogue: epilogue, lanes: lanes)
    }

    /// The plan `multiply(transposeA:m:…b: PackedMatrix…)` would use for `m` rows of A.
    ///
    /// - Throws: `ShardwiseError.nonPositiveSize` for `m` below one or `Lanes.fixed(n)` with `n < 1`;
    ///   `.sizeOverflow` when A's or C's byte count overflows `Int`.
    public static func plan(m: Int, b: PackedMatrix, transposeA: Bool = false,
                            lanes: Lanes = .automatic) throws(ShardwiseError) -> ShardPlan {
        if m < 1 { throw .nonPositiveSize(argument: "m", value: m) }
        _ = try CheckedSize.elementCount(of: [m, b.depth], "a")
        _ = try CheckedSize.elementCount(of: [m, b.columns], "c")
        if takesSkinnyPath(b: b, transposeA: transposeA) {
            return try skinnyPlan(m: m, n: b.columns, k: b.depth, lanes: lanes, transposedPerCall: false)
        }
        return try Planner.plan(rows: m, columns: b.columns, depth: b.depth, lanes: lanes, packsB: false,
                                dynamicGrid: true)
    }

    /// Bytes of workspace `multiply(transposeA:m:…b: PackedMatrix…)` uses for `m` rows of A,
    /// over all the lanes of its plan.
    ///
    /// - Throws: as `plan(m:b:transposeA:lanes:)`.
    public static func workspaceBytes(m: Int, b: PackedMatrix, transposeA: Bool = false,
                                      lanes: Lanes = .automatic) throws(ShardwiseError) -> Int {
        let plan = try plan(m: m, b: b, transposeA: transposeA, lanes: lanes)
        if takesSkinnyPath(b: b, transposeA: transposeA) {
            let floats = SkinnyGEMM.laneFloats(columns: b.columns, depth: b.depth, perCall: false)
            return plan.laneCount * (floats.transposed + floats.partial) * MemoryLayout<Float>.stride
        }
        return workspaceBytes(plan: plan, depth: b.depth, packsB: false, readsAInPlace: !transposeA)
    }

    /// Whether a multiply with this pre-packed B reads A in place on the dot-product path.
    static func takesSkinnyPath(b: PackedMatrix, transposeA: Bool) -> Bool {
        !transposeA && b.transposed != nil && SkinnyGEMM.applies(columns: b.columns, depth: b.depth)
    }

    /// The skinny path's plan, cut at the dot-product kernel's 4 × 5 blocks (at MR = 12 rows, 32
    /// rows would split 24 + 8), A read in place. A layer's Bᵀ, packed once, is shared: rows only.
    /// A B transposed per call is transposed by each lane, its own columns (`transposedPerCall`):
    /// priced as packing, so that the columns split (each lane copies a part of B) rather than the
    /// rows (each copies all of it) where the rows are few.
    static func skinnyPlan(m: Int, n: Int, k: Int, lanes: Lanes,
                           transposedPerCall: Bool) throws(ShardwiseError) -> ShardPlan {
        try Planner.plan(rows: m, columns: n, depth: k, lanes: lanes, packsB: transposedPerCall,
                         aPackingCost: { _, _ in 0 }, allowsColumnSplit: transposedPerCall,
                         rowUnit: SkinnyGEMM.blockRows, columnUnit: SkinnyGEMM.blockColumns)
    }

    /// The plan `multiply(transposeA:transposeB:m:n:k:…)` would use for an `m × n × k` product.
    ///
    /// - Throws: `ShardwiseError.nonPositiveSize` for a size below one or `Lanes.fixed(n)` with `n < 1`;
    ///   `.sizeOverflow` when a matrix's byte count overflows `Int`.
    public static func plan(m: Int, n: Int, k: Int, transposeA: Bool = false,
                            lanes: Lanes = .automatic) throws(ShardwiseError) -> ShardPlan {
        for (name, value) in [("m", m), ("n", n), ("k", k)] where value < 1 {
            throw .nonPositiveSize(argument: name, value: value)
        }
        // The three matrices must be representable, or the planner's arithmetic could overflow.
        _ = try CheckedSize.elementCount(of: [m, k], "a")
        _ = try CheckedSize.elementCount(of: [k, n], "b")
        _ = try CheckedSize.elementCount(of: [m, n], "c")
        if !transposeA && SkinnyGEMM.applies(columns: n, depth: k) {
            return try skinnyPlan(m: m, n: n, k: k, lanes: lanes, transposedPerCall: true)
        }
        return try Planner.plan(rows: m, columns: n, depth: k, lanes: lanes, packsB: true, dynamicGrid: true)
    }

    /// Bytes of workspace `multiply(transposeA:transposeB:m:n:k:…)` uses for an `m × n × k`
    /// product, over all the lanes of its plan (each lane's share is bounded by the blocking
    /// table: at most MC × aPitch + KC × NC floats, whatever the sizes).
    ///
    /// - Throws: as `plan(m:n:k:lanes:)`.
    public static func workspaceBytes(m: Int, n: Int, k: Int, transposeA: Bool = false,
                                      lanes: Lanes = .automatic) throws(ShardwiseError) -> Int {
        let plan = try plan(m: m, n: n, k: k, transposeA: transposeA, lanes: lanes)
        if !transposeA && SkinnyGEMM.applies(columns: n, depth: k) {
            let floats = SkinnyGEMM.laneFloats(columns: plan.largestShard.columns, depth: k, perCall: true)
            return plan.laneCount * (floats.transposed + floats.partial) * MemoryLayout<Float>.stride
        }
        return workspaceBytes(plan: plan, depth: k, packsB: true, readsAInPlace: !transposeA)
    }

    /// Runs `plan`: each lane computes the blocks of C it claims, with its own workspace.
    package static func run<A: APanelSource & Sendable>(plan: ShardPlan, depth: Int, a: A, b: BOperand,
                                                        c: UnsafeMutablePointer<Float>, ldc: Int, epilogue: Epilogue,
                                                        lanes: Lanes) {
        let packsB = b.packsPerCall, readsAInPlace = a.rowsInPlace != nil && b.letsAStayInPlace
        nonisolated(unsafe) let c = c
        let (rows, columns) = plan.largestShard
        lanes.run(plan) { next in
            GEMMWorkspace.withWorkspace(rows: rows, columns: columns, depth: depth, packsB: packsB,
                                        readsAInPlace: readsAInPlace) { workspace in
                while let shard = next() {
                    gemmRange(rows: shard.rows, columns: shard.columns, depth: depth, a: a, b: b, c: c, ldc: ldc,
                              epilogue: epilogue, workspace: workspace)
                }
            }
        }
    }

    /// Runs `plan` over products side by side, in one parallel region: C's columns are groups of
    /// `groupColumns`, group g the product of `a(g)` and `b(g)` (of depth `depth`) into its columns,
    /// with `epilogue(g)` (a grouped convolution's, planned by `Planner.plan(…, groups:)`). A lane
    /// computes, for each shard it claims, each group the shard spans (`LaneShard.groupPieces`),
    /// with one workspace. A plan whose shards all lie in the first group (one group) runs the form
    /// above: through this one, with A and B behind closures, a 1×1 convolution measured 3 %
    /// slower, 1 lane, in two passes of five and seven interleaved runs (a difference at the edge
    /// of this host's noise, not understood).
    package static func run<A: APanelSource & Sendable>(plan: ShardPlan, depth: Int, groupColumns: Int,
                                             a: @escaping @Sendable (_ group: Int) -> A,
                                             b: @escaping @Sendable (_ group: Int) -> BOperand,
                                             c: UnsafeMutablePointer<Float>, ldc: Int,
                                             epilogue: @escaping @Sendable (_ group: Int) -> Epilogue, lanes: Lanes) {
        if plan.shards.allSatisfy({ $0.columns.upperBound <= groupColumns }) {
            run(plan: plan, depth: depth, a: a(0), b: b(0), c: c, ldc: ldc, epilogue: epilogue(0), lanes: lanes)
            return
        }
        let packsB = b(0).packsPerCall, readsAInPlace = a(0).rowsInPlace != nil && b(0).letsAStayInPlace
        nonisolated(unsafe) let c = c
        let (rows, columns) = plan.largestShard
        lanes.run(plan) { next in
            GEMMWorkspace.withWorkspace(rows: rows, columns: Swift.min(columns, groupColumns), depth: depth,
                                        packsB: packsB, readsAInPlace: readsAInPlace) { workspace in
                while let shard = next() {
                    for (group, columns) in shard.groupPieces(groupColumns: groupColumns) {
                        gemmRange(rows: shard.rows, columns: columns, depth: depth, a: a(group), b: b(group),
                                  c: c + group * groupColumns, ldc: ldc, epilogue: epilogue(group), workspace: workspace)
                    }
                }
            }
        }
    }

    /// Checks every argument of a GEMM call; `b == nil` skips B's buffer (pre-packed).
    package static func validate(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, a: Int, lda: Int,
                                 b: Int?, ldb: Int, c: Int, ldc: Int, bias: Int?,
                                 activation: Activation) throws(ShardwiseError) {
        if m < 1 { throw .nonPositiveSize(argument: "m", value: m) }
        if n < 1 { throw .nonPositiveSize(argument: "n", value: n) }
        if k < 1 { throw .nonPositiveSize(argument: "k", value: k) }
        let (aRows, aColumns) = transposeA ? (k, m) : (m, k)
        try validateMatrix("a", rows: aRows, columns: aColumns, leadingDimension: lda, buffer: a)
        if let b {
            let (bRows, bColumns) = transposeB ? (n, k) : (k, n)
            try validateMatrix("b", rows: bRows, columns: bColumns, leadingDimension: ldb, buffer: b)
        }
        try validateMatrix("c", rows: m, columns: n, leadingDimension: ldc, buffer: c)
        if let bias, bias != n { throw .biasLengthMismatch(expected: n, actual: bias) }
        try activation.validate()
    }

    /// Checks that a `rows × columns` matrix with leading dimension `leadingDimension` fits in `buffer` elements.
    package static func validateMatrix(_ name: String, rows: Int, columns: Int, leadingDimension: Int,
                                       buffer: Int) throws(ShardwiseError) {
        if leadingDimension < columns {
            throw .invalidLeadingDimension(argument: "ld\(name)", value: leadingDimension, minimum: columns)
        }
        let span = try CheckedSize.matrixSpan(rows: rows, columns: columns, leadingDimension: leadingDimension, name)
        _ = try CheckedSize.product(span, MemoryLayout<Float>.stride, "\(name) byte count")
        if buffer < span { throw .bufferTooShort(argument: name, required: span, actual: buffer) }
    }

    /// Bytes of workspace one call allocates, summed over the lanes of its plan; `readsAInPlace`
    /// when A's rows can be read in place (a row-major A, not transposed).
    package static func workspaceBytes(plan: ShardPlan, depth: Int, packsB: Bool, readsAInPlace: Bool) -> Int {
        let (rows, columns) = plan.largestShard
        return plan.laneCount * GEMMWorkspace.byteCount(rows: rows, columns: columns, depth: depth, packsB: packsB,
                                                        readsAInPlace: readsAInPlace)
    }
}
