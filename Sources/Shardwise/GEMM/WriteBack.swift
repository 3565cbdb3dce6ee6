// The write-back: moving a finished microtile into C, with the fused epilogue.
//
// C = activation(alpha · A·B + beta · C + bias). When K is split into several KC
// blocks, the first block applies beta (and never reads C when beta is zero, so
// NaN there is ignored, as BLAS does), later blocks add into C, and only the last
// adds the per-column bias and clamps. Every activation Shardwise offers is a
// clamp, so the epilogue is one min/max pair.
//
// Partial tiles (fewer than MR rows or NR columns valid) go through the same
// vector arithmetic: a short column run is gathered into a vector, computed, and
// scattered back, so an element's bits never depend on where its tile sits.

/// What the write-back applies, fixed for a whole GEMM call.
package struct Epilogue: @unchecked Sendable {
    // @unchecked: `bias` points to caller memory that is read-only during the call.
    package var alpha: Float = 1
    package var beta: Float = 0
    /// One value per column of C, indexed by absolute column, or nil.
    package var bias: UnsafePointer<Float>?
    package var lower: Float = -.infinity
    package var upper: Float = .infinity

    package init(alpha: Float = 1, beta: Float = 0, bias: UnsafePointer<Float>? = nil, activation: Activation = .none) {
        self.alpha = alpha
        self.beta = beta
        self.bias = bias
        (lower, upper) = activation.bounds
    }

    @_transparent var clamps: Bool { lower != -.infinity || upper != .infinity }

    /// Whether finishing an output changes nothing: alpha 1, beta 0, no bias, no clamp.
    @_transparent var isIdentity: Bool { alpha == 1 && beta == 0 && bias == nil && !clamps }

    /// The last steps on a vector of finished outputs for `count` columns from `column`:
    /// add the bias, then clamp.
    @inline(__always)
    package func finish(_ value: Vector, column: Int, count: Int) -> Vector {
        var t = value
        if let bias { t = t + loadPartial(bias + column, count) }
        return clamps ? clamp(t) : t
    }

    /// The bias of columns `column ..< column + V` (zeros without a bias), to load once for all the
    /// rows of outputs that share those columns.
    @inline(__always)
    package func biasVector(column: Int) -> Vector {
        guard let bias else { return Vector() }
        return UnsafeRawPointer(bias + column).loadUnaligned(as: Vector.self)
    }

    /// The bias of columns `column ..< column + 2·V` as two vectors: `biasVector` twice.
    @inline(__always)
    package func biasPair(column: Int) -> (Vector, Vector) {
        (biasVector(column: column), biasVector(column: column + Vector.scalarCount))
    }

    /// `finish` on a row of 2·V finished outputs whose bias pair is already loaded
    /// (`biasPair(column:)`), then stores it at `target`: the same operations in the same order.
    /// Transparent (always inlined): with `@inline(__always)` the optimizer still left it, and
    /// `clamp`, as calls in the depthwise kernel's interior loop and in the write-back's rows.
    @_transparent
    package func finishAndStore(_ pair: (Vector, Vector), bias: (Vector, Vector), into target: UnsafeMutableRawPointer) {
        let (t0, t1) = finish(pair, bias: bias)
        target.storeBytes(of: t0, as: Vector.self)
        target.storeBytes(of: t1, toByteOffset: Vector.scalarCount * 4, as: Vector.self)
    }

    /// `finish` on a row of 2·V finished outputs whose bias pair is already loaded.
    @_transparent
    func finish(_ pair: (Vector, Vector), bias: (Vector, Vector)) -> (Vector, Vector) {
        var (t0, t1) = pair
        if self.bias != nil {
            t0 = t0 + bias.0
            t1 = t1 + bias.1
        }
        if clamps {
            t0 = clamp(t0)
            t1 = clamp(t1)
        }
        return (t0, t1)
    }

    /// `finish` on a vector of V finished outputs whose bias is already loaded (`biasVector`).
    @_transparent
    func finish(_ value: Vector, bias: Vector) -> Vector {
        let t = self.bias != nil ? value + bias : value
        return clamps ? clamp(t) : t
    }

    /// The activation on a vector: every activation is a clamp. NaN stays NaN.
    @_transparent
    func clamp(_ value: Vector) -> Vector {
        let lower = Vector(repeating: lower), upper = Vector(repeating: upper)
        return value.replacing(with: lower, where: value .< lower).replacing(with: upper, where: value .> upper)
    }

    /// The whole epilogue on one finished scalar (a one-phase write-back, for paths that
    /// finish each output at once): the same operations, in the same order, as `writeBack`.
    /// `old` is read only when beta is non-zero.
    @inline(__always)
    func apply(_ value: Float, old: @autoclosure () -> Float, column: Int) -> Float {
        var t = alpha != 1 ? value * alpha : value
        if beta != 0 {
            let previous = old()
            t = t + (beta == 1 ? previous : previous * beta)
        }
        if let bias { t = t + bias[column] }
        if t < lower { t = lower }
        if t > upper { t = upper }
        return t
    }
}

/// Which KC block of the depth a write-back finishes.
package struct DepthPhase {
    /// The first KC block: apply beta to the old C.
    package var first: Bool
    /// The last KC block: add the bias and clamp.
    package var last: Bool

    /// The phase of the block of `length` steps from `k0` in a depth of `depth`.
    package init(block k0: Int, length: Int, of depth: Int) {
        first = k0 == 0
        last = k0 + length == depth
    }
}

/// The first `count` floats at `source` in a vector, zeros after; reads nothing past `count`.
/// A count of at least half a vector loads that half whole, as `storePartial` stores it.
@inline(__always)
package func loadPartial(_ source: UnsafePointer<Float>, _ count: Int) -> Vector {
    if count == Vector.scalarCount { return UnsafeRawPointer(source).loadUnaligned(as: Vector.self) }
    var v = Vector()
    var lane = 0
    if count >= Vector.scalarCount / 2 {
        v.lowHalf = UnsafeRawPointer(source).loadUnaligned(as: type(of: v.lowHalf))
        lane = Vector.scalarCount / 2
    }
    while lane < count {
        v[lane] = source[lane]
        lane += 1
    }
    return v
}

/// Stores the first `count` lanes of `v` at `target`; writes nothing past `count`. A count of at
/// least half a vector stores that half whole, then the rest lane by lane (the 3-channel stride-2
/// stem, 24 output channels: 8 lanes per row in one store instead of eight).
@inline(__always)
package func storePartial(_ v: Vector, _ target: UnsafeMutablePointer<Float>, _ count: Int) {
    if count == Vector.scalarCount {
        UnsafeMutableRawPointer(target).storeBytes(of: v, as: Vector.self)
        return
    }
    var lane = 0
    if count >= Vector.scalarCount / 2 {
        UnsafeMutableRawPointer(target).storeBytes(of: v.lowHalf, as: type(of: v.lowHalf))
        lane = Vector.scalarCount / 2
    }
    while lane < count {
        target[lane] = v[lane]
        lane += 1
    }
}

/// Writes the valid `rows × columns` corner of an MR × NR `tile` into C at `c` (row stride `ldc`),
/// whose first column is absolute column `column0` (for the bias).
///
/// Each path is a function of its own, never inlined: the common one then has a short prologue
/// (a K = 25 GEMM pays it once per 25 rank-1 updates), and the macrokernel stays small enough
/// to be inlined into the driver's loops (inlined write-backs made it too large, and the small
/// GEMMs ran 2–3 % slower).
@inline(__always)
package func writeBack(tile: UnsafePointer<Float>, rows: Int, columns: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
                       column0: Int, epilogue: Epilogue, phase: DepthPhase) {
    if columns > Vector.scalarCount && epilogue.alpha == 1 && epilogue.beta == 0 {
        // The common case (plain C = A·B + bias, any depth block, two vectors of columns): the
        // same operations as the general loop, with the bias vectors loaded once for all rows.
        writeBackTwoVectors(tile: tile, rows: rows, columns: columns, c: c, ldc: ldc, column0: column0,
                            epilogue: epilogue, phase: phase)
    } else {
        writeBackGeneral(tile: tile, rows: rows, columns: columns, c: c, ldc: ldc, column0: column0,
                         epilogue: epilogue, phase: phase)
    }
}

/// `writeBack` for any tile: partial columns, several KC blocks, alpha and beta. The bias of the
/// tile's (at most two) column vectors is loaded once for all its rows: per row, a short vector's
/// bias went in lane by lane (the 3-channel stride-2 stem to 24 channels had spent a fifth of its
/// time here; with alpha 1 and beta 0 it now takes `writeBackTwoVectors`).
@inline(never)
private func writeBackGeneral(tile: UnsafePointer<Float>, rows: Int, columns: Int, c: UnsafeMutablePointer<Float>,
                              ldc: Int, column0: Int, epilogue: Epilogue, phase: DepthPhase) {
    let width = Vector.scalarCount
    let alpha = epilogue.alpha, beta = epilogue.beta
    var bias = (Vector(), Vector())
    if phase.last, let b = epilogue.bias {
        bias.0 = loadPartial(b + column0, Swift.min(width, columns))
        if columns > width { bias.1 = loadPartial(b + column0 + width, columns - width) }
    }
    for i in 0..<rows {
        let cRow = c + i * ldc
        let tileRow = tile + i * Blocking.nr
        var j = 0
        while j < columns {
            let count = Swift.min(width, columns - j)
            var t = UnsafeRawPointer(tileRow + j).loadUnaligned(as: Vector.self)
            if alpha != 1 { t = t * alpha }
            if !phase.first {
                t = t + loadPartial(cRow + j, count)
            } else if beta != 0 {
                let old = loadPartial(cRow + j, count)
                t = t + (beta == 1 ? old : old * beta)
            }
            if phase.last {
                if epilogue.bias != nil { t = t + (j == 0 ? bias.0 : bias.1) }
                if epilogue.clamps { t = epilogue.clamp(t) }
            }
            storePartial(t, cRow + j, count)
            j += width
        }
    }
}

/// `writeBack` for a tile of more than one vector of columns with alpha 1 and beta 0, of any
/// depth block: later blocks add C, the last adds the bias and clamps. (Through the general loop,
/// the write-backs of 1×14×14×256 3×3's three depth blocks took 3.4 % of its time, and the
/// 3-channel stride-2 stem's to 24 channels, a partial second vector, 23 %.) The second vector
/// reads and writes only the tile's columns; a full one takes a copy of the loop with whole loads.
@inline(never)
private func writeBackTwoVectors(tile: UnsafePointer<Float>, rows: Int, columns: Int, c: UnsafeMutablePointer<Float>,
                                 ldc: Int, column0: Int, epilogue: Epilogue, phase: DepthPhase) {
    let width = Vector.scalarCount
    @inline(__always)
    func writeRows(second: Int) {
        var bias = (Vector(), Vector())
        if let b = epilogue.bias {
            bias = (loadPartial(b + column0, width), loadPartial(b + column0 + width, second))
        }
        for i in 0..<rows {
            let source = UnsafeRawPointer(tile + i * Blocking.nr)
            let target = c + i * ldc
            var row = (source.loadUnaligned(as: Vector.self), source.loadUnaligned(fromByteOffset: width * 4, as: Vector.self))
            if !phase.first {
                row.0 = row.0 + loadPartial(target, width)
                row.1 = row.1 + loadPartial(target + width, second)
            }
            if phase.last { row = epilogue.finish(row, bias: bias) }
            storePartial(row.0, target, width)
            storePartial(row.1, target + width, second)
        }
    }
    if columns == Blocking.nr { writeRows(second: width) } else { writeRows(second: columns - width) }
}
