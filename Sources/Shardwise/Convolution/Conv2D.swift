// The Conv2D layer: a descriptor, its filters packed once, and a sharded forward pass.
//
// Forward is one GEMM per group: C[N·OH·OW, Cout/groups] = patches · filter,
// with bias and activation fused into the GEMM's write-back (no second pass over
// the output). A 1×1, stride-1, unpadded, undilated convolution's patch matrix
// is the input itself, so it skips im2col. The planner splits each GEMM among
// lanes (see Sharding/ShardPlan.swift); the result is bitwise the same for
// every lane count. Where a group's GEMM would fill a small part of a register
// tile, direct kernels run instead: depthwise layers (DepthwiseConvolution.swift)
// and narrow groups of 4 to 48 channels (NarrowGroupConvolution.swift, which also
// takes depthwise layers of one or three vectors of channels that do not slide).

/// A 2-D convolution layer (NHWC input, HWIO filter) with its filters packed for the GEMM.
///
/// Immutable after creation: one layer may be called from several threads at once;
/// each call allocates its own workspace.
public final class Conv2D: Sendable {
    /// What the layer computes.
    public let descriptor: Conv2DDescriptor
    /// The filter of each group, packed as the GEMM's B: [KH·KW·Cin/groups, Cout/groups]; empty
    /// for a layer a direct kernel computes.
    package let packedFilters: [PackedMatrix]
    /// A depthwise layer's filter and bias as its direct kernel reads them; nil for the others.
    let depthwiseWeights: DirectWeights?
    /// A layer of narrow groups' filter and bias as its direct kernel (`NarrowGroupKernel`) reads
    /// them; nil for the others.
    let narrowGroupWeights: DirectWeights?

    /// Creates the layer and packs its filters.
    ///
    /// - Throws: `ShardwiseError.sizeOverflow` if the packed filters' size overflows.
    public init(_ descriptor: Conv2DDescriptor) throws(ShardwiseError) {
        self.descriptor = descriptor
        let d = descriptor
        let depth = d.kernel.height * d.kernel.width * d.inputChannelsPerGroup
        let narrowGroups = NarrowGroupKernel.applies(to: d), depthwise = Conv2D.isDepthwise(d) && !narrowGroups
        var packed: [PackedMatrix] = []
        for group in 0..<(depthwise || narrowGroups ? 0 : d.groups) {
            let filter = d.filter.scalars
            let matrix = try filter.withUnsafeBufferPointer { (buffer) throws(ShardwiseError) -> PackedMatrix in
                let view = StridedMatrix(base: buffer.baseAddress! + group * d.outputChannelsPerGroup,
                                         rowStride: d.outputChannels, columnStride: 1)
                return try PackedMatrix(depth: depth, columns: d.outputChannelsPerGroup, source: view,
                                        keepsTransposed: false)
            }
            packed.append(matrix)
        }
        packedFilters = packed
        let direct = depthwise || narrowGroups
            ? DirectWeights(filter: d.filter.scalars, bias: d.bias?.scalars, channels: d.outputChannels) : nil
        (depthwiseWeights, narrowGroupWeights) = depthwise ? (direct, nil) : (nil, direct)
    }

    /// Whether the direct depthwise kernel computes this layer (groups = input = output channels).
    var isDepthwise: Bool { depthwiseWeights != nil }
    /// Whether `NarrowGroupKernel` computes this layer.
    package var narrowGroups: Bool { narrowGroupWeights != nil }

    /// Whether `d` is depthwise with channel multiplier 1.
    static func isDepthwise(_ d: Conv2DDescriptor) -> Bool {
        d.groups > 1 && d.inputChannelsPerGroup == 1 && d.outputChannelsPerGroup == 1
    }

    /// The GEMM view of one call: rows, columns per group, depth, and how A is read: the input
    /// itself (1×1 kernel, stride 1, one group, no padding: im2col is skipped), in place from
    /// zero-padded bands (`band`, where the plan's shards are narrow enough: `band(for:plan:)`), or
    /// packed from patches.
    struct GEMMShape {
        let geometry: ConvolutionGeometry
        let inputCount: Int
        let rows: Int
        let columns: Int
        let depth: Int
        let patchesAreInput: Bool
        let band: PaddedBand?
    }

    /// Validates an input of `shape` and resolves the call's geometry, once per call.
    func gemmShape(forInput shape: [Int]) throws(ShardwiseError) -> GEMMShape {
        let d = descriptor
        let geometry = try d.geometry(forInput: shape)
        let outputCount = try CheckedSize.elementCount(
            of: [shape[0], geometry.height.output, geometry.width.output, d.outputChannels], "output")
        let inputCount = try CheckedSize.elementCount(of: shape, "input")
        let unpadded = [geometry.height, geometry.width].allSatisfy { $0.padBefore == 0 && $0.padAfter == 0 }
        let depth = d.kernel.height * d.kernel.width * d.inputChannelsPerGroup
        let patchesAreInput = d.kernel == Size2D(1) && d.strides == Size2D(1) && d.groups == 1 && unpadded
        return GEMMShape(geometry: geometry, inputCount: inputCount, rows: outputCount / d.outputChannels,
                         columns: d.outputChannelsPerGroup, depth: depth, patchesAreInput: patchesAreInput,
                         band: patchesAreInput || isDepthwise || narrowGroups
                            ? nil : PaddedBand(descriptor: d, geometry: geometry, depth: depth))
    }

    /// Whether a call with an input of `shape` on `lanes` reads its patches in place from
    /// zero-padded bands (`PaddedBand`) rather than packing them.
    package func readsPatchesFromBands(forInput shape: [Int], lanes: Lanes = .serial) throws(ShardwiseError) -> Bool {
        let s = try gemmShape(forInput: shape)
        return try band(for: s, plan: plan(for: s, lanes: lanes)) != nil
    }

    /// The band a call reads its patches from under `plan`, or nil where it packs them: every
    /// lane's shard must be at most the band's `widestColumns` wide. (An output-channel split can
    /// thus read bands where one lane would pack: each lane packs the same patches, but fills a
    /// band of its own for a fraction of that.)
    func band(for s: GEMMShape, plan: ShardPlan) -> PaddedBand? {
        s.band.flatMap { Swift.min(plan.largestShard.columns, s.columns) <= $0.widestColumns ? $0 : nil }
    }

    /// The plan a call with an input of `shape` would use.
    ///
    /// - Throws: what `descriptor.outputShape(forInput:)` throws.
    public func plan(forInput shape: [Int], lanes: Lanes = .automatic) throws(ShardwiseError) -> ShardPlan {
        try plan(for: try gemmShape(forInput: shape), lanes: lanes)
    }

    func plan(for s: GEMMShape, lanes: Lanes) throws(ShardwiseError) -> ShardPlan {
        if isDepthwise {
            // One pass over the pixels: a split of the output rows duplicates nothing. Shards are cut
            // at whole groups of four pixels, not MR: cut at 12, 1×7×7×1024's 49 pixels went 36 + 13
            // on 2 lanes (0.018–0.019 ms; in fours, 28 + 21, 0.014–0.015; in ones or eights no better).
            // A layer whose pixels slide (see DepthwiseConvolution.swift) is cut at whole output rows,
            // so no shard boundary shortens a row's runs: 2 lanes, 1×7×7×768 7×7 254 → 271 GFLOP/s,
            // 1×14×14×384 266 → 279, 1×14×14×240 5×5 210 → 221 (three interleaved runs).
            return try Planner.plan(rows: s.rows, columns: descriptor.outputChannels, depth: s.depth, lanes: lanes,
                                    packsB: false, aPackingCost: { _, _ in 0 }, allowsColumnSplit: false, kernelSpeed: 0.1,
                                    rowUnit: DepthwiseKernel.slides(geometry: s.geometry, channels: descriptor.inputChannels)
                                        ? s.geometry.width.output : 4)
        }
        if narrowGroups {
            // Like a depthwise layer's, one pass over the pixels, cut at whole rows so that the runs
            // are long; on groups of 4 and 8 the kernel runs at about half the GEMM microkernel's
            // speed (120–130 GFLOP/s), on wider groups at 70–95 % of it (the estimate only weighs
            // lane counts: rows are the one split).
            return try Planner.plan(rows: s.rows, columns: descriptor.outputChannels, depth: s.depth, lanes: lanes,
                                    packsB: false, aPackingCost: { _, _ in 0 }, allowsColumnSplit: false, kernelSpeed: 0.5,
                                    rowUnit: s.geometry.width.output)
        }
        // An output-channel split makes every lane gather the same patches: im2col costs more
        // per element than a copy, because of the index arithmetic and the padding tests. A band
        // copies each input float once, not once per tap: a fraction of a patch row's cost. A
        // lane reads bands when its shard is at most the band's `widestColumns` wide. (The planner
        // prices a strided band with long kernel rows as packing: on 2 lanes, 1×56×56×128 3×3
        // stride 2 → 128 split by output channels onto such bands ran 0.498–0.503 ms against
        // 0.484–0.490 split by rows, packing.)
        //
        // A grouped layer is planned over all its output channels: a lane may take whole groups,
        // and then gathers only their patches. A lane packs each group it spans on its own, but
        // fills one band for all of them. (Before, each group was split among the lanes on its own,
        // a parallel region per group in which every lane packed the group's patches: 1×7×7×2048
        // 3×3 in 32 groups ran 156 GFLOP/s on 2 lanes against 190 now, three interleaved runs on
        // the Zen 4. Pricing a band per group spanned, as packing is, had sent 1×28×28×192 in 8
        // groups to whole groups, each lane filling the whole band: 150 → 144.)
        let bandColumns = s.band.flatMap { $0.undercutsPacking ? $0.widestColumns : nil } ?? 0
        let patchCost: Double = s.patchesAreInput ? 1 : 2, groups = descriptor.groups
        return try Planner.plan(rows: s.rows, columns: descriptor.outputChannels, depth: s.depth, lanes: lanes,
                                packsB: false, aPackingCost: { widest, spanned in
                                    widest <= bandColumns ? 0.25 * Double(groups) : patchCost * Double(spanned)
                                }, groups: groups)
    }

    /// Bytes of workspace a call with an input of `shape` allocates, over all its lanes.
    ///
    /// It is bounded by lanes × (max(MC × aPitch, a band's 512 KiB + MR × aPitch) + MR × NR) floats
    /// whatever the batch size (MR × aPitch: the dot-product tail's staging block, for output
    /// channels that end in one; see DotTail.swift): the patch matrix is never materialized. For a
    /// depthwise layer, the bytes of the one copy of its filter and bias that a call makes at most
    /// (for an input that is not vector-aligned, see DepthwiseConvolution.swift); for narrow groups,
    /// none.
    public func workspaceBytes(forInput shape: [Int], lanes: Lanes = .automatic) throws(ShardwiseError) -> Int {
        let s = try gemmShape(forInput: shape)
        if let weights = depthwiseWeights { return weights.alignedCopyBytes }
        if narrowGroups { return 0 }
        let plan = try plan(for: s, lanes: lanes)
        if let band = band(for: s, plan: plan) { return plan.laneCount * band.workspaceFloats * MemoryLayout<Float>.stride }
        return GEMM.workspaceBytes(plan: plan, depth: s.depth, packsB: false, readsAInPlace: s.patchesAreInput)
    }

    /// Runs the layer on an NHWC `input`.
    ///
    /// - Throws: `ShardwiseError.rankMismatch`, `.channelMismatch`, `.kernelLargerThanPaddedInput`,
    ///   `.sizeOverflow` and what `ConvolutionGeometry` throws.
    public func callAsFunction(_ input: Tensor, lanes: Lanes = .automatic) throws(ShardwiseError) -> Tensor {
        try input.mapped(to: try descriptor.outputShape(forInput: input.shape)) { (source, target) throws(ShardwiseError) in
            try forward(input: source, shape: input.shape, output: target, lanes: lanes)
        }
    }

    /// Runs the layer on caller memory: `input` holds an NHWC tensor of `shape`, `output`
    /// receives the NHWC result (`descriptor.outputShape(forInput: shape)`).
    ///
    /// - Throws: as `callAsFunction(_:lanes:)`, and `.bufferTooShort`. Nothing is written when it throws.
    public func forward(input: UnsafeBufferPointer<Float>, shape: [Int], output: UnsafeMutableBufferPointer<Float>,
                        lanes: Lanes = .automatic) throws(ShardwiseError) {
        let s = try gemmShape(forInput: shape)
        if input.count < s.inputCount {
            throw .bufferTooShort(argument: "input", required: s.inputCount, actual: input.count)
        }
        let outputCount = s.rows * descriptor.outputChannels
        if output.count < outputCount {
            throw .bufferTooShort(argument: "output", required: outputCount, actual: output.count)
        }
        let plan = try self.plan(for: s, lanes: lanes)
        let d = descriptor
        if let weights = depthwiseWeights {
            DepthwiseKernel.run(input: input.baseAddress!, geometry: s.geometry, channels: d.inputChannels,
                                weights: weights, activation: d.activation, plan: plan, lanes: lanes,
                                output: output.baseAddress!)
            return
        }
        if let weights = narrowGroupWeights {
            NarrowGroupKernel.run(input: input.baseAddress!, geometry: s.geometry, channels: d.inputChannels,
                                  groupWidth: d.inputChannelsPerGroup, weights: weights, activation: d.activation, plan: plan, lanes: lanes,
                                  output: output.baseAddress!)
            return
        }
        let biasBase = d.bias?.scalars
        if let band = band(for: s, plan: plan) {
            nonisolated(unsafe) let (source, target) = (input.baseAddress!, output.baseAddress!)
            let filters = packedFilters
            biasBase.withOptionalUnsafeBuffer { bias in
                let epilogue = Epilogue(bias: bias?.baseAddress, activation: d.activation)
                lanes.run(plan) { next in
                    WorkspaceCache.withBuffer(floats: band.workspaceFloats) { workspace in
                        while let shard = next() {
                            band.run(shard: shard, input: source, filters: filters, output: target,
                                     ldc: d.outputChannels, epilogue: epilogue, workspace: workspace)
                        }
                    }
                }
            }
            return
        }
        // One parallel region for all the groups: a lane computes each group its shard spans, as
        // that group's own GEMM (its patches, its filter, its columns of the output and the bias).
        nonisolated(unsafe) let (source, inputEnd) = (input.baseAddress!, input.baseAddress! + s.inputCount)
        let filters = packedFilters, geometry = s.geometry, groupColumns = d.outputChannelsPerGroup
        biasBase.withOptionalUnsafeBuffer { bias in
            nonisolated(unsafe) let bias = bias?.baseAddress
            let epilogue = { @Sendable (group: Int) in
                Epilogue(bias: bias.map { $0 + group * groupColumns }, activation: d.activation)
            }
            func run<A: APanelSource & Sendable>(_ a: @escaping @Sendable (_ group: Int) -> A) {
                GEMM.run(plan: plan, depth: s.depth, groupColumns: groupColumns, a: a, b: { .packed(filters[$0]) },
                         c: output.baseAddress!, ldc: d.outputChannels, epilogue: epilogue, lanes: lanes)
            }
            if s.patchesAreInput {
                run { _ in StridedMatrix(base: source, rowStride: d.inputChannels, columnStride: 1) }
            } else {
                run { group in
                    Im2ColPanelSource(input: source, inputEnd: inputEnd, geometry: geometry, inputChannels: d.inputChannels,
                                      channelOffset: group * d.inputChannelsPerGroup, runLength: d.inputChannelsPerGroup)
                }
            }
        }
    }
}

extension Optional where Wrapped == [Float] {
    /// Calls `body` with the array's storage, or with nil.
    package func withOptionalUnsafeBuffer<R, E: Error>(_ body: (UnsafeBufferPointer<Float>?) throws(E) -> R) throws(E) -> R {
        switch self {
        case .none: return try body(nil)
        case .some(let array): return try array.withUnsafeBufferPointer { (buffer) throws(E) in try body(buffer) }
        }
    }
}
