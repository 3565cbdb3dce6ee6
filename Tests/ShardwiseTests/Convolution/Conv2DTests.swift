#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
import Shardwise
import ShardwiseReference
import ShardwiseTestSupport

/// One convolution case of the test grid.
struct ConvCase: CustomStringConvertible {
    var batch = 1, height = 7, width = 7, inputChannels = 3, outputChannels = 5
    var kernel = Size2D(3), strides = Size2D(1), dilations = Size2D(1)
    var padding = Padding.same, groups = 1, bias = true, activation = Activation.none

    var description: String {
        "n=\(batch) h=\(height) w=\(width) c=\(inputChannels) k=\(outputChannels) kernel=\(kernel) "
            + "stride=\(strides) dilation=\(dilations) pad=\(padding) groups=\(groups) bias=\(bias) act=\(activation)"
    }

    func descriptor(_ rng: inout SeededGenerator) throws -> Conv2DDescriptor {
        let filter = try Tensor(shape: [kernel.height, kernel.width, inputChannels / groups, outputChannels],
                                scalars: rng.floats(kernel.height * kernel.width * inputChannels / groups * outputChannels))
        let biasTensor = bias ? try Tensor(shape: [outputChannels], scalars: rng.floats(outputChannels)) : nil
        return try Conv2DDescriptor(filter: filter, bias: biasTensor, strides: strides, padding: padding,
                                    dilations: dilations, groups: groups, activation: activation)
    }
}

/// A case's layer, a random input for it from `seed`, and the reference's output.
struct ConvFixture {
    let layer: Conv2D
    let shape: [Int]
    let input: Tensor
    let expected: Tensor
    /// √K-scaled: K = KH·KW·Cin/groups.
    let tolerance: Float

    init(_ c: ConvCase, seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        let descriptor = try c.descriptor(&rng)
        shape = [c.batch, c.height, c.width, c.inputChannels]
        input = try Tensor(shape: shape, scalars: rng.floats(shape.reduce(1, *)))
        expected = try Reference.conv2D(input: input, descriptor: descriptor)
        layer = try Conv2D(descriptor)
        let depth = c.kernel.height * c.kernel.width * c.inputChannels / c.groups
        tolerance = ShardwiseTestSupport.tolerance(depth: depth, magnitude: Float(depth).squareRoot() + 1)
    }

    /// Runs the layer on one lane with the input copied to the start of an accessible region that
    /// an inaccessible page precedes, then to the end of one that an inaccessible page follows: a
    /// read before or after the input faults. Returns a failure description, or nil.
    func checkBesideGuardPages() throws -> String? {
        let count = input.count
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let length = (count * 4 + page - 1) / page * page
        for guardAfter in [false, true] {
            guard let mapping = mmap(nil, length + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                  mapping != MAP_FAILED else { return "mmap failed" }
            defer { munmap(mapping, length + page) }
            let accessible = guardAfter ? mapping : mapping + page
            guard mprotect(guardAfter ? mapping + length : mapping, page, PROT_NONE) == 0 else { return "mprotect failed" }
            let start = guardAfter ? accessible + length - count * 4 : accessible
            let source = start.bindMemory(to: Float.self, capacity: count)
            source.initialize(from: input.scalars, count: count)
            var output = [Float](repeating: .nan, count: expected.count)
            try output.withUnsafeMutableBufferPointer { target in
                try layer.forward(input: UnsafeBufferPointer(start: source, count: count), shape: shape, output: target,
                                  lanes: .serial)
            }
            if let bad = firstMismatch(output, expected.scalars, tolerance: tolerance) {
                return "guard page \(guardAfter ? "after" : "before"): \(bad)"
            }
        }
        return nil
    }
}

/// Runs `c` through `Conv2D` (output poisoned with NaN) at each lane count and through the
/// reference; returns a failure description, or nil. All lane counts must agree bitwise. With
/// `besideGuardPages`, then `ConvFixture.checkBesideGuardPages()` too.
func checkConv(_ c: ConvCase, seed: UInt64, lanes: [Lanes] = [.serial], besideGuardPages: Bool = false) throws -> String? {
    let f = try ConvFixture(c, seed: seed)
    var first: [Float]?
    for lane in lanes {
        var output = [Float](repeating: .nan, count: f.expected.count)
        try f.input.withUnsafeBufferPointer { source in
            try output.withUnsafeMutableBufferPointer { target in
                try f.layer.forward(input: source, shape: f.shape, output: target, lanes: lane)
            }
        }
        if let bad = firstMismatch(output, f.expected.scalars, tolerance: f.tolerance) { return "\(c) seed \(seed): \(bad)" }
        if let first, first.map(\.bitPattern) != output.map(\.bitPattern) {
            return "\(c) seed \(seed): lane counts disagree bitwise"
        }
        first = output
    }
    if besideGuardPages, let bad = try f.checkBesideGuardPages() { return "\(c) seed \(seed), \(bad)" }
    return nil
}


@Suite struct Conv2DTests {
    /// A seeded random walk through the issue's grid; invalid combinations must throw the typed error.
    @Test func randomGridAgainstReference() throws {
        var rng = SeededGenerator(seed: 2026)
        let kernels = [Size2D(1), Size2D(2), Size2D(3), Size2D(5), Size2D(height: 7, width: 1)]
        let strides = [Size2D(1), Size2D(2), Size2D(3), Size2D(height: 2, width: 1)]
        let paddings: [Padding] = [.same, .valid, .explicit(top: 1, bottom: 0, left: 2, right: 1)]
        let activations: [Activation] = [.none, .relu, .relu6, .clamp(min: -0.5, max: 0.75)]
        var ran = 0
        for index in 0..<400 {
            var c = ConvCase()
            c.batch = [1, 3].randomElement(using: &rng)!
            c.height = [1, 2, 7, 13].randomElement(using: &rng)!
            c.width = [1, 2, 7, 13].randomElement(using: &rng)!
            c.kernel = kernels.randomElement(using: &rng)!
            c.strides = strides.randomElement(using: &rng)!
            c.dilations = Size2D([1, 2].randomElement(using: &rng)!)
            c.padding = paddings.randomElement(using: &rng)!
            c.activation = activations.randomElement(using: &rng)!
            c.bias = Bool.random(using: &rng)
            c.inputChannels = [1, 3, 17].randomElement(using: &rng)!
            c.outputChannels = [1, 5, 33, 61].randomElement(using: &rng)!
            switch index % 4 {
            case 1 where c.inputChannels % 2 == 1:
                c.inputChannels += 1  // groups 2 needs even channels on both sides
                c.outputChannels += c.outputChannels % 2
                c.groups = 2
            case 2:
                c.groups = c.inputChannels  // depthwise, channel multiplier 1 or 2
                c.outputChannels = c.inputChannels * [1, 2].randomElement(using: &rng)!
            default: break
            }
            do {
                let failure = try checkConv(c, seed: UInt64(index))
                #expect(failure == nil, "\(failure ?? "")")
                ran += 1
            } catch let error as ShardwiseError {
                guard case .kernelLargerThanPaddedInput = error else {
                    Issue.record("\(c): unexpected \(error)")
                    continue
                }
            }
        }
        #expect(ran > 200)
    }

    /// Rows wider than a micropanel, so whole panels of interior pixels take im2col's
    /// straight-copy path, next to panels that straddle rows and the padding.
    @Test func wideRowsTakeTheInteriorPath() throws {
        for (kernel, strides, dilations, channels) in [(Size2D(3), Size2D(1), Size2D(1), 1), (Size2D(5), Size2D(1), Size2D(1), 3),
                                                       (Size2D(3), Size2D(2), Size2D(height: 2, width: 1), 4),
                                                       (Size2D(height: 2, width: 3), Size2D(height: 1, width: 3), Size2D(1), 17)] {
            for padding in [Padding.same, .valid] {
                var c = ConvCase()
                c.batch = 2; c.height = 6; c.width = 61; c.inputChannels = channels; c.outputChannels = 33
                c.kernel = kernel; c.strides = strides; c.dilations = dilations; c.padding = padding
                #expect(try checkConv(c, seed: 31, lanes: [.serial, .fixed(2)]) == nil)
            }
        }
    }

    /// Layers that read their patches in place from zero-padded bands: one channel (the article's
    /// first layer), a width stride with VALID padding, dilation in both axes (a segment per tap),
    /// asymmetric explicit padding, two, four and eight filter panels, and rows wide enough for
    /// several bands per image (a short last band among them); then height strides, with kernel
    /// rows of at most 32 floats (a 7×7 stride-2 stem, stride 3 with height dilation, stride 2 with
    /// width dilation and explicit padding, several bands) or at most two panels (36-float rows;
    /// 420-float rows with a depth beyond KC); and depths beyond KC, each at lane counts that split
    /// images mid-band and mid-row. Output channels are counted in NR (32 on AVX-512, 8 on the
    /// portable target): bands serve at most eight panels (two under a height stride with long
    /// kernel rows). Tiles span output rows (and the 2-wide case has fewer pixels per row than a
    /// tile has rows).
    @Test func paddedBandsMatchTheReference() throws {
        let nr = Blocking.nr
        func bandCase(height: Int, width: Int, channels: Int, outputs: Int, kernel: Size2D, strides: Size2D = Size2D(1),
                      dilations: Size2D = Size2D(1), padding: Padding = .same, groups: Int = 1) -> ConvCase {
            var c = ConvCase()
            c.batch = 3; c.height = height; c.width = width; c.inputChannels = channels; c.outputChannels = outputs
            c.kernel = kernel; c.strides = strides; c.dilations = dilations; c.padding = padding; c.activation = .relu
            c.groups = groups
            return c
        }
        let cases = [
            bandCase(height: 9, width: 29, channels: 1, outputs: nr, kernel: Size2D(5)),
            bandCase(height: 5, width: 40, channels: 3, outputs: 5, kernel: Size2D(3), strides: Size2D(height: 1, width: 2),
                     padding: .valid),
            bandCase(height: 7, width: 30, channels: 2, outputs: nr / 2 + 1, kernel: Size2D(3), dilations: Size2D(2)),
            bandCase(height: 6, width: 27, channels: 5, outputs: 2 * nr - 3, kernel: Size2D(height: 2, width: 3),
                     padding: .explicit(top: 1, bottom: 0, left: 2, right: 1)),
            bandCase(height: 40, width: 64, channels: 64, outputs: nr + 1, kernel: Size2D(3)),
            bandCase(height: 11, width: 2, channels: 6, outputs: 4 * nr - 5, kernel: Size2D(3)),
            bandCase(height: 6, width: 11, channels: 7, outputs: 8 * nr - 3, kernel: Size2D(3)),
            // Height strides: the band is written as one phase per kernel row.
            bandCase(height: 23, width: 30, channels: 3, outputs: 2 * nr, kernel: Size2D(7), strides: Size2D(2)),
            bandCase(height: 17, width: 19, channels: 4, outputs: 7, kernel: Size2D(3), strides: Size2D(height: 3, width: 1),
                     dilations: Size2D(height: 2, width: 1)),
            bandCase(height: 12, width: 21, channels: 2, outputs: nr - 1, kernel: Size2D(height: 3, width: 2),
                     strides: Size2D(2), dilations: Size2D(height: 1, width: 2), padding: .explicit(top: 2, bottom: 0, left: 1, right: 2)),
            bandCase(height: 60, width: 400, channels: 8, outputs: nr + 1, kernel: Size2D(3), strides: Size2D(2)),
            bandCase(height: 13, width: 17, channels: 12, outputs: 2 * nr - 1, kernel: Size2D(3), strides: Size2D(2)),
            bandCase(height: 7, width: 9, channels: 140, outputs: nr + 2, kernel: Size2D(3), strides: Size2D(2)),
            // Depth beyond KC: 3·3·150 = 1350 in two blocks of 675, cut inside kernel row 1; under a
            // width dilation 3·3·131 = 1179 in two blocks of 590, cut inside tap 4.
            bandCase(height: 5, width: 7, channels: 150, outputs: 2 * nr + 3, kernel: Size2D(3)),
            bandCase(height: 6, width: 9, channels: 131, outputs: nr - 3, kernel: Size2D(3), dilations: Size2D(2)),
            // Groups read the same band, each its channels of every tap: a full panel and a dot tail per
            // group, a filter panel of 4 columns, a height stride with a width dilation, and a group's
            // depth beyond KC (3·3·150 in two blocks).
            bandCase(height: 7, width: 13, channels: 16, outputs: 2 * nr + 2, kernel: Size2D(3), groups: 2),
            bandCase(height: 9, width: 11, channels: 24, outputs: 32, kernel: Size2D(3), groups: 8),
            bandCase(height: 12, width: 15, channels: 12, outputs: 9, kernel: Size2D(3), strides: Size2D(2),
                     dilations: Size2D(height: 1, width: 2), groups: 3),
            bandCase(height: 5, width: 7, channels: 300, outputs: 2 * nr - 6, kernel: Size2D(3), groups: 2),
        ]
        let lanes: [Lanes] = [.serial, .fixed(2), .fixed(3), .fixed(5)]
        for (index, c) in cases.enumerated() {
            var rng = SeededGenerator(seed: 0)
            let layer = try Conv2D(try c.descriptor(&rng))
            #expect(try layer.readsPatchesFromBands(forInput: [c.batch, c.height, c.width, c.inputChannels]), "\(c)")
            #expect(try checkConv(c, seed: UInt64(40 + index), lanes: lanes) == nil)
        }
    }

    /// A band's tile reads one line from each of its rows (pixels `stride · Cin` floats apart) at
    /// every depth step: where those would overfill a set of this machine's L1 (rows 4 KB apart, on
    /// 8 ways), the layer packs its patches instead (`Blocking.keepsRowsInL1`), and either way
    /// matches the reference: 1024 channels at stride 1, 512 at a width stride of 2, and 1008
    /// channels (rows one line short of 4 KB apart, which spread over the sets) for contrast.
    @Test func bandsGiveWayWhereTileRowsWouldOverfillAnL1Set() throws {
        let nr = Blocking.nr
        for (index, (channels, stride, pitch)) in [(1024, 1, 1024), (512, 2, 1024), (1008, 1, 1008)].enumerated() {
            var c = ConvCase()
            c.batch = 1; c.height = 5; c.width = 6; c.inputChannels = channels; c.outputChannels = nr + 3
            c.kernel = Size2D(3); c.strides = Size2D(height: 1, width: stride); c.activation = .relu
            var rng = SeededGenerator(seed: 7)
            let layer = try Conv2D(try c.descriptor(&rng))
            #expect(try layer.readsPatchesFromBands(forInput: [c.batch, c.height, c.width, c.inputChannels])
                    == Blocking.keepsRowsInL1(pitch: pitch), "\(c)")
            #expect(try checkConv(c, seed: UInt64(90 + index), lanes: [.serial, .fixed(2)]) == nil)
        }
        #expect(Blocking.keepsRowsInL1(pitch: 1008, cache: (sets: 64, ways: 8)))
    }

    /// A layer wider than a band serves (sixteen filter panels) packs its patches on one lane, but
    /// a 2-lane output-channel split leaves each lane eight panels, so there the lanes read bands:
    /// the same bits as packing, over one depth block, over two (3·3·140 = 1260, cut inside
    /// kernel row 1) and over two cut inside a tap (3·3·131 = 1179 under a width dilation, one
    /// segment per tap). (3 lanes split the rows and pack: their bits are compared too.) Then a
    /// last filter panel of three channels, on an image of fewer pixels than a tile has rows, so
    /// that more lanes must split the channels: at 140 and 131 input channels (not 9: too shallow)
    /// it takes the dot-product tail, from packed patches on one lane, from a band's rows, staged,
    /// on two and three; the same bits, and the tail's channels come from the filter's `tail` (NaN
    /// there turns them, and only them, to NaN on either path). And grouped layers whose groups
    /// end in the tail: one that packs on one lane and on two (a group each), and reads bands on
    /// four (each group's sixteen panels split in two, over two depth blocks), and a small one that
    /// reads bands on every lane count.
    @Test func outputChannelSplitsReadBandsWhereOneLanePacks() throws {
        for (index, (channels, dilations)) in [(9, Size2D(1)), (140, Size2D(1)), (131, Size2D(height: 1, width: 2))].enumerated() {
            var tail = ConvCase()
            tail.height = 3; tail.width = 3; tail.inputChannels = channels; tail.outputChannels = 15 * Blocking.nr + 3
            tail.dilations = dilations; tail.padding = .same
            #expect(!DotTail.columns(of: tail.outputChannels, depth: 9 * channels).isEmpty || channels == 9)
            var tailRNG = SeededGenerator(seed: 0)
            let tailLayer = try Conv2D(try tail.descriptor(&tailRNG)), tailShape = [1, 3, 3, channels]
            #expect(try !tailLayer.readsPatchesFromBands(forInput: tailShape, lanes: .serial))
            #expect(try tailLayer.readsPatchesFromBands(forInput: tailShape, lanes: .fixed(2)))
            #expect(try checkConv(tail, seed: UInt64(70 + index), lanes: [.serial, .fixed(2), .fixed(3)]) == nil)
            if let filter = tailLayer.packedFilters.first, let poison = filter.tail {
                poison.update(repeating: .nan, count: filter.tailColumns.count * filter.depth)
                let input = tailRNG.floats(9 * channels)
                for lanes in [Lanes.serial, .fixed(2)] {
                    var output = [Float](repeating: 0, count: 9 * tail.outputChannels)
                    try input.withUnsafeBufferPointer { input in
                        try output.withUnsafeMutableBufferPointer {
                            try tailLayer.forward(input: input, shape: tailShape, output: $0, lanes: lanes)
                        }
                    }
                    let wrong = (0..<output.count).filter {
                        output[$0].isNaN != filter.tailColumns.contains($0 % tail.outputChannels)
                    }
                    #expect(wrong.isEmpty, "\(channels) channels, \(lanes): \(wrong.count) outputs took the wrong path")
                }
            }
            var c = ConvCase()
            c.batch = 2; c.height = 9; c.width = 13; c.inputChannels = channels; c.outputChannels = 16 * Blocking.nr - 2
            c.kernel = Size2D(3); c.dilations = dilations; c.activation = .relu
            var rng = SeededGenerator(seed: 0)
            let layer = try Conv2D(try c.descriptor(&rng))
            let shape = [c.batch, c.height, c.width, c.inputChannels]
            #expect(try !layer.readsPatchesFromBands(forInput: shape, lanes: .serial))
            #expect(try layer.plan(forInput: shape, lanes: .fixed(2)).strategy == .outputChannels, "\(c)")
            #expect(try layer.readsPatchesFromBands(forInput: shape, lanes: .fixed(2)), "\(c)")
            #expect(try checkConv(c, seed: UInt64(60 + index), lanes: [.serial, .fixed(2), .fixed(3)]) == nil)
        }
        var wide = ConvCase()
        wide.height = 3; wide.width = 3; wide.inputChannels = 2 * 140; wide.outputChannels = 2 * (15 * Blocking.nr + 3)
        wide.groups = 2; wide.padding = .same
        var wideRNG = SeededGenerator(seed: 0)
        let wideLayer = try Conv2D(try wide.descriptor(&wideRNG)), wideShape = [1, 3, 3, wide.inputChannels]
        #expect(!DotTail.columns(of: 15 * Blocking.nr + 3, depth: 9 * 140).isEmpty)
        #expect(try !wideLayer.readsPatchesFromBands(forInput: wideShape, lanes: .serial))
        #expect(try wideLayer.readsPatchesFromBands(forInput: wideShape, lanes: .fixed(4)))
        #expect(try checkConv(wide, seed: 81, lanes: [.serial, .fixed(2), .fixed(4)]) == nil)
        var grouped = ConvCase()
        grouped.batch = 2; grouped.height = 5; grouped.width = 6; grouped.inputChannels = 2 * 35
        grouped.outputChannels = 2 * (Blocking.nr + 3); grouped.groups = 2
        #expect(!DotTail.columns(of: Blocking.nr + 3, depth: 9 * 35).isEmpty)
        #expect(try checkConv(grouped, seed: 80, lanes: [.serial, .fixed(2), .fixed(3)]) == nil)
    }

    /// Under a height stride, kernel rows longer than 32 floats (3·12 here) read bands for at most
    /// two filter panels and pack for more; the same bits on every lane count either way. Then a
    /// layer with fewer output pixels than a tile has rows and three panels: one lane packs, and
    /// two must split the channels, so each reads a band: the same bits, over one depth block and
    /// over two (3·3·140 = 1260, the band's phases cut at the block boundary).
    @Test func longKernelRowsUnderAHeightStrideReadBandsForTwoPanels() throws {
        for (index, outputs) in [2 * Blocking.nr, 2 * Blocking.nr + 1].enumerated() {
            var c = ConvCase()
            c.batch = 2; c.height = 13; c.width = 17; c.inputChannels = 12; c.outputChannels = outputs
            c.kernel = Size2D(3); c.strides = Size2D(2)
            var rng = SeededGenerator(seed: 0)
            let bands = try Conv2D(try c.descriptor(&rng)).readsPatchesFromBands(forInput: [2, 13, 17, 12])
            #expect(bands == (outputs <= 2 * Blocking.nr), "\(c)")
            #expect(try checkConv(c, seed: UInt64(70 + index), lanes: [.serial, .fixed(2), .fixed(3)]) == nil)
        }
        for (index, channels) in [12, 140].enumerated() {
            var c = ConvCase()
            c.batch = 1; c.height = 3; c.width = 5; c.inputChannels = channels; c.outputChannels = 3 * Blocking.nr
            c.kernel = Size2D(3); c.strides = Size2D(2)
            var rng = SeededGenerator(seed: 0)
            let layer = try Conv2D(try c.descriptor(&rng))
            let shape = [1, 3, 5, channels]
            #expect(try !layer.readsPatchesFromBands(forInput: shape, lanes: .serial), "\(c)")
            #expect(try layer.readsPatchesFromBands(forInput: shape, lanes: .fixed(2)), "\(c)")
            #expect(try checkConv(c, seed: UInt64(72 + index), lanes: [.serial, .fixed(2)]) == nil)
        }
    }

    /// A grouped layer is planned over all its output channels: lanes take whole groups where
    /// there are at least as many groups as lanes, else each group's panels are split among them.
    /// Six output pixels (one tile on every target) leave only the channels to split. Read from
    /// bands (4 groups of two panels, the second partial) and packed (3 groups of three panels
    /// under a height stride with 36-float kernel rows): the reference's result and the same bits
    /// on every lane count, and so for the gradients.
    @Test func groupedLayersSplitWholeGroupsAmongLanes() throws {
        var banded = ConvCase()
        banded.height = 2; banded.width = 3; banded.inputChannels = 4 * 20; banded.outputChannels = 4 * (Blocking.nr + 5)
        banded.groups = 4
        var packed = ConvCase()
        packed.height = 3; packed.width = 5; packed.inputChannels = 3 * 12; packed.outputChannels = 3 * 3 * Blocking.nr
        packed.groups = 3; packed.strides = Size2D(2); packed.activation = .relu
        for (index, (c, bands)) in [(banded, true), (packed, false)].enumerated() {
            var rng = SeededGenerator(seed: 0)
            let layer = try Conv2D(try c.descriptor(&rng))
            let shape = [c.batch, c.height, c.width, c.inputChannels], width = c.outputChannels / c.groups
            #expect(try layer.readsPatchesFromBands(forInput: shape, lanes: .serial) == bands, "\(c)")
            for lanes in [2, 3, 8, 12] {
                let plan = try layer.plan(forInput: shape, lanes: .fixed(lanes))
                #expect(plan.strategy == .outputChannels, "\(c), \(lanes) lanes: \(plan.explain())")
                let wholeGroups = plan.shards.allSatisfy { $0.columns.lowerBound % width == 0 && $0.columns.count % width == 0 }
                #expect(wholeGroups == (lanes <= c.groups), "\(c), \(lanes) lanes: \(plan.shards)")
                #expect(plan.owners(rows: 6, columns: c.outputChannels).allSatisfy { $0 == 1 })
            }
            let lanes: [Lanes] = [.serial, .fixed(2), .fixed(3), .fixed(8), .fixed(12)]
            #expect(try checkConv(c, seed: UInt64(90 + index), lanes: lanes) == nil)
            // The input gradient is planned the same way, over the input channels.
            #expect(try checkConvGradients(c, seed: UInt64(92 + index), lanes: lanes) == nil)
        }
    }

    @Test func kernelLargerThanInputUnderSame() throws {
        var c = ConvCase()
        c.height = 2; c.width = 3; c.kernel = Size2D(5); c.strides = Size2D(2)
        #expect(try checkConv(c, seed: 7) == nil)
    }

    @Test func pointwiseSkipsIm2colAndMatches() throws {
        var c = ConvCase()
        c.kernel = Size2D(1); c.inputChannels = 64; c.outputChannels = 70; c.height = 9; c.width = 11; c.batch = 2
        #expect(try checkConv(c, seed: 8) == nil)
    }

    /// K = 5·5·Cin > KC (Cin = KC/25 + 7, odd): depth-block boundaries fall inside channel runs,
    /// read from a band (two filter panels) and packed (nine).
    @Test func depthBeyondKCWithChannelRunsSplitAcrossBlocks() throws {
        for outputs in [Blocking.nr + 8, 8 * Blocking.nr + 1] {
            var c = ConvCase()
            c.kernel = Size2D(5); c.inputChannels = Blocking.kc / 25 + 7; c.outputChannels = outputs; c.height = 6; c.width = 5
            var rng = SeededGenerator(seed: 0)
            let bands = try Conv2D(try c.descriptor(&rng)).readsPatchesFromBands(forInput: [1, 6, 5, c.inputChannels])
            #expect(bands == (outputs < 8 * Blocking.nr))
            #expect(try checkConv(c, seed: 9) == nil)
        }
    }

    @Test func everyLaneCountGivesTheSameBits() throws {
        var c = ConvCase()
        c.batch = 3; c.height = 13; c.width = 11; c.inputChannels = 17; c.outputChannels = 61; c.strides = Size2D(height: 2, width: 1)
        let lanes: [Lanes] = [.serial] + (1...(2 * Lanes.processorCount + 1)).map { .fixed($0) } + [.automatic]
        #expect(try checkConv(c, seed: 10, lanes: lanes) == nil)
    }

    /// The input starts right after an inaccessible page, so any read before its first element
    /// faults. A regression (found by the address sanitizer): when a KC block ended inside a kernel
    /// row before the row's first in-bounds column, im2col made a zero-length copy from before the
    /// image, which its whole-vector path read as 16 floats. Every channel count up to 200 puts
    /// the depth blocks' boundaries (5·5·C split by the blocking table) somewhere else, kernel
    /// row 4 (the only one in bounds, from its column 4 on) among them, whatever KC is. Three
    /// output channels read the patches from a band, nine filter panels pack them.
    @Test func neverReadsBeforeTheInput() throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        for channels in 1...200 {
            for outputs in [3, 8 * Blocking.nr + 1] {
                var c = ConvCase()
                c.height = 2; c.width = 2; c.kernel = Size2D(5); c.inputChannels = channels; c.outputChannels = outputs
                c.padding = .explicit(top: 4, bottom: 0, left: 4, right: 0)
                var rng = SeededGenerator(seed: UInt64(channels))
                let descriptor = try c.descriptor(&rng)
                let shape = [1, 2, 2, channels]
                let input = try Tensor(shape: shape, scalars: rng.floats(4 * channels))
                let expected = try Reference.conv2D(input: input, descriptor: descriptor)
                let length = (4 * channels * 4 + page - 1) / page * page
                let mapping = try #require(mmap(nil, page + length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
                try #require(mapping != MAP_FAILED)
                defer { munmap(mapping, page + length) }
                try #require(mprotect(mapping, page, PROT_NONE) == 0)
                let guarded = UnsafeMutableBufferPointer(start: (mapping + page).bindMemory(to: Float.self, capacity: 4 * channels),
                                                         count: 4 * channels)
                _ = guarded.initialize(from: input.scalars)
                var output = [Float](repeating: .nan, count: expected.count)
                try output.withUnsafeMutableBufferPointer { target in
                    try Conv2D(descriptor).forward(input: UnsafeBufferPointer(guarded), shape: shape, output: target, lanes: .serial)
                }
                let depth = 25 * channels
                #expect(firstMismatch(output, expected.scalars,
                                      tolerance: tolerance(depth: depth, magnitude: Float(depth).squareRoot())) == nil,
                        "channels \(channels), outputs \(outputs)")
            }
        }
    }

    /// The depthwise kernel's paths: interior groups of four pixels with pairs of full channel
    /// vectors (of eight on AVX-512 and arm64 where the channels are one pair: NR of them), single
    /// vectors, channel tails, and border pixels, on rows wide enough to have interior groups, at
    /// strides 1 and 2 and dilation 2 on either axis; every lane count gives the same bits.
    @Test func depthwiseDirectKernelAgreesAcrossLanes() throws {
        let lanes: [Lanes] = [.serial] + (1...(2 * Lanes.processorCount + 1)).map { .fixed($0) }
        for channels in [1, 7, 16, 37, 64, 83, Blocking.nr] {
            for (strides, dilations) in [(Size2D(1), Size2D(1)), (Size2D(height: 1, width: 2), Size2D(1)),
                                         (Size2D(1), Size2D(height: 1, width: 2)), (Size2D(1), Size2D(height: 2, width: 1))] {
                var c = ConvCase()
                c.batch = 2; c.height = 7; c.width = 23; c.inputChannels = channels; c.outputChannels = channels
                c.groups = channels; c.kernel = Size2D(3); c.strides = strides; c.dilations = dilations
                c.activation = .relu6
                #expect(try checkConv(c, seed: UInt64(channels), lanes: lanes) == nil, "\(c)")
            }
        }
    }

    /// The depthwise kernel's aligned windows: with the input at every offset from a 64-byte
    /// boundary (and ending where its allocation ends), channels that are whole vector pairs
    /// (windows, eight-pixel groups where they are one pair, four vectors at a time for a pixel
    /// finished after windows where they are four pairs; on AVX-512, where four or eight vectors on
    /// images this small slide, 32 vectors, 2 KB a pixel, still take windows) or not (no windows); rows whose
    /// interior is too short for a group and its spill, exactly long enough for four or eight, and
    /// long; a dilated width or height; a strided width (never windows); a kernel taller than the
    /// input (kernel rows cut at both ends); no bias. Every offset and lane count gives the same
    /// bits, and they match the reference.
    @Test func depthwiseAgreesAtEveryInputAlignment() throws {
        let v = Blocking.nr / 2
        let lanes: [Lanes] = [.serial] + (1...(2 * Lanes.processorCount + 1)).map { .fixed($0) }
        let one = Size2D(1), two = Size2D(2)
        let layouts: [(height: Int, width: Int, strides: Size2D, dilations: Size2D, bias: Bool)] = [
            (5, 6, one, one, true), (5, 7, one, one, true), (5, 10, one, one, true), (5, 11, one, one, false),
            (5, 23, one, one, true), (5, 23, one, Size2D(height: 1, width: 2), true),
            (7, 23, one, Size2D(height: 2, width: 1), false), (1, 23, one, one, true),
            (5, 23, Size2D(height: 1, width: 2), one, true), (5, 23, two, one, true),
        ]
        for channels in [v, 2 * v, 4 * v, 8 * v, 32 * v] {
            for layout in layouts {
                var c = ConvCase()
                c.batch = 2; c.height = layout.height; c.width = layout.width; c.inputChannels = channels
                c.outputChannels = channels; c.groups = channels; c.kernel = Size2D(3); c.strides = layout.strides
                c.dilations = layout.dilations; c.bias = layout.bias; c.activation = .relu6
                var rng = SeededGenerator(seed: UInt64(channels * 100 + layout.width))
                let descriptor = try c.descriptor(&rng)
                let shape = [c.batch, c.height, c.width, c.inputChannels]
                let input = try Tensor(shape: shape, scalars: rng.floats(shape.reduce(1, *)))
                let expected = try Reference.conv2D(input: input, descriptor: descriptor).scalars
                let layer = try Conv2D(descriptor)
                var first: [Float]?
                for offset in 0..<v {
                    let storage = UnsafeMutableRawPointer.allocate(byteCount: (offset + input.count) * 4, alignment: 64)
                    defer { storage.deallocate() }
                    let source = storage.bindMemory(to: Float.self, capacity: offset + input.count) + offset
                    source.initialize(from: input.scalars, count: input.count)
                    for lane in lanes {
                        var output = [Float](repeating: .nan, count: expected.count)
                        try output.withUnsafeMutableBufferPointer { target in
                            try layer.forward(input: UnsafeBufferPointer(start: source, count: input.count), shape: shape,
                                              output: target, lanes: lane)
                        }
                        let context = "\(c) offset \(offset) \(lane)"
                        #expect(firstMismatch(output, expected, tolerance: tolerance(depth: 9, magnitude: 4)) == nil,
                                "\(context)")
                        if let first {
                            #expect(first.map(\.bitPattern) == output.map(\.bitPattern), "bits differ: \(context)")
                        }
                        first = first ?? output
                    }
                }
            }
        }
    }

    /// Which 3×3 depthwise layers on whole pairs of vectors slide: on AVX-512, four vectors or more
    /// at a width stride of 1 over an image of at most 1.5 MiB whose pixels are not a multiple of 2 KB
    /// apart; nowhere else.
    @Test func depthwise3x3SlidesOnSmallImagesOfManyVectors() throws {
        let v = Blocking.nr / 2
        func slides(_ size: Int, _ vectors: Int, stride: Int = 1) throws -> Bool {
            let geometry = try ConvolutionGeometry(input: Size2D(size), kernel: Size2D(3), strides: Size2D(stride),
                                                   dilations: Size2D(1), padding: .same)
            return DepthwiseKernel.slides(geometry: geometry, channels: vectors * v)
        }
        let here = DepthwiseKernel.slidesSmall3x3Layers
        #expect(try slides(28, 4) == here)
        #expect(try slides(7, 60) == here)
        let largest = Int((Double(DepthwiseKernel.slidingPlaneBytes) / Double(4 * v * 4)).squareRoot())
        #expect(try slides(largest, 4) == here)
        #expect(try !slides(largest + 1, 4))
        #expect(try !slides(28, 2))
        #expect(try !slides(28, 4, stride: 2))
        #expect(try !slides(14, 2048 / (4 * v)))
        #expect(try slides(28, 3))
    }

    /// Depthwise layers whose pixels slide along the input row (kernel widths 5 and 7, and 3 on an
    /// odd number of channel vectors, or on AVX-512 on four; a width stride and dilation of 1, whole
    /// vectors of channels): every row width from 1 to 25, so runs
    /// of every length and rows split into two runs or more, with 32 vector registers or 16; kernel
    /// rows cut at the top and bottom (a kernel taller than the input); SAME, VALID and asymmetric
    /// explicit padding wider than half the kernel; one to three vectors of channels; a clamp. Every
    /// lane count gives the same bits, and they match the reference. Then the same layers with the
    /// input against an inaccessible page at either end: a column in the padding reads zeros, never
    /// the memory beside the input.
    @Test func depthwiseSlidingRunsAgreeWithReference() throws {
        let v = Blocking.nr / 2
        let lanes: [Lanes] = [.serial, .fixed(2), .fixed(3), .fixed(7)]
        let layouts: [(kernel: Size2D, padding: Padding, channels: Int)] = [
            (Size2D(7), .same, 2 * v), (Size2D(height: 3, width: 5), .valid, v),
            (Size2D(height: 1, width: 7), .explicit(top: 0, bottom: 2, left: 5, right: 1), 3 * v), (Size2D(5), .same, v),
            (Size2D(3), .same, v), (Size2D(3), .explicit(top: 2, bottom: 0, left: 0, right: 2), 3 * v),
            (Size2D(3), .same, 4 * v),
        ]
        var ran = 0
        for width in 1...25 {
            for (index, layout) in layouts.enumerated() {
                var c = ConvCase()
                c.batch = 2; c.height = [1, 4, 9][(width + index) % 3]; c.width = width
                c.inputChannels = layout.channels; c.outputChannels = layout.channels; c.groups = layout.channels
                c.kernel = layout.kernel; c.padding = layout.padding; c.activation = .clamp(min: -0.5, max: 0.75)
                if layout.padding == .valid && (c.width < c.kernel.width || c.height < c.kernel.height) { continue }
                let seed = UInt64(100 * width + index)
                #expect(try checkConv(c, seed: seed, lanes: lanes, besideGuardPages: true) == nil, "\(c)")
                ran += 1
            }
        }
        #expect(ran > 120)
    }

    /// Narrow groups (4 or 8 input channels and as many output channels each, or one or two vectors'
    /// worth), which `NarrowGroupKernel` computes: two to four vectors of channels (two groups or more
    /// on every target; groups of 8 where a vector holds whole ones, groups of 32 and 48 on AVX-512,
    /// one to three vectors a group, one group or two a call); and the depthwise layers it computes
    /// (one or three vectors of channels at a width stride of 2, which do not slide); every row width from 1 to 25, so runs of every length and rows
    /// split into two runs or more; 1×1, 3×3, 5×5 and 2×3 kernels; strides 1, 2 and 2×1; a width
    /// dilation of 2; SAME, VALID and asymmetric explicit padding wider than half the kernel (taps
    /// skipped on either side of a run); a kernel taller than the input; a bias or none; a clamp.
    /// Every lane count gives the same bits, and they match the reference; no read falls outside
    /// the input. (Narrow groups whose channels are not whole vectors still take the GEMM.)
    @Test func narrowGroupsAgreeWithReference() throws {
        let v = Blocking.nr / 2
        let lanes: [Lanes] = [.serial, .fixed(2), .fixed(3), .fixed(7)]
        let layouts: [(kernel: Size2D, strides: Size2D, dilations: Size2D, padding: Padding, channels: Int, group: Int)] = [
            (Size2D(3), Size2D(1), Size2D(1), .same, 2 * v, 4),
            (Size2D(3), Size2D(2), Size2D(1), .same, 3 * v, 4),
            (Size2D(1), Size2D(1), Size2D(1), .valid, 3 * v, 4),
            (Size2D(5), Size2D(height: 2, width: 1), Size2D(1), .explicit(top: 0, bottom: 4, left: 4, right: 1), 2 * v, 4),
            (Size2D(height: 2, width: 3), Size2D(1), Size2D(height: 1, width: 2), .same, 4 * v, 4),
            (Size2D(3), Size2D(1), Size2D(1), .same, 2 * v, 8),
            (Size2D(5), Size2D(height: 1, width: 2), Size2D(1), .explicit(top: 3, bottom: 0, left: 1, right: 4), 3 * v, 8),
            (Size2D(3), Size2D(height: 1, width: 2), Size2D(1), .same, v, 1),
            (Size2D(5), Size2D(2), Size2D(1), .same, 3 * v, 1),
            (Size2D(3), Size2D(1), Size2D(1), .same, 2 * v, v),
            (Size2D(5), Size2D(2), Size2D(1), .explicit(top: 4, bottom: 1, left: 0, right: 4), 3 * v, v),
            (Size2D(height: 2, width: 3), Size2D(height: 2, width: 1), Size2D(height: 1, width: 2), .valid, 2 * v, v),
            (Size2D(3), Size2D(1), Size2D(1), .same, 4 * v, 2 * v),
            (Size2D(3), Size2D(2), Size2D(height: 1, width: 2), .explicit(top: 1, bottom: 2, left: 3, right: 0), 4 * v, 2 * v),
            (Size2D(3), Size2D(1), Size2D(1), .same, 6 * v, 3 * v),
            (Size2D(1), Size2D(height: 1, width: 2), Size2D(1), .valid, 6 * v, 3 * v),
        ]
        var ran = 0
        for width in 1...25 {
            for (index, layout) in layouts.enumerated() {
                var c = ConvCase()
                c.batch = 2; c.height = [1, 3, 6][(width + index) % 3]; c.width = width
                c.inputChannels = layout.channels; c.outputChannels = layout.channels
                c.groups = layout.channels / layout.group
                c.kernel = layout.kernel; c.strides = layout.strides; c.dilations = layout.dilations
                c.padding = layout.padding; c.bias = width % 2 == 0; c.activation = .clamp(min: -0.5, max: 0.75)
                var rng = SeededGenerator(seed: 0)
                guard (try? c.descriptor(&rng).outputShape(forInput: [c.batch, c.height, c.width, c.inputChannels]))
                    != nil else { continue }
                // Groups of two or three vectors take the kernel on AVX-512 only (32 or 48 channels).
                let takesKernel = v % layout.group == 0 || [2 * v, 3 * v].contains(layout.group) && v == 16
                #expect(try Conv2D(try c.descriptor(&rng)).narrowGroups == takesKernel, "\(c)")
                let seed = UInt64(200 * width + index)
                #expect(try checkConv(c, seed: seed, lanes: lanes, besideGuardPages: true) == nil, "\(c)")
                ran += 1
            }
        }
        var few = ConvCase()
        few.inputChannels = 4 * (v + 1); few.outputChannels = few.inputChannels; few.groups = v + 1
        var rng = SeededGenerator(seed: 0)
        #expect(try !Conv2D(try few.descriptor(&rng)).narrowGroups || v == 4)
        #expect(try checkConv(few, seed: 3, lanes: lanes) == nil)
        #expect(ran > 290)
    }

    /// The depthwise kernel on any range of pixels writes exactly those pixels, with the bits of the
    /// whole call (a window group must not spill past its range, nor a sliding run), and its windows
    /// are aligned: the input `shift` channels in, and the filter it reads there, start on a vector
    /// boundary. Layers whose pixels slide (5×5, 7×7, 3×3 on an odd number of vectors, and on AVX-512
    /// on four or more on a small image: here 4 · V channels, but not 32 · V, 2 KB a pixel) take no windows.
    @Test func depthwiseShardsWriteOnlyTheirPixelsAndWindowsAreAligned() throws {
        let v = Blocking.nr / 2
        for (kernel, channels) in [(3, 2 * v), (3, 4 * v), (3, 32 * v), (7, v), (5, 2 * v), (3, v)] {
            let (height, width) = (3, 13)
            let geometry = try ConvolutionGeometry(input: Size2D(height: height, width: width), kernel: Size2D(kernel),
                                                   strides: Size2D(1), dilations: Size2D(1), padding: .same)
            var rng = SeededGenerator(seed: UInt64(channels))
            let count = height * width * channels
            let weights = DirectWeights(filter: rng.floats(kernel * kernel * channels), bias: rng.floats(channels),
                                           channels: channels)
            let values = rng.floats(count)
            for offset in 0..<v {
                let storage = UnsafeMutableRawPointer.allocate(byteCount: (offset + count) * 4, alignment: 64)
                defer { storage.deallocate() }
                let input = storage.bindMemory(to: Float.self, capacity: offset + count) + offset
                input.initialize(from: values, count: count)
                DepthwiseKernel.withKernel(input: input, geometry: geometry, channels: channels, weights: weights,
                                           activation: .none) { kernel in
                    let vectorBytes = UInt(v * MemoryLayout<Float>.stride)
                    if geometry.width.kernel == 3 && channels % (2 * v) == 0
                        && !DepthwiseKernel.slides(geometry: geometry, channels: channels) {
                        #expect(UInt(bitPattern: input + kernel.shift) % vectorBytes == 0, "offset \(offset)")
                        #expect(UInt(bitPattern: kernel.filter + kernel.shift) % vectorBytes == 0, "offset \(offset)")
                    } else {
                        #expect(kernel.shift == 0)
                    }
                    var whole = [Float](repeating: .nan, count: count)
                    whole.withUnsafeMutableBufferPointer { kernel.run(pixels: 0..<(height * width), output: $0.baseAddress!) }
                    for start in 0..<(2 * width) {
                        for end in [start + 1, start + 5, start + 9, start + 10, height * width] where end > start {
                            var part = [Float](repeating: .nan, count: count)
                            part.withUnsafeMutableBufferPointer { kernel.run(pixels: start..<end, output: $0.baseAddress!) }
                            let inside = (start * channels)..<(end * channels)
                            #expect(part.indices.allSatisfy { inside.contains($0)
                                ? part[$0].bitPattern == whole[$0].bitPattern : part[$0].isNaN },
                                    "pixels \(start)..<\(end), offset \(offset), \(geometry.width.kernel)×\(geometry.width.kernel)")
                        }
                    }
                }
            }
        }
    }

    @Test func badInputThrowsAndLeavesOutputUntouched() throws {
        var rng = SeededGenerator(seed: 11)
        let layer = try Conv2D(try ConvCase().descriptor(&rng))
        var output = [Float](repeating: 42, count: 1000)
        let input = rng.floats(7 * 7 * 4)
        #expect(throws: ShardwiseError.channelMismatch(argument: "input", expected: 3, actual: 4)) {
            try input.withUnsafeBufferPointer { i in
                try output.withUnsafeMutableBufferPointer { o in try layer.forward(input: i, shape: [1, 7, 7, 4], output: o) }
            }
        }
        #expect(throws: ShardwiseError.bufferTooShort(argument: "input", required: 147, actual: 100)) {
            try input.withUnsafeBufferPointer { i in
                try output.withUnsafeMutableBufferPointer { o in
                    try layer.forward(input: UnsafeBufferPointer(rebasing: i[0..<100]), shape: [1, 7, 7, 3], output: o)
                }
            }
        }
        #expect(throws: ShardwiseError.bufferTooShort(argument: "output", required: 245, actual: 10)) {
            try input.withUnsafeBufferPointer { i in
                try output.withUnsafeMutableBufferPointer { o in
                    try layer.forward(input: i, shape: [1, 7, 7, 3], output: UnsafeMutableBufferPointer(rebasing: o[0..<10]))
                }
            }
        }
        #expect(output.allSatisfy { $0 == 42 })
    }
}
