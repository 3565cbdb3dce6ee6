// Grouped convolution with narrow groups (4, 8 or, on AVX-512, 16, 32 or 48 input channels
// and as many output channels each: ResNeXt's 32 groups at 128 to 1024 channels) by a direct
// SIMD kernel.
//
// As im2col-GEMM, each group is a GEMM with 4 (8) output columns and a depth of KH·KW·4
// (·8): the outer-product microkernel fills a quarter (half) of a 16-float vector, and
// 1×56×56×128 3×3 in 32 groups ran at 25 GFLOP/s (ONNX Runtime: 41). Here vectors run
// along the output channels, as in the depthwise kernel, V/4 (V/8) groups to a vector.
// An output vector's input channels are then the same V channels of the input pixel,
// but output lane l needs input channel ci of *its own* group: lane (l rounded down to
// the group) + ci. So each tap loads the pixel's input vector once and spreads it four
// (eight) ways (`spread`: for groups of 4 one in-lane `vshufps` each on AVX-512 and
// AVX2), each spread times the filter row of input channel ci (HWIO keeps
// [tap][ci][output channel] rows, so the filter is read as it is stored). A multiply-add
// per shuffle, four (eight) per input vector.
//
// Runs of up to 12 pixels of one output row (`PixelRun`; 8 for groups of 8) share each
// filter vector; 12 accumulators keep enough multiply-adds in flight. Any stride and
// dilation: each tap loads each pixel's vector, and skips the pixels whose column is in
// the padding (a range worked out once per tap, so a tap inside the input tests nothing
// per pixel; a select of a zero vector per pixel instead ran at 119 GFLOP/s, the range
// at 129); kernel rows in the padding are skipped. Every output takes its taps in
// (kh, kw, ci) order in any run, so every lane count gives the same bits. 1 lane, 3×3
// in 32 groups (three interleaved runs, medians): 1×56×56×128 24 → 125, 1×28×28×256
// (groups of 8) 69 → 134, 1×56×56×256 stride 2 (of 8) 56 → 122; ONNX Runtime 41 and 55
// on the first two.
//
// Groups of 16 on AVX-512 (ResNeXt's 32 groups at 512 channels) are a vector each. The spread
// would there be a broadcast of each lane, a shuffle per multiply-add; instead each input
// channel is broadcast from memory, a load folded into the multiply-add
// (`computeVectorGroupRun`), and the pixels whose column is in the padding read a vector of
// zeros, as the GEMM's padded patches do (chosen once per tap: no branch per pixel). A
// broadcast per multiply-add caps this at about 80 % of the FMA peak (226 GFLOP/s in a loop
// alone here, against 272 with two multiply-adds per broadcast; with the work per tap and per
// run, the layers below ran at 58–64 % one group at a time, 65–70 % two at a time). The GEMM's
// 1-vector tile (each group a filter panel of 16 columns) has the same ratio, and fills a band
// of input rows per call and per lane shard. 1 lane / 2 lanes, three interleaved runs, GEMM →
// this kernel: 1×14×14×512 3×3 in 32 groups 160 / 264 → 162 / 312 GFLOP/s, the same at stride
// 2 on 28×28 108 / 186 → 146 / 271, 1×56×56×256 in 16 groups at stride 2 139 / 251 → 166 /
// 317; 4×14×14×512 in 32 groups 165 → 160 on 1 lane. On AVX2 the same loads ran groups of 8 (a
// vector there) at 64 against the spread's 87, so they keep the spread. Two groups at a time
// (runs of up to 8 pixels, 16 accumulators) share each tap's padding bounds, addresses and
// loop: 1 lane / 2 lanes, three interleaved runs, 1×14×14×512 160 / 316 → 194 / 380, its
// stride-2 form 149 / 278 → 175 / 334, 1×28×28×256 in 16 groups 179 / 346 → 192 / 374,
// 4×14×14×512 163 / 315 → 195 / 379.
//
// Groups of 32 on AVX-512 are two vectors each: each broadcast feeds both output vectors of
// the group, two multiply-adds, the ratio of the GEMM's 12 × 2-vector tile, without the band
// of input rows each lane shard fills. 1 lane / 2 lanes, three interleaved runs, GEMM → this
// kernel: 1×7×7×1024 3×3 in 32 groups 226 / 283 → 256 / 424, 1×14×14×1024 stride 2 191 / 232 →
// 229 / 369, 1×14×14×1024 240 / 405 → 243 / 465, 1×56×56×256 in 8 groups 249 / 481 → 261 /
// 510. Groups of 48 are three vectors, in runs of up to 5 pixels (15 accumulators; with 24, in
// runs of 8, the optimizer produced 53–59 GFLOP/s): 1×28×28×384 1×1 in 8 groups 173 / 320 →
// 222 / 428, 1×28×28×384 3×3 stride 2 in 8 groups 202 / 355 → 251 / 474, 1×56×56×192 in 4
// groups 236 / 463 → 255 / 499, 1×14×14×768 in 16 groups 228 / 399 → 221 / 419. Groups of 64
// measured slower than the GEMM in runs of 4 (1×7×7×2048 in 32 groups 243 → 165) and take the
// GEMM.
//
// Depthwise layers (groups of 1) of one or three vectors of channels take this kernel
// too, unless they slide (see `applies(to:)` and DepthwiseConvolution.swift): there
// a multiply-add per input load, but no per-pixel padding test, where the depthwise
// kernel's interior groups, built on pairs of vectors, leave an odd vector to its
// per-pixel path.

/// The direct kernel of a layer of narrow groups (`applies(to:)`) for one call.
struct NarrowGroupKernel: @unchecked Sendable {
    // @unchecked: raw pointers into the caller's input and the layer's weights, read-only during
    // the call.
    let input: UnsafePointer<Float>
    let geometry: ConvolutionGeometry
    let channels: Int
    /// Filter rows (one per tap and input channel of a group) `filterPitch` apart (`DirectWeights`).
    let filter: UnsafePointer<Float>
    let filterPitch: Int
    let epilogue: Epilogue

    /// Input and output channels per group: 1, 4, 8, 16, 32 or 48.
    let groupWidth: Int

    /// Whether the kernel computes layers of `d`: groups of 4, 8 or 16 input and as many output
    /// channels, whole groups to a vector, or of 32 or 48 on AVX-512 (two or three vectors), whole
    /// vectors of channels; and depthwise layers (groups of
    /// 1) of one or three vectors of channels whose pixels do not slide (`DepthwiseKernel.slides`).
    /// The depthwise kernel takes such a layer's odd vector one pixel at a time, with a test per tap:
    /// 1 lane, 1×112×112×16 3×3 stride 2 22.5 → 47 GFLOP/s, 1×56×56×16 5×5 stride 2 28 → 55,
    /// 1×56×56×48 3×3 stride 2 37 → 46 (three interleaved runs; at stride 1 these now slide, faster
    /// still). With more vectors its pairs of vectors win: 1×56×56×144 3×3 stride 2 ran 42 there
    /// against 33 here, and layers of whole pairs 1.1–2.1 times as fast (the other depthwise layers
    /// measured).
    static func applies(to d: Conv2DDescriptor) -> Bool {
        let width = d.inputChannelsPerGroup, vectors = d.inputChannels / Vector.scalarCount
        guard d.groups > 1 && d.outputChannelsPerGroup == width && d.inputChannels % Vector.scalarCount == 0
        else { return false }
        if width == 1 {
            return (vectors == 1 || vectors == 3)
                && !DepthwiseKernel.slides(kernelWidth: d.kernel.width, stride: d.strides.width,
                                           dilation: d.dilations.width, channels: d.inputChannels)
        }
        return [4, 8, 16].contains(width) && Vector.scalarCount % width == 0
            || [32, 48].contains(width) && Vector.scalarCount == 16
    }

    /// Computes a call of a layer of narrow groups: the output pixels of `plan`'s shards, on `lanes`.
    static func run(input: UnsafePointer<Float>, geometry: ConvolutionGeometry, channels: Int, groupWidth: Int,
                    weights: DirectWeights, activation: Activation, plan: ShardPlan, lanes: Lanes,
                    output: UnsafeMutablePointer<Float>) {
        nonisolated(unsafe) let output = output
        weights.withWindowsAligned(shift: 0) { filter, bias in
            let kernel = NarrowGroupKernel(input: input, geometry: geometry, channels: channels, filter: filter,
                                           filterPitch: weights.pitch, epilogue: Epilogue(bias: bias, activation: activation),
                                           groupWidth: groupWidth)
            lanes.run(plan) { next in
                while let shard = next() { kernel.run(pixels: shard.rows, output: output) }
            }
        }
    }

    /// Computes output pixels `pixels` (flattened N·OH·OW) into `output` (NHWC), in runs
    /// (`PixelRun.forEach`), a vector of channels at a time, or a group of 32 or 48 channels, or two
    /// of 16.
    func run(pixels: Range<Int>, output: UnsafeMutablePointer<Float>) {
        let h = geometry.height, w = geometry.width
        // Groups of 8 in runs of at most 8: longer runs (16 multiply-adds a pixel and tap) were
        // again too large for the optimizer (see `StaticCount`). Groups of 16 and 32 too: they go
        // two vectors at a time, and two runs of 12 were (1×28×28×256 in 16 groups 179 → 82
        // GFLOP/s); groups of 48, three vectors, in runs of at most 5.
        let longest = groupWidth == 48 ? 5 : groupWidth >= 8 ? 8 : PixelRun.longest
        PixelRun.forEach(in: pixels, geometry: geometry, longest: longest) {
            image, oh, ow, run in
            let imageBase = input + image * h.input * w.input * channels
            let target = output + ((image * h.output + oh) * w.output + ow) * channels
            let kernelRows = h.tapsInside(output: oh)  // once per run, not per vector of channels
            var c0 = 0
            while c0 < channels {
                // A group of 32 or 48 channels a call, or two of 16 where two remain (see
                // `computeVectorGroupRun`).
                let pair = groupWidth == 16 && run <= 8 && c0 + 2 * Vector.scalarCount <= channels
                computeRun(run, pair: pair, imageBase: imageBase + c0, oh: oh, kernelRows: kernelRows, ow: ow,
                           channel: c0, output: target + c0)
                c0 += groupWidth >= 32 ? groupWidth : pair ? 2 * Vector.scalarCount : Vector.scalarCount
            }
        }
    }

    /// `pixels` consecutive pixels of output row `oh` from column `ow`, one vector of channels from
    /// `channel` (two groups of 16 where `pair`; a whole group of 32 or 48) (`imageBase`: the image's
    /// first pixel, `channel` channels in; `kernelRows`: those inside the input), by the run of that
    /// length and group width.
    @inline(__always)
    private func computeRun(_ pixels: Int, pair: Bool, imageBase: UnsafePointer<Float>, oh: Int,
                            kernelRows: Range<Int>, ow: Int, channel: Int, output: UnsafeMutablePointer<Float>) {
        @inline(__always) func run<Length: StaticCount>(_ length: Length.Type) {
            // Groups of 8 come in runs of at most 8 (`run(pixels:output:)`); groups of 16, 32 and 48
            // (one to three vectors on AVX-512) take broadcast loads, not the spread.
            if groupWidth == 48 && Length.value <= 5 {
                computeVectorGroupRun(length, Count1.self, Count3.self, imageBase: imageBase, oh: oh,
                                      kernelRows: kernelRows, ow: ow, channel: channel, output: output)
            } else if groupWidth == 32 && Length.value <= 8 {
                computeVectorGroupRun(length, Count1.self, Count2.self, imageBase: imageBase, oh: oh,
                                      kernelRows: kernelRows, ow: ow, channel: channel, output: output)
            } else if pair && Length.value <= 8 {
                computeVectorGroupRun(length, Count2.self, Count1.self, imageBase: imageBase, oh: oh,
                                      kernelRows: kernelRows, ow: ow, channel: channel, output: output)
            } else if groupWidth == 16 {
                computeVectorGroupRun(length, Count1.self, Count1.self, imageBase: imageBase, oh: oh,
                                      kernelRows: kernelRows, ow: ow, channel: channel, output: output)
            } else if groupWidth == 8 && Length.value <= 8 {
                computeRun(length, Count8.self, imageBase: imageBase, oh: oh, kernelRows: kernelRows, ow: ow,
                           channel: channel, output: output)
            } else if groupWidth == 1 {
                computeRun(length, Count1.self, imageBase: imageBase, oh: oh, kernelRows: kernelRows, ow: ow,
                           channel: channel, output: output)
            } else {
                computeRun(length, Count4.self, imageBase: imageBase, oh: oh, kernelRows: kernelRows, ow: ow,
                           channel: channel, output: output)
            }
        }
        switch pixels {
        case 1: run(Count1.self)
        case 2: run(Count2.self)
        case 3: run(Count3.self)
        case 4: run(Count4.self)
        case 5: run(Count5.self)
        case 6: run(Count6.self)
        case 7: run(Count7.self)
        case 8: run(Count8.self)
        case 9: run(Count9.self)
        case 10: run(Count10.self)
        case 11: run(Count11.self)
        default: run(Count12.self)
        }
    }

    /// A run of `Length.value` pixels in groups of `Width.value` channels: a function of its own for
    /// each (specialized).
    @inline(never)
    private func computeRun<Length: StaticCount, Width: StaticCount>(_: Length.Type, _: Width.Type,
                                                                     imageBase: UnsafePointer<Float>, oh: Int,
                                                                     kernelRows: Range<Int>, ow: Int,
                                                                     channel: Int, output: UnsafeMutablePointer<Float>) {
        computeRun(pixels: Length.value, groupWidth: Width.value, imageBase: imageBase, oh: oh, kernelRows: kernelRows,
                   ow: ow,
                   channel: channel, output: output)
    }

    /// The run itself; `pixels` and `groupWidth` are constants after inlining (transparent: the
    /// optimizer outlined it).
    @_transparent
    private func computeRun(pixels: Int, groupWidth: Int, imageBase: UnsafePointer<Float>, oh: Int,
                            kernelRows: Range<Int>, ow: Int,
                            channel: Int, output: UnsafeMutablePointer<Float>) {
        let h = geometry.height, w = geometry.width
        let pixelBytes = channels * 4, tapBytes = groupWidth * filterPitch * 4, filterBytes = filterPitch * 4
        let columnStep = w.stride, width = w.input
        var sums = PixelRun()
        for kh in kernelRows {
            let row = UnsafeRawPointer(imageBase + h.inputIndex(output: oh, tap: kh) * w.input * channels)
            var weights = UnsafeRawPointer(filter + kh * w.kernel * groupWidth * filterPitch + channel)
            for kw in 0..<w.kernel {
                // The filter rows of the group's input channels for this tap.
                @_transparent func filterRow(_ c: Int) -> Vector {
                    c < groupWidth ? weights.loadUnaligned(fromByteOffset: c * filterBytes, as: Vector.self) : Vector()
                }
                let (w0, w1, w2, w3) = (filterRow(0), filterRow(1), filterRow(2), filterRow(3))
                let (w4, w5, w6, w7) = (filterRow(4), filterRow(5), filterRow(6), filterRow(7))
                let first = w.inputIndex(output: ow, tap: kw)
                @_transparent func add(_ x: Vector, to sum: inout Vector) {
                    sum = multiplyAdd(sum, spread(x, 0, groupWidth), w0)
                    if groupWidth == 1 { return }
                    sum = multiplyAdd(sum, spread(x, 1, groupWidth), w1)
                    sum = multiplyAdd(sum, spread(x, 2, groupWidth), w2)
                    sum = multiplyAdd(sum, spread(x, 3, groupWidth), w3)
                    if groupWidth == 8 {
                        sum = multiplyAdd(sum, spread(x, 4, groupWidth), w4)
                        sum = multiplyAdd(sum, spread(x, 5, groupWidth), w5)
                        sum = multiplyAdd(sum, spread(x, 6, groupWidth), w6)
                        sum = multiplyAdd(sum, spread(x, 7, groupWidth), w7)
                    }
                }
                // The pixels whose column `first + p · columnStep` is inside the input row, from `firstInside`
                // up to `endInside` (none where the first is not below the end): the others skip the tap.
                let firstInside = first >= 0 ? 0 : (columnStep - 1 - first) / columnStep
                let endInside = Swift.min(pixels, first < width ? (width - first + columnStep - 1) / columnStep : 0)
                @_transparent func tap(_ p: Int, _ sum: inout Vector) {
                    if p >= firstInside && p < endInside {
                        add(row.loadUnaligned(fromByteOffset: (first + p * columnStep) * pixelBytes, as: Vector.self), to: &sum)
                    }
                }
                sums.update(pixels, tap)
                weights += tapBytes
            }
        }
        sums.store(pixels, epilogue, column: channel, into: UnsafeMutableRawPointer(output), pixelBytes: pixelBytes)
    }
}

extension NarrowGroupKernel {
    /// A run of `Length.value` pixels of `Groups.value` (1 or 2) consecutive groups each
    /// `Width.value` (1 to 3) vectors wide, three vectors at most: for each tap and input channel
    /// ci, each output vector's filter row times ci broadcast from each pixel's input (read from
    /// memory, not spread from a loaded vector: no shuffles; one broadcast per multiply-add for
    /// groups of a vector, one per two or three for wider groups). Two groups share the tap's work:
    /// its padding bounds, the pixels' addresses and the loop.
    @inline(never)
    fileprivate func computeVectorGroupRun<Length: StaticCount, Groups: StaticCount, Width: StaticCount>(
        _: Length.Type, _: Groups.Type, _: Width.Type, imageBase: UnsafePointer<Float>, oh: Int,
        kernelRows: Range<Int>, ow: Int, channel: Int, output: UnsafeMutablePointer<Float>
    ) {
        let pixels = Length.value, groups = Groups.value, groupVectors = Width.value
        let inputChannels = groupVectors * Vector.scalarCount
        let h = geometry.height, w = geometry.width
        let pixelBytes = channels * 4, filterBytes = filterPitch * 4, tapBytes = inputChannels * filterBytes
        let columnStep = w.stride, width = w.input, stepBytes = columnStep * pixelBytes
        let vectors = groups * groupVectors  // output vectors, 1 to 3
        var sums = (PixelRun(), PixelRun(), PixelRun())
        var zero = (Vector(), Vector(), Vector())  // zeros for every input channel a call reads
        withUnsafeBytes(of: &zero) { zeros in
            let zeros = zeros.baseAddress!
            for kh in kernelRows {
                let row = UnsafeRawPointer(imageBase + h.inputIndex(output: oh, tap: kh) * w.input * channels)
                var weights = UnsafeRawPointer(filter + kh * w.kernel * inputChannels * filterPitch + channel)
                for kw in 0..<w.kernel {
                    let first = w.inputIndex(output: ow, tap: kw)
                    let firstInside = first >= 0 ? 0 : (columnStep - 1 - first) / columnStep
                    let endInside = Swift.min(pixels, first < width ? (width - first + columnStep - 1) / columnStep : 0)
                    let firstByte = first * pixelBytes
                    // Output vector j's filter row for input channel ci, times ci of its group.
                    @_transparent func add(_ ci: Int, vector j: Int, to sums: inout PixelRun) {
                        let offset = j * Vector.scalarCount * 4, inputOffset = groupVectors == 1 ? offset : 0
                        let filterRow = weights.loadUnaligned(fromByteOffset: ci * filterBytes + offset, as: Vector.self)
                        sums.update(pixels) { p, sum in
                            let source = p >= firstInside && p < endInside ? row + (firstByte + p * stepBytes) : zeros
                            let x = source.load(fromByteOffset: inputOffset + ci * 4, as: Float.self)
                            sum = multiplyAdd(sum, Vector(repeating: x), filterRow)
                        }
                    }
                    for ci in 0..<inputChannels {
                        add(ci, vector: 0, to: &sums.0)
                        if vectors > 1 { add(ci, vector: 1, to: &sums.1) }
                        if vectors > 2 { add(ci, vector: 2, to: &sums.2) }
                    }
                    weights += tapBytes
                }
            }
        }
        @_transparent func store(_ sums: PixelRun, vector j: Int) {
            guard j < vectors else { return }
            sums.store(pixels, epilogue, column: channel + j * Vector.scalarCount,
                       into: UnsafeMutableRawPointer(output + j * Vector.scalarCount), pixelBytes: pixelBytes)
        }
        store(sums.0, vector: 0); store(sums.1, vector: 1); store(sums.2, vector: 2)
    }
}

/// Lane l of the result is lane (l rounded down to a multiple of `width`) + `c` of `x`: each group
/// of `width` (1, 4 or 8) lanes takes its `c`th element (`c` and `width` constants after inlining).
/// A group of 1 is `x` itself; for groups of 4, one in-lane shuffle on AVX-512 and AVX2; otherwise
/// a shuffle across 128-bit lanes, or a broadcast where the group is the whole vector. Written out
/// lane by lane: as a loop over the lanes, its 48 copies in a run of 12 pixels made the run too
/// large for the optimizer, which then left the run's vector loads and stores as calls.
@_transparent
private func spread(_ x: Vector, _ c: Int, _ width: Int) -> Vector {
    if width == 1 { return x }
    #if SHARDWISE_AVX512
    if width == 4 {
        return Vector(x[c], x[c], x[c], x[c], x[4 + c], x[4 + c], x[4 + c], x[4 + c],
                      x[8 + c], x[8 + c], x[8 + c], x[8 + c], x[12 + c], x[12 + c], x[12 + c], x[12 + c])
    }
    return Vector(x[c], x[c], x[c], x[c], x[c], x[c], x[c], x[c],
                  x[8 + c], x[8 + c], x[8 + c], x[8 + c], x[8 + c], x[8 + c], x[8 + c], x[8 + c])
    #elseif SHARDWISE_AVX2
    if width == 4 { return Vector(x[c], x[c], x[c], x[c], x[4 + c], x[4 + c], x[4 + c], x[4 + c]) }
    return Vector(repeating: x[c])
    #else
    return Vector(repeating: x[c])
    #endif
}

/// A count as a type (a run's length, a group's width), so that each run is a function of its
/// own, optimized with its counts constants. With the twelve lengths' transparent bodies in one
/// function, the optimizer ran over its budget and left the runs' vector loads and stores as calls
/// (1×56×56×128 3×3 in 32 groups: 33 GFLOP/s).
private protocol StaticCount { static var value: Int { get } }
private enum Count1: StaticCount { static var value: Int { 1 } }
private enum Count2: StaticCount { static var value: Int { 2 } }
private enum Count3: StaticCount { static var value: Int { 3 } }
private enum Count4: StaticCount { static var value: Int { 4 } }
private enum Count5: StaticCount { static var value: Int { 5 } }
private enum Count6: StaticCount { static var value: Int { 6 } }
private enum Count7: StaticCount { static var value: Int { 7 } }
private enum Count8: StaticCount { static var value: Int { 8 } }
private enum Count9: StaticCount { static var value: Int { 9 } }
private enum Count10: StaticCount { static var value: Int { 10 } }
private enum Count11: StaticCount { static var value: Int { 11 } }
private enum Count12: StaticCount { static var value: Int { 12 } }
