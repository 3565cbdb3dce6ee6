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
// Pixels with every tap inside the input take a path with no tests at all: one
// flat loop over a table of tap offsets, eight (sixteen) accumulators, the epilogue
// once per group (1×112×112×32 3×3, four pixels: 33 → 48 GFLOP/s). About 2 FLOPs per
// input float read, so the layer leans on the caches: a tenth to a fifth of the FMA peak.
// Its vector loads and stores go straight to the caller's NHWC buffers, so its speed
// depends on where they lie within a 64-byte cache line: one binary, two heap layouts
// (all buffers shifted by 80 bytes, their distances mod 4 KiB the same), ran
// 1×56×56×128 3×3 in 0.105 ms with the input 64-byte aligned and 0.143 ms with it 16
// bytes short of a line, every 64-byte load then split across two lines (and
// 8×56×56×32 0.184 against 0.242 in the same two runs). With the input in a 64-byte
// aligned copy made once, 1×56×56×128 ran 0.101–0.110 ms in either layout; copying
// input rows into an aligned buffer on every call cost as much as it saved (0.140).
// Swift arrays are only 16-byte aligned. Not yet addressed (a 64-byte-aligned Tensor
// storage, or loads realigned in registers).
// The optimizer had left the epilogue (`Epilogue.finishAndStore`, `clamp`) as
// out-of-line calls in that loop despite `@inline(__always)`; now transparent, the
// layer runs at 70–71 rather than 54 GFLOP/s alone (median of 5 interleaved runs),
// 58 rather than 47 inside the benchmark suite.

/// The direct depthwise kernel for one call: channel multiplier 1.
package struct DepthwiseKernel: @unchecked Sendable {
    // @unchecked: raw pointers into the caller's input and the layer's filter and bias,
    // all read-only during the call.
    let input: UnsafePointer<Float>
    let geometry: ConvolutionGeometry
    let channels: Int
    /// The filter, [KH·KW, C]: HWIO with I = 1.
    let filter: UnsafePointer<Float>
    let epilogue: Epilogue

    /// Computes output pixels `pixels` (flattened N·OH·OW) into `output` (NHWC), one output row
    /// at a time: the pixels whose every horizontal tap is inside the input, found once per row,
    /// go four (or eight, `takesEightPixels`) at a time through `computeInterior`; the border pixels
    /// through `computeVectors`.
    package func run(pixels: Range<Int>, output: UnsafeMutablePointer<Float>) {
        let h = geometry.height, w = geometry.width
        let plane = h.output * w.output
        // The interior columns: every output column whose taps all lie inside the input row.
        let interiorStart = (0..<w.output).first { w.allTapsInside(outputs: $0, through: $0) } ?? w.output
        let interiorEnd = (interiorStart..<w.output).last { w.allTapsInside(outputs: $0, through: $0) }.map { $0 + 1 }
            ?? interiorStart
        // Byte offsets of the taps from a pixel's first tap, for pixels with every tap inside.
        let tapOffsets = (0..<h.kernel * w.kernel).map {
            (($0 / w.kernel) * h.dilation * w.input + ($0 % w.kernel) * w.dilation) * channels * MemoryLayout<Float>.stride
        }
        tapOffsets.withUnsafeBufferPointer { tapOffsets in
        var pixel = pixels.lowerBound
        while pixel < pixels.upperBound {
            let image = pixel / plane, oh = (pixel % plane) / w.output
            let rowStart = image * plane + oh * w.output
            let rowEnd = Swift.min(pixels.upperBound, rowStart + w.output)
            let imageBase = input + image * h.input * w.input * channels
            let rowInside = h.allTapsInside(outputs: oh, through: oh)
            var ow = pixel - rowStart
            while rowStart + ow < rowEnd {
                let available = rowEnd - rowStart - ow
                let target = output + (rowStart + ow) * channels
                let interior = rowInside && ow >= interiorStart ? Swift.min(available, interiorEnd - ow) : 0
                var c0 = 0
                if interior >= 4 {
                    let first = imageBase + (h.inputIndex(output: oh, tap: 0) * w.input + w.inputIndex(output: ow, tap: 0))
                        * channels
                    if interior >= 8 && takesEightPixels {
                        // Eight pixels with every tap inside, whose channels are one vector pair.
                        computeEightInterior(source: first, tapOffsets: tapOffsets, channel: 0, output: target)
                        ow += 8
                        continue
                    }
                    // Four pixels with every tap inside: pairs of full vectors.
                    while c0 + 2 * Vector.scalarCount <= channels {
                        computeFourInterior(source: first + c0, tapOffsets: tapOffsets, channel: c0, output: target + c0)
                        c0 += 2 * Vector.scalarCount
                    }
                }
                // Border pixels one at a time, up to four interior ones together (channel tails).
                let count = ow >= interiorStart && ow < interiorEnd ? Swift.min(4, available, interiorEnd - ow) : 1
                while c0 < channels {
                    let lanes = Swift.min(Vector.scalarCount, channels - c0)
                    computeVectors(imageBase: imageBase, oh: oh, ow: ow, count: count, channel: c0, lanes: lanes,
                                   output: target + c0)
                    c0 += lanes
                }
                ow += count
            }
            pixel = rowEnd
        }
        }
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

    /// Eight consecutive pixels whose every tap is inside the input: `computeInterior` with two quads.
    @inline(never)
    private func computeEightInterior(source: UnsafePointer<Float>, tapOffsets: UnsafeBufferPointer<Int>, channel: Int,
                                      output: UnsafeMutablePointer<Float>) {
        computeInterior(quads: 2, source: source, tapOffsets: tapOffsets, channel: channel, output: output)
    }

    /// Four consecutive pixels whose every tap is inside the input: `computeInterior` with one quad.
    @inline(never)
    private func computeFourInterior(source: UnsafePointer<Float>, tapOffsets: UnsafeBufferPointer<Int>, channel: Int,
                                     output: UnsafeMutablePointer<Float>) {
        computeInterior(quads: 1, source: source, tapOffsets: tapOffsets, channel: channel, output: output)
    }

    /// `quads` (1 or 2, a constant after inlining) groups of four consecutive pixels whose every tap
    /// is inside the input, two full vectors of channels: eight or sixteen independent accumulators,
    /// one flat loop over the taps (`tapOffsets`, bytes from `source`, the first pixel's first tap),
    /// no tests. The taps are taken in the same order as in `computeVectors`, so the bits are the
    /// same whichever path an output takes. A loop nested over kernel rows and columns, with a
    /// padding test per row, ran out of registers and spent about 250 cycles per call. Eight
    /// pixels rather than four keep twice as many multiply-adds in flight: where the channels are
    /// one vector pair (each tap then reads 8 whole pixels) 1×112×112×32 3×3 ran 0.124–0.132 →
    /// 0.110–0.111 ms and 8×56×56×32 0.266–0.285 → 0.237–0.240 (AVX-512, 1 lane, three interleaved
    /// runs); with more channels level to 18 % slower (8×28×28×256 stride 2, 1×14×14×512), so those
    /// take four.
    @inline(__always)
    private func computeInterior(quads: Int, source: UnsafePointer<Float>, tapOffsets: UnsafeBufferPointer<Int>,
                                 channel: Int, output: UnsafeMutablePointer<Float>) {
        var first = PixelQuad(), second = PixelQuad()
        let pixelStep = geometry.width.stride * channels * 4
        let base = UnsafeRawPointer(source)
        var weights = UnsafeRawPointer(filter + channel)
        for offset in tapOffsets {
            let u = weights.loadUnaligned(as: Vector.self)
            let v = weights.loadUnaligned(fromByteOffset: Vector.scalarCount * 4, as: Vector.self)
            first.addTap(base + offset, pixelStep: pixelStep, u, v)
            if quads == 2 { second.addTap(base + offset + 4 * pixelStep, pixelStep: pixelStep, u, v) }
            weights += channels * 4
        }
        // The epilogue once per call: the bias vectors loaded once for all the pixels.
        let bias = epilogue.biasPair(column: channel)
        let pixelBytes = channels * 4
        let target = UnsafeMutableRawPointer(output)
        first.store(epilogue, bias: bias, into: target, pixelBytes: pixelBytes)
        if quads == 2 { second.store(epilogue, bias: bias, into: target + 4 * pixelBytes, pixelBytes: pixelBytes) }
    }

    /// `count` (1…4) consecutive pixels of one output row, channels `channel ..< channel + lanes`.
    @inline(__always)
    private func computeVectors(imageBase: UnsafePointer<Float>, oh: Int, ow: Int, count: Int, channel: Int,
                                lanes: Int, output: UnsafeMutablePointer<Float>) {
        let h = geometry.height, w = geometry.width
        var acc0 = Vector(), acc1 = Vector(), acc2 = Vector(), acc3 = Vector()
        for kh in 0..<h.kernel {
            let ih = h.inputIndex(output: oh, tap: kh)
            if ih < 0 || ih >= h.input { continue }
            let inputRow = imageBase + ih * w.input * channels + channel
            for kw in 0..<w.kernel {
                let weights = loadPartial(filter + (kh * w.kernel + kw) * channels + channel, lanes)
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
