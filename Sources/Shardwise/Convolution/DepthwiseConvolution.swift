// Depthwise convolution (groups = input channels = output channels) by a direct SIMD kernel.
//
// As im2col-GEMM, a depthwise layer is C separate GEMMs with one output column
// and K = KH·KW: the outer-product microkernel would use one of its NR columns.
// Here vectors run along the channels instead, which NHWC stores contiguously:
//   out[n, oh, ow, c…c+V] = bias + Σ over valid taps of in[n, ih, iw, c…c+V] · w[kh, kw, c…c+V]
// Four neighbouring output pixels are computed together (eight on AVX-512 and arm64
// where the channels are one vector pair), so each filter vector is loaded once
// per tap for four (eight) multiply-adds. Taps that fall into the padding are
// skipped (not multiplied by zero); the tap order is fixed (kh, then kw), so every
// output is computed by the same operations whichever lane owns its pixel.
//
// Kernels 5 or 7 wide (3 wide on some layers, below), at a width
// stride and dilation of 1 and with whole vectors of channels, *slide* instead
// (`slidingRun`, `runSliding`). A run of up to 12 pixels of one output row (6 with 16
// vector registers) keeps an accumulator per pixel and, for each kernel row, the
// vectors its first tap reads; each further tap reads the same vectors one input column
// on, so they slide down by one register (free once unrolled) and one new vector is
// loaded. A kernel row of width W then costs run + W − 1 input
// loads and W filter loads for run · W multiply-adds, where the groups below load an
// input vector for every multiply-add. Border pixels slide too: an input column in the
// padding reads a vector of zeros, which leaves every sum's bits as skipping the tap
// would (for finite filters; see `slidingRun`), so a row is all runs, as few and as
// even as 12 allows (`PixelRun.length(splitting:)`): a run under 8 pixels leaves the
// multiply-add's latency exposed. Shards of such a layer are whole rows, which keeps
// the runs long. 1 lane, GFLOP/s (medians of three interleaved runs, the input where
// the heap put it): 1×56×56×96 7×7 94 → 156, 1×28×28×192 7×7 82 → 156, 1×14×14×384
// 7×7 58 → 149, 1×7×7×768 7×7 54 → 172, 1×28×28×192 5×5 97 → 123, 1×14×14×240 5×5
// 53 → 128; 2 lanes 178 → 292, 156 → 299, 106 → 269, 81 → 253, 183 → 242, 98 → 216.
// 3×3 kernels on an odd number of vectors, whose last one the groups leave to the
// per-pixel path, slide: 1×112×112×16 45 → 84 (24 before the narrow-group kernel took
// it), 1×56×56×48 46 → 89, 1×56×56×80 47 → 79, 1×28×28×112 48 → 92, 1×56×56×144
// 51 → 80, 1×28×28×240 52 → 73, 1×14×14×240 55 → 80 (three interleaved runs).
// On whole pairs of vectors, sliding a 3×3 kernel won on small images and lost on large
// ones, and where a row's pixels are a multiple of 2 KB apart (probably as a run's loads
// then share a few of the L1's 64 sets, and three taps reuse too little to hide it): on
// AVX-512 such a layer slides from four vectors, over an image (one input plane) of at
// most 1.5 MiB whose pixels are not 2 KB apart (`slides(geometry:channels:)`). 1 lane / 2
// lanes, three interleaved runs, groups → sliding: 1×28×28×64 76 / 114 → 102 / 152,
// 1×56×56×64 80 / 153 → 89 / 178, 1×28×28×128 78 / 128 → 88 / 152, 1×14×14×192
// 70 / 95 → 84 / 128, 1×14×14×256 67 / 100 → 77 / 130, 1×28×28×384 70 / 124 → 79 / 149,
// 1×14×14×576 62 / 101 → 80 / 147, 1×7×7×960 46 / 66 → 88 / 129. Past the rule:
// 1×56×56×128 (1.6 MB) level, 1×56×56×256 82 → 67, 1×112×112×64 86 → 83, 1×112×112×96
// 86 → 80, 1×112×112×32 (two vectors, an earlier session) 96 → 84; 2 KB and 4 KB apart,
// 1×14×14×512 57 / 95 → 57 / 102, 1×7×7×512 46 / 59 → 65 / 42, 1×7×7×1024 43 / 62 → 40 / 59.
//
// Pixels with every horizontal tap inside the input take a path with no tests at all:
// one flat loop over a table of tap offsets (the kernel rows inside the input: all of
// them away from the top and bottom), eight (sixteen) accumulators, the epilogue once
// per group (1×112×112×32 3×3, four pixels: 33 → 48 GFLOP/s). About 2 FLOPs per
// input float read, so the layer leans on the caches: a seventh to a third of the FMA peak.
// Its loads read the caller's NHWC input in place, so where the input lies within a
// cache line matters: with the input 4, 8 or 12 floats past a 64-byte boundary every
// 64-byte load was split across two lines, and 1×56×56×128 3×3 ran 0.135–0.149 ms
// against 0.105–0.107 aligned (1×112×112×32 0.103–0.108 against 0.077–0.079); where
// the output lies moved nothing. Swift arrays are only 16-byte aligned, and a large one
// starts 48 bytes past a page, so misaligned was the common case.
// So where the width stride is 1 and the channels are whole vector pairs, interior
// groups read aligned *windows* instead of pixels: a group's vectors start `shift`
// channels into its first pixel, at a vector boundary, and its last window spills
// `shift` channels into the pixel after the group (which must be interior too, and the
// lane's: a group never ends a lane's range or a row's interior). At width stride 1 each
// tap is a fixed offset from the output in the flattened [width · channels] row, so a
// window that straddles two pixels computes both pixels' channels; the filter and bias
// rows are extended by their first vector (`DirectWeights`) for the channels that
// wrap round, and copied per call so that the windows read them aligned too, when the
// input is not (split filter loads cost as much as the aligned input saved). A run's
// first pixel gets its first channels from the per-pixel path as one whole vector, and a
// pixel after the last window gets the rest of its channels as whole vectors, the last
// ending at its last channel: every output sees the same multiply-adds in the same
// order, so the bits are the same at any alignment and for any lane split. Copying input
// rows into an aligned buffer on every call instead had cost as much as it saved (0.140
// ms).
// The per-pixel path (one vector of channels at a time, a padding test per tap) is
// several times slower per pixel than a group, so as few pixels as possible take it:
//  - the top and bottom rows' interior pixels take groups too, with the kernel rows
//    inside the input, whose taps lead the offset table (3.5 % of 1×112×112×32's pixels
//    had taken a quarter of its time);
//  - the last two or three pixels of an interior run take the run's last four again,
//    pixel-aligned (the others get the same bits again; never before the call's range);
//    a last single pixel goes alone, as a border pixel does: a 7-wide row's interior run
//    of 5 had computed 8 pixels, and 1×7×7×1024 ran 0.031–0.032 → 0.022–0.023 ms, 8×7×7×512
//    0.102–0.104 → 0.079–0.082 (three interleaved runs; the other depthwise shapes level).
//    Two pixels alone lost to four again (1×112×112×32 0.079–0.081 → 0.084–0.088,
//    8×56×56×32 0.173–0.175 → 0.192–0.197);
//  - a pixel taken alone (left and right borders) runs four vectors of channels at a time,
//    then two, with independent accumulators.
// Each step, 1 lane, three interleaved runs (ms,
// input aligned / 4 floats past a 64-byte boundary), from the session's start through
// windows and top and bottom rows to the last four again:
//   1×112×112×32   0.077–0.082 → 0.077–0.079 → 0.069–0.073 / 0.103–0.106 → 0.084–0.086 → 0.075–0.083
//   1×56×56×128    0.106–0.110 → 0.099–0.103 → 0.090–0.091 / 0.141–0.143 → 0.109–0.115 → 0.099–0.102
//   8×56×56×32     0.178–0.189 → 0.171–0.179 → 0.154–0.157 / 0.232–0.238 → 0.196–0.204 → 0.173–0.178
//   1×28×28×256    0.065–0.067 → 0.061–0.064 → 0.051–0.053 / 0.082–0.088 → 0.072–0.072 → 0.059–0.063
//   8×28×28×256 s2 0.165–0.171 → 0.160–0.170 → 0.141–0.147 / 0.193–0.205 → 0.205–0.228 → 0.182–0.188
// and then four vectors per lone pixel (three interleaved runs, inputs where the heap put them):
//   1×7×7×1024 0.041 → 0.029–0.030, 1×14×14×512 0.041–0.042 → 0.031, 1×28×28×64 0.015–0.016 → 0.012,
//   1×56×56×128 0.096–0.097 → 0.084, 1×28×28×256 0.056–0.058 → 0.046–0.048, 8×28×28×256 s2
//   0.154–0.157 → 0.131–0.133; two vectors too (32 channels), three more interleaved runs:
//   8×56×56×32 0.166–0.169 → 0.142–0.148 aligned and 0.190–0.192 → 0.167–0.168 four floats
//   off, 1×112×112×32 0.078–0.079 → 0.072–0.073 and 0.080–0.083 → 0.075.
// A strided width keeps pixel-aligned vectors (a wrapping window would step to the wrong
// input pixel), so it still pays for a misaligned input. To measure at a given alignment:
// `shardwise-bench --shapes Benchmarks/shapes/depthwise.txt --input-offset N` (README).
// The optimizer had left the epilogue (`Epilogue.finishAndStore`, `clamp`) as
// out-of-line calls in that loop despite `@inline(__always)`; now transparent, the
// layer runs at 70–71 rather than 54 GFLOP/s alone (median of 5 interleaved runs),
// 58 rather than 47 inside the benchmark suite.

/// A direct kernel's filter and bias, as the depthwise kernel reads them: each filter row (one
/// tap's C channels) and the bias followed by their first V channels again, so that a window of
/// channels that runs past the last channel into the next pixel's first (see the file header)
/// reads the right weights. `NarrowGroupKernel` reads its layer's weights from one too, a row per
/// tap and input channel of a group, without windows.
package final class DirectWeights: @unchecked Sendable {
    // @unchecked: the storage is written only in `init` and read-only afterwards.
    /// Floats per filter row: C + V.
    let pitch: Int
    /// Filter rows (KH·KW of them, then the bias row when there is a bias), `pitch` apart, from
    /// a 64-byte boundary.
    private let rows: UnsafeMutablePointer<Float>
    private let filterRows: Int
    private let hasBias: Bool

    /// Extends `filter` ([KH·KW, channels], HWIO with I = 1) and `bias` ([channels]) row by row.
    package init(filter: [Float], bias: [Float]?, channels: Int) {
        pitch = channels + Vector.scalarCount
        filterRows = filter.count / channels
        hasBias = bias != nil
        let source = filter + (bias ?? [])
        let count = source.count / channels * pitch
        rows = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: count)
        for row in 0..<(source.count / channels) {
            for c in 0..<pitch { (rows + row * pitch + c).initialize(to: source[row * channels + c % channels]) }
        }
    }

    deinit { rows.deallocate() }

    /// Bytes of the copy `withWindowsAligned(shift:_:)` makes for an input that is not
    /// vector-aligned: the most workspace a call uses.
    var alignedCopyBytes: Int {
        (storedFloats + Vector.scalarCount) * MemoryLayout<Float>.stride
    }

    /// Floats of the stored rows: the filter's, then the bias's.
    private var storedFloats: Int { (filterRows + (hasBias ? 1 : 0)) * pitch }

    /// Runs `body` with the filter rows and the bias placed so that a window starting `shift`
    /// channels into a row is vector-aligned: the stored rows themselves when `shift` is zero, else
    /// a copy (a split load per tap of the filter cost as much as aligned input windows saved).
    func withWindowsAligned<R>(shift: Int,
                               _ body: (_ filter: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?) -> R) -> R {
        func run(_ rows: UnsafePointer<Float>) -> R {
            body(rows, hasBias ? rows + filterRows * pitch : nil)
        }
        if shift == 0 { return run(rows) }
        return withUnsafeTemporaryAllocation(byteCount: alignedCopyBytes, alignment: 64) { buffer in
            let copy = buffer.baseAddress!.bindMemory(to: Float.self, capacity: storedFloats + Vector.scalarCount)
                + (Vector.scalarCount - shift)
            copy.initialize(from: rows, count: storedFloats)
            return run(copy)
        }
    }
}

/// The direct depthwise kernel for one call: channel multiplier 1.
package struct DepthwiseKernel: @unchecked Sendable {
    // @unchecked: raw pointers into the caller's input and the layer's filter and bias (or the
    // call's aligned copy of them), all read-only during the call.
    let input: UnsafePointer<Float>
    let geometry: ConvolutionGeometry
    let channels: Int
    /// Filter rows `filterPitch` apart (`DirectWeights`), aligned for windows `shift` channels in.
    package let filter: UnsafePointer<Float>
    let filterPitch: Int
    /// Channels from each input pixel's start to its interior windows (`windowShift`).
    package let shift: Int
    /// With the bias of `DirectWeights`.
    let epilogue: Epilogue
    /// Byte offsets of the taps from a pixel's first tap, kernel row by kernel row, for pixels
    /// with every horizontal tap inside.
    let tapOffsets: UnsafeBufferPointer<Int>
    /// The interior output columns: those whose every horizontal tap is inside the input row.
    let interiorColumns: Range<Int>
    /// A vector of zeros: what a sliding run reads for an input column in the padding.
    let zeros: UnsafeRawPointer

    /// Computes a call of a depthwise layer: the output pixels of `plan`'s shards, on `lanes`.
    static func run(input: UnsafePointer<Float>, geometry: ConvolutionGeometry, channels: Int,
                    weights: DirectWeights, activation: Activation, plan: ShardPlan, lanes: Lanes,
                    output: UnsafeMutablePointer<Float>) {
        nonisolated(unsafe) let output = output
        withKernel(input: input, geometry: geometry, channels: channels, weights: weights, activation: activation) {
            kernel in
            lanes.run(plan) { next in
                while let shard = next() { kernel.run(pixels: shard.rows, output: output) }
            }
        }
    }

    /// Runs `body` with the kernel of one call on `input`, valid during `body`: its window shift,
    /// its weights aligned for it (`DirectWeights.withWindowsAligned`), its tap table and
    /// interior columns, worked out once for all the call's shards.
    package static func withKernel<R>(input: UnsafePointer<Float>, geometry: ConvolutionGeometry, channels: Int,
                                      weights: DirectWeights, activation: Activation,
                                      _ body: (DepthwiseKernel) -> R) -> R {
        let h = geometry.height, w = geometry.width
        let interiorStart = (0..<w.output).first { w.allTapsInside(outputs: $0, through: $0) } ?? w.output
        let interiorEnd = (interiorStart..<w.output).last { w.allTapsInside(outputs: $0, through: $0) }.map { $0 + 1 }
            ?? interiorStart
        let shift = windowShift(input: input, geometry: geometry, channels: channels)
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: h.kernel * w.kernel) { taps in
            for t in taps.indices {
                taps.initializeElement(at: t, to: ((t / w.kernel) * h.dilation * w.input + (t % w.kernel) * w.dilation)
                                                  * channels * MemoryLayout<Float>.stride)
            }
            return withUnsafeTemporaryAllocation(of: Vector.self, capacity: 1) { zeros in
                zeros.initializeElement(at: 0, to: Vector())
                return weights.withWindowsAligned(shift: shift) { filter, bias in
                    body(DepthwiseKernel(input: input, geometry: geometry, channels: channels, filter: filter,
                                         filterPitch: weights.pitch, shift: shift,
                                         epilogue: Epilogue(bias: bias, activation: activation),
                                         tapOffsets: UnsafeBufferPointer(taps), interiorColumns: interiorStart..<interiorEnd,
                                         zeros: UnsafeRawPointer(zeros.baseAddress!)))
                }
            }
        }
    }

    /// Channels from each input pixel's start to the next vector boundary (the same for every
    /// pixel, the channels being whole vector pairs): where interior groups start their aligned
    /// windows. Zero where the input is aligned, and where windows do not apply: a strided width
    /// (a window wrapping into the next output pixel would read the wrong input pixel), or
    /// channels that are not whole vector pairs.
    static func windowShift(input: UnsafePointer<Float>, geometry: ConvolutionGeometry, channels: Int) -> Int {
        let v = Vector.scalarCount
        guard geometry.width.stride == 1 && channels % (2 * v) == 0 && !slides(geometry: geometry, channels: channels)
        else { return 0 }
        return (v - Int(UInt(bitPattern: input) / UInt(MemoryLayout<Float>.stride) % UInt(v))) % v
    }

    /// Computes output pixels `pixels` (flattened N·OH·OW) into `output` (NHWC): by `runSliding`
    /// where the layer slides; otherwise one output row at a time, the interior pixels (`interiorColumns`) go four (or eight, `takesEightPixels`) at
    /// a time through `computeInterior` with the row's kernel rows inside the input, in aligned
    /// windows where `windowShift` says so; the border pixels, and what windows leave, through
    /// `computeVectors` and `computeLoneVectors`.
    package func run(pixels: Range<Int>, output: UnsafeMutablePointer<Float>) {
        if slides { return runSliding(pixels: pixels, output: output) }
        let h = geometry.height, w = geometry.width
        let plane = h.output * w.output
        let interiorStart = interiorColumns.lowerBound, interiorEnd = interiorColumns.upperBound
        // A group of windows spills into the pixel after it, which must then be interior too and
        // this call's (`available` stops at the end of `pixels`).
        let spill = shift > 0 ? 1 : 0
        var pixel = pixels.lowerBound
        while pixel < pixels.upperBound {
            let image = pixel / plane, oh = (pixel % plane) / w.output
            let rowStart = image * plane + oh * w.output
            let rowEnd = Swift.min(pixels.upperBound, rowStart + w.output)
            let imageBase = input + image * h.input * w.input * channels
            // The kernel rows inside the input: all of them away from the top and bottom. Interior
            // groups take just those, whose taps lead the table (its offsets are relative to the
            // first tap, whichever row that is).
            let kernelRows = h.tapsInside(output: oh)
            let rowTaps = UnsafeBufferPointer(rebasing: tapOffsets[0..<(kernelRows.count * w.kernel)])
            let firstTap = kernelRows.lowerBound * w.kernel
            let firstColumn = pixel - rowStart
            var ow = firstColumn
            // Channels of pixel `ow` already written by the windows before it: 0 or `shift`.
            var written = 0
            while rowStart + ow < rowEnd {
                let available = rowEnd - rowStart - ow
                let interior = !kernelRows.isEmpty && ow >= interiorStart ? Swift.min(available, interiorEnd - ow) : 0
                // The last two or three pixels of an interior run (this call's): the run's last four
                // again, pixel-aligned, when the run has four; the others get the same bits again. A
                // last single pixel is cheaper alone (see the file header).
                let overlaps = interior > 1 && interior < 4 + spill
                    && ow + interior - 4 >= Swift.max(interiorStart, firstColumn)
                let resumed = written
                // What the per-pixel path computes in this step: channels `c0 ..< end` of `count` pixels
                // from `at`; `finishing`, the rest of a pixel whose first channels windows wrote.
                var at = ow, c0 = resumed, end = channels, count = 1, step = 1
                let finishing = resumed > 0 && interior < 4 + spill && !overlaps
                written = 0
                if interior >= 4 + spill || overlaps {
                    let groupShift = overlaps ? 0 : shift
                    if overlaps { at = ow + interior - 4 }
                    let first = imageBase + (h.inputIndex(output: oh, tap: kernelRows.lowerBound) * w.input
                                             + w.inputIndex(output: at, tap: 0)) * channels + groupShift
                    let target = output + (rowStart + at) * channels + groupShift
if !overlaps && interior >= 8 + spill && takesEightPixels {
                        // Eight interior pixels, whose channels are one vector pair.
                        computeEightInterior(source: first, tapOffsets: rowTaps, firstTap: firstTap,
                                             channel: groupShift, output: target)
                        (c0, step) = (channels, 8)
                    } else {
                        // Four interior pixels: pairs of full vectors, then (without windows) the channel tails.
                        c0 = 0
                        while c0 + 2 * Vector.scalarCount <= channels {
                            computeFourInterior(source: first + c0, tapOffsets: rowTaps, firstTap: firstTap,
                                                channel: groupShift + c0, output: target + c0)
                            c0 += 2 * Vector.scalarCount
                        }
                        (count, step) = (4, overlaps ? interior : 4)
                    }
                    if groupShift > 0 {
                        // Windows, which leave no channel tails: the first `shift` channels of a run's first
                        // pixel, as a whole vector whose other channels the window writes with the same bits.
                        (c0, end, count) = (resumed > 0 ? channels : 0, Vector.scalarCount, 1)
                        written = shift
                    }
                } else if resumed == 0 && ow >= interiorStart && ow < interiorEnd {
                    // Up to three interior pixels together: a run shorter than a group.
                    count = Swift.min(4, available, interiorEnd - ow)
                    step = count
                }
                if count == 1 && !kernelRows.isEmpty {
                    // One pixel (a border pixel, or the rest of one after windows): four vectors at a
                    // time, then two.
                    while c0 + 2 * Vector.scalarCount <= end {
                        let four = c0 + 4 * Vector.scalarCount <= end
                        let target = output + (rowStart + at) * channels + c0
                        if four {
                            computeFourVectors(imageBase: imageBase, oh: oh, ow: at, kernelRows: kernelRows, channel: c0,
                                               output: target)
                        } else {
                            computeTwoVectors(imageBase: imageBase, oh: oh, ow: at, kernelRows: kernelRows, channel: c0,
                                              output: target)
                        }
                        c0 += (four ? 4 : 2) * Vector.scalarCount
                    }
                }
                while c0 < end {
                    // The rest of a pixel after windows: whole vectors, the last one ending at the last channel.
                    if finishing { c0 = Swift.min(c0, channels - Vector.scalarCount) }
                    let lanes = Swift.min(Vector.scalarCount, end - c0)
                    computeVectors(imageBase: imageBase, oh: oh, ow: at, count: count, channel: c0, lanes: lanes,
                                   output: output + (rowStart + at) * channels + c0)
                    c0 += lanes
                }
                ow += step
            }
            pixel = rowEnd
        }
    }

    /// Computes output pixels `pixels` of a layer whose pixels slide (`slides`) into `output`, in
    /// runs (`PixelRun.forEach`).
    private func runSliding(pixels: Range<Int>, output: UnsafeMutablePointer<Float>) {
        let h = geometry.height, w = geometry.width
        PixelRun.forEach(in: pixels, geometry: geometry) { image, oh, ow, run in
            // The kernel rows inside the input, whose taps lead the table.
            let kernelRows = h.tapsInside(output: oh)
            let rowTaps = UnsafeBufferPointer(rebasing: tapOffsets[0..<(kernelRows.count * w.kernel)])
            let inputRow = input + (image * h.input + h.inputIndex(output: oh, tap: kernelRows.lowerBound)) * w.input
                * channels
            let column = w.inputIndex(output: ow, tap: 0)
            let target = output + ((image * h.output + oh) * w.output + ow) * channels
            for c0 in stride(from: 0, to: channels, by: Vector.scalarCount) {
                computeSlidingRun(run, source: inputRow + column * channels + c0, firstColumn: column,
                                  tapOffsets: rowTaps, firstTap: kernelRows.lowerBound * w.kernel, channel: c0,
                                  output: target + c0)
            }
        }
    }

    /// Whether the call's pixels slide (`slidingRun`): a width stride and dilation of 1 (each
    /// tap then reads the input row one pixel further on), whole vectors of channels, and a kernel
    /// 5 or 7 wide, or 3 wide on an odd number of vectors, or on an even number from four where
    /// the input is small enough (see the file header and `slides(geometry:channels:)`).
    private var slides: Bool { Self.slides(geometry: geometry, channels: channels) }

    /// `slides` for a call of a layer of `channels` on `geometry`: the layer's own rule
    /// (`slides(kernelWidth:stride:dilation:channels:)`), or a 3-wide kernel on an even number of
    /// vectors, at least four, over an image of at most `slidingPlaneBytes` whose pixels are not a
    /// multiple of 2 KB apart (see the file header).
    package static func slides(geometry: ConvolutionGeometry, channels: Int) -> Bool {
        let w = geometry.width
        if slides(kernelWidth: w.kernel, stride: w.stride, dilation: w.dilation, channels: channels) { return true }
        let pixelBytes = channels * MemoryLayout<Float>.stride
        return slidesSmall3x3Layers && w.kernel == 3 && w.stride == 1 && w.dilation == 1
            && channels % Vector.scalarCount == 0
            && channels / Vector.scalarCount >= 4 && pixelBytes % 2048 != 0
            && geometry.height.input * w.input * pixelBytes <= slidingPlaneBytes
    }

    /// The largest image (one input plane, H·W·C floats) on which a 3×3 layer of whole pairs of
    /// vectors slides: 1.5 MiB, a little past L2 (see the file header).
    package static let slidingPlaneBytes = 3 << 19

    /// Whether 3×3 layers of whole pairs of vectors may slide on this target: on AVX-512, where
    /// it was measured. With AVX2's runs of 6 it was mixed (1×7×7×960 37 → 47 GFLOP/s,
    /// 1×56×56×64 58 → 49), so AVX2 keeps the groups; other targets were not measured.
    #if SHARDWISE_AVX512
    package static let slidesSmall3x3Layers = true
    #else
    package static let slidesSmall3x3Layers = false
    #endif

    /// Whether every call of a layer of `channels` with a kernel `kernelWidth` wide at a width
    /// `stride` and `dilation` slides, whatever its input (a 3-wide kernel on an even number of
    /// vectors slides only on some inputs: `slides(geometry:channels:)`).
    static func slides(kernelWidth: Int, stride: Int, dilation: Int, channels: Int) -> Bool {
        stride == 1 && dilation == 1 && channels % Vector.scalarCount == 0
            && ([5, 7].contains(kernelWidth) || kernelWidth == 3 && (channels / Vector.scalarCount) % 2 == 1)
    }

    /// A run of `pixels` pixels (`PixelRun.length(splitting:)`), one vector of channels from
    /// `channel`, by `slidingRun` specialized for the kernel width and the run's length.
    @inline(never)
    private func computeSlidingRun(_ pixels: Int, source: UnsafePointer<Float>, firstColumn: Int,
                                   tapOffsets: UnsafeBufferPointer<Int>, firstTap: Int, channel: Int,
                                   output: UnsafeMutablePointer<Float>) {
        @_transparent func run(_ kernelWidth: Int) {
            slidingRun(pixels, kernelWidth: kernelWidth, source: source, firstColumn: firstColumn, tapOffsets: tapOffsets,
                       firstTap: firstTap, channel: channel, output: output)
        }
        switch geometry.width.kernel {
        case 3: run(3)
        case 5: run(5)
        default: run(7)
        }
    }

    /// `slidingRun(pixels:…)` with `pixels` made a constant.
    @_transparent
    private func slidingRun(_ pixels: Int, kernelWidth: Int, source: UnsafePointer<Float>, firstColumn: Int,
                            tapOffsets: UnsafeBufferPointer<Int>, firstTap: Int, channel: Int,
                            output: UnsafeMutablePointer<Float>) {
        @_transparent func run(_ pixels: Int) {
            slidingRun(pixels: pixels, kernelWidth: kernelWidth, source: source, firstColumn: firstColumn,
                       tapOffsets: tapOffsets, firstTap: firstTap, channel: channel, output: output)
        }
        switch pixels {
        case 1: run(1)
        case 2: run(2)
        case 3: run(3)
        case 4: run(4)
        case 5: run(5)
        case 6: run(6)
        case 7: run(7)
        case 8: run(8)
        case 9: run(9)
        case 10: run(10)
        case 11: run(11)
        default: run(12)
        }
    }

    /// `pixels` consecutive pixels of one output row, one vector of channels from `channel`, whose
    /// kernel rows inside the input (`tapOffsets`: each row's first tap `kernelWidth` entries on)
    /// start at `source`, input column `firstColumn` (the first pixel's first tap; tap `firstTap` of
    /// the filter); `pixels` and `kernelWidth` are constants after inlining (transparent: the
    /// optimizer outlined it). With a width stride and dilation of 1, tap k of pixel p reads input
    /// column firstColumn + p + k, so a kernel row's `pixels` input vectors are loaded once and slid
    /// one column on for each further tap, one new load each: pixels + width − 1 input loads and
    /// `width` filter loads for pixels · width multiply-adds, where `computeInterior` loads an input
    /// vector for every multiply-add. A column in the padding reads `zeros`, so a pixel by the
    /// border multiplies zeros where other paths skip the tap: with finite filters the same bits
    /// (a product of zero leaves a sum unchanged, and no sum from +0 becomes −0), as the GEMM path's
    /// padded patches do. Each output takes its taps in (kh, kw) order, in any run.
    @_transparent
    private func slidingRun(pixels: Int, kernelWidth: Int, source: UnsafePointer<Float>, firstColumn: Int,
                            tapOffsets: UnsafeBufferPointer<Int>, firstTap: Int, channel: Int,
                            output: UnsafeMutablePointer<Float>) {
        let pixelBytes = channels * 4, tapBytes = filterPitch * 4, width = UInt(geometry.width.input)
        let base = UnsafeRawPointer(source)
        var weights = UnsafeRawPointer(filter + firstTap * filterPitch + channel)
        var sums = PixelRun()
        var tap = 0
        while tap < tapOffsets.count {
            let row = base + tapOffsets[tap]
            @_transparent func input(_ p: Int) -> Vector {
                let inside = UInt(bitPattern: firstColumn &+ p) < width
                return (inside ? row + p * pixelBytes : zeros).loadUnaligned(as: Vector.self)
            }
            var inputs = PixelRun(pixels, input)
            @_transparent func slide(_ k: Int) {
                guard k < kernelWidth else { return }
                sums.add(pixels, inputs, times: weights.loadUnaligned(fromByteOffset: k * tapBytes, as: Vector.self))
                if k + 1 < kernelWidth { inputs.slide(pixels, bringingIn: input(pixels + k)) }
            }
            slide(0); slide(1); slide(2); slide(3); slide(4); slide(5); slide(6)
            weights += kernelWidth * tapBytes
            tap += kernelWidth
        }
        sums.store(pixels, epilogue, column: channel, into: UnsafeMutableRawPointer(output), pixelBytes: pixelBytes)
    }

    /// Whether interior pixels go eight at a time: where their channels are one vector pair (each
    /// tap then reads eight whole pixels), on targets with 32 vector registers (sixteen
    /// accumulators would spill on AVX2's or SSE's sixteen). See `computeInterior`.
    private var takesEightPixels: Bool {
        #if SHARDWISE_AVX512 || arch(arm64)
        return channels == 2 * Vector.scalarCount
        #else
        return false
        #endif
    }

    /// Eight consecutive interior pixels: `computeInterior` with two quads.
    @inline(never)
    private func computeEightInterior(source: UnsafePointer<Float>, tapOffsets: UnsafeBufferPointer<Int>, firstTap: Int,
                                      channel: Int, output: UnsafeMutablePointer<Float>) {
        computeInterior(quads: 2, source: source, tapOffsets: tapOffsets, firstTap: firstTap, channel: channel,
                        output: output)
    }

    /// Four consecutive interior pixels: `computeInterior` with one quad.
    @inline(never)
    private func computeFourInterior(source: UnsafePointer<Float>, tapOffsets: UnsafeBufferPointer<Int>, firstTap: Int,
                                     channel: Int, output: UnsafeMutablePointer<Float>) {
        computeInterior(quads: 1, source: source, tapOffsets: tapOffsets, firstTap: firstTap, channel: channel,
                        output: output)
    }

    /// `quads` (1 or 2, a constant after inlining) groups of four consecutive pixels whose taps in
    /// `tapOffsets` (bytes from `source`: the first pixel's first tap inside the input, `channel`
    /// channels in; tap `firstTap` of the filter) are all inside the input, two full vectors of
    /// channels (which, in windows, may straddle two pixels): eight or sixteen independent
    /// accumulators, one flat loop over the taps, no tests. The taps are taken in the same order as in
    /// `computeVectors`, so the bits are the same whichever path an output takes. A loop nested over
    /// kernel rows and columns, with a padding test per row, ran out of registers and spent about 250
    /// cycles per call. Eight pixels rather than four keep twice as many multiply-adds in flight: where
    /// the channels are one vector pair (each tap then reads 8 whole pixels) 1×112×112×32 3×3 ran
    /// 0.124–0.132 → 0.110–0.111 ms and 8×56×56×32 0.266–0.285 → 0.237–0.240 (AVX-512, 1 lane, three
    /// interleaved runs); with more channels level to 18 % slower (8×28×28×256 stride 2, 1×14×14×512),
    /// so those take four.
    @inline(__always)
    private func computeInterior(quads: Int, source: UnsafePointer<Float>, tapOffsets: UnsafeBufferPointer<Int>,
                                 firstTap: Int, channel: Int, output: UnsafeMutablePointer<Float>) {
        var first = PixelQuad(), second = PixelQuad()
        let pixelStep = geometry.width.stride * channels * 4
        let base = UnsafeRawPointer(source)
        var weights = UnsafeRawPointer(filter + firstTap * filterPitch + channel)
        for offset in tapOffsets {
            let u = weights.loadUnaligned(as: Vector.self)
            let v = weights.loadUnaligned(fromByteOffset: Vector.scalarCount * 4, as: Vector.self)
            first.addTap(base + offset, pixelStep: pixelStep, u, v)
            if quads == 2 { second.addTap(base + offset + 4 * pixelStep, pixelStep: pixelStep, u, v) }
            weights += filterPitch * 4
        }
        // The epilogue once per call: the bias vectors loaded once for all the pixels.
        let bias = epilogue.biasPair(column: channel)
        let pixelBytes = channels * 4
        let target = UnsafeMutableRawPointer(output)
        first.store(epilogue, bias: bias, into: target, pixelBytes: pixelBytes)
        if quads == 2 { second.store(epilogue, bias: bias, into: target + 4 * pixelBytes, pixelBytes: pixelBytes) }
    }

    /// One pixel of one output row, channels `channel ..< channel + 4·V`: `computeLoneVectors`.
    @inline(never)
    private func computeFourVectors(imageBase: UnsafePointer<Float>, oh: Int, ow: Int, kernelRows: Range<Int>,
                                    channel: Int, output: UnsafeMutablePointer<Float>) {
        computeLoneVectors(4, imageBase: imageBase, oh: oh, ow: ow, kernelRows: kernelRows, channel: channel,
                           output: output)
    }

    /// One pixel of one output row, channels `channel ..< channel + 2·V`: `computeLoneVectors`.
    @inline(never)
    private func computeTwoVectors(imageBase: UnsafePointer<Float>, oh: Int, ow: Int, kernelRows: Range<Int>,
                                   channel: Int, output: UnsafeMutablePointer<Float>) {
        computeLoneVectors(2, imageBase: imageBase, oh: oh, ow: ow, kernelRows: kernelRows, channel: channel,
                           output: output)
    }

    /// One pixel of one output row, `vectors` (2 or 4, a constant after inlining) vectors of
    /// channels from `channel`, whose taps inside the input are kernel rows `kernelRows` ×
    /// `geometry.width.tapsInside(output: ow)`: independent accumulators, where `computeVectors` on
    /// one pixel has one chain of dependent multiply-adds per vector; the same taps in the same
    /// order. Border pixels of 1×7×7×1024 3×3 (two of each row's seven) had taken more time than
    /// all the interior groups.
    @inline(__always)
    private func computeLoneVectors(_ vectors: Int, imageBase: UnsafePointer<Float>, oh: Int, ow: Int,
                                    kernelRows: Range<Int>, channel: Int, output: UnsafeMutablePointer<Float>) {
        let h = geometry.height, w = geometry.width, v = Vector.scalarCount
        var acc0 = Vector(), acc1 = Vector(), acc2 = Vector(), acc3 = Vector()
        for kh in kernelRows {
            for kw in w.tapsInside(output: ow) {
                let input = UnsafeRawPointer(imageBase + (h.inputIndex(output: oh, tap: kh) * w.input
                                                          + w.inputIndex(output: ow, tap: kw)) * channels + channel)
                let weights = UnsafeRawPointer(filter + (kh * w.kernel + kw) * filterPitch + channel)
                @_transparent func tap(_ i: Int, _ acc: inout Vector) {
                    acc = multiplyAdd(acc, input.loadUnaligned(fromByteOffset: 4 * i * v, as: Vector.self),
                                      weights.loadUnaligned(fromByteOffset: 4 * i * v, as: Vector.self))
                }
                tap(0, &acc0); tap(1, &acc1)
                if vectors == 4 { tap(2, &acc2); tap(3, &acc3) }
            }
        }
        let target = UnsafeMutableRawPointer(output)
        @_transparent func store(_ i: Int, _ acc: Vector) {
            target.storeBytes(of: epilogue.finish(acc, column: channel + i * v, count: v), toByteOffset: 4 * i * v,
                              as: Vector.self)
        }
        store(0, acc0); store(1, acc1)
        if vectors == 4 { store(2, acc2); store(3, acc3) }
    }

    /// `count` (1…4) consecutive pixels of one output row, channels `channel ..< channel + lanes`.
    /// Transparent: with `@inline(__always)` the optimizer left it out of line once the row loop
    /// grew its window steps, and the layers with many border pixels ran 5 % slower.
    @_transparent
    private func computeVectors(imageBase: UnsafePointer<Float>, oh: Int, ow: Int, count: Int, channel: Int,
                                lanes: Int, output: UnsafeMutablePointer<Float>) {
        let h = geometry.height, w = geometry.width
        var acc0 = Vector(), acc1 = Vector(), acc2 = Vector(), acc3 = Vector()
        for kh in 0..<h.kernel {
            let ih = h.inputIndex(output: oh, tap: kh)
            if ih < 0 || ih >= h.input { continue }
            let inputRow = imageBase + ih * w.input * channels + channel
            for kw in 0..<w.kernel {
                let weights = loadPartial(filter + (kh * w.kernel + kw) * filterPitch + channel, lanes)
                // Each pixel skips its own padding taps; the order of the taps it keeps is fixed.
                @inline(__always) func tap(_ i: Int, _ acc: inout Vector) {
                    let iw = w.inputIndex(output: ow + i, tap: kw)
                    if iw >= 0 && iw < w.input {
                        acc = multiplyAdd(acc, loadPartial(inputRow + iw * channels, lanes), weights)
                    }
                }
                tap(0, &acc0)
                if count > 1 { tap(1, &acc1) }
                if count > 2 { tap(2, &acc2) }
                if count > 3 { tap(3, &acc3) }
            }
        }
        storePartial(epilogue.finish(acc0, column: channel, count: lanes), output, lanes)
        if count > 1 { storePartial(epilogue.finish(acc1, column: channel, count: lanes), output + channels, lanes) }
        if count > 2 { storePartial(epilogue.finish(acc2, column: channel, count: lanes), output + 2 * channels, lanes) }
        if count > 3 { storePartial(epilogue.finish(acc3, column: channel, count: lanes), output + 3 * channels, lanes) }
    }
}

/// The accumulators of four consecutive output pixels, two vectors of channels each: named
/// fields, which LLVM keeps in registers.
private struct PixelQuad {
    var a0 = Vector(), b0 = Vector(), a1 = Vector(), b1 = Vector()
    var a2 = Vector(), b2 = Vector(), a3 = Vector(), b3 = Vector()

    /// One tap: the four pixels' inputs at `source`, `pixelStep` bytes apart, times the filter pair.
    @inline(__always)
    mutating func addTap(_ source: UnsafeRawPointer, pixelStep: Int, _ u: Vector, _ v: Vector) {
        let vectorBytes = Vector.scalarCount * 4
        a0 = multiplyAdd(a0, source.loadUnaligned(as: Vector.self), u)
        b0 = multiplyAdd(b0, source.loadUnaligned(fromByteOffset: vectorBytes, as: Vector.self), v)
        a1 = multiplyAdd(a1, source.loadUnaligned(fromByteOffset: pixelStep, as: Vector.self), u)
        b1 = multiplyAdd(b1, source.loadUnaligned(fromByteOffset: pixelStep + vectorBytes, as: Vector.self), v)
        a2 = multiplyAdd(a2, source.loadUnaligned(fromByteOffset: 2 * pixelStep, as: Vector.self), u)
        b2 = multiplyAdd(b2, source.loadUnaligned(fromByteOffset: 2 * pixelStep + vectorBytes, as: Vector.self), v)
        a3 = multiplyAdd(a3, source.loadUnaligned(fromByteOffset: 3 * pixelStep, as: Vector.self), u)
        b3 = multiplyAdd(b3, source.loadUnaligned(fromByteOffset: 3 * pixelStep + vectorBytes, as: Vector.self), v)
    }

    /// The epilogue on the four pixels, stored `pixelBytes` apart from `target`.
    @_transparent
    func store(_ epilogue: Epilogue, bias: (Vector, Vector), into target: UnsafeMutableRawPointer, pixelBytes: Int) {
        epilogue.finishAndStore((a0, b0), bias: bias, into: target)
        epilogue.finishAndStore((a1, b1), bias: bias, into: target + pixelBytes)
        epilogue.finishAndStore((a2, b2), bias: bias, into: target + 2 * pixelBytes)
        epilogue.finishAndStore((a3, b3), bias: bias, into: target + 3 * pixelBytes)
    }
}

/// One vector of channels for each of up to `longest` consecutive output pixels: accumulators, or
/// the input vectors a sliding run multiplies by one tap. Named fields, which LLVM keeps in
/// registers once the pixel count is a constant; `pixels` (`length(splitting:)`; a constant after
/// inlining) says how many are in use. Direct kernels (the sliding depthwise one, `NarrowGroupKernel`)
/// compute runs of output pixels in these.
struct PixelRun {
    var v0 = Vector(), v1 = Vector(), v2 = Vector(), v3 = Vector(), v4 = Vector(), v5 = Vector()
    var v6 = Vector(), v7 = Vector(), v8 = Vector(), v9 = Vector(), v10 = Vector(), v11 = Vector()

    /// The longest run: two runs (sums and inputs) and two more vectors fit the registers, 32 on
    /// AVX-512 and arm64, 16 elsewhere.
    #if SHARDWISE_AVX512 || arch(arm64)
    static let longest = 12
    #else
    static let longest = 6
    #endif

    /// The first run of a stretch of `pixels` (≥ 1) pixels: the stretch in as few runs as
    /// `longest` (at most `PixelRun.longest`) allows, as even as can be. Short runs cost twice: their input and filter loads serve
    /// fewer multiply-adds, and under eight accumulators cannot hide the multiply-add's latency.
    /// (Runs of 12 and the last few pixels in the last 4 again had computed 16 pixels for a row of
    /// 14, and 8 for 7 in two latency-bound runs of 4.)
    static func length(splitting pixels: Int, longest: Int = longest) -> Int {
        let runs = (pixels + longest - 1) / longest
        return (pixels + runs - 1) / runs
    }

    /// Calls `body(image, oh, ow, run)` for each run of the output pixels `pixels` (flattened
    /// N·OH·OW of `geometry`): one output row's pixels at a time, from column `ow`, in runs of
    /// `length(splitting:longest:)`.
    @inline(__always)
    static func forEach(in pixels: Range<Int>, geometry: ConvolutionGeometry, longest: Int = longest,
                        _ body: (_ image: Int, _ oh: Int, _ ow: Int, _ run: Int) -> Void) {
        let width = geometry.width.output, plane = geometry.height.output * width
        var pixel = pixels.lowerBound
        while pixel < pixels.upperBound {
            let image = pixel / plane, oh = (pixel % plane) / width
            let rowStart = image * plane + oh * width
            let end = Swift.min(pixels.upperBound - rowStart, width)
            var ow = pixel - rowStart
            while ow < end {
                let run = length(splitting: end - ow, longest: longest)
                body(image, oh, ow, run)
                ow += run
            }
            pixel = rowStart + end
        }
    }

    /// Zeros.
    @_transparent init() {}

    /// The first `pixels` vectors `load(p)`.
    @_transparent
    init(_ pixels: Int, _ load: (Int) -> Vector) {
        @_transparent func pixel(_ p: Int) -> Vector { p < pixels ? load(p) : Vector() }
        (v0, v1, v2, v3, v4, v5) = (pixel(0), pixel(1), pixel(2), pixel(3), pixel(4), pixel(5))
        (v6, v7, v8, v9, v10, v11) = (pixel(6), pixel(7), pixel(8), pixel(9), pixel(10), pixel(11))
    }

    /// Pixel p gains `inputs`' pixel p times `weights`.
    @_transparent
    mutating func add(_ pixels: Int, _ inputs: PixelRun, times weights: Vector) {
        @inline(__always) func add(_ p: Int, _ sum: inout Vector, _ input: Vector) {
            if p < pixels { sum = multiplyAdd(sum, input, weights) }
        }
        add(0, &v0, inputs.v0); add(1, &v1, inputs.v1); add(2, &v2, inputs.v2); add(3, &v3, inputs.v3)
        add(4, &v4, inputs.v4); add(5, &v5, inputs.v5); add(6, &v6, inputs.v6); add(7, &v7, inputs.v7)
        add(8, &v8, inputs.v8); add(9, &v9, inputs.v9); add(10, &v10, inputs.v10); add(11, &v11, inputs.v11)
    }

    /// Calls `body(p, &vector)` on each of the first `pixels` vectors, in order.
    @_transparent
    mutating func update(_ pixels: Int, _ body: (_ p: Int, _ vector: inout Vector) -> Void) {
        if pixels > 0 { body(0, &v0) }
        if pixels > 1 { body(1, &v1) }
        if pixels > 2 { body(2, &v2) }
        if pixels > 3 { body(3, &v3) }
        if pixels > 4 { body(4, &v4) }
        if pixels > 5 { body(5, &v5) }
        if pixels > 6 { body(6, &v6) }
        if pixels > 7 { body(7, &v7) }
        if pixels > 8 { body(8, &v8) }
        if pixels > 9 { body(9, &v9) }
        if pixels > 10 { body(10, &v10) }
        if pixels > 11 { body(11, &v11) }
    }

    /// Moves every pixel's vector one pixel down, `next` becoming the last pixel's: free once
    /// unrolled, where it is only a renaming of registers.
    @_transparent
    mutating func slide(_ pixels: Int, bringingIn next: Vector) {
        (v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10) = (v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11)
        switch pixels {
        case 1: v0 = next
        case 2: v1 = next
        case 3: v2 = next
        case 4: v3 = next
        case 5: v4 = next
        case 6: v5 = next
        case 7: v6 = next
        case 8: v7 = next
        case 9: v8 = next
        case 10: v9 = next
        case 11: v10 = next
        default: v11 = next
        }
    }

    /// The epilogue on the `pixels` pixels (channels from `column`), stored `pixelBytes` apart from `target`.
    @_transparent
    func store(_ pixels: Int, _ epilogue: Epilogue, column: Int, into target: UnsafeMutableRawPointer,
               pixelBytes: Int) {
        let bias = epilogue.biasVector(column: column)
        @_transparent func store(_ p: Int, _ sum: Vector) {
            guard p < pixels else { return }
            target.storeBytes(of: epilogue.finish(sum, bias: bias), toByteOffset: p * pixelBytes, as: Vector.self)
        }
        store(0, v0); store(1, v1); store(2, v2); store(3, v3); store(4, v4); store(5, v5)
        store(6, v6); store(7, v7); store(8, v8); store(9, v9); store(10, v10); store(11, v11)
    }
}
