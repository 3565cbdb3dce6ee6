// Conv2D's backward passes, each one GEMM per group on the same packed kernels.
//
//   input gradient   dX[N·H·W, Cin/g]   = gather(dY)[N·H·W, KH·KW·Cout/g] · W'[KH·KW·Cout/g, Cin/g]
//                    (OutputGradientPanelSource; W' is the filter with its channel axes swapped,
//                    packed per call). Lanes split the input pixels. With stride 1 and one group
//                    this is a forward convolution of dY with the filter flipped in both spatial
//                    axes and its channel axes swapped, padded by d·(K−1) less the forward's
//                    padding, so it runs as one (`inputGradientLayer`), on the forward pass's fast
//                    paths: seed-cnn's 32→32 5×5 reads dY in place from padded bands instead of
//                    gathering it (seed-cnn, interleaved: 1 lane 1,396–1,406 → 1,427–1,457
//                    images/s, 2 lanes 2,535–2,554 → 2,589–2,649), split among lanes as that
//                    layer's forward pass is. Its depth runs over the taps in the other order, so
//                    the bits differ from the gathering path's, the same for every lane count still.
//   filter gradient  dWᵀ[Cout/g, KH·KW·Cin/g] = dYᵀ[Cout/g, N·OH·OW] · patches[N·OH·OW, KH·KW·Cin/g]
//                    (the patch matrix packed as B straight from the input, block by block).
//                    Lanes split the taps, so every lane packs only its own patch columns.
//   bias gradient    the sum of dY over N·OH·OW, in a fixed order.
// Gradients are taken with respect to the layer's linear output (before its fused
// activation); the activation's own backward comes first. Every element of every
// gradient is computed whole by one lane, in an order that does not depend on the
// lane count: the results are bitwise the same for any `Lanes`.

extension Conv2D {
    /// Checks that `outputGradient` has the output shape for `inputShape` and returns the geometry.
    private func backwardGeometry(inputShape: [Int], outputGradient: Tensor) throws(ShardwiseError) -> GEMMShape {
        let shape = try gemmShape(forInput: inputShape)
        let expected = try descriptor.outputShape(forInput: inputShape)
        if outputGradient.shape != expected {
            throw .shapeMismatch(argument: "outputGradient", expected: expected, actual: outputGradient.shape)
        }
        return shape
    }

    /// The gradient of the loss with respect to the layer's input.
    ///
    /// - Parameters:
    ///   - outputGradient: dL/d(linear output), NHWC, the output shape for `inputShape`.
    ///   - inputShape: the NHWC shape of the forward pass's input.
    /// - Returns: dL/dinput, of `inputShape`.
    /// - Throws: what `descriptor.outputShape(forInput:)` throws; `.shapeMismatch` for a wrong gradient shape.
    public func inputGradient(outputGradient: Tensor, inputShape: [Int],
                              lanes: Lanes = .automatic) throws(ShardwiseError) -> Tensor {
        let s = try backwardGeometry(inputShape: inputShape, outputGradient: outputGradient)
        if let layer = try inputGradientLayer(geometry: s.geometry) { return try layer(outputGradient, lanes: lanes) }
        let d = descriptor
        let pixels = inputShape[0] * inputShape[1] * inputShape[2]
        let depth = d.kernel.height * d.kernel.width * d.outputChannelsPerGroup
        var gradient = try Tensor(shape: inputShape)
        // Planned over all the input channels, like the forward pass (see Conv2D.plan(for:lanes:)).
        let plan = try Planner.plan(rows: pixels, columns: d.inputChannels, depth: depth, lanes: lanes,
                                    packsB: false, groups: d.groups)
        let swapped = try swappedChannelFilters(), geometry = s.geometry
        outputGradient.withUnsafeBufferPointer { dY in
            gradient.withUnsafeMutableBufferPointer { dX in
                nonisolated(unsafe) let dY = dY
                GEMM.run(plan: plan, depth: depth, groupColumns: d.inputChannelsPerGroup, a: { group in
                    OutputGradientPanelSource(outputGradient: dY.baseAddress!, outputGradientEnd: dY.baseAddress! + dY.count,
                                              geometry: geometry, outputChannels: d.outputChannels,
                                              channelOffset: group * d.outputChannelsPerGroup,
                                              runLength: d.outputChannelsPerGroup)
                }, b: { .packed(swapped[$0]) }, c: dX.baseAddress!, ldc: d.inputChannels, epilogue: { _ in Epilogue() },
                         lanes: lanes)
            }
        }
        return gradient
    }

    /// For stride 1 and one group, the layer whose forward pass is this layer's input gradient:
    /// the filter flipped in both spatial axes with its channel axes swapped (HWIO
    /// [KH, KW, Cout, Cin]), the same dilation, stride 1 and padding d·(K−1) less the forward's on
    /// each side, so that its output has the input's shape. Nil otherwise (or where that padding
    /// would be negative: explicit padding wider than the dilated kernel).
    private func inputGradientLayer(geometry g: ConvolutionGeometry) throws(ShardwiseError) -> Conv2D? {
        let d = descriptor, h = g.height, w = g.width
        guard d.groups == 1 && h.stride == 1 && w.stride == 1 else { return nil }
        let top = h.dilation * (h.kernel - 1) - h.padBefore, bottom = h.dilation * (h.kernel - 1) - h.padAfter
        let left = w.dilation * (w.kernel - 1) - w.padBefore, right = w.dilation * (w.kernel - 1) - w.padAfter
        guard [top, bottom, left, right].allSatisfy({ $0 >= 0 }) else { return nil }
        let (kh, kw, cin, cout) = (h.kernel, w.kernel, d.inputChannels, d.outputChannels)
        let filter = d.filter.scalars
        let flipped = try Tensor(shape: [kh, kw, cout, cin]) { index in
            let (tap, channels) = index.quotientAndRemainder(dividingBy: cout * cin)
            let (co, ci) = channels.quotientAndRemainder(dividingBy: cin)
            let (y, x) = tap.quotientAndRemainder(dividingBy: kw)
            return filter[(((kh - 1 - y) * kw + (kw - 1 - x)) * cin + ci) * cout + co]
        }
        return try Conv2D(Conv2DDescriptor(filter: flipped,
                                           padding: .explicit(top: top, bottom: bottom, left: left, right: right),
                                           dilations: d.dilations))
    }

    /// Each group's filter as [KH·KW·Cout/g, Cin/g] (channel axes swapped), packed as a GEMM's B.
    private func swappedChannelFilters() throws(ShardwiseError) -> [PackedMatrix] {
        let d = descriptor
        let taps = d.kernel.height * d.kernel.width
        let cin = d.inputChannelsPerGroup, cout = d.outputChannelsPerGroup
        var packed: [PackedMatrix] = []
        for group in 0..<d.groups {
            var swapped = [Float](repeating: 0, count: taps * cout * cin)
            for t in 0..<taps {
                for ci in 0..<cin {
                    for co in 0..<cout {
                        swapped[(t * cout + co) * cin + ci] = d.filter.scalars[(t * cin + ci) * d.outputChannels
                            + group * cout + co]
                    }
                }
            }
            let matrix = try swapped.withUnsafeBufferPointer { (b) throws(ShardwiseError) in
                try PackedMatrix(depth: taps * cout, columns: cin,
                                 source: StridedMatrix(base: b.baseAddress!, rowStride: cin, columnStride: 1),
                                 keepsTransposed: false)
            }
            packed.append(matrix)
        }
        return packed
    }

    /// Whether `filterGradient` reads the patches in place rather than packing them: each group's
    /// input channels are a whole number of B micropanels (see PatchColumns.swift).
    package var readsFilterGradientPatchesInPlace: Bool {
        PatchColumns.applies(channelsPerGroup: descriptor.inputChannelsPerGroup)
    }

    /// The gradient of the loss with respect to the filter (HWIO, the filter's shape).
    ///
    /// - Parameters:
    ///   - input: the forward pass's NHWC input.
    ///   - outputGradient: dL/d(linear output), NHWC.
    /// - Throws: what `descriptor.outputShape(forInput:)` throws; `.shapeMismatch` for a wrong gradient shape.
    public func filterGradient(input: Tensor, outputGradient: Tensor,
                               lanes: Lanes = .automatic) throws(ShardwiseError) -> Tensor {
        let s = try backwardGeometry(inputShape: input.shape, outputGradient: outputGradient)
        let d = descriptor
        let cout = d.outputChannelsPerGroup
        let taps = s.depth  // KH·KW·Cin/g: the columns of this GEMM
        let inPlace = readsFilterGradientPatchesInPlace
        let plan = try Planner.plan(rows: cout, columns: taps, depth: s.rows, lanes: lanes, packsB: !inPlace)
        var transposed = [Float](repeating: 0, count: cout * taps)
        var gradient = try Tensor(shape: d.filter.shape)
        input.withUnsafeBufferPointer { x in
            outputGradient.withUnsafeBufferPointer { dY in
                gradient.withUnsafeMutableBufferPointer { dW in
                    transposed.withUnsafeMutableBufferPointer { dWt in
                        for group in 0..<d.groups {
                            let a = StridedMatrix(base: dY.baseAddress! + group * cout, rowStride: 1,
                                                  columnStride: d.outputChannels)
                            let channelOffset = group * d.inputChannelsPerGroup
                            let b: BOperand = inPlace
                                ? .patchesInPlace(PatchColumns(input: x.baseAddress!, geometry: s.geometry,
                                                               inputChannels: d.inputChannels,
                                                               channelOffset: channelOffset,
                                                               runLength: d.inputChannelsPerGroup))
                                : .patches(Im2ColPanelSource(input: x.baseAddress!, inputEnd: x.baseAddress! + x.count,
                                                             geometry: s.geometry, inputChannels: d.inputChannels,
                                                             channelOffset: channelOffset,
                                                             runLength: d.inputChannelsPerGroup))
                            GEMM.run(plan: plan, depth: s.rows, a: a, b: b, c: dWt.baseAddress!,
                                     ldc: taps, epilogue: Epilogue(), lanes: lanes)
                            for k in 0..<taps {
                                for co in 0..<cout {
                                    dW[k * d.outputChannels + group * cout + co] = dWt[co * taps + k]
                                }
                            }
                        }
                    }
                }
            }
        }
        return gradient
    }

    /// The gradient of the loss with respect to the bias: `outputGradient` summed over N, H and W
    /// in a fixed order.
    ///
    /// - Throws: `.rankMismatch` unless rank 4, `.channelMismatch` unless it has `outputChannels` channels.
    public func biasGradient(outputGradient: Tensor) throws(ShardwiseError) -> Tensor {
        try outputGradient.requireRank(4, "outputGradient")
        if outputGradient.shape[3] != descriptor.outputChannels {
            throw .channelMismatch(argument: "outputGradient", expected: descriptor.outputChannels,
                                   actual: outputGradient.shape[3])
        }
        return try columnSums(outputGradient, columns: descriptor.outputChannels)
    }
}

/// The sums of each column of `tensor` read as rows of `columns` values, accumulated row by row.
func columnSums(_ tensor: Tensor, columns: Int) throws(ShardwiseError) -> Tensor {
    var sums = [Float](repeating: 0, count: columns)
    tensor.withUnsafeBufferPointer { values in
        sums.withUnsafeMutableBufferPointer { sums in
            for row in 0..<(values.count / columns) {
                let base = values.baseAddress! + row * columns
                for j in 0..<columns { sums[j] += base[j] }
            }
        }
    }
    return try Tensor(shape: [columns], scalars: sums)
}
