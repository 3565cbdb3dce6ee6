// The input gradient as a GEMM: output-gradient patches gathered per input pixel.
//
// Forward, output pixel (oh, ow) reads input (ih, iw) = (oh·sh + kh·dh − padTop,
// ow·sw + kw·dw − padLeft). So the gradient of input pixel (n, ih, iw), channel ci, is
//   dX[n, ih, iw, ci] = Σ over (kh, kw, co) of dY[n, oh, ow, co] · W[kh, kw, ci, co]
// over the taps whose (oh, ow) = ((ih + padTop − kh·dh) / sh, …) divide exactly and
// fall inside the output. That is a GEMM with one row per input pixel, depth
// (kh, kw, co), and B = W with its two channel axes swapped ([KH·KW·Cout, Cin]).
// This source gathers A's rows: runs of Cout (per group) contiguous dY floats, or
// zeros where the tap has no output pixel. Each dX element is computed whole by
// the lane that owns its row: no scatter-add (col2im), no cross-lane reduction, so
// the result is bitwise the same for every lane count. With stride s, all but
// 1/s² of the taps are zero runs: wasted multiply-adds, kept for simplicity. (A
// one-group layer of stride 1 does not come here: its input gradient is a forward
// convolution, see Conv2DBackward.swift.)

/// The gathered output gradient of one group of a convolution, read as an `APanelSource`.
package struct OutputGradientPanelSource: APanelSource, @unchecked Sendable {
    // @unchecked: `outputGradient` is the caller's read-only memory for the duration of the call.
    let outputGradient: UnsafePointer<Float>
    /// One past the output gradient's last float: short runs are copied as whole vectors only below it.
    let outputGradientEnd: UnsafePointer<Float>
    let geometry: ConvolutionGeometry
    /// Output channels of the whole layer (the NHWC pitch of an output pixel).
    let outputChannels: Int
    /// This group's first output channel.
    let channelOffset: Int
    /// Output channels per group: the length of one contiguous run.
    let runLength: Int

    /// The output index that input index `i` meets at kernel tap `t` along `axis`, or nil.
    @inline(__always)
    private func outputIndex(_ axis: AxisGeometry, input i: Int, tap t: Int) -> Int? {
        let numerator = i + axis.padBefore - t * axis.dilation
        if numerator < 0 { return nil }
        // Stride 1 needs no division: without the two per tap and pixel, seed-cnn trained 3-4 %
        // faster (1,015-1,021 -> 1,034-1,054 images/s on 1 lane) when its input gradient came
        // here; stride-1 layers that still do are grouped or padded wider than their kernel.
        if axis.stride == 1 { return numerator < axis.output ? numerator : nil }
        if numerator % axis.stride != 0 { return nil }
        let o = numerator / axis.stride
        return o < axis.output ? o : nil
    }

    package func packMicropanel(row0: Int, rows: Int, k0: Int, depth: Int, into panel: UnsafeMutablePointer<Float>) {
        let h = geometry.height, w = geometry.width
        let inputPlane = h.input * w.input
        var image = row0 / inputPlane
        var ih = (row0 % inputPlane) / w.input
        var iw = row0 % w.input
        for i in 0..<rows {
            let imageBase = outputGradient + image * h.output * w.output * outputChannels + channelOffset
            var target = panel + i * Blocking.aPitch
            var tap = k0 / runLength
            var channel = k0 - tap * runLength
            var remaining = depth
            while remaining > 0 {
                let count = Swift.min(runLength - channel, remaining)
                if let oh = outputIndex(h, input: ih, tap: tap / w.kernel),
                   let ow = outputIndex(w, input: iw, tap: tap % w.kernel) {
                    // Whole-vector copies where they fit (a run is one group's output channels),
                    // rather than a memmove call per run; an overrun lands on the row's next run or
                    // in its pitch skew. seed-cnn: 25 runs of 32 floats per row.
                    copyFloats(from: imageBase + (oh * w.output + ow) * outputChannels + channel, to: target,
                               count: count, readableEnd: outputGradientEnd)
                } else {
                    target.update(repeating: 0, count: count)
                }
                target += count
                remaining -= count
                tap += 1
                channel = 0
            }
            iw += 1
            if iw == w.input {
                iw = 0
                ih += 1
                if ih == h.input {
                    ih = 0
                    image += 1
                }
            }
        }
        for i in rows..<Blocking.mr {
            (panel + i * Blocking.aPitch).update(repeating: 0, count: depth)
        }
    }
}
