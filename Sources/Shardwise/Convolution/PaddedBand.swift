// Convolution read in place from a zero-padded band of input rows: im2col with no gathering.
//
// im2col as packing copies every patch row into an A micropanel before the
// microkernel reads it. When a patch row is short and few filter panels reuse it,
// that copy costs more than the multiply: the article's first layer (Cin = 1,
// 5×5 → 32) has 25 floats per patch row and a single NR-wide filter panel, and
// profiled at 2.5× as long in packing as in the microkernel (74 GFLOP/s).
//
// With a height stride of 1 the patches need no gathering if the input is laid
// out right. Copy input rows, zero-padded on both sides to a width Wp (a multiple
// of the width stride sw), into a band buffer, and number the band's positions
// on a virtual grid Wv = Wp / sw wide. Output pixel (r, ow) of the band, at
// virtual position q = r·Wv + ow, then reads, at tap (kh, kw) and channel c,
//
//     band[q · sw·Cin  +  kh·dh·Wp·Cin + kw·dw·Cin + c]
//
// so each row of A starts at its own place in the band, and depth step
// k = (kh, kw, c) lies at a fixed offset from it. The microkernel's in-place form
// reads exactly that: a table of MR row pointers per tile, the depth as KH runs
// of KW·Cin floats (KH·KW runs of Cin under a width dilation; one offset-table
// load per run, beside 24 multiply-adds per step). The only copy is the band
// itself: each input float once per band, instead of KH·KW times. (But for the
// dot-product tail's tiles, a last filter panel of at most 8 channels: those read
// their rows from a contiguous copy, staged per tile; see DotTail.swift.)
//
// A height stride sh > 1 breaks that: consecutive output rows start sh input
// rows apart, not one. So the band is then written as KH phases, phase kh
// holding, for each output row r of the band, input row r·sh + kh·dh (less the
// top padding): one padded row per output row again, and kernel row kh's
// segment starts at phase kh instead of kh·dh rows down. Each input float is
// copied about KH/sh times rather than once, still far fewer than im2col's KH·KW.
//
// A tile is MR consecutive output pixels, so it may span two output rows. (Rows
// at one pitch, sw·Cin, would be simpler, but a tile would then include the
// Wv − OW virtual positions past each output row, computed and never written:
// 4 of 32 on a 28-wide SAME 5×5 layer. With the table, 1 lane, two interleaved
// runs: the article's two layers 153–171 → 190 and 219–228 → 253–259 GFLOP/s,
// 1×56×56×64 3×3 242–247 → 255–260, 8×56×56×64 242–248 → 259–260, the 7×7
// stride-2 stem 233–239 → 244–245.)
//
// A grouped layer's groups read the same band: group g's patch row is its Cin/G
// channels of every tap, KH·KW runs at g·Cin/G floats past the ungrouped row's taps,
// against its own packed filter, into its own output columns. The band is filled once
// for all the groups, where packing had gathered each group's patches on its own, in
// runs of Cin/G floats. Measured, 1 lane, packing → bands (GFLOP/s), three interleaved
// runs: 1×56×56×64 3×3 → 64 in 2 groups 157–159 → 245–248, 1×28×28×256 → 256 in 32
// groups 20 → 69–71; one run each: 1×28×28×128 → 128 in 4 groups 155 → 233,
// 1×56×56×128 → 128 in 32 groups (4 channels a group: a filter panel of 4 columns) 5 →
// 23. Non-grouped layers level. Depthwise layers have their own kernel
// (DepthwiseConvolution.swift).
//
// Bounded memory: a band holds R output rows (R + (KH−1)·dh input rows, or KH
// phases of R rows), with R chosen to fit `budgetBytes`; when even one output
// row's band would not fit, the layer packs instead.
//
// A depth beyond KC is cut into the packed path's KC blocks (`Blocking.depthBlock`),
// each block a list of segments (its share of each kernel row or tap), and C is
// accumulated block by block through the same write-back phases. So each output
// is the same multiply-adds in the same order as on the packed path: the same
// bits, whichever path a call takes. Measured, 1 lane, two interleaved runs
// against packing: 1×28×28×64 5×5 → 64 (K = 1600) 0.691–0.704 → 0.619–0.627 ms,
// 1×28×28×256 3×3 → 128 (K = 2304) 1.835–1.848 → 1.775–1.779, 1×14×14×512 3×3 →
// 128 0.922–0.933 → 0.899–0.909.

/// How a convolution reads its patch matrix in place from zero-padded bands of input rows.
struct PaddedBand: Sendable {
    let geometry: ConvolutionGeometry
    /// Input channels: the NHWC pitch of a pixel.
    let channels: Int
    /// Floats per padded band row: `Wp · Cin`, with Wp a multiple of the width stride.
    let rowFloats: Int
    /// Positions per band row on the virtual grid (`Wp / sw`, at least the output width).
    let virtualWidth: Int
    /// Output rows per band at most.
    let bandRows: Int
    /// Rows of input written per band: one block of `bandRows + (KH−1)·dh` rows under a height
    /// stride of 1, else KH phases of `bandRows` rows each (see the file header).
    let filledRows: Int
    /// For each group, the depth of each KC block (`Blocking.depthBlock`) as segments of a patch
    /// row, relative to the row's first float: the block's share of each kernel row (KW·Cin
    /// contiguous floats) when the width is undilated and there is one group, of each tap's Cin /
    /// groups channels of the group otherwise.
    let blockSegments: [[[PanelSegment]]]
    /// The patch row's depth: KH·KW·Cin / groups.
    let depth: Int
    /// Output channels per group: where each group's columns start in the output and the bias.
    let groupColumns: Int

    /// The size a band aims for: half of this machine's 1 MiB L2 per core.
    static let budgetBytes = 512 << 10

    /// The longest kernel row (KW · Cin floats) for which a band under a height stride serves as
    /// many filter panels as any band: there packing copies each patch row as KH short runs.
    /// Measured, 1 lane then 2: the 7×7 stride-2 stem over 3 channels (21 floats) 205 → 229 and
    /// 390 → 437 GFLOP/s, the 3×3 one (9 floats) 63 → 77.
    static let shortKernelRow = 32

    /// The most filter columns a band serves under a height stride with longer kernel rows: two
    /// micropanels. There packing copies long runs, and the band's KH phases copy each input float
    /// about KH / sh times, so the band pays only where few panels reuse a packed row. Measured
    /// against packing, 1 lane, three interleaved runs (ms): 1×56×56×96 3×3 stride 2 → 40 (288-float
    /// rows) 0.313–0.318 → 0.298–0.306, 8×56×56×32 → 64 1.029–1.049 → 0.955–0.988, 1×112×112×64 →
    /// 64 0.979–1.001 → 0.939–0.966; 2 lanes 1–6 % faster. In an earlier pair of runs four panels
    /// measured level (1×56×56×128 → 128) and eight 1–3 % slower (1×28×28×256 → 256).
    static let widestStridedFilter = 2 * Blocking.nr

    /// The most filter columns a band serves: eight micropanels. Beyond them a packed patch row is
    /// reused often enough to repay its copy. Four panels against two (1 lane, then 2; three
    /// interleaved runs): 1×28×28×128 3×3 → 128 252–259 → 254–265 GFLOP/s, 1×56×56×32 → 96 235–240
    /// → 249–257 and 443–466 → 463–490, 1×14×14×128 → 128 on 2 lanes 397–408 → 417–450. Eight
    /// against four, once bands spanned depth blocks (1 lane, two interleaved runs, ms):
    /// 1×14×14×256 3×3 → 256 0.917–0.934 → 0.890–0.903, 8×28×28×64 → 256 7.41–7.45 → 7.13–7.17,
    /// 1×56×56×64 5×5 → 256 10.33–10.48 → 9.95–10.08, 1×28×28×256 → 256 3.63–3.66 → 3.54–3.63,
    /// 1×56×56×64 → 192 and 1×28×28×128 → 160 2–3 % faster; 2 lanes level. Sixteen (14×14×256 →
    /// 512, 7×7×512 → 512, 14×14×512 → 512, 28×28×128 → 512) lost 1–4 % to packing. (With
    /// virtual pixels computed, before the row-pointer tables, even three panels had lost.) The
    /// limit applies to the plan's widest shard (`Conv2D.band(for:plan:)`): a 2-lane
    /// output-channel split of a 16-panel layer reads bands. (Four panels per lane, packing before
    /// bands spanned depth blocks: 1×14×14×256 → 256 on 2 lanes 0.496–0.506 → 0.469–0.476 ms.)
    static let widestFilter = 8 * Blocking.nr

    /// The most filter columns a call that reads this band may compute in one shard:
    /// `widestFilter`, or `widestStridedFilter` under a height stride with long kernel rows.
    let widestColumns: Int

    /// Whether the planner may price this band's copy below packing: not under a height stride
    /// with long kernel rows, where the band pays only a little (see `widestStridedFilter`).
    var undercutsPacking: Bool { widestColumns == Self.widestFilter }

    /// The band layout for a convolution, or nil where packing is the only way, or the better one:
    /// a one-row band that fits, whose tiles' rows (one output pixel's patch each, `sw · Cin` floats
    /// apart) stay in the level-1 data cache (`Blocking.keepsRowsInL1`). On Zen 4 (8 ways), 1 lane,
    /// three interleaved runs, band → packed where pixels lie 4 KB apart (GFLOP/s): 1×7×7×1024 3×3
    /// → 256 84.6 → 103.4, 1×28×28×1024 3×3 → 256 87.7 → 108.9, 1×14×14×1024 3×3 → 128 95.0 →
    /// 107.3, 1×28×28×1024 1×3 → 256 98.7 → 108.0; at stride 2 level (1×14×14×512 → 512, 1×28×28×512
    /// → 256, 1×56×56×512 → 128, 1×14×14×2048 → 256, five runs). (Whether a call reads the band
    /// also depends on its shards' widths, `widestColumns`.) A grouped layer's groups read the same
    /// band, each its own channels of every tap.
    init?(descriptor d: Conv2DDescriptor, geometry g: ConvolutionGeometry, depth: Int) {
        let h = g.height, w = g.width, cin = d.inputChannels, groupChannels = d.inputChannelsPerGroup
        stagingFloats = DotTail.columns(of: d.outputChannelsPerGroup, depth: depth).isEmpty
            ? 0 : Blocking.mr * Blocking.aPitch
        // Every term of a band's size below the budget, so that none of the arithmetic can overflow.
        let budgetFloats = Self.budgetBytes / MemoryLayout<Float>.stride
        guard [w.padBefore, w.input, w.padAfter, w.stride, w.kernel, w.dilation, h.kernel, h.dilation, cin]
            .allSatisfy({ $0 < budgetFloats }) else { return nil }
        let paddedWidth = (w.padBefore + w.input + w.padAfter + w.stride - 1) / w.stride * w.stride
        let virtualWidth = paddedWidth / w.stride
        let rowFloats = paddedWidth * cin
        let haloRows = (h.kernel - 1) * h.dilation
        let fittingRows = h.stride == 1 ? budgetFloats / rowFloats - haloRows : budgetFloats / rowFloats / h.kernel
        guard fittingRows >= 1, Blocking.keepsRowsInL1(pitch: w.stride * cin) else { return nil }
        geometry = g
        channels = cin
        widestColumns = h.stride == 1 || w.kernel * groupChannels <= Self.shortKernelRow
            ? Self.widestFilter : Self.widestStridedFilter
        self.rowFloats = rowFloats
        self.virtualWidth = virtualWidth
        let bandRows = Swift.min(fittingRows, h.output)
        self.bandRows = bandRows
        filledRows = h.stride == 1 ? bandRows + haloRows : bandRows * h.kernel
        // Where kernel row kh's input rows start in the band: kh·dh rows down, or at phase kh.
        let kernelRowOffset = h.stride == 1 ? h.dilation * rowFloats : bandRows * rowFloats
        let segments = w.dilation == 1 && d.groups == 1
            ? (0..<h.kernel).map { PanelSegment(offset: $0 * kernelRowOffset, length: w.kernel * cin) }
            : (0..<h.kernel * w.kernel).map {
                PanelSegment(offset: ($0 / w.kernel) * kernelRowOffset + ($0 % w.kernel) * w.dilation * cin,
                             length: groupChannels)
            }
        self.depth = depth
        groupColumns = d.outputChannelsPerGroup
        blockSegments = (0..<d.groups).map { group in
            Self.cut(segments.map { PanelSegment(offset: $0.offset + group * groupChannels, length: $0.length) },
                     depth: depth)
        }
    }

    /// Floats of workspace one lane needs: a band, the dot-product tail's staging block (if any)
    /// and a tile.
    var workspaceFloats: Int {
        filledRows * rowFloats + stagingFloats + Blocking.mr * Blocking.nr
    }

    /// Floats of workspace where a tile's rows are staged for the dot-product tail (DotTail.swift):
    /// MR rows of a depth block, where the layer's output channels end in such a tail.
    let stagingFloats: Int

    /// Computes `shard`'s output pixels (its rows: flattened n, oh, ow) and output channels (its
    /// columns, which may span groups: see `ShardPlan.groupedRanges`), one band at a time.
    /// `output` points at channel 0 of pixel 0, with `ldc` floats per pixel; `filters` holds each
    /// group's packed filter; `epilogue`'s bias is indexed by absolute channel.
    func run(shard: LaneShard, input: UnsafePointer<Float>, filters: [PackedMatrix],
             output: UnsafeMutablePointer<Float>, ldc: Int, epilogue: Epilogue, workspace: UnsafeMutablePointer<Float>) {
        let pixels = shard.rows, pieces = shard.groupPieces(groupColumns: groupColumns)
        let h = geometry.height, w = geometry.width
        let mr = Blocking.mr, nr = Blocking.nr
        let plane = h.output * w.output
        let tile = workspace + workspaceFloats - mr * nr
        let blockDepth = Blocking.depthBlock(depth)
        let staged = workspace + filledRows * rowFloats
        withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: Blocking.mc + mr) { tables in
            let table = tables.baseAddress!, stagedRows = UnsafePointer(table + Blocking.mc)
            for i in 0..<mr { table[Blocking.mc + i] = UnsafePointer(staged + i * Blocking.aPitch) }
            var pixel = pixels.lowerBound
            while pixel < pixels.upperBound {
                let image = pixel / plane
                let firstRow = (pixel % plane) / w.output
                // Up to the shard's last pixel's row: a shard may end inside an image.
                let lastRow = (Swift.min(pixels.upperBound, (image + 1) * plane) - 1 - image * plane) / w.output
                let rows = Swift.min(bandRows, lastRow + 1 - firstRow)
                let bandStart = image * plane + firstRow * w.output
                let bandEnd = Swift.min(pixels.upperBound, bandStart + rows * w.output)
                fill(workspace, image: input + image * h.input * w.input * channels, firstRow: firstRow, rows: rows)
                // BLIS's order: a KC block of the filter stays in cache for all of the band's pixels,
                // and each filter panel in L1 for all the tiles of an MC-pixel block. Each group reads
                // its own channels of the same band, and writes its own columns.
                for (group, columns) in pieces {
                    let filter = filters[group]
                    let dotTail = DotTailColumns(of: filter, within: columns)
                    let groupOutput = output + group * groupColumns
                    for (index, k0) in stride(from: 0, to: depth, by: blockDepth).enumerated() {
                        let blockLength = Swift.min(blockDepth, depth - k0)
                        let panels = filter.block(k0: k0)
                        let phase = DepthPhase(block: k0, length: blockLength, of: depth)
                        blockSegments[group][index].withUnsafeBufferPointer { segments in
                            for block in stride(from: pixel - bandStart, to: bandEnd - bandStart, by: Blocking.mc) {
                                let blockEnd = Swift.min(block + Blocking.mc, bandEnd - bandStart)
                                pointToPatchRows(block..<blockEnd, of: workspace, into: table)
                                for jr in stride(from: columns.lowerBound, to: columns.upperBound, by: nr) {
                                    let n = Swift.min(nr, columns.upperBound - jr)
                                    for (t0, tileRows) in RowTiles(blockEnd - block) {
                                        if let dotTail, jr == dotTail.columns.lowerBound {
                                            stageRows(mr, segments: segments, from: table + t0,
                                                      into: staged, pitch: Blocking.aPitch)
                                            Blocking.dotTail(depth: blockLength, rows: stagedRows, offset: 0,
                                                             bT: dotTail.bT + k0, bStride: dotTail.stride, count: n,
                                                             tile: tile, wantedRows: tileRows)
                                        } else {
                                            Blocking.microkernel(segments: segments, rows: table + t0,
                                                                 b: panels + jr * blockLength, tile: tile,
                                                                 wantedRows: tileRows, columns: n)
                                        }
                                        writeBack(tile: tile, rows: tileRows, columns: n,
                                                  c: groupOutput + (bandStart + block + t0) * ldc + jr, ldc: ldc,
                                                  column0: group * groupColumns + jr, epilogue: epilogue, phase: phase)
                                    }
                                }
                            }
                        }
                    }
                }
                pixel = bandEnd
            }
        }
    }

    /// Points `table` at the patch rows in `band` of its pixels `pixels` (counted from the band's
    /// first): tiles run over output pixels only, across output rows, and the entries up to the
    /// next whole tile repeat the last pixel's (computed, never written back).
    @inline(__always)
    private func pointToPatchRows(_ pixels: Range<Int>, of band: UnsafeMutablePointer<Float>,
                                  into table: UnsafeMutablePointer<UnsafePointer<Float>>) {
        let w = geometry.width, pitch = w.stride * channels
        var column = pixels.lowerBound % w.output
        var patchRow = UnsafePointer(band + ((pixels.lowerBound / w.output) * virtualWidth + column) * pitch)
        let rowSkip = (virtualWidth - w.output) * pitch
        for t in 0..<pixels.count {
            table[t] = patchRow
            patchRow += pitch
            column += 1
            if column == w.output { (column, patchRow) = (0, patchRow + rowSkip) }
        }
        for t in pixels.count..<((pixels.count + Blocking.mr - 1) / Blocking.mr * Blocking.mr) {
            table[t] = table[pixels.count - 1]
        }
    }

    /// `segments`, consecutive runs of the depth in order, cut at the KC block boundaries
    /// (`Blocking.depthBlock`): each block's share of each segment it overlaps.
    static func cut(_ segments: [PanelSegment], depth: Int) -> [[PanelSegment]] {
        let blockDepth = Blocking.depthBlock(depth)
        return stride(from: 0, to: depth, by: blockDepth).map { k0 in
            let k1 = Swift.min(k0 + blockDepth, depth)
            var start = 0
            return segments.compactMap { segment in
                defer { start += segment.length }
                let low = Swift.max(start, k0), high = Swift.min(start + segment.length, k1)
                return low < high ? PanelSegment(offset: segment.offset + low - start, length: high - low) : nil
            }
        }
    }

    /// Writes the input rows that output rows `firstRow ..< firstRow + rows` of one image read into
    /// `band`, zero-padded to `rowFloats` (rows outside the image are all zeros). Under a height
    /// stride, phase kh's row t is input row (firstRow + t)·sh + kh·dh − padding, for the band's own
    /// rows only (a short last band's other rows are never read).
    private func fill(_ band: UnsafeMutablePointer<Float>, image: UnsafePointer<Float>, firstRow: Int, rows: Int) {
        let h = geometry.height, w = geometry.width
        let left = w.padBefore * channels, body = w.input * channels
        func write(_ t: Int, inputRow ih: Int) {
            let row = band + t * rowFloats
            if ih < 0 || ih >= h.input {
                row.update(repeating: 0, count: rowFloats)
            } else {
                row.update(repeating: 0, count: left)
                (row + left).update(from: image + ih * body, count: body)
                (row + left + body).update(repeating: 0, count: rowFloats - left - body)
            }
        }
        if h.stride == 1 {
            let inputRows = rows + (h.kernel - 1) * h.dilation
            for t in 0..<inputRows { write(t, inputRow: h.inputIndex(output: firstRow, tap: 0) + t) }
        } else {
            for kh in 0..<h.kernel {
                for t in 0..<rows { write(kh * bandRows + t, inputRow: h.inputIndex(output: firstRow + t, tap: kh)) }
            }
        }
    }
}
