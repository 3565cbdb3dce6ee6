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
package struct Im2ColPanelSource: APanelSource, @unchecked Sendable {
    // @unchecked: `input` is the caller's read-only input for the duration of the call.
    let input: UnsafePointer<Float>
    /// One past the input's last float: short runs are copied as whole vectors only below it.
    let inputEnd: UnsafePointer<Float>
    let geometry: ConvolutionGeometry
    /// Input channels of the whole input (the NHWC row pitch of a pixel).
    let inputChannels: Int
    /// This group's first input channel.
    let channelOffset: Int
    /// Input channels per group: the length of one contiguous run.
    let runLength: Int

    @inline(never)
    package func packMicropanel(row0: Int, rows: Int, k0: Int, depth: Int, into panel: UnsafeMutablePointer<Float>) {
        if packInteriorRun(row0: row0, rows: rows, k0: k0, depth: depth, into: panel) { return }
        packPatchRows(pixel0: row0, count: rows, window: k0..<(k0 + depth), into: panel, pitch: Blocking.aPitch)
        for i in rows..<Blocking.mr {
            (panel + i * Blocking.aPitch).update(repeating: 0, count: depth)
        }
    }

    /// The fast case: all `rows` pixels lie on one output row, every tap of every pixel is
    /// inside the input, the window is the whole depth and a kernel row is contiguous. Then
    /// each patch row is KH plain copies from addresses that step by a constant per pixel.
    /// Returns false, having written nothing, when the case does not apply.
    @inline(__always)
    private func packInteriorRun(row0: Int, rows: Int, k0: Int, depth: Int,
                                 into panel: UnsafeMutablePointer<Float>) -> Bool {
        let h = geometry.height, w = geometry.width
        let segment = w.kernel * inputChannels
        guard w.dilation == 1 && runLength == inputChannels && k0 == 0 && depth == segment * h.kernel
            && rows == Blocking.mr else { return false }
        let plane = h.output * w.output
        let oh = (row0 % plane) / w.output, ow = row0 % w.output
        let ih0 = h.inputIndex(output: oh, tap: 0), iw0 = w.inputIndex(output: ow, tap: 0)
        guard ow + rows <= w.output && h.allTapsInside(outputs: oh, through: oh)
            && w.allTapsInside(outputs: ow, through: ow + rows - 1) else { return false }
        let rowPitch = w.input * inputChannels
        let base = input + (row0 / plane) * h.input * rowPitch + channelOffset + ih0 * rowPitch + iw0 * inputChannels
        let pixelStep = w.stride * inputChannels
        // Kernel rows outer, pixels inner: each panel row is still written left to right, so a
        // whole-vector copy's overrun lands on the next segment or in the row's pitch skew.
        for kh in 0..<h.kernel {
            let source = base + kh * h.dilation * rowPitch
            let target = panel + kh * segment
            for i in 0..<rows {
                copyFloats(from: source + i * pixelStep, to: target + i * Blocking.aPitch, count: segment,
                           readableEnd: inputEnd)
            }
        }
        return true
    }

    /// Packs the patch matrix as a GEMM's B (the filter gradient's `patchesᵀ`-free form
    /// `dYᵀ · patches`): rows are pixels `k0 ..< k0 + depth`, columns are taps. Writes NR-wide
    /// micropanels one after another at `block`; needs `Vector.scalarCount` floats of slack
    /// after the block for the whole-vector copies.
    @inline(never)
    package func packBBlock(k0: Int, depth: Int, columns: Range<Int>, into block: UnsafeMutablePointer<Float>) {
        let nr = Blocking.nr
        var panel = block
        for col0 in stride(from: columns.lowerBound, to: columns.upperBound, by: nr) {
            let width = Swift.min(nr, columns.upperBound - col0)
            packPatchRows(pixel0: k0, count: depth, window: col0..<(col0 + width), into: panel, pitch: nr)
            if width < nr {
                for k in 0..<depth { (panel + k * nr + width).update(repeating: 0, count: nr - width) }
            }
            panel += nr * depth
        }
    }

    /// Writes columns `window` of patch rows `pixel0 ..< pixel0 + count` to `target + i · pitch`.
    /// Rows are written in order, each from left to right, so a whole-vector copy's overrun
    /// lands on positions written later (or in the caller's slack after the last row).
    @inline(__always)
    private func packPatchRows(pixel0: Int, count: Int, window: Range<Int>, into target: UnsafeMutablePointer<Float>,
                               pitch: Int) {
        let h = geometry.height, w = geometry.width
        let outputPlane = h.output * w.output
        // With dilation 1 across the width and one group, the KW taps of one kernel row read
        // KW·Cin consecutive input floats: a patch row is KH segments, each [zeros][copy][zeros].
        let segmented = w.dilation == 1 && runLength == inputChannels
        let run = singleRun(window)
        // Divide once for the first pixel, then step (image, oh, ow) in raster order.
        var image = pixel0 / outputPlane
        var oh = (pixel0 % outputPlane) / w.output
        var ow = pixel0 % w.output
        var i = 0
        while i < count {
            let imageBase = input + image * h.input * w.input * inputChannels + channelOffset
            let row = target + i * pitch
            // Pixels this step covers: one, or a stretch of an output row whose windows are all
            // one contiguous run of the input.
            var stepped = 1
            if let run, let source = run.source(imageBase: imageBase, oh: oh, ow: ow, geometry: geometry,
                                                 inputChannels: inputChannels) {
                // So is the window of every later pixel of this output row whose run still ends
                // inside the input row (the runs move right by the stride): single copies from a
                // source that steps by a constant, with no index arithmetic or tests per pixel.
                // (Per-pixel tests made the filter gradient's B packing 12 % of seed-cnn's time.)
                let iw = w.inputIndex(output: ow, tap: run.kernelColumn)
                let lastInside = ow + (w.input - 1 - run.lastColumn - iw) / w.stride
                stepped = Swift.min(count - i, w.output - ow, lastInside - ow + 1)
                let sourceStep = w.stride * inputChannels
                let lastSource = source + (stepped - 1) * sourceStep
                if vectorCopyFits(from: lastSource, count: window.count, readableEnd: inputEnd) {
                    // Then it fits for every pixel before the last, too: no test per pixel.
                    for j in 0..<stepped {
                        copyVectors(from: source + j * sourceStep, to: row + j * pitch, count: window.count)
                    }
                } else {
                    for j in 0..<stepped {
                        copyFloats(from: source + j * sourceStep, to: row + j * pitch, count: window.count,
                                   readableEnd: inputEnd)
                    }
                }
            } else if segmented {
                packSegments(oh: oh, ow: ow, imageBase: imageBase, k0: window.lowerBound, depth: window.count, into: row)
            } else {
                packRuns(oh: oh, ow: ow, imageBase: imageBase, k0: window.lowerBound, depth: window.count, into: row)
            }
            i += stepped
            ow += stepped
            if ow == w.output {
                ow = 0
                oh += 1
                if oh == h.output {
                    oh = 0
                    image += 1
                }
            }
        }
    }

    /// Where a window of patch-row columns lies inside one contiguous run of the input (within
    /// one kernel row's segment when the width is undilated and there is one group, else within
    /// one tap's channels), or nil. The filter gradient packs the patches as B, NR columns at a
    /// time: such a window is a single copy for every pixel away from the padding, where the
    /// general path clipped segment by segment (16 % of training time on the article's model).
    private func singleRun(_ window: Range<Int>) -> PatchRun? {
        let w = geometry.width
        if w.dilation == 1 && runLength == inputChannels {
            let segment = w.kernel * inputChannels
            let kernelRow = window.lowerBound / segment
            guard (window.upperBound - 1) / segment == kernelRow else { return nil }
            let offset = window.lowerBound - kernelRow * segment
            return PatchRun(kernelRow: kernelRow, kernelColumn: 0, offset: offset, firstColumn: offset / inputChannels,
                            lastColumn: (offset + window.count - 1) / inputChannels)
        }
        let tap = window.lowerBound / runLength
        guard (window.upperBound - 1) / runLength == tap else { return nil }
        return PatchRun(kernelRow: tap / w.kernel, kernelColumn: tap % w.kernel, offset: window.lowerBound - tap * runLength,
                        firstColumn: 0, lastColumn: 0)
    }

    /// One patch row, kernel row by kernel row: each is one contiguous copy between zero runs.
    @inline(__always)
    private func packSegments(oh: Int, ow: Int, imageBase: UnsafePointer<Float>, k0: Int, depth: Int,
                              into target: UnsafeMutablePointer<Float>) {
        let h = geometry.height, w = geometry.width
        let segment = w.kernel * inputChannels
        let iw0 = w.inputIndex(output: ow, tap: 0)
        let ih0 = h.inputIndex(output: oh, tap: 0)
        let rowPitch = w.input * inputChannels
        let whole = segment * h.kernel
        if k0 == 0 && depth == whole && w.allTapsInside(outputs: ow, through: ow)
            && h.allTapsInside(outputs: oh, through: oh) {
            // An interior pixel and the whole depth: KH plain copies, no clipping.
            var source = imageBase + ih0 * rowPitch + iw0 * inputChannels
            let step = h.dilation * rowPitch
            for kh in 0..<h.kernel {
                copyFloats(from: source, to: target + kh * segment, count: segment, readableEnd: inputEnd)
                source += step
            }
            return
        }
        // The columns of a segment that fall inside the input: [copyStart, copyEnd).
        let copyStart = Swift.max(0, -iw0) * inputChannels
        let copyEnd = (Swift.min(w.input, iw0 + w.kernel) - iw0) * inputChannels
        let end = k0 + depth
        var kh = k0 / segment
        var from = k0 - kh * segment
        var out = target
        while out < target + depth {
            let to = Swift.min(segment, end - kh * segment)
            let ih = h.inputIndex(output: oh, tap: kh)
            if ih < 0 || ih >= h.input || copyStart >= copyEnd {
                out.update(repeating: 0, count: to - from)
            } else {
                let row = imageBase + (ih * w.input + iw0) * inputChannels
                let a = Swift.min(Swift.max(from, copyStart), to), b = Swift.max(Swift.min(to, copyEnd), a)
                if a > from { out.update(repeating: 0, count: a - from) }
                // When the window ends before the first in-bounds column (a == b == to < copyStart),
                // `row + a` lies before the image: copy nothing rather than a whole vector from there.
                if b > a { copyFloats(from: row + a, to: out + (a - from), count: b - a, readableEnd: inputEnd) }
                if to > b { (out + (b - from)).update(repeating: 0, count: to - b) }
            }
            out += to - from
            kh += 1
            from = 0
        }
    }

    /// One patch row, tap by tap: each tap is a run of this group's channels, or zeros.
    @inline(__always)
    private func packRuns(oh: Int, ow: Int, imageBase: UnsafePointer<Float>, k0: Int, depth: Int,
                          into target: UnsafeMutablePointer<Float>) {
        let h = geometry.height, w = geometry.width
        var target = target
        var k = k0
        let end = k0 + depth
        while k < end {
            let tap = k / runLength
            let channel = k - tap * runLength
            let count = Swift.min(runLength - channel, end - k)
            let ih = h.inputIndex(output: oh, tap: tap / w.kernel)
            let iw = w.inputIndex(output: ow, tap: tap % w.kernel)
            if ih >= 0 && ih < h.input && iw >= 0 && iw < w.input {
                copyFloats(from: imageBase + (ih * w.input + iw) * inputChannels + channel, to: target, count: count,
                           readableEnd: inputEnd)
            } else {
                target.update(repeating: 0, count: count)
            }
            target += count
            k += count
        }
    }
}

/// A window of patch-row columns that is one contiguous run of the input for every pixel whose
/// taps it covers are inside: kernel row `kernelRow`, from kernel column `kernelColumn`, `offset`
/// floats into the run, covering input columns `firstColumn ... lastColumn` past the tap's.
struct PatchRun {
    let kernelRow: Int, kernelColumn: Int, offset: Int, firstColumn: Int, lastColumn: Int

    /// The run's first input float for output pixel (`oh`, `ow`), or nil if any of it is padding.
    @inline(__always)
    func source(imageBase: UnsafePointer<Float>, oh: Int, ow: Int, geometry: ConvolutionGeometry,
                inputChannels: Int) -> UnsafePointer<Float>? {
        let ih = geometry.height.inputIndex(output: oh, tap: kernelRow)
        let iw = geometry.width.inputIndex(output: ow, tap: kernelColumn)
        guard ih >= 0 && ih < geometry.height.input && iw + firstColumn >= 0 && iw + lastColumn < geometry.width.input
        else { return nil }
        return imageBase + (ih * geometry.width.input + iw) * inputChannels + offset
    }
}
