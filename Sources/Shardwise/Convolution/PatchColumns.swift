// The filter gradient's patches read in place, as the GEMM's B: no packing.
//
// The filter gradient is dWᵀ[Cout, taps] = dYᵀ[Cout, pixels] · patches[pixels, taps]:
// a GEMM whose depth is the pixel count (N·OH·OW, 25,088 in seed-cnn's second
// layer) and whose B is the patch matrix. Packing B copies every patch element
// once per call (20 M floats per step of seed-cnn, 8 % of its training time), and
// each packed element is then used by only Cout rows of A.
//
// When the input channels of a group are a multiple of NR, every B micropanel
// (NR consecutive taps in HWIO order) lies inside one filter tap (kh, kw): NR
// consecutive channels of the same pixel. Its row at pixel (n, oh, ow) is then NR
// contiguous input floats at
//
//     input[((n·H + oh·sh + kh·dh − padTop)·W + ow·sw + kw·dw − padLeft)·Cin + c0]
//
// and consecutive pixels of an output row step by sw·Cin floats. So the
// microkernel reads those rows where they lie, a run per output row. Where the
// tap falls into the padding, B's row is zero: those pixels are left out of the
// runs (their products would all be zero), so a run covers the pixels of one
// output row whose tap is inside the input.
//
// Bits: the accumulators start at +0 and round to nearest, so leaving out a
// product a·0 (±0) never changes a sum of finite values: the result equals the
// packed path's (seed-cnn's weights kept their checksum), and every lane count
// leaves out the same products. Where dY holds an infinity or a NaN, the packed
// path's Inf·0 gives NaN and this path, like the reference (which skips the
// padding), does not; which path runs depends on NR, so that differs between
// an AVX-512 build and a portable one, never between lane counts.
//
// Measured, seed-cnn, 100 steps, interleaved: 1 lane 1,464–1,481 → 1,647–1,656
// images/s, 2 lanes 2,456–2,672 → 2,751–2,777: more than packing's share of the
// profile, so reading B from the input rather than from a freshly packed panel
// costs the microkernel nothing visible.

/// The patch matrix of one group of a convolution, read in place as a GEMM's B (rows: output
/// pixels, columns: taps) when its channel runs are whole micropanels (`applies`).
package struct PatchColumns: @unchecked Sendable {
    // @unchecked: `input` is the caller's read-only input for the duration of the call.
    let input: UnsafePointer<Float>
    let geometry: ConvolutionGeometry
    /// Input channels of the whole input (the NHWC pitch of a pixel).
    let inputChannels: Int
    /// This group's first input channel.
    let channelOffset: Int
    /// Input channels per group: taps per filter position.
    let runLength: Int

    /// Whether every micropanel of this group's taps lies inside one filter position: the
    /// group's channels are a whole number of micropanels.
    package static func applies(channelsPerGroup: Int) -> Bool {
        channelsPerGroup % Blocking.nr == 0
    }

    /// Floats between the B rows of consecutive pixels of an output row.
    var pitch: Int { geometry.width.stride * inputChannels }

    /// Writes the runs of B's micropanel at columns `column0 ..< column0 + NR` (`column0` a multiple
    /// of NR) over pixels `k0 ..< k0 + depth` to `runs`, and returns how many (at most `depth`).
    /// Each run is the pixels of one output row whose tap lies inside the input.
    func runs(column0: Int, k0: Int, depth: Int, into runs: UnsafeMutablePointer<BRowRun>) -> Int {
        let h = geometry.height, w = geometry.width
        let tap = column0 / runLength, channel = channelOffset + column0 % runLength
        let kh = tap / w.kernel, kw = tap % w.kernel
        // The output columns whose tap kw is inside the input: ow · sw + kw · dw − padLeft in 0 ..< W.
        let before = w.padBefore - kw * w.dilation, after = w.input - 1 + w.padBefore - kw * w.dilation
        guard after >= 0 else { return 0 }
        let firstInside = before <= 0 ? 0 : (before + w.stride - 1) / w.stride
        let lastInside = Swift.min(w.output - 1, after / w.stride)
        let plane = h.output * w.output
        var count = 0
        var pixel = k0
        let end = k0 + depth
        var image = pixel / plane, oh = (pixel % plane) / w.output, ow = pixel % w.output
        while pixel < end {
            let rowEnd = Swift.min(end, pixel + w.output - ow)
            let ih = h.inputIndex(output: oh, tap: kh)
            let first = Swift.max(ow, firstInside), last = Swift.min(ow + rowEnd - pixel - 1, lastInside)
            if ih >= 0 && ih < h.input && first <= last {
                let iw = w.inputIndex(output: first, tap: kw)
                runs[count] = BRowRun(aOffset: pixel + first - ow - k0,
                                      b: input + ((image * h.input + ih) * w.input + iw) * inputChannels + channel,
                                      length: last - first + 1)
                count += 1
            }
            pixel = rowEnd
            ow = 0
            oh += 1
            if oh == h.output {
                oh = 0
                image += 1
            }
        }
        return count
    }
}
