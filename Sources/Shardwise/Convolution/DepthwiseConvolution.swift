// Depthwise convolution (groups = input channels = output channels) by a direct SIMD kernel.
//
// As im2col-GEMM, a depthwise layer is C separate GEMMs with one output column
// and K = KH·KW: the outer-product microkernel would use one of its NR columns.
// Here vectors run along the channels instead, which NHWC stores contiguously:
//   out[n, oh, ow, c…c+V] = bias + Σ over valid taps of in[n, ih, iw, c…c+V] · w[kh, kw, c…c+V]
// Four neighbouring output pixels are computed together, so each filter vector is
// loaded once per tap for four multiply-adds. Taps that fall into the padding are
// skipped (not multiplied by zero); the tap order is fixed (kh, then kw), so every
// output is computed by the same operations whichever lane owns its pixel.
// The layer is memory-bound: about 2 FLOPs per input float read.

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

    /// Computes output pixels `pixels` (flattened N·OH·OW) into `output` (NHWC).
    package func run(pixels: Range<Int>, output: UnsafeMutablePointer<Float>) {
        let h = geometry.height, w = geometry.width
        let plane = h.output * w.output
        var pixel = pixels.lowerBound
        while pixel < pixels.upperBound {
            let image = pixel / plane, oh = (pixel % plane) / w.output, ow = pixel % w.output
            // Up to four pixels along the same output row.
            let count = Swift.min(4, pixels.upperBound - pixel, w.output - ow)
            let imageBase = input + image * h.input * w.input * channels
            let interior = count == 4 && w.allTapsInside(outputs: ow, through: ow + 3)
            var c0 = 0
            if interior {
                // Pairs of full vectors: eight independent accumulators per tap loop.
                while c0 + 2 * Vector.scalarCount <= channels {
                    computeInterior(imageBase: imageBase, oh: oh, ow: ow, channel: c0, output: output + pixel * channels + c0)
                    c0 += 2 * Vector.scalarCount
                }
            }
            while c0 < channels {
                let lanes = Swift.min(Vector.scalarCount, channels - c0)
                computeVectors(imageBase: imageBase, oh: oh, ow: ow, count: count, channel: c0, lanes: lanes,
                               output: output + pixel * channels + c0)
                c0 += lanes
            }
            pixel += count
        }
    }

    /// Four consecutive pixels whose every horizontal tap is inside the input, two full vectors
    /// of channels: eight independent accumulators and no tests in the tap loop, so the FMA
    /// latency is hidden and the call's fixed cost is spread over 4 pixels × 2 vectors of outputs. The taps are taken
    /// in the same order as in `computeVectors` (rows outside the input skipped), so the bits are
    /// the same whichever path an output takes.
    @inline(never)
    private func computeInterior(imageBase: UnsafePointer<Float>, oh: Int, ow: Int, channel: Int,
                                 output: UnsafeMutablePointer<Float>) {
        let h = geometry.height, w = geometry.width
        let width = Vector.scalarCount, vectorBytes = Vector.scalarCount * 4
        var a0 = Vector(), a1 = Vector(), a2 = Vector(), a3 = Vector()
        var b0 = Vector(), b1 = Vector(), b2 = Vector(), b3 = Vector()
        let pixelStep = w.stride * channels * 4, tapStep = w.dilation * channels * 4
        let first = w.inputIndex(output: ow, tap: 0)
        for kh in 0..<h.kernel {
            let ih = h.inputIndex(output: oh, tap: kh)
            if ih < 0 || ih >= h.input { continue }
            var source = UnsafeRawPointer(imageBase + (ih * w.input + first) * channels + channel)
            var weights = UnsafeRawPointer(filter + kh * w.kernel * channels + channel)
            for _ in 0..<w.kernel {
                let u = weights.loadUnaligned(as: Vector.self)
                let v = weights.loadUnaligned(fromByteOffset: vectorBytes, as: Vector.self)
                a0 = multiplyAdd(a0, source.loadUnaligned(as: Vector.self), u)
                b0 = multiplyAdd(b0, source.loadUnaligned(fromByteOffset: vectorBytes, as: Vector.self), v)
                a1 = multiplyAdd(a1, source.loadUnaligned(fromByteOffset: pixelStep, as: Vector.self), u)
                b1 = multiplyAdd(b1, source.loadUnaligned(fromByteOffset: pixelStep + vectorBytes, as: Vector.self), v)
                a2 = multiplyAdd(a2, source.loadUnaligned(fromByteOffset: 2 * pixelStep, as: Vector.self), u)
                b2 = multiplyAdd(b2, source.loadUnaligned(fromByteOffset: 2 * pixelStep + vectorBytes, as: Vector.self), v)
                a3 = multiplyAdd(a3, source.loadUnaligned(fromByteOffset: 3 * pixelStep, as: Vector.self), u)
                b3 = multiplyAdd(b3, source.loadUnaligned(fromByteOffset: 3 * pixelStep + vectorBytes, as: Vector.self), v)
                weights += channels * 4
                source += tapStep
            }
        }
        let second = channel + width
        @inline(__always) func store(_ low: Vector, _ high: Vector, pixel: Int) {
            let target = UnsafeMutableRawPointer(output + pixel * channels)
            target.storeBytes(of: epilogue.finish(low, column: channel, count: width), as: Vector.self)
            target.storeBytes(of: epilogue.finish(high, column: second, count: width), toByteOffset: vectorBytes,
                              as: Vector.self)
        }
        store(a0, b0, pixel: 0)
        store(a1, b1, pixel: 1)
        store(a2, b2, pixel: 2)
        store(a3, b3, pixel: 3)
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
