// im2col as packing: convolution patches written straight into A micropanels.
//
// Convolution is a GEMM whose A is the patch matrix: one row per output pixel
// (n, oh, ow), one column per filter tap and input channel (kh, kw, ci) in HWIO
// order, so that B is the filter reshaped to [KH·KW·Cin, Cout] with no copy of
// its own. Materializing that matrix costs N·OH·OW·KH·KW·Cin floats (57.8 MB for
// 8×56×56×64 with a 3×3 filter). Instead the GEMM driver asks this source for one
// MR × KC micropanel at a time and the patch rows are gathered into it directly;
// the only buffer is the driver's A block (MC × aPitch floats per lane).
//
// In NHWC a patch row is KH·KW runs of Cin contiguous input floats (per group,
// Cin/groups), so each run is one contiguous copy; taps that fall into the
// padding are zero-filled runs. A KC block may start or end inside a run.

/// The patch matrix of one group of a convolution, read as an `APanelSource`.
struct Im2ColPanelSource: APanelSource, @unchecked Sendable {
    // @unchecked: `input` is the caller's read-only input for the duration of the call.
    let input: UnsafePointer<Float>
    let geometry: ConvolutionGeometry
    /// Input channels of the whole input (the NHWC row pitch of a pixel).
    let inputChannels: Int
    /// This group's first input channel.
    let channelOffset: Int
    /// Input channels per group: the length of one contiguous run.
    let runLength: Int

    func packMicropanel(row0: Int, rows: Int, k0: Int, depth: Int, into panel: UnsafeMutablePointer<Float>) {
        let h = geometry.height, w = geometry.width
        let outputPlane = h.output * w.output
        for i in 0..<rows {
            let pixel = row0 + i
            let image = pixel / outputPlane
            let oh = (pixel % outputPlane) / w.output
            let ow = pixel % w.output
            let imageBase = input + image * h.input * w.input * inputChannels + channelOffset
            var target = panel + i * Blocking.aPitch
            var k = k0
            let end = k0 + depth
            while k < end {
                let tap = k / runLength
                let channel = k - tap * runLength
                let count = Swift.min(runLength - channel, end - k)
                let ih = h.inputIndex(output: oh, tap: tap / w.kernel)
                let iw = w.inputIndex(output: ow, tap: tap % w.kernel)
                if ih >= 0 && ih < h.input && iw >= 0 && iw < w.input {
                    let source = imageBase + (ih * w.input + iw) * inputChannels + channel
                    if count == 1 { target[0] = source[0] } else { target.update(from: source, count: count) }
                } else {
                    target.update(repeating: 0, count: count)
                }
                target += count
                k += count
            }
        }
        for i in rows..<Blocking.mr {
            (panel + i * Blocking.aPitch).update(repeating: 0, count: depth)
        }
    }
}
