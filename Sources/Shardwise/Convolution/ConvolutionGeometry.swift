// Convolution geometry: TensorFlow's output-size and padding rules, in one place.
//
// Every caller that needs an output extent or a padding offset (the descriptor's
// validation, the im2col packer, the backward passes, the reference oracle, the
// benchmark) asks `ConvolutionGeometry`; nothing else repeats the arithmetic.
//
// Along one axis, with input extent `i`, kernel `k`, stride `s`, dilation `d`,
// the dilated kernel spans `dk = (k - 1)·d + 1` input positions.
//   VALID:    o = ceil((i - dk + 1) / s); no padding; requires dk <= i.
//   SAME:     o = ceil(i / s); total padding p = max((o - 1)·s + dk - i, 0),
//             top/left gets floor(p / 2), bottom/right the rest (so with an even
//             kernel or stride > 1 the extra row or column goes at the end).
//   explicit: o = floor((i + before + after - dk) / s) + 1; requires dk <= i + before + after.

/// Padding of a convolution's input, with TensorFlow's meanings.
public enum Padding: Sendable, Hashable, CustomStringConvertible {
    /// Pad so that the output extent is `ceil(input / stride)`; any odd cell goes bottom/right.
    case same
    /// No padding: only positions where the whole dilated kernel fits.
    case valid
    /// Explicit zero rows and columns at each side.
    case explicit(top: Int, bottom: Int, left: Int, right: Int)

    /// `same`, `valid` or `t,b,l,r`: the spelling the benchmark's case keys use.
    public var description: String {
        switch self {
        case .same: return "same"
        case .valid: return "valid"
        case let .explicit(top, bottom, left, right): return "\(top),\(bottom),\(left),\(right)"
        }
    }
}

/// A pair of per-axis integers (strides, dilations, extents): height first, then width.
public struct Size2D: Sendable, Hashable, CustomStringConvertible {
    /// The extent along the height (rows) axis.
    public var height: Int
    /// The extent along the width (columns) axis.
    public var width: Int

    /// Creates a pair from its two extents.
    public init(height: Int, width: Int) {
        self.height = height
        self.width = width
    }

    /// The same value along both axes.
    public init(_ both: Int) {
        self.init(height: both, width: both)
    }

    /// `H` when both axes agree, else `HxW`.
    public var description: String { height == width ? "\(height)" : "\(height)x\(width)" }
}

/// The resolved geometry of one spatial axis of a convolution.
public struct AxisGeometry: Sendable, Hashable {
    /// Input extent.
    public let input: Int
    /// Kernel extent (undilated).
    public let kernel: Int
    /// Stride.
    public let stride: Int
    /// Dilation.
    public let dilation: Int
    /// Zero cells before the first input cell.
    public let padBefore: Int
    /// Zero cells after the last input cell.
    public let padAfter: Int
    /// Output extent.
    public let output: Int

    /// The input index that output `o`, kernel tap `t` reads; outside `0..<input` it reads padding.
    @inlinable
    public func inputIndex(output o: Int, tap t: Int) -> Int {
        o * stride + t * dilation - padBefore
    }

    /// Whether every kernel tap of outputs `first ... last` reads inside the input (no padding):
    /// the test each kernel's padding-free fast path makes.
    @inlinable
    public func allTapsInside(outputs first: Int, through last: Int) -> Bool {
        inputIndex(output: first, tap: 0) >= 0 && inputIndex(output: last, tap: kernel - 1) < input
    }

    /// The kernel taps of output `o` that read inside the input (not padding): a range, as the
    /// input index grows with the tap; empty where every tap reads padding.
    package func tapsInside(output o: Int) -> Range<Int> {
        func ceilingQuotient(_ n: Int) -> Int { n <= 0 ? 0 : (n + dilation - 1) / dilation }
        let first = Swift.min(kernel, ceilingQuotient(padBefore - o * stride))
        let end = Swift.min(kernel, ceilingQuotient(input + padBefore - o * stride))
        return first..<Swift.max(first, end)
    }
}

/// The resolved geometry of a 2-D convolution: output extents and padding, per TensorFlow.
public struct ConvolutionGeometry: Sendable, Hashable {
    /// The height axis.
    public let height: AxisGeometry
    /// The width axis.
    public let width: AxisGeometry

    /// Resolves the output extents and padding of a convolution.
    ///
    /// - Throws: `ShardwiseError.nonPositiveSize` for an input or kernel extent below one,
    ///   `.invalidStride`, `.invalidDilation`, `.negativePadding`,
    ///   `.kernelLargerThanPaddedInput`, `.sizeOverflow`.
    public init(input: Size2D, kernel: Size2D, strides: Size2D, dilations: Size2D, padding: Padding) throws(ShardwiseError) {
        let explicit: (before: Int, after: Int, before2: Int, after2: Int)?
        switch padding {
        case .same, .valid: explicit = nil
        case let .explicit(top, bottom, left, right): explicit = (top, bottom, left, right)
        }
        height = try Self.axis("height", input: input.height, kernel: kernel.height, stride: strides.height,
                               dilation: dilations.height, padding: padding,
                               explicit: explicit.map { ($0.before, $0.after, "top", "bottom") })
        width = try Self.axis("width", input: input.width, kernel: kernel.width, stride: strides.width,
                              dilation: dilations.width, padding: padding,
                              explicit: explicit.map { ($0.before2, $0.after2, "left", "right") })
    }

    /// The one function that owns TensorFlow's output-size arithmetic (see the file header).
    static func axis(_ name: String, input: Int, kernel: Int, stride: Int, dilation: Int, padding: Padding,
                     explicit: (Int, Int, String, String)?) throws(ShardwiseError) -> AxisGeometry {
        if input < 1 { throw .nonPositiveSize(argument: "input \(name)", value: input) }
        if kernel < 1 { throw .nonPositiveSize(argument: "kernel \(name)", value: kernel) }
        if stride < 1 { throw .invalidStride(axis: name, value: stride) }
        if dilation < 1 { throw .invalidDilation(axis: name, value: dilation) }
        let dilatedKernel = try CheckedSize.sum(try CheckedSize.product(kernel - 1, dilation, "dilated kernel \(name)"), 1,
                                                "dilated kernel \(name)")
        let output: Int, before: Int, after: Int
        switch padding {
        case .valid:
            if dilatedKernel > input {
                throw .kernelLargerThanPaddedInput(axis: name, dilatedKernel: dilatedKernel, paddedInput: input)
            }
            output = (input - dilatedKernel) / stride + 1
            before = 0
            after = 0
        case .same:
            output = (input - 1) / stride + 1
            let needed = try CheckedSize.sum(try CheckedSize.product(output - 1, stride, "padding \(name)"),
                                             dilatedKernel, "padding \(name)")
            let total = Swift.max(needed - input, 0)
            before = total / 2
            after = total - before
        case .explicit:
            let (b, a, beforeName, afterName) = explicit!
            if b < 0 { throw .negativePadding(side: beforeName, value: b) }
            if a < 0 { throw .negativePadding(side: afterName, value: a) }
            let padded = try CheckedSize.sum(try CheckedSize.sum(input, b, "padded \(name)"), a, "padded \(name)")
            if dilatedKernel > padded {
                throw .kernelLargerThanPaddedInput(axis: name, dilatedKernel: dilatedKernel, paddedInput: padded)
            }
            output = (padded - dilatedKernel) / stride + 1
            before = b
            after = a
        }
        return AxisGeometry(input: input, kernel: kernel, stride: stride, dilation: dilation,
                            padBefore: before, padAfter: after, output: output)
    }
}
