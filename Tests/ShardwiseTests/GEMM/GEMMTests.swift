import Testing
import Shardwise
import ShardwiseReference
import ShardwiseTestSupport

/// Runs one GEMM through the fast path and the reference and compares them, C poisoned with NaN
/// (or filled with random values when `beta` is non-zero) and padded by its leading dimension.
func checkGEMM(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
               padA: Int = 0, padB: Int = 0, padC: Int = 0, alpha: Float = 1, beta: Float = 0,
               bias: Bool = false, activation: Activation = .none, lanes: Lanes = .serial,
               packed: Bool = false, seed: UInt64 = 1) throws -> String? {
    var rng = SeededGenerator(seed: seed)
    let (aRows, aCols) = transposeA ? (k, m) : (m, k)
    let (bRows, bCols) = transposeB ? (n, k) : (k, n)
    let lda = aCols + padA, ldb = bCols + padB, ldc = n + padC
    let a = rng.floats((aRows - 1) * lda + aCols)
    let b = rng.floats((bRows - 1) * ldb + bCols)
    let biasValues = bias ? rng.floats(n) : nil
    var c = beta == 0 ? [Float](repeating: .nan, count: (m - 1) * ldc + n) : rng.floats((m - 1) * ldc + n)
    var expected = c
    try Reference.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                       b: b, ldb: ldb, beta: beta, c: &expected, ldc: ldc, bias: biasValues, activation: activation)
    try a.withUnsafeBufferPointer { a in
        try b.withUnsafeBufferPointer { b in
            try c.withUnsafeMutableBufferPointer { c in
                try biasValues.withOptionalUnsafeBuffer { bias in
                    if packed {
                        let p = try PackedMatrix(depth: k, columns: n, b: b, ldb: ldb, transposed: transposeB)
                        try GEMM.multiply(transposeA: transposeA, m: m, alpha: alpha, a: a, lda: lda, b: p, beta: beta,
                                          c: c, ldc: ldc, bias: bias, activation: activation, lanes: lanes)
                    } else {
                        try GEMM.multiply(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                                          a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, bias: bias,
                                          activation: activation, lanes: lanes)
                    }
                }
            }
        }
    }
    // Padding columns of C must be untouched: they were NaN (or random) and stay identical.
    // Outputs of random ±1 data grow like √k; the tolerance is √k · ε times that scale.
    let tol = tolerance(depth: k, magnitude: abs(alpha) * Float(k).squareRoot() + abs(beta) + 1)
    for i in 0..<m {
        if let bad = firstMismatch(c, expected, tolerance: tol, indices: (i * ldc)..<(i * ldc + n)) {
            return "m=\(m) n=\(n) k=\(k) tA=\(transposeA) tB=\(transposeB) lda=\(lda) ldb=\(ldb) ldc=\(ldc) "
                + "alpha=\(alpha) beta=\(beta) bias=\(bias) act=\(activation) packed=\(packed): \(bad)"
        }
        if i < m - 1 {
            for j in (i * ldc + n)..<((i + 1) * ldc) where !(c[j].bitPattern == expected[j].bitPattern) {
                return "m=\(m) n=\(n) k=\(k): padding element \(j) of C was written"
            }
        }
    }
    return nil
}

/// The bits of `C = A · B` (row-major, A and B random from `seed`, C poisoned with NaN) computed
/// with each of `lanes`, in order.
func gemmBits(m: Int, n: Int, k: Int, seed: UInt64, lanes: [Lanes]) throws -> [[UInt32]] {
    var rng = SeededGenerator(seed: seed)
    let a = rng.floats(m * k), b = rng.floats(k * n)
    return try lanes.map { lanes in
        var c = [Float](repeating: .nan, count: m * n)
        try a.withUnsafeBufferPointer { a in
            try b.withUnsafeBufferPointer { b in
                try c.withUnsafeMutableBufferPointer { c in
                    try GEMM.multiply(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: c, ldc: n, lanes: lanes)
                }
            }
        }
        return c.map(\.bitPattern)
    }
}

/// A seeded row-major A, the same A stored transposed, and a seeded B packed once: C's bits for
/// either form of A at a lane count (a transposed A is packed, a row-major one read in place).
struct PrePackedProduct {
    let m: Int, n: Int, k: Int
    let a: [Float], aT: [Float]
    let packed: PackedMatrix

    init(m: Int, n: Int, k: Int, seed: UInt64) throws {
        (self.m, self.n, self.k) = (m, n, k)
        var rng = SeededGenerator(seed: seed)
        a = rng.floats(m * k)
        let b = rng.floats(k * n)
        var aT = [Float](repeating: .nan, count: k * m)
        for i in 0..<m { for p in 0..<k { aT[p * m + i] = a[i * k + p] } }
        self.aT = aT
        packed = try b.withUnsafeBufferPointer { try PackedMatrix(depth: k, columns: n, b: $0, ldb: n) }
    }

    func bits(transposeA: Bool, lanes: Lanes) throws -> [UInt32] {
        var c = [Float](repeating: .nan, count: m * n)
        try (transposeA ? aT : a).withUnsafeBufferPointer { a in
            try c.withUnsafeMutableBufferPointer { c in
                try GEMM.multiply(transposeA: transposeA, m: m, a: a, lda: transposeA ? m : k, b: packed, c: c,
                                  ldc: n, lanes: lanes)
            }
        }
        return c.map(\.bitPattern)
    }
}

@Suite struct GEMMTests {
    @Test func everyTailAroundTheRegisterTile() throws {
        let mr = 12, nr = 32  // the largest tile of any target; smaller tiles are covered too
        for m in 1...(mr + 1) {
            for n in 1...(2 * nr + 1) {
                for k in [1, 2, 3, 17] {
                    let failure = try checkGEMM(m: m, n: n, k: k, seed: UInt64(m * 1000 + n * 10 + k))
                    #expect(failure == nil, "\(failure ?? "")")
                }
            }
        }
    }

    /// Depths around KC and several depth blocks, with beta 0.5 (the general write-back) and 0 (the
    /// full-width one for the first 32 columns, which adds later blocks to C itself), n = 33.
    @Test func depthAroundKC() throws {
        let kc = Blocking.kc, deep = Blocking.deepKC
        for k in [kc - 1, kc, kc + 1, 2 * deep + 1, 3 * kc + 5] {
            for beta: Float in [0.5, 0] {
                // n = 33: a last panel of one column; NR + V + 3: a partial second vector in the
                // two-vector write-back, across depth blocks.
                for n in [33, Blocking.nr + Vector.scalarCount + 3] {
                    let failure = try checkGEMM(m: 13, n: n, k: k, alpha: 1, beta: beta, bias: true, activation: .relu)
                    #expect(failure == nil, "\(failure ?? "")")
                }
            }
        }
    }

    /// A full tile of a one-block product with no epilogue is stored by the microkernel straight
    /// into C (GEMMDriver.swift). Against the reference, with C's rows padded to a prime pitch (the
    /// gaps NaN, which must stay untouched), A read in place and packed (transposed), B per call and
    /// pre-packed, at whole tiles and panels and past them; and with a bias and a clamp, which send
    /// the same tiles through the write-back. The same bits on 1, 2 and 3 lanes.
    @Test func fullTilesGoStraightToC() throws {
        let mr = Blocking.mr, nr = Blocking.nr
        for (index, (m, n)) in [(mr, nr), (3 * mr + 5, 2 * nr + 7), (4 * mr, 3 * nr)].enumerated() {
            for k in [1, 25, Blocking.kc] {
                for padC in [0, 13] {
                    let seed = UInt64(index * 100 + k + padC)
                    for (transposeA, packed) in [(false, false), (true, false), (false, true)] {
                        #expect(try checkGEMM(transposeA: transposeA, m: m, n: n, k: k, padA: 3, padC: padC,
                                              packed: packed, seed: seed) == nil)
                    }
                    #expect(try checkGEMM(m: m, n: n, k: k, padC: padC, bias: true, activation: .relu6, seed: seed) == nil)
                    let bits = try gemmBits(m: m, n: n, k: k, seed: seed, lanes: [.serial, .fixed(2), .fixed(3)])
                    #expect(bits.dropFirst().allSatisfy { $0 == bits[0] }, "m=\(m) n=\(n) k=\(k)")
                }
            }
        }
    }

    @Test func transposesStridesAndEpilogues() throws {
        let activations: [Activation] = [.none, .relu, .relu6, .clamp(min: -0.25, max: 0.3)]
        for (index, (tA, tB)) in [(false, false), (true, false), (false, true), (true, true)].enumerated() {
            for activation in activations {
                for (alpha, beta) in [(Float(1), Float(0)), (-0.5, 1), (2, -1.5)] {
                    // Prime leading dimensions: lda 31, ldb 41 or 31, ldc 43.
                    let failure = try checkGEMM(transposeA: tA, transposeB: tB, m: 29, n: 37, k: 23,
                                                padA: tA ? 2 : 8, padB: tB ? 8 : 4, padC: 6, alpha: alpha, beta: beta,
                                                bias: index % 2 == 0, activation: activation)
                    #expect(failure == nil, "\(failure ?? "")")
                }
            }
        }
    }

    /// A row-major A is read in place by the microkernel for blocks of C up to 8 · NR columns
    /// wide (a last tile short of MR rows repeats its last row), and packed beyond. On both sides
    /// of that limit, with full and short tiles, several depth blocks and a prime leading dimension, the
    /// result matches the reference and has the same bits as the packed path given the same A
    /// stored transposed: the two ways of reading A do the same multiply-adds. A wider C is
    /// cut into strips of that width when A is read in place, and into one strip when it is
    /// packed: the bits are the same either way (the widest case: two strips and a short one).
    @Test func aReadInPlaceOrPacked() throws {
        let mr = Blocking.mr, widest = Blocking.inPlaceColumns
        for (index, (m, n)) in [(mr, widest), (2 * mr + 5, widest + 1), (3 * mr - 1, widest - 5), (1, 40),
                                (2 * mr + 7, 2 * widest + 9)].enumerated() {
            for k in [7, 2 * Blocking.deepKC + 3] {
                let lanes: Lanes = index % 2 == 0 ? .serial : .fixed(3)
                let failure = try checkGEMM(m: m, n: n, k: k, padA: 4, padC: 3, beta: index == 2 ? 0.5 : 0,
                                            bias: true, activation: .relu, lanes: lanes, packed: index == 1,
                                            seed: UInt64(index * 10 + k))
                #expect(failure == nil, "\(failure ?? "")")

                var rng = SeededGenerator(seed: UInt64(m * n + k))
                let lda = k + 4
                let a = rng.floats((m - 1) * lda + k), b = rng.floats(k * n)
                var aT = [Float](repeating: .nan, count: k * m)
                for i in 0..<m { for p in 0..<k { aT[p * m + i] = a[i * lda + p] } }
                func product(transposeA: Bool) throws -> [Float] {
                    var c = [Float](repeating: .nan, count: m * n)
                    try (transposeA ? aT : a).withUnsafeBufferPointer { a in
                        try b.withUnsafeBufferPointer { b in
                            try c.withUnsafeMutableBufferPointer { c in
                                try GEMM.multiply(transposeA: transposeA, m: m, n: n, k: k, a: a,
                                                  lda: transposeA ? m : lda, b: b, ldb: n, c: c, ldc: n, lanes: lanes)
                            }
                        }
                    }
                    return c
                }
                let inPlace = try product(transposeA: false), packed = try product(transposeA: true)
                #expect(inPlace.map(\.bitPattern) == packed.map(\.bitPattern), "m=\(m) n=\(n) k=\(k)")
            }
        }
    }

    /// A's rows are read in place only where a tile's rows stay in the level-1 data cache: no set
    /// receives more of one depth step's lines than it has ways. Rows 4 KB apart all fall into one
    /// set (12 rows on AVX-512: too many for 8 ways, not for 12); 2 KB apart into two; rows one
    /// line apart, or at a pitch that is not a multiple of a line, spread; rows that share a line
    /// (a one-channel convolution's patches) count once. A row-major matrix keeps
    /// its rows for B whatever the rule says of A, and products at such pitches match the reference
    /// on this machine, whichever way it reads A (`aReadInPlaceOrPacked`: the two give the same bits).
    @Test func aInPlaceRuleFollowsTheLevel1Cache() throws {
        let mr = Blocking.mr
        #expect(Blocking.keepsRowsInL1(pitch: 1024, cache: (sets: 64, ways: 8)) == (mr <= 8))
        #expect(Blocking.keepsRowsInL1(pitch: 1024, cache: (sets: 64, ways: 12)))
        #expect(Blocking.keepsRowsInL1(pitch: 2048, cache: (sets: 64, ways: 8)) == (mr <= 8))
        #expect(Blocking.keepsRowsInL1(pitch: 512, cache: (sets: 64, ways: 8)))
        #expect(Blocking.keepsRowsInL1(pitch: 512, cache: (sets: 64, ways: 2)) == (mr <= 4))
        #expect(Blocking.keepsRowsInL1(pitch: 1024, cache: (sets: 64, ways: 4)) == (mr <= 4))
        for pitch in [1, 3, 16, 300, 768, 1000, 1536, 1040] {
            #expect(Blocking.keepsRowsInL1(pitch: pitch, cache: (sets: 64, ways: 8)), "pitch \(pitch)")
        }

        let a = [Float](repeating: 1, count: 1024)
        a.withUnsafeBufferPointer { a in
            let apart = StridedMatrix(base: a.baseAddress!, leadingDimension: 1024, transposed: false)
            #expect(apart.rowMajorRows?.pitch == 1024)
            #expect((apart.rowsInPlace != nil) == Blocking.keepsRowsInL1(pitch: 1024))
        }
        // The second: rows 8 KB apart, several depth blocks deep (2047 = 1024 + 1023).
        for (m, n, k, lda) in [(2 * mr + 5, 40, 100, 1024), (3 * mr, Blocking.inPlaceColumns + 7, 2047, 2048)] {
            let failure = try checkGEMM(m: m, n: n, k: k, padA: lda - k, padC: 2, bias: true, activation: .relu,
                                        lanes: .fixed(2), seed: UInt64(m + n))
            #expect(failure == nil, "\(failure ?? "")")
        }
    }

    /// A small row-major B, or any against few rows of A, is read in place (its full micropanels; a
    /// last one short of NR columns is packed): the result matches the reference, with B's rows padded, every epilogue and lane
    /// counts, and has the same bits as the packed path given the same B stored transposed.
    @Test func bReadInPlaceOrPacked() throws {
        let nr = Blocking.nr, mr = Blocking.mr, widest = Blocking.inPlaceColumns
        let shapes = [(1, nr, 1), (mr + 1, nr + 1, 7), (2 * mr + 5, 3 * nr - 5, 300), (3 * mr, widest, 256),
                      (37, widest + 9, 129), (mr - 1, 2 * widest + nr, 64), (50, 5, 40), (mr + 5, widest, 1100),
                      (2 * mr, 2 * widest + 3, 700)]
        for (index, (m, n, k)) in shapes.enumerated() {
            #expect(m <= Blocking.fewRowTiles * mr || Blocking.readsBInPlace(depth: k, columns: Swift.min(n, widest),
                                                                              pitch: n + 3), "m=\(m) n=\(n) k=\(k)")
            let failure = try checkGEMM(m: m, n: n, k: k, padA: 2, padB: 3, padC: 1, beta: index == 2 ? 0.5 : 0,
                                        bias: index % 2 == 0, activation: index == 3 ? .relu6 : .none,
                                        lanes: index % 3 == 0 ? .serial : .fixed(index % 3 + 1), seed: UInt64(index + 90))
            #expect(failure == nil, "\(failure ?? "")")

            var rng = SeededGenerator(seed: UInt64(m * n + k))
            let a = rng.floats(m * k), b = rng.floats(k * n)
            var bT = [Float](repeating: .nan, count: n * k)
            for p in 0..<k { for j in 0..<n { bT[j * k + p] = b[p * n + j] } }
            func product(transposeB: Bool) throws -> [UInt32] {
                var c = [Float](repeating: .nan, count: m * n)
                try a.withUnsafeBufferPointer { a in
                    try (transposeB ? bT : b).withUnsafeBufferPointer { b in
                        try c.withUnsafeMutableBufferPointer { c in
                            try GEMM.multiply(transposeB: transposeB, m: m, n: n, k: k, a: a, lda: k, b: b,
                                              ldb: transposeB ? k : n, c: c, ldc: n, lanes: .fixed(index % 2 + 1))
                        }
                    }
                }
                return c.map(\.bitPattern)
            }
            #expect(try product(transposeB: false) == product(transposeB: true), "m=\(m) n=\(n) k=\(k)")
        }
    }

    /// B is read in place only while its strip fits in half of the L2 lines its rows can reach:
    /// a pitch that is a large power of two reaches few of L2's sets. (The sizes in the comments
    /// are AVX-512's strips of 256 columns; the portable target's 64-column strips fall on the
    /// same sides of the rule.) And only a row-major strided B, against an A read in place, in a
    /// strip no wider than A's in-place limit.
    @Test func bInPlaceRuleFollowsTheCacheItCanReach() {
        let columns = Blocking.inPlaceColumns
        #expect(Blocking.readsBInPlace(depth: 256, columns: columns, pitch: 256))      // 256³: 256 KB, all sets
        #expect(Blocking.readsBInPlace(depth: 512, columns: columns, pitch: 256))      // 512 KB: half of L2
        #expect(!Blocking.readsBInPlace(depth: 1024, columns: columns, pitch: 256))    // 1 MB: all of L2
        #expect(Blocking.readsBInPlace(depth: 400, columns: columns, pitch: 1000))     // rows drift over every set
        #expect(!Blocking.readsBInPlace(depth: 256, columns: columns, pitch: 1024))    // 4 KB apart: a quarter of L2
        #expect(Blocking.readsBInPlace(depth: 128, columns: columns, pitch: 1024))
        #expect(!Blocking.readsBInPlace(depth: 128, columns: columns, pitch: 4096))    // 16 KB apart: 64 KB
        #expect(Blocking.readsBInPlace(depth: 1, columns: 1, pitch: 1 << 20))

        let b = [Float](repeating: 1, count: 256 * 256)
        b.withUnsafeBufferPointer { b in
            let rowMajor = BOperand.strided(StridedMatrix(base: b.baseAddress!, leadingDimension: 256, transposed: false))
            let transposed = BOperand.strided(StridedMatrix(base: b.baseAddress!, leadingDimension: 256, transposed: true))
            let many = 100 * Blocking.mr, few = Blocking.fewRowTiles * Blocking.mr
            #expect(rowMajor.rowsInPlace(depth: 256, columns: columns, rows: many, readsAInPlace: true) != nil)
            #expect(rowMajor.rowsInPlace(depth: 256, columns: columns, rows: many, readsAInPlace: false) == nil)
            #expect(rowMajor.rowsInPlace(depth: 8, columns: columns + Blocking.nr, rows: few, readsAInPlace: true) == nil)
            #expect(transposed.rowsInPlace(depth: 256, columns: columns, rows: few, readsAInPlace: true) == nil)
            // A strip too large for the cache rule (rows 4 KB apart), against few rows of A, then more.
            let apart = BOperand.strided(StridedMatrix(base: b.baseAddress!, leadingDimension: 1024, transposed: false))
            #expect(!Blocking.readsBInPlace(depth: 256, columns: columns, pitch: 1024))
            #expect(apart.rowsInPlace(depth: 256, columns: columns, rows: few, readsAInPlace: true) != nil)
            #expect(apart.rowsInPlace(depth: 256, columns: columns, rows: few + 1, readsAInPlace: true) == nil)
        }
    }

    /// A pre-packed B whose last micropanel has at most `DotTail.maximumColumns` columns, and a
    /// depth that repays it, computes them by dot products along K (DotTail.swift): against the
    /// reference, with A packed (transposed) or read in place, over one depth block and several,
    /// with beta, bias and an activation, at several lane counts; and with the same bits at every
    /// lane count, and whether A is packed or read in place (where B is wider than the skinny
    /// path's: a row-major A times a narrower one takes that path, a transposed A this one).
    @Test func dotProductTailOfAPrePackedB() throws {
        let nr = Blocking.nr, mr = Blocking.mr
        for (index, (m, n, k)) in [(mr, 1, 64), (2 * mr + 5, nr + 1, 300), (37, 2 * nr + DotTail.maximumColumns, 700),
                                   (3, 5, 2 * Blocking.kc + 9), (50, nr + 2, 1200), (24, 4 * nr + 3, 700)].enumerated() {
            #expect(!DotTail.columns(of: n, depth: k).isEmpty, "n=\(n) k=\(k)")
            for transposeA in [false, true] {
                let failure = try checkGEMM(transposeA: transposeA, m: m, n: n, k: k, padA: 1, padC: 2,
                                            beta: index == 1 ? 0.5 : 0, bias: true, activation: .relu,
                                            lanes: index % 2 == 0 ? .serial : .fixed(3), packed: true,
                                            seed: UInt64(index + 40))
                #expect(failure == nil, "\(failure ?? "")")
            }
            let product = try PrePackedProduct(m: m, n: n, k: k, seed: UInt64(index)), packed = product.packed
            let bits = try product.bits(transposeA: false, lanes: .serial)
            let packedA = try product.bits(transposeA: true, lanes: .serial)
            if n > SkinnyGEMM.maximumColumns {
                #expect(packedA == bits, "m=\(m) n=\(n) k=\(k): A packed")
            }
            #expect(try product.bits(transposeA: false, lanes: .fixed(2)) == bits, "m=\(m) n=\(n) k=\(k): 2 lanes")
            #expect(try product.bits(transposeA: true, lanes: .fixed(3)) == packedA, "m=\(m) n=\(n) k=\(k): 3 lanes")

            // The tail's columns come from `PackedMatrix.tail`: poisoned, they alone turn NaN (A packed,
            // and read in place where the skinny path does not take the product).
            packed.tail!.update(repeating: .nan, count: packed.tailColumns.count * k)
            for transposeA in n > SkinnyGEMM.maximumColumns ? [false, true] : [true] {
                let poisoned = try product.bits(transposeA: transposeA, lanes: .fixed(2)).map { Float(bitPattern: $0) }
                for i in 0..<m {
                    for j in 0..<n where poisoned[i * n + j].isNaN != packed.tailColumns.contains(j) {
                        Issue.record("m=\(m) n=\(n) k=\(k) transposeA=\(transposeA): element (\(i), \(j)) took the wrong path")
                    }
                }
            }
        }
    }

    /// B of at most 16 columns and K ≥ 64 takes the dot-product path (packed or not): every
    /// width, row counts around its 4-row block and 32-row group, K around a vector, its
    /// 2048-float chunk, and a tail shorter than a vector.
    @Test func skinnyPath() throws {
        for n in 1...16 {
            for (m, k) in [(1, 64), (3, 65), (5, 100), (33, 2048 + 7), (9, 4099)] {
                for packed in [false, true] {
                    let failure = try checkGEMM(transposeB: n % 3 == 0, m: m, n: n, k: k, padA: 3, padB: 2, padC: 1,
                                                alpha: n % 2 == 0 ? 1 : 0.5, beta: n % 4 == 0 ? 0.5 : 0, bias: n % 2 == 1,
                                                activation: n % 5 == 0 ? .relu : .none, lanes: .fixed(1 + n % 3),
                                                packed: packed, seed: UInt64(n * 100 + m))
                    #expect(failure == nil, "\(failure ?? "")")
                }
            }
        }
    }

    /// The skinny path's output is bitwise the same at every lane count, whether the lanes split
    /// the rows, the columns (each lane transposing its own columns of a B passed per call) or both:
    /// shards fall on 4 × 5 blocks, and each output's sum is reduced in one fixed order. A B packed
    /// once gives the same bits.
    @Test func skinnyPathGivesTheSameBitsAtEveryLaneCount() throws {
        let lanes = [Lanes.serial] + (1...(2 * Lanes.processorCount + 1)).map { Lanes.fixed($0) }
        for n in [10, 16] {
            let results = try gemmBits(m: 37, n: n, k: 777, seed: 5, lanes: lanes)
            #expect(results.allSatisfy { $0 == results[0] })
            #expect(!results[0].contains(Float.nan.bitPattern))
            let packed = try PrePackedProduct(m: 37, n: n, k: 777, seed: 5)
            #expect(try packed.bits(transposeA: false, lanes: .fixed(2)) == results[0])
        }
    }

    /// Bᵀ of any run of a B's columns (the skinny path's per-lane copy): every element, zeros past
    /// the depth, nothing past each row's stride written, for row-major Bs with a leading dimension
    /// below, at and above a vector (whose whole-vector loads must stop before the last row's last
    /// column), depths around 16-step blocks, and a B stored transposed.
    @Test func transposingRunsOfColumns() {
        var rng = SeededGenerator(seed: 11)
        for (ldb, columns) in [(10, 0..<10), (10, 5..<10), (10, 3..<4), (16, 0..<16), (17, 11..<17), (40, 20..<36)] {
            for depth in [1, 15, 16, 17, 33, 64 + 5] {
                let stored = rng.floats((depth - 1) * ldb + columns.upperBound)
                let stride = SkinnyGEMM.transposedStride(depth: depth)
                for transposed in [false, true] {
                    // Stored transposed, column j of B is row j of the matrix, `depth` floats a row.
                    let source = transposed ? rng.floats(columns.upperBound * depth) : stored
                    var target = [Float](repeating: .nan, count: columns.count * stride + 1)
                    source.withUnsafeBufferPointer { b in
                        target.withUnsafeMutableBufferPointer { t in
                            StridedMatrix(base: b.baseAddress!, leadingDimension: transposed ? depth : ldb,
                                          transposed: transposed)
                                .transpose(depth: depth, columns: columns, into: t.baseAddress!, stride: stride)
                        }
                    }
                    for (row, j) in columns.enumerated() {
                        for k in 0..<stride {
                            let expected = k >= depth ? 0 : transposed ? source[j * depth + k] : source[k * ldb + j]
                            #expect(target[row * stride + k].bitPattern == expected.bitPattern,
                                    "ldb \(ldb) columns \(columns) depth \(depth) transposed \(transposed): (\(k), \(j))")
                        }
                    }
                    #expect(target.last!.isNaN)
                }
            }
        }
    }

    /// Planning queries take sizes without buffers; sizes whose matrices cannot exist throw
    /// instead of overflowing the planner's arithmetic.
    @Test func planningHugeShapesThrows() {
        #expect(throws: ShardwiseError.sizeOverflow(argument: "a byte count")) {
            _ = try GEMM.plan(m: 1, n: 1, k: 1 << 62, transposeA: true)
        }
        #expect(throws: ShardwiseError.sizeOverflow(argument: "c")) {
            _ = try GEMM.workspaceBytes(m: 1 << 40, n: 1 << 40, k: 1)
        }
    }

    /// A wide and deep pre-packed B against a row-major A, over several row blocks, is read in
    /// strips of `inPlaceColumns` (`Blocking.packedStripColumns`): against the reference, ending in
    /// a dot-product tail and in a partial micropanel, on 1 lane with beta (every strip accumulating
    /// over the depth blocks into an old C) and on 3 lanes; with the same bits as the
    /// same product with A packed (transposed), which reads all the columns at once.
    @Test func prePackedBInStrips() throws {
        let nr = Blocking.nr, m = Blocking.mc + Blocking.mr + 1, k = Blocking.kc + 1
        #expect(Blocking.packedStripColumns(rows: Blocking.mc, depth: k, columns: 4096) == 4096)
        #expect(Blocking.packedStripColumns(rows: m, depth: Blocking.kc, columns: 4096) == 4096)
        let panels = (1...).first { Blocking.packedStripColumns(rows: m, depth: k, columns: $0 * nr) < $0 * nr }!
        #expect(Blocking.packedStripColumns(rows: m, depth: k, columns: (panels - 1) * nr) == (panels - 1) * nr)
        for (index, n) in [panels * nr + DotTail.maximumColumns, panels * nr + DotTail.maximumColumns + 1].enumerated() {
            #expect(Blocking.packedStripColumns(rows: m, depth: k, columns: n) == Blocking.inPlaceColumns)
            #expect(DotTail.columns(of: n, depth: k).isEmpty == (index == 1), "n=\(n)")
            for (lanes, beta) in [(Lanes.serial, Float(0.5)), (.fixed(3), 0)] {
                let failure = try checkGEMM(m: m, n: n, k: k, padA: 1, padC: 2, beta: beta, bias: true,
                                            activation: .relu, lanes: lanes, packed: true, seed: UInt64(index + 70))
                #expect(failure == nil, "\(failure ?? "")")
            }

            let product = try PrePackedProduct(m: m, n: n, k: k, seed: UInt64(n))
            let inStrips = try product.bits(transposeA: false, lanes: .serial)
            #expect(try product.bits(transposeA: true, lanes: .serial) == inStrips, "n=\(n): A packed, all columns")
            #expect(try product.bits(transposeA: false, lanes: .fixed(2)) == inStrips, "n=\(n): 2 lanes")
        }
    }

    @Test func prePackedB() throws {
        for (m, n, k) in [(1, 1, 1), (13, 33, 70), (50, 65, 600)] {
            for tB in [false, true] {
                let failure = try checkGEMM(transposeB: tB, m: m, n: n, k: k, padB: 2, beta: 1, bias: true, packed: true)
                #expect(failure == nil, "\(failure ?? "")")
            }
        }
    }
}
