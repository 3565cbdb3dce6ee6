// Report: one result per case and lane setting, printed as a progress line, a
// final table, and a JSON document (a tiny emitter of our own; no Foundation).
//
// JSON fields are a contract that later work extends: never rename or drop one.
//
//   machine  cores, peak_gflops_per_lane (single-thread FMA loop), target_cpu
//            (SHARDWISE_TARGET_CPU or "native"), isa (compiled: avx512|avx2|baseline),
//            peak_gflops_all_lanes, copy_gbytes_per_s (read + write bytes), peak_loop,
//            quick, shapes_file, executor (dispatch|spin), input_offset_floats (--input-offset,
//            else null)
//   results  one object per case and lane setting:
//            op, case (canonical text), lanes (lanes given: n, or every core for auto),
//            strategy (the plan's), median_ms, gflops, peak_fraction (gflops over
//            peak_gflops_per_lane × lanes), max_rel_error, verified, workspace_bytes,
//            source_line (--shapes line, else null), bitwise_equal_across_lanes (against
//            the case's first lane setting; null with one setting), gbytes_per_s (skinny
//            GEMM-shaped cases only: M = 1 or N ≤ 16, else null), reference_ms (one run of
//            the Double reference, extrapolated from its sample when sampled),
//            speedup_over_reference (reference_ms over median_ms);
//            extras: lanes_setting ("2" or "auto"), lanes_used (the plan's), plan (its
//            description), flops, verification (full|sampled), verification_detail,
//            tolerance, min_ms, max_ms, repetitions, calls_per_repetition, error,
//            lanes_peak_fraction (gflops over the FMA loop measured on that many lanes at
//            once), speedup_over_one_lane (the case's 1-lane median over this one; null
//            without a 1-lane setting).
//   machine extras: peak_gflops_by_lanes ({"16": {equal_work, slowest_lane, fastest_lane,
//            summed}, …}: the FMA loop on n lanes at once, through the run's executor; see
//            JointPeak).

import Shardwise

/// The outcome of one case at one lane setting.
struct CaseResult {
    let benchCase: BenchCase
    let setting: LaneSetting
    /// FLOPs of one call.
    let flops: Double
    /// The per-lane peak the fraction is taken against.
    let peakPerLane: Double
    /// The FMA loop measured on the lanes the call was given, all at once.
    let lanesPeak: Double
    /// The median at 1 lane of the same case, when the run has that setting.
    var oneLaneSeconds: Double?
    /// The plan the library chose (nil when the call failed before planning).
    var plan: ShardPlan?
    var workspaceBytes: Int?
    var timing: Timing?
    var verification: Verification?
    /// Whether the reference covered the whole output.
    var fullVerification = true
    /// What was compared: `all 4096 elements`, `8 of 2048 rows`.
    var verificationDetail = ""
    /// Bytes touched per call for a skinny GEMM, else nil.
    var skinnyBytes: Int?
    /// One run of the Double reference, extrapolated to the whole output when sampled.
    var referenceSeconds: Double?
    /// Same output bits as the case's first lane setting; nil when only one setting runs.
    var bitwiseEqualAcrossLanes: Bool?
    /// A library error that stopped the case.
    var error: String?

    init(benchCase: BenchCase, setting: LaneSetting, flops: Double, peakPerLane: Double, lanesPeak: Double) {
        self.benchCase = benchCase
        self.setting = setting
        self.flops = flops
        self.peakPerLane = peakPerLane
        self.lanesPeak = lanesPeak
    }

    /// Verified: no error and the output within tolerance.
    var verified: Bool { error == nil && verification?.passed == true }
    var gflops: Double? { timing.map { flops / $0.medianSeconds * 1e-9 } }
    /// GFLOP/s over the peak of the lanes the call was given (per-lane peak × `setting.maximum`).
    var peakFraction: Double? { gflops.map { $0 / (peakPerLane * Double(setting.maximum)) } }
    /// GFLOP/s over what the FMA loop reached on that many lanes at once.
    var lanesPeakFraction: Double? { gflops.map { $0 / lanesPeak } }
    /// How many times faster than the same case on one lane.
    var speedupOverOneLane: Double? {
        guard let oneLaneSeconds, let timing else { return nil }
        return oneLaneSeconds / timing.medianSeconds
    }
    var gbytesPerSecond: Double? {
        guard let bytes = skinnyBytes, let timing else { return nil }
        return Double(bytes) / timing.medianSeconds * 1e-9
    }
    /// How many times faster than the Double reference (one reference run against the median).
    var speedupOverReference: Double? {
        guard let referenceSeconds, let timing else { return nil }
        return referenceSeconds / timing.medianSeconds
    }
    /// `rows×2`, `serial×1`.
    var planSummary: String { plan.map { "\($0.strategy)×\($0.laneCount)" } ?? "-" }
    var verificationMode: String { fullVerification ? "full" : "sampled" }
}

// MARK: - Console

enum ConsoleReport {
    /// The line printed as soon as a case at one lane setting completes.
    static func progress(_ r: CaseResult, index: Int, total: Int) -> String {
        let counter = "[\(Format.pad(String(index), String(total).count, right: true))/\(total)]"
        var line = "\(counter) \(r.benchCase.canonical)  lanes=\(r.setting.label)"
        if let error = r.error { return line + "  ERROR: \(error)" }
        line += "  \(r.planSummary)"
        if let timing = r.timing, let gflops = r.gflops, let fraction = r.peakFraction {
            line += "  \(Format.fixed(timing.medianSeconds * 1e3, 3)) ms  \(Format.fixed(gflops, 1)) GFLOP/s"
                + "  \(Format.fixed(fraction * 100, 1))% peak"
        }
        if let gbytes = r.gbytesPerSecond { line += "  \(Format.fixed(gbytes, 1)) GB/s" }
        if let v = r.verification {
            line += "  err \(Format.scientific(v.maxRelativeError, 1)) (\(r.verificationMode): \(r.verificationDetail);"
                + " tol \(Format.scientific(v.tolerance, 1)))" + (v.passed ? "" : "  FAILED")
        }
        if r.bitwiseEqualAcrossLanes == false { line += "  BITS DIFFER from the first lane setting" }
        return line
    }

    /// The table printed at the end.
    static func table(_ results: [CaseResult]) -> String {
        let headers = ["case", "lanes", "plan", "ms", "GFLOP/s", "% peak", "GB/s", "× ref", "max rel err", "check", "bits"]
        var rows: [[String]] = []
        for r in results {
            let check = r.error != nil ? "ERROR" : (r.verified ? "ok" : "FAIL") + " " + r.verificationMode
            let bits = r.bitwiseEqualAcrossLanes.map { $0 ? "same" : "DIFFER" } ?? "-"
            rows.append([
                r.benchCase.label, r.setting.label, r.planSummary,
                r.timing.map { Format.fixed($0.medianSeconds * 1e3, 3) } ?? "-",
                r.gflops.map { Format.fixed($0, 1) } ?? "-",
                r.peakFraction.map { Format.fixed($0 * 100, 1) } ?? "-",
                r.gbytesPerSecond.map { Format.fixed($0, 1) } ?? "",
                r.speedupOverReference.map { Format.fixed($0, 0) } ?? "-",
                r.verification.map { Format.scientific($0.maxRelativeError, 1) } ?? "-",
                check, bits,
            ])
        }
        var widths = headers.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = Swift.max(widths[i], cell.count) } }
        // The case and plan columns read left-aligned; numbers right-aligned.
        let leftAligned: Set<Int> = [0, 2, 9, 10]
        func render(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in Format.pad(cell, widths[i], right: !leftAligned.contains(i)) }
                .joined(separator: "  ")
        }
        var lines = [render(headers), String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1))]
        lines += rows.map(render)
        return lines.joined(separator: "\n")
    }

    /// For each case run at 1 lane and at more: its speed-up at each other setting beside the
    /// FMA loop's own on that many lanes, and the fraction of the loop's joint rate it reached.
    /// Empty when no case has both.
    static func scaling(_ results: [CaseResult], machine: MachineProfile) -> String {
        let scaled = results.filter { $0.setting != .fixed(1) && $0.speedupOverOneLane != nil }
        guard !scaled.isEmpty else { return "" }
        var lines = ["lane scaling: speed-up over 1 lane (the FMA loop's own on that many lanes), "
            + "and % of the loop's joint rate"]
        for r in scaled {
            guard let speedup = r.speedupOverOneLane, let fraction = r.lanesPeakFraction else { continue }
            let loop = machine.peak(onLanes: r.setting.maximum) / machine.peakPerLane
            lines.append("  \(r.benchCase.label)  lanes \(r.setting.label): \(Format.fixed(speedup, 2))× "
                + "(\(Format.fixed(loop, 2))×), \(Format.fixed(fraction * 100, 1)) %")
        }
        return lines.joined(separator: "\n")
    }
}

// MARK: - JSON

/// A JSON value, and its text.
indirect enum JSON {
    case null
    case bool(Bool)
    case number(Double)
    case integer(Int)
    case string(String)
    case array([JSON])
    /// Keys in insertion order.
    case object([(String, JSON)])

    /// A number, or null when absent or not finite (JSON has no NaN or infinity).
    static func number(_ value: Double?) -> JSON {
        guard let value, value.isFinite else { return .null }
        return .number(value)
    }

    /// Indented text; arrays of scalars and the objects inside arrays stay on one line.
    func rendered(indent: String = "", inline: Bool = false) -> String {
        switch self {
        case .null: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .integer(let value): return String(value)
        case .number(let value): return value.isFinite ? value.description : "null"
        case .string(let value): return JSON.quote(value)
        case .array(let values):
            if values.isEmpty { return "[]" }
            let inner = indent + "  "
            return "[\n" + values.map { inner + $0.rendered(indent: inner, inline: true) }.joined(separator: ",\n")
                + "\n" + indent + "]"
        case .object(let members):
            if members.isEmpty { return "{}" }
            if inline {
                return "{" + members.map { JSON.quote($0.0) + ": " + $0.1.rendered(indent: indent, inline: true) }
                    .joined(separator: ", ") + "}"
            }
            let inner = indent + "  "
            return "{\n" + members.map { inner + JSON.quote($0.0) + ": " + $0.1.rendered(indent: inner) }
                .joined(separator: ",\n") + "\n" + indent + "}"
        }
    }

    /// `text` as a JSON string literal.
    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

enum JSONReport {
    /// The whole document: `{"machine": {…}, "results": [{…}, …]}`.
    static func document(machine m: MachineProfile, quick: Bool, shapes: String?, inputOffset: Int?,
                         results: [CaseResult]) -> String {
        let machine: JSON = .object([
            ("cores", .integer(m.cores)),
            ("peak_gflops_per_lane", .number(m.peakPerLane)),
            ("target_cpu", .string(m.targetCPU)),
            ("isa", .string(m.isa)),
            ("peak_gflops_all_lanes", .number(m.peakAllLanes)),
            ("copy_gbytes_per_s", .number(m.copyBandwidth)),
            ("executor", .string(m.executor)),
            ("peak_loop", .string(m.peakLoop)),
            ("quick", .bool(quick)),
            ("shapes_file", shapes.map { .string($0) } ?? .null),
            ("input_offset_floats", optional(inputOffset, JSON.integer)),
            ("peak_gflops_by_lanes", .object(m.jointPeaks.keys.sorted().map { lanes in
                let joint = m.jointPeaks[lanes]!
                return ("\(lanes)", .object([
                    ("equal_work", .number(joint.equalWork)), ("slowest_lane", .number(joint.slowestLane)),
                    ("fastest_lane", .number(joint.fastestLane)), ("summed", .number(joint.summed)),
                ]))
            })),
        ])
        return JSON.object([("machine", machine), ("results", .array(results.map(result)))]).rendered() + "\n"
    }

    /// One result object: the contract's fields first, then extras.
    static func result(_ r: CaseResult) -> JSON {
        let contract: [(String, JSON)] = [
            ("op", .string(r.benchCase.opName)),
            ("case", .string(r.benchCase.canonical)),
            ("lanes", .integer(r.setting.maximum)),
            ("strategy", r.plan.map { .string($0.strategy.description) } ?? .null),
            ("median_ms", .number(r.timing.map { $0.medianSeconds * 1e3 })),
            ("gflops", .number(r.gflops)),
            ("peak_fraction", .number(r.peakFraction)),
            ("max_rel_error", .number(r.verification?.maxRelativeError)),
            ("verified", .bool(r.verified)),
            ("workspace_bytes", optional(r.workspaceBytes, JSON.integer)),
            ("source_line", optional(r.benchCase.sourceLine, JSON.integer)),
            ("bitwise_equal_across_lanes", optional(r.bitwiseEqualAcrossLanes, JSON.bool)),
            ("gbytes_per_s", .number(r.gbytesPerSecond)),
            ("reference_ms", .number(r.referenceSeconds.map { $0 * 1e3 })),
            ("speedup_over_reference", .number(r.speedupOverReference)),
        ]
        let extras: [(String, JSON)] = [
            ("label", .string(r.benchCase.label)),
            ("lanes_setting", .string(r.setting.label)),
            ("lanes_used", optional(r.plan?.laneCount, JSON.integer)),
            ("plan", optional(r.plan?.description, JSON.string)),
            ("flops", .number(r.flops)),
            ("verification", .string(r.verificationMode)),
            ("verification_detail", .string(r.verificationDetail)),
            ("tolerance", .number(r.verification?.tolerance)),
            ("min_ms", .number(r.timing.map { $0.minimumSeconds * 1e3 })),
            ("max_ms", .number(r.timing.map { $0.maximumSeconds * 1e3 })),
            ("repetitions", optional(r.timing?.repetitions, JSON.integer)),
            ("calls_per_repetition", optional(r.timing?.callsPerRepetition, JSON.integer)),
            ("error", optional(r.error, JSON.string)),
            ("lanes_peak_fraction", .number(r.lanesPeakFraction)),
            ("speedup_over_one_lane", .number(r.speedupOverOneLane)),
        ]
        return .object(contract + extras)
    }

    /// `make(value)`, or null.
    private static func optional<T>(_ value: T?, _ make: (T) -> JSON) -> JSON {
        value.map(make) ?? .null
    }
}
