// Support: files, console output, number formatting and a seeded generator,
// written against the C library so the binary needs no Foundation.

import Shardwise

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Files and console

/// Small wrappers over C stdio.
enum Console {
    /// Prints a line to standard output and flushes, so progress shows through a pipe.
    static func say(_ line: String = "") {
        print(line)
        fflush(nil)
    }

    /// Prints a line to standard error (unbuffered: `write(2)`).
    static func warn(_ line: String) {
        fflush(nil)
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    /// Prints `message` to standard error and exits with `code`.
    static func fail(_ message: String, code: Int32) -> Never {
        warn("shardwise-bench: " + message)
        finish(code)
    }

    /// Flushes standard output and exits with `code`.
    static func finish(_ code: Int32) -> Never {
        fflush(nil)
        exit(code)
    }

    /// The environment variable `name`, or nil.
    static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}

/// Whole-file reads and writes.
enum FileIO {
    /// The contents of `path` as UTF-8 text, or nil when it cannot be read.
    static func read(_ path: String) -> String? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count > 0 { bytes += chunk[0..<count] }
            if count < chunk.count { break }
        }
        if ferror(file) != 0 { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes `text` to `path`, replacing it; false when that fails.
    static func write(_ text: String, to path: String) -> Bool {
        guard let file = fopen(path, "wb") else { return false }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        return fclose(file) == 0 && written == bytes.count
    }
}

// MARK: - Number formatting

/// Fixed and scientific notation without Foundation's `String(format:)`.
enum Format {
    /// `value` with `digits` decimals: `fixed(3.14159, 2) == "3.14"`.
    static func fixed(_ value: Double, _ digits: Int) -> String {
        if !value.isFinite { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        if scaled >= 9e15 { return value.description }
        let units = Int(scaled)
        let whole = units / Int(scale), fraction = units % Int(scale)
        var text = (value < 0 && units != 0 ? "-" : "") + String(whole)
        if digits > 0 {
            let fractionText = String(fraction)
            text += "." + String(repeating: "0", count: digits - fractionText.count) + fractionText
        }
        return text
    }

    /// `value` as `d.dd e±xx` with `digits` decimals: `scientific(0.000123, 1) == "1.2e-04"`.
    static func scientific(_ value: Double, _ digits: Int) -> String {
        if !value.isFinite { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
        if value == 0 { return fixed(0, digits) + "e+00" }
        var exponent = Int(log10(abs(value)).rounded(.down))
        var mantissa = value / pow(10, Double(exponent))
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        if (abs(mantissa) * scale).rounded() >= 10 * scale {
            mantissa /= 10
            exponent += 1
        }
        let exponentText = String(abs(exponent))
        return fixed(mantissa, digits) + "e" + (exponent < 0 ? "-" : "+")
            + (exponentText.count < 2 ? "0" : "") + exponentText
    }

    /// A value with about three significant digits, fixed notation: 1234, 123, 12.3, 1.23, 0.123.
    static func compact(_ value: Double) -> String {
        let magnitude = abs(value)
        if magnitude == 0 { return "0" }
        if magnitude >= 100 { return fixed(value, 0) }
        if magnitude >= 10 { return fixed(value, 1) }
        if magnitude >= 1 { return fixed(value, 2) }
        return fixed(value, 3)
    }

    /// A byte count in KiB or MiB.
    static func bytes(_ count: Int) -> String {
        if count >= 1 << 20 { return fixed(Double(count) / Double(1 << 20), 1) + " MiB" }
        if count >= 1 << 10 { return fixed(Double(count) / Double(1 << 10), 1) + " KiB" }
        return "\(count) B"
    }

    /// `text` padded with spaces to `width` characters, on the left (right-aligned) or the right.
    static func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
        let fill = String(repeating: " ", count: Swift.max(0, width - text.count))
        return right ? fill + text : text + fill
    }
}

// MARK: - Seeded data

/// The library's SplitMix64: reproducible operands, so a failing case can be rerun on the same data.
typealias SplitMix = SplitMix64

extension SplitMix64 {
    /// `count` values uniform in `-1 ... 1`: 24 random bits → [0, 1) → [-1, 1), exact in Float.
    mutating func floats(_ count: Int) -> [Float] {
        (0..<count).map { _ in nextUnitFloat() * 2 - 1 }
    }
}
