/// The one error type every Shardwise entry point throws for bad input.
///
/// Each case names the argument at fault and the values that were wrong, so the
/// message alone tells a caller what to fix. Nothing in Shardwise traps on bad
/// input, and no entry point writes into a caller's output before every check
/// has passed.
public enum ShardwiseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A size that must be at least one was zero or negative.
    case nonPositiveSize(argument: String, value: Int)
    /// A size computation (an element count, a byte count, a padded extent) overflowed `Int`.
    case sizeOverflow(argument: String)
    /// The number of elements supplied differs from the number the shape implies.
    case elementCountMismatch(argument: String, expected: Int, actual: Int)
    /// A tensor has the wrong number of dimensions.
    case rankMismatch(argument: String, expected: Int, actual: Int)
    /// A tensor's shape differs from the one the operation requires.
    case shapeMismatch(argument: String, expected: [Int], actual: [Int])
    /// The channel count of an input does not match the layer (for example `C` of an
    /// NHWC input against the filter's input channels times the groups).
    case channelMismatch(argument: String, expected: Int, actual: Int)
    /// A stride was below one.
    case invalidStride(axis: String, value: Int)
    /// A dilation was below one.
    case invalidDilation(axis: String, value: Int)
    /// An explicit padding was negative.
    case negativePadding(side: String, value: Int)
    /// `groups` is below one or does not divide both channel counts.
    case invalidGroups(groups: Int, inputChannels: Int, outputChannels: Int)
    /// The dilated kernel does not fit in the padded input along `axis`.
    case kernelLargerThanPaddedInput(axis: String, dilatedKernel: Int, paddedInput: Int)
    /// A bias vector's length differs from the number of output channels.
    case biasLengthMismatch(expected: Int, actual: Int)
    /// A leading dimension (row stride) is smaller than the row it must hold.
    case invalidLeadingDimension(argument: String, value: Int, minimum: Int)
    /// A caller's buffer holds fewer elements than the operation reads or writes.
    case bufferTooShort(argument: String, required: Int, actual: Int)
    /// A clamp activation whose lower bound exceeds its upper bound, or is NaN.
    case invalidClampRange(min: Float, max: Float)
    /// A value that must be finite, or in a range, was not.
    case invalidArgument(argument: String, reason: String)

    /// A sentence naming the argument and the values at fault.
    public var description: String {
        switch self {
        case let .nonPositiveSize(argument, value):
            return "\(argument) must be at least 1, got \(value)"
        case let .sizeOverflow(argument):
            return "\(argument): the size computation overflows Int"
        case let .elementCountMismatch(argument, expected, actual):
            return "\(argument): expected \(expected) elements, got \(actual)"
        case let .rankMismatch(argument, expected, actual):
            return "\(argument): expected rank \(expected), got rank \(actual)"
        case let .shapeMismatch(argument, expected, actual):
            return "\(argument): expected shape \(expected), got \(actual)"
        case let .channelMismatch(argument, expected, actual):
            return "\(argument): expected \(expected) channels, got \(actual)"
        case let .invalidStride(axis, value):
            return "stride along \(axis) must be at least 1, got \(value)"
        case let .invalidDilation(axis, value):
            return "dilation along \(axis) must be at least 1, got \(value)"
        case let .negativePadding(side, value):
            return "padding at \(side) must not be negative, got \(value)"
        case let .invalidGroups(groups, inputChannels, outputChannels):
            return "groups (\(groups)) must be at least 1 and divide both the input channels "
                + "(\(inputChannels)) and the output channels (\(outputChannels))"
        case let .kernelLargerThanPaddedInput(axis, dilatedKernel, paddedInput):
            return "the dilated kernel along \(axis) (\(dilatedKernel)) is larger than the padded input (\(paddedInput))"
        case let .biasLengthMismatch(expected, actual):
            return "bias must hold one value per output channel (\(expected)), got \(actual)"
        case let .invalidLeadingDimension(argument, value, minimum):
            return "\(argument) must be at least \(minimum), got \(value)"
        case let .bufferTooShort(argument, required, actual):
            return "\(argument) must hold at least \(required) elements, got \(actual)"
        case let .invalidClampRange(min, max):
            return "clamp needs min <= max with neither NaN, got min \(min), max \(max)"
        case let .invalidArgument(argument, reason):
            return "\(argument): \(reason)"
        }
    }
}

// MARK: - Checked size arithmetic

/// Size arithmetic that throws `ShardwiseError.sizeOverflow` instead of trapping.
package enum CheckedSize {
    /// `a * b`, or a thrown overflow naming `argument`.
    package static func product(_ a: Int, _ b: Int, _ argument: @autoclosure () -> String) throws(ShardwiseError) -> Int {
        let (value, overflow) = a.multipliedReportingOverflow(by: b)
        if overflow { throw .sizeOverflow(argument: argument()) }
        return value
    }

    /// `a + b`, or a thrown overflow naming `argument`.
    package static func sum(_ a: Int, _ b: Int, _ argument: @autoclosure () -> String) throws(ShardwiseError) -> Int {
        let (value, overflow) = a.addingReportingOverflow(b)
        if overflow { throw .sizeOverflow(argument: argument()) }
        return value
    }

    /// The product of `sizes` after checking each is at least one, and that the
    /// product times `MemoryLayout<Float>.stride` (its byte count) fits in `Int`.
    package static func elementCount(of sizes: [Int], _ argument: String) throws(ShardwiseError) -> Int {
        var count = 1
        for (axis, size) in sizes.enumerated() {
            if size < 1 { throw .nonPositiveSize(argument: "\(argument)[\(axis)]", value: size) }
            count = try product(count, size, argument)
        }
        _ = try product(count, MemoryLayout<Float>.stride, "\(argument) byte count")
        return count
    }

    /// The elements a row-major `rows × columns` matrix with row stride `leadingDimension` spans.
    package static func matrixSpan(rows: Int, columns: Int, leadingDimension: Int, _ argument: String) throws(ShardwiseError) -> Int {
        let last = try product(rows - 1, leadingDimension, argument)
        return try sum(last, columns, argument)
    }
}
