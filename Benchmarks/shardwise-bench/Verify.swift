// Verify: the fast output against the reference, and the error measure.
//
// Error: max |fast − ref| over the compared elements, divided by max |ref| over
// them (floored at 1e-30): a relative error that a near-zero element cannot blow
// up. A Float dot product of length K in any summation order errs by about
// √K · ε · (typical term) with random signs, so the tolerance is 8 · √K · ε
// (ε = Float.ulpOfOne), the rule the unit tests use: far below what a real bug
// does (a missed or doubled term moves an element by about one term, ~1/√K of
// max |ref|). NaN or infinity in the fast output always fails, and the output is
// filled with NaN before the checked call, so an element no lane wrote fails too.

/// The outcome of comparing one call's output with the reference.
struct Verification {
    /// max |fast − ref| / max |ref| over the compared elements (infinity for NaN/inf output).
    let maxRelativeError: Double
    /// The tolerance it was held to.
    let tolerance: Double
    /// Elements compared.
    let compared: Int

    /// Whether the output is within tolerance.
    var passed: Bool { maxRelativeError <= tolerance }

    /// 8 · √depth · ε.
    static func tolerance(depth: Int) -> Double {
        8 * Double(Swift.max(depth, 1)).squareRoot() * Double(Float.ulpOfOne)
    }

    /// Compares `output` with every slice of `reference`.
    init(output: UnsafeBufferPointer<Float>, reference: ReferenceCheck, depth: Int) {
        var maxDifference = 0.0, maxReference = 0.0, compared = 0, nonFinite = false
        for slice in reference.slices {
            for (i, expected) in slice.values.enumerated() {
                let actual = output[slice.offset + i]
                if !actual.isFinite { nonFinite = true }
                maxDifference = Swift.max(maxDifference, abs(Double(actual) - Double(expected)))
                maxReference = Swift.max(maxReference, abs(Double(expected)))
            }
            compared += slice.values.count
        }
        maxRelativeError = nonFinite ? .infinity : maxDifference / Swift.max(maxReference, 1e-30)
        tolerance = Verification.tolerance(depth: depth)
        self.compared = compared
    }
}

/// Whether two outputs hold the same bits (NaN payloads included).
func bitwiseEqual(_ x: UnsafeBufferPointer<Float>, _ y: [Float]) -> Bool {
    guard x.count == y.count else { return false }
    for i in 0..<x.count where x[i].bitPattern != y[i].bitPattern { return false }
    return true
}
