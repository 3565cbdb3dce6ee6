// Grouped convolution with narrow groups (4 input and 4 output channels each, ResNeXt's
// 32 groups of 4 at 128 channels) by a direct SIMD kernel.
//
// As im2col-GEMM, each group is a GEMM with 4 output columns and a depth of KH·KW·4: the
// outer-product microkernel fills a quarter of a 16-float vector, and 1×56×56×128 3×3 in
// 32 groups ran at 25 GFLOP/s (ONNX Runtime: 41). Here vectors run along the output
// channels, as in the depthwise kernel, V/4 groups to a vector. An output vector's input
// channels are then the same V channels of the input pixel, but output lane l needs input
// channel ci of *its own* group: lane (l rounded down to 4) + ci. So each tap loads the
// pixel's input vector once and spreads it four ways (`spread`: on AVX-512 one in-lane
// `vshufps` each, on 4-wide vectors a broadcast), each spread times the filter row of
// input channel ci (HWIO keeps [tap][ci][output channel] rows, so the filter is read as
// it is stored). Four multiply-adds per input vector, one shuffle each.
//
// Runs of up to 12 pixels of one output row (`PixelRun`) share each filter vector; 12
// accumulators keep enough multiply-adds in flight. Any stride and dilation: each tap
// loads each pixel's vector, and skips the pixels whose column is in the padding (a
// range worked out once per tap, so a tap inside the input tests nothing per pixel;
// a select of a zero vector per pixel instead ran at 119 GFLOP/s, the range at 129);
// kernel rows in the padding are skipped. Every output takes its taps in (kh, kw, ci)
// order in any run, so every lane count gives the same bits. 1 lane, 1×56×56×128 3×3
// in 32 groups: 25 → 125–129 GFLOP/s (ONNX Runtime 41), stride 2 25 → 87–100.

/// The direct kernel of a layer of narrow groups (`applies(to:)`) for one call.
struct NarrowGroupKernel: @unchecked Sendable {
    // @unchecked: raw pointers into the caller's input and the layer's weights, read-only during
    // the call.
    let input: UnsafePointer<Float>
    let geometry: ConvolutionGeometry
    let channels: Int
    /// Filter rows (one per tap and input channel of a group) `filterPitch` apart (`DepthwiseWeights`).
    let filter: UnsafePointer<Float>
    let filterPitch: Int
    let epilogue: Epilogue

    /// Input and output channels per group.
    static let groupWidth = 4

    /// Whether the kernel computes layers of `d`: groups of `groupWidth` input and output channels,
    /// whole vectors of them.
    static func applies(to d: Conv2DDescriptor) -> Bool {
        d.groups > 1 && d.inputChannelsPerGroup == groupWidth && d.outputChannelsPerGroup == groupWidth
            && d.inputChannels % Vector.scalarCount == 0
    }

    /// Computes a call of a layer of narrow groups: the output pixels of `plan`'s shards, on `lanes`.
    static func run(input: UnsafePointer<Float>, geometry: ConvolutionGeometry, channels: Int,
                    weights: DepthwiseWeights, activation: Activation, plan: ShardPlan, lanes: Lanes,
                    output: UnsafeMutablePointer<Float>) {
        nonisolated(unsafe) let output = output
        weights.withWindowsAligned(shift: 0) { filter, bias in
            let kernel = NarrowGroupKernel(input: input, geometry: geometry, channels: channels, filter: filter,
                                           filterPitch: weights.pitch, epilogue: Epilogue(bias: bias, activation: activation))
            lanes.run(plan) { next in
                while let shard = next() { kernel.run(pixels: shard.rows, output: output) }
            }
        }
    }

    /// Computes output pixels `pixels` (flattened N·OH·OW) into `output` (NHWC), in runs
    /// (`PixelRun.forEach`), a vector of channels at a time.
    func run(pixels: Range<Int>, output: UnsafeMutablePointer<Float>) {
        let h = geometry.height, w = geometry.width
        PixelRun.forEach(in: pixels, geometry: geometry) { image, oh, ow, run in
            let imageBase = input + image * h.input * w.input * channels
            let target = output + ((image * h.output + oh) * w.output + ow) * channels
            for c0 in stride(from: 0, to: channels, by: Vector.scalarCount) {
                computeRun(run, imageBase: imageBase + c0, oh: oh, ow: ow, channel: c0, output: target + c0)
            }
        }
    }

    /// `pixels` consecutive pixels of output row `oh` from column `ow`, one vector of channels from
    /// `channel` (`imageBase`: the image's first pixel, `channel` channels in), by the run of that
    /// length (`RunLength`).
    @inline(__always)
    private func computeRun(_ pixels: Int, imageBase: UnsafePointer<Float>, oh: Int, ow: Int, channel: Int,
                            output: UnsafeMutablePointer<Float>) {
        @inline(__always) func run<Length: RunLength>(_ length: Length.Type) {
            computeRun(length, imageBase: imageBase, oh: oh, ow: ow, channel: channel, output: output)
        }
        switch pixels {
        case 1: run(RunOf1.self)
        case 2: run(RunOf2.self)
        case 3: run(RunOf3.self)
        case 4: run(RunOf4.self)
        case 5: run(RunOf5.self)
        case 6: run(RunOf6.self)
        case 7: run(RunOf7.self)
        case 8: run(RunOf8.self)
        case 9: run(RunOf9.self)
        case 10: run(RunOf10.self)
        case 11: run(RunOf11.self)
        default: run(RunOf12.self)
        }
    }

    /// A run of `Length.pixels` pixels: a function of its own for each length (specialized).
    @inline(never)
    private func computeRun<Length: RunLength>(_: Length.Type, imageBase: UnsafePointer<Float>, oh: Int, ow: Int,
                                               channel: Int, output: UnsafeMutablePointer<Float>) {
        computeRun(pixels: Length.pixels, imageBase: imageBase, oh: oh, ow: ow, channel: channel, output: output)
    }

    /// The run itself; `pixels` is a constant after inlining (transparent: the optimizer outlined it).
    @_transparent
    private func computeRun(pixels: Int, imageBase: UnsafePointer<Float>, oh: Int, ow: Int, channel: Int,
                            output: UnsafeMutablePointer<Float>) {
        let h = geometry.height, w = geometry.width
        let pixelBytes = channels * 4, tapBytes = Self.groupWidth * filterPitch * 4, filterBytes = filterPitch * 4
        let columnStep = w.stride, width = w.input
        var sums = PixelRun()
        for kh in h.tapsInside(output: oh) {
            let row = UnsafeRawPointer(imageBase + h.inputIndex(output: oh, tap: kh) * w.input * channels)
            var weights = UnsafeRawPointer(filter + kh * w.kernel * Self.groupWidth * filterPitch + channel)
            for kw in 0..<w.kernel {
                let w0 = weights.loadUnaligned(as: Vector.self)
                let w1 = weights.loadUnaligned(fromByteOffset: filterBytes, as: Vector.self)
                let w2 = weights.loadUnaligned(fromByteOffset: 2 * filterBytes, as: Vector.self)
                let w3 = weights.loadUnaligned(fromByteOffset: 3 * filterBytes, as: Vector.self)
                let first = w.inputIndex(output: ow, tap: kw)
                @_transparent func add(_ x: Vector, to sum: inout Vector) {
                    sum = multiplyAdd(sum, spread(x, 0), w0)
                    sum = multiplyAdd(sum, spread(x, 1), w1)
                    sum = multiplyAdd(sum, spread(x, 2), w2)
                    sum = multiplyAdd(sum, spread(x, 3), w3)
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

/// Lane l of the result is lane (l rounded down to a multiple of 4) + `c` of `x`: each group of four
/// lanes takes its `c`th element (`c` a constant after inlining: one in-lane shuffle on AVX-512 and
/// AVX2, a broadcast on 4-wide vectors). Written out lane by lane: as a loop over the lanes, its
/// 48 copies in a run of 12 pixels made the run too large for the optimizer, which then left the
/// run's vector loads and stores as calls.
@_transparent
func spread(_ x: Vector, _ c: Int) -> Vector {
    #if SHARDWISE_AVX512
    Vector(x[c], x[c], x[c], x[c], x[4 + c], x[4 + c], x[4 + c], x[4 + c],
           x[8 + c], x[8 + c], x[8 + c], x[8 + c], x[12 + c], x[12 + c], x[12 + c], x[12 + c])
    #elseif SHARDWISE_AVX2
    Vector(x[c], x[c], x[c], x[c], x[4 + c], x[4 + c], x[4 + c], x[4 + c])
    #else
    Vector(repeating: x[c])
    #endif
}

/// A run's length as a type, so that each length's run is a function of its own, optimized with the
/// length a constant. With the twelve lengths' transparent bodies in one function, the optimizer
/// ran over its budget and left the runs' vector loads and stores as calls (1×56×56×128 3×3 in 32
/// groups: 33 GFLOP/s).
protocol RunLength { static var pixels: Int { get } }
enum RunOf1: RunLength { static var pixels: Int { 1 } }
enum RunOf2: RunLength { static var pixels: Int { 2 } }
enum RunOf3: RunLength { static var pixels: Int { 3 } }
enum RunOf4: RunLength { static var pixels: Int { 4 } }
enum RunOf5: RunLength { static var pixels: Int { 5 } }
enum RunOf6: RunLength { static var pixels: Int { 6 } }
enum RunOf7: RunLength { static var pixels: Int { 7 } }
enum RunOf8: RunLength { static var pixels: Int { 8 } }
enum RunOf9: RunLength { static var pixels: Int { 9 } }
enum RunOf10: RunLength { static var pixels: Int { 10 } }
enum RunOf11: RunLength { static var pixels: Int { 11 } }
enum RunOf12: RunLength { static var pixels: Int { 12 } }

