// Peak: this machine's FP32 FMA peak and memory-copy bandwidth, measured, not assumed.
//
// The peak loop runs many independent accumulator chains of the target's widest
// vector (SIMD16 under SHARDWISE_AVX512, SIMD8 under SHARDWISE_AVX2, else SIMD4),
// so that FMA latency is hidden and only the FMA pipes' throughput limits it:
// with latency 4 and two pipes, 8 chains suffice; 16 leave room (and fit in the 32
// zmm registers of AVX-512; 12 fit the 16 registers of AVX2/SSE with the two
// operands). Each step is `a = y + a · x` with 0 < x < 1, a contraction, so the
// values stay bounded for any iteration count, and the step cannot be hoisted out
// of the loop. Without SHARDWISE_FMA (no single fused instruction on the target)
// the step is a multiply then an add, still counted as 2 FLOPs per lane: that
// loop's rate is what the kernels' separate multiply-add can reach.
//
// The per-lane peak is the single-thread rate. The same loop also runs on n lanes
// at once, through the executor that runs the cases, for every lane count the run
// uses: what n cores really deliver together. On a many-core Xeon their clock drops
// as more cores run AVX-512, and a virtual machine's cores may share physical ones,
// so n lanes' peak can be far below n × the per-lane peak; a case's scaling over one
// lane is read against the loop's own. The `% peak` fractions use per-lane peak ×
// lanes given; `lanes_peak_fraction` uses the loop measured on that many lanes.
//
// Copy bandwidth: one thread copies a 64 MiB buffer into another with memcpy
// (`copyMemory`); bytes counted are read + written (2 × 64 MiB), STREAM's
// convention, the same one the skinny-GEMM GB/s figures use.

import Shardwise

#if SHARDWISE_AVX512
/// The widest SIMD vector of the target.
typealias PeakVector = SIMD16<Float>
/// Independent accumulator chains of the peak loop.
let peakChains = 16
/// The compile-time vector ISA, as reported.
let compiledISA = "avx512"
#elseif SHARDWISE_AVX2
typealias PeakVector = SIMD8<Float>
let peakChains = 12
let compiledISA = "avx2"
#else
typealias PeakVector = SIMD4<Float>
let peakChains = 12
let compiledISA = "baseline"
#endif

/// What the benchmark measured about this machine before the cases.
struct MachineProfile: Sendable {
    /// Active processors (`Lanes.processorCount`).
    let cores: Int
    /// Single-thread FP32 FMA peak, GFLOP/s.
    let peakPerLane: Double
    /// The same loop on every core at once, GFLOP/s in total.
    var peakAllLanes: Double { peak(onLanes: cores) }
    /// The loop on n lanes at once through the run's executor, for each lane count from 2 to
    /// `cores` that the run uses (and `cores`).
    let jointPeaks: [Int: JointPeak]
    /// Single-thread memcpy bandwidth, GB/s (read + write bytes).
    let copyBandwidth: Double
    /// What ran the lanes: `dispatch` or `spin` (`--executor`).
    let executor: String
    /// `SHARDWISE_TARGET_CPU` from the environment, else `native`.
    let targetCPU: String
    /// The vector ISA this binary was compiled for: avx512, avx2 or baseline.
    let isa: String
    /// The peak loop, described: `16 chains of SIMD16<Float>, fused multiply-add`.
    let peakLoop: String

    /// What the loop reached on `lanes` lanes at once (capped at `cores`): measured where the
    /// run used that count, else per-lane peak × lanes.
    func peak(onLanes lanes: Int) -> Double {
        let lanes = Swift.min(lanes, cores)
        return lanes == 1 ? peakPerLane : jointPeaks[lanes]?.equalWork ?? peakPerLane * Double(lanes)
    }
}

/// The FMA loop run on several lanes at once, GFLOP/s.
struct JointPeak: Sendable {
    /// In total, equal work per lane, timed until the last lane finished (best trial).
    let equalWork: Double
    /// The slowest lane's own best rate.
    let slowestLane: Double
    /// The fastest lane's own best rate.
    let fastestLane: Double
    /// The lanes' own best rates, summed: what the lanes could do with work shared dynamically.
    let summed: Double
}

/// One step of a chain: `y + a · x`, fused where the target has a single FMA instruction.
@inline(__always)
private func step(_ a: PeakVector, _ x: PeakVector, _ y: PeakVector) -> PeakVector {
    #if SHARDWISE_FMA || arch(arm64)
    return y.addingProduct(a, x)
    #else
    return a * x + y
    #endif
}

/// Runs `iterations` steps of each of the independent chains; returns their sum so that
/// nothing is dead code. Operands are loaded from memory inside (SIMD values passed by
/// value into a non-inlined function are split by the calling convention).
@inline(never)
func fmaChains(iterations: Int, operands: UnsafePointer<Float>) -> Float {
    let raw = UnsafeRawPointer(operands)
    let x = raw.loadUnaligned(as: PeakVector.self)
    let y = raw.loadUnaligned(fromByteOffset: MemoryLayout<PeakVector>.stride, as: PeakVector.self)
    var a0 = y, a1 = y + 1, a2 = y + 2, a3 = y + 3, a4 = y + 4, a5 = y + 5, a6 = y + 6, a7 = y + 7
    var a8 = y + 8, a9 = y + 9, a10 = y + 10, a11 = y + 11
    #if SHARDWISE_AVX512
    var a12 = y + 12, a13 = y + 13, a14 = y + 14, a15 = y + 15
    #endif
    for _ in 0..<iterations {
        a0 = step(a0, x, y); a1 = step(a1, x, y); a2 = step(a2, x, y); a3 = step(a3, x, y)
        a4 = step(a4, x, y); a5 = step(a5, x, y); a6 = step(a6, x, y); a7 = step(a7, x, y)
        a8 = step(a8, x, y); a9 = step(a9, x, y); a10 = step(a10, x, y); a11 = step(a11, x, y)
        #if SHARDWISE_AVX512
        a12 = step(a12, x, y); a13 = step(a13, x, y); a14 = step(a14, x, y); a15 = step(a15, x, y)
        #endif
    }
    var total = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11
    #if SHARDWISE_AVX512
    total += a12 + a13 + a14 + a15
    #endif
    return total.sum()
}

/// Measures the machine: per-lane peak, all-lanes peak, copy bandwidth.
enum MachineProbe {
    /// Floating-point operations of one iteration of `fmaChains`.
    static let flopsPerIteration = Double(2 * peakChains * PeakVector.scalarCount)

    /// Best single-thread GFLOP/s over `trials` runs of about `seconds` each.
    static func peakPerLane(seconds: Double, trials: Int) -> Double {
        let operands = makeOperands()
        defer { operands.deallocate() }
        let iterations = calibrate(seconds: seconds, operands: operands)
        var best = 0.0
        var sink: Float = 0
        for _ in 0..<trials {
            let start = Clock.now()
            sink += fmaChains(iterations: iterations, operands: operands)
            best = Swift.max(best, Double(iterations) * flopsPerIteration / (Clock.now() - start) * 1e-9)
        }
        blackHole(sink)
        return best
    }

    /// The loop on `lanes` lanes at once, run by `executor` (the spinning one starts them within
    /// microseconds of each other), `trials` times: the best total rate with equal work per lane
    /// (timed until the last lane finishes, as a static split of work is), and each lane's own best
    /// rate (timed by the lane itself), whose spread shows lanes that are persistently slower.
    static func peak(onLanes lanes: Int, executor: any LaneExecutor, seconds: Double, trials: Int) -> JointPeak {
        let operands = makeOperands()
        defer { operands.deallocate() }
        let iterations = calibrate(seconds: seconds, operands: operands)
        let laneFlops = Double(iterations) * flopsPerIteration
        // One 64-byte slot per lane: its sink and its own best rate. Each lane writes only its own
        // slot; both buffers outlive the call.
        let slots = UnsafeMutablePointer<Double>.allocate(capacity: lanes * 8)
        slots.initialize(repeating: 0, count: lanes * 8)
        defer { slots.deallocate() }
        nonisolated(unsafe) let sharedOperands = UnsafePointer(operands), sharedSlots = slots
        var best = 0.0
        for _ in 0..<trials {
            let start = Clock.now()
            executor.run(count: lanes) { lane in
                let laneStart = Clock.now()
                sharedSlots[lane * 8] += Double(fmaChains(iterations: iterations, operands: sharedOperands))
                sharedSlots[lane * 8 + 1] = Swift.max(sharedSlots[lane * 8 + 1], laneFlops / (Clock.now() - laneStart) * 1e-9)
            }
            best = Swift.max(best, Double(lanes) * laneFlops / (Clock.now() - start) * 1e-9)
        }
        blackHole(Float(slots[0]))
        let laneBests = (0..<lanes).map { slots[$0 * 8 + 1] }
        return JointPeak(equalWork: best, slowestLane: laneBests.min()!, fastestLane: laneBests.max()!,
                         summed: laneBests.reduce(0, +))
    }

    /// Best single-thread copy bandwidth, GB/s (read + write), over `trials` copies of `bytes`.
    static func copyBandwidth(bytes: Int = 64 << 20, trials: Int) -> Double {
        let source = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        let target = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer { source.deallocate(); target.deallocate() }
        // Touch every page of both first, so the timed copies do not measure page faults.
        source.initializeMemory(as: UInt8.self, repeating: 1, count: bytes)
        target.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        var best = 0.0
        for _ in 0..<trials {
            let start = Clock.now()
            target.copyMemory(from: source, byteCount: bytes)
            best = Swift.max(best, 2 * Double(bytes) / (Clock.now() - start) * 1e-9)
        }
        blackHole(Float(target.load(fromByteOffset: bytes / 2, as: UInt8.self)))
        return best
    }

    /// x just below 1 and y small: every chain converges to y / (1 - x) and never overflows.
    private static func makeOperands() -> UnsafeMutablePointer<Float> {
        let width = PeakVector.scalarCount
        let operands = UnsafeMutablePointer<Float>.allocate(capacity: 2 * width)
        for i in 0..<width {
            operands[i] = 0.999 - Float(i) * 1e-4
            operands[width + i] = 1e-3
        }
        return operands
    }

    /// Iterations that take about `seconds` on one thread.
    private static func calibrate(seconds: Double, operands: UnsafePointer<Float>) -> Int {
        var iterations = 1 << 16
        while true {
            let start = Clock.now()
            blackHole(fmaChains(iterations: iterations, operands: operands))
            let elapsed = Clock.now() - start
            if elapsed >= seconds / 8 || iterations >= 1 << 40 {
                return Swift.max(1, Int(Double(iterations) * seconds / elapsed))
            }
            iterations *= 4
        }
    }
}

/// Keeps `value` alive, so the loop that produced it cannot be removed.
@inline(never)
func blackHole(_ value: Float) {
    if value == 0.123_456_7 { Console.say("") }
}
