// 2×2 max pooling, stride 2, VALID, over NHWC: forward and backward from one decision.
//
// The backward must route each output's gradient to exactly the input cell the
// forward copied, so both passes call `firstMaximum`, the only place that
// decides: the four cells of a window are compared in row-major order
// (top-left, top-right, bottom-left, bottom-right) and a later cell wins only
// if it is strictly greater, or is NaN where the best so far is not. Ties go to
// the earliest cell and a NaN propagates, the rule of `Reference.maxPool2x2`.
//
// In NHWC the channels of a pixel are contiguous, so a window is four pointers
// to four channel rows, and one SIMD vector decides `Vector.scalarCount`
// channels at once; the winner of each lane is kept as a tap number (0…3).
// An odd last row or column belongs to no window: the forward ignores it and the
// backward gives it zero gradient.

/// 2×2 max pooling with stride 2 and VALID padding over an NHWC tensor, per channel.
public enum MaxPool2x2 {
    /// The pooled shape `[N, H / 2, W / 2, C]` (rounded down) for an NHWC `inputShape`.
    ///
    /// - Throws: `.rankMismatch` unless rank 4, `.nonPositiveSize`, `.kernelLargerThanPaddedInput`
    ///   when the height or width is 1.
    public static func outputShape(forInput inputShape: [Int]) throws(ShardwiseError) -> [Int] {
        try windows(forInput: inputShape).outputShape
    }

    /// Each output is the largest of its window's four inputs; a NaN in a window wins.
    ///
    /// - Parameters:
    ///   - input: NHWC, with height and width at least 2.
    ///   - lanes: how many threads may share the windows (rows of them, where each thread gets
    ///     enough work to repay its start); the result is the same for any.
    /// - Returns: a tensor of `outputShape(forInput: input.shape)`.
    /// - Throws: what `outputShape(forInput:)` throws; `.nonPositiveSize` for `Lanes.fixed(n)`, `n < 1`.
    /// - Complexity: O(`input.count`), one pass.
    public static func forward(_ input: Tensor, lanes: Lanes = .automatic) throws(ShardwiseError) -> Tensor {
        let w = try windows(forInput: input.shape)
        // Every window writes its output: the storage need not be zeroed first.
        return try input.mapped(to: w.outputShape) { (x, y) throws(ShardwiseError) in
            nonisolated(unsafe) let (x, y) = (x.baseAddress!, y.baseAddress!)
            try lanes.forEachRange(extent: w.windowRows, floatsPerUnit: w.inputFloatsPerWindowRow) { windowRows in
                w.forEach(windowRows: windowRows) { cells, pooled in
                    forEachVectorChunk(w.channels) { c, count in
                        firstMaximum(x, cells, c, count).value.store(to: y + pooled + c, count: count)
                    }
                }
            }
        }
    }

    /// The backward of `forward`: each output's gradient goes to the cell the forward copied
    /// (its window's first maximum in row-major order); every other cell gets zero.
    ///
    /// - Parameters:
    ///   - input: the forward pass's NHWC input.
    ///   - outputGradient: the gradient with respect to the pooled output.
    ///   - lanes: how many threads may share the windows, as in `forward`; the result is the same for any.
    /// - Returns: the gradient with respect to `input`, in its shape.
    /// - Throws: what `outputShape(forInput:)` throws, `.shapeMismatch` for `outputGradient`;
    ///   `.nonPositiveSize` for `Lanes.fixed(n)`, `n < 1`.
    /// - Complexity: O(`input.count`), one pass.
    public static func backward(input: Tensor, outputGradient: Tensor,
                                lanes: Lanes = .automatic) throws(ShardwiseError) -> Tensor {
        let w = try windows(forInput: input.shape)
        if outputGradient.shape != w.outputShape {
            throw .shapeMismatch(argument: "outputGradient", expected: w.outputShape, actual: outputGradient.shape)
        }
        // Every cell is written in the pass (a window's four, or zero for a dropped row or column):
        // the storage need not be zeroed first.
        return try input.mapped(to: input.shape) { (x, dx) throws(ShardwiseError) in
            try outputGradient.withUnsafeBufferPointer { (dy) throws(ShardwiseError) in
                nonisolated(unsafe) let (x, dy, dx) = (x.baseAddress!, dy.baseAddress!, dx.baseAddress!)
                try lanes.forEachRange(extent: w.windowRows, floatsPerUnit: w.inputFloatsPerWindowRow) { windowRows in
                    w.forEachDropped(windowRows: windowRows) { offset, count in
                        (dx + offset).update(repeating: 0, count: count)
                    }
                    w.forEach(windowRows: windowRows) { cells, pooled in
                        forEachVectorChunk(w.channels) { c, count in
                            let tap = firstMaximum(x, cells, c, count).tap
                            let gradient = Vector.loading(dy + pooled + c, count: count)
                            @inline(__always) func route(_ t: Int32, _ cell: Int) {
                                Vector().replacing(with: gradient, where: tap .== Vector.MaskStorage(repeating: t))
                                    .store(to: dx + cell + c, count: count)
                            }
                            route(0, cells.0)
                            route(1, cells.1)
                            route(2, cells.2)
                            route(3, cells.3)
                        }
                    }
                }
            }
        }
    }

    // MARK: - The decision and the walk

    /// The four flat offsets (of channel 0) of a window's cells, in row-major order.
    typealias WindowCells = (Int, Int, Int, Int)

    /// The window grid of one input shape.
    struct Windows {
        let batch: Int, rows: Int, columns: Int, channels: Int, inputRows: Int, inputColumns: Int
        var outputShape: [Int] { [batch, rows, columns, channels] }
        /// Rows of windows over the whole batch: the units lanes share.
        var windowRows: Int { batch * rows }
        /// Input floats one row of windows reads.
        var inputFloatsPerWindowRow: Int { 4 * columns * channels }

        /// Calls `body(offset, count)` for the input floats that rows `windowRows` of windows drop:
        /// the last column of their two input rows when the width is odd, and, for a last row of
        /// windows, its image's last input row when the height is odd.
        @inline(__always)
        func forEachDropped(windowRows: Range<Int>, _ body: (Int, Int) -> Void) {
            let rowStride = inputColumns * channels
            for windowRow in windowRows {
                let (n, row) = windowRow.quotientAndRemainder(dividingBy: rows)
                let top = (n * inputRows + 2 * row) * rowStride
                if inputColumns % 2 == 1 {
                    body(top + rowStride - channels, channels)
                    body(top + 2 * rowStride - channels, channels)
                }
                if inputRows % 2 == 1 && row == rows - 1 {
                    body(top + 2 * rowStride, rowStride)
                }
            }
        }

        /// Calls `body(cells, pooledOffset)` for every window of rows `windowRows` (counted over
        /// the whole batch), in output order.
        @inline(__always)
        func forEach(windowRows: Range<Int>, _ body: (WindowCells, Int) -> Void) {
            let rowStride = inputColumns * channels
            var pooled = windowRows.lowerBound * columns * channels
            for windowRow in windowRows {
                let (n, row) = windowRow.quotientAndRemainder(dividingBy: rows)
                let top = ((n * inputRows + 2 * row) * inputColumns) * channels
                for column in 0..<columns {
                    let topLeft = top + 2 * column * channels
                    let cells = (topLeft, topLeft + channels, topLeft + rowStride, topLeft + rowStride + channels)
                    body(cells, pooled)
                    pooled += channels
                }
            }
        }
    }

    /// Validates `inputShape` and resolves its windows, as a VALID 2×2 stride-2 convolution.
    static func windows(forInput inputShape: [Int]) throws(ShardwiseError) -> Windows {
        if inputShape.count != 4 { throw .rankMismatch(argument: "input", expected: 4, actual: inputShape.count) }
        _ = try CheckedSize.elementCount(of: inputShape, "input")
        let g = try ConvolutionGeometry(input: Size2D(height: inputShape[1], width: inputShape[2]), kernel: Size2D(2),
                                        strides: Size2D(2), dilations: Size2D(1), padding: .valid)
        return Windows(batch: inputShape[0], rows: g.height.output, columns: g.width.output, channels: inputShape[3],
                       inputRows: inputShape[1], inputColumns: inputShape[2])
    }

    /// For channels `c ..< c + count` of one window: the winning value and the winning tap (0…3)
    /// of each lane. The one place the pooling rule is decided (see the file header).
    @inline(__always)
    static func firstMaximum(_ x: UnsafePointer<Float>, _ cells: WindowCells, _ c: Int,
                             _ count: Int) -> (value: Vector, tap: Vector.MaskStorage) {
        var best = Vector.loading(x + cells.0 + c, count: count)
        var tap = Vector.MaskStorage()
        consider(Vector.loading(x + cells.1 + c, count: count), tap: 1, best: &best, bestTap: &tap)
        consider(Vector.loading(x + cells.2 + c, count: count), tap: 2, best: &best, bestTap: &tap)
        consider(Vector.loading(x + cells.3 + c, count: count), tap: 3, best: &best, bestTap: &tap)
        return (best, tap)
    }

    /// One step of `firstMaximum`: `candidate` (cell `tap`) wins a lane if it is strictly greater,
    /// or NaN where the best so far is not. (A static function rather than a nested one, which
    /// captured `best` and `bestTap` in heap boxes: an allocation per window and vector.)
    @inline(__always)
    private static func consider(_ candidate: Vector, tap: Int32, best: inout Vector,
                                 bestTap: inout Vector.MaskStorage) {
        let wins = (candidate .> best) .| ((candidate .!= candidate) .& (best .== best))
        best.replace(with: candidate, where: wins)
        bestTap.replace(with: tap, where: wins)
    }
}
