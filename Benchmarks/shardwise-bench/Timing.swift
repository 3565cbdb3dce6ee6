// Timing: a monotonic clock and the median-of-repetitions protocol.
//
// One measurement = warm-up, then `repetitions` timed repetitions. A repetition
// calls the operation back to back until at least `minimumRepetitionSeconds` have
// passed (at least once) and yields the mean time per call; the result is the
// median over repetitions, which a stray interruption on a shared machine moves
// far less than the mean. The calls per repetition are calibrated from the
// warm-up so that most repetitions need no clock reads inside the loop.

import Dispatch

/// Seconds on a monotonic clock (Dispatch's uptime clock).
enum Clock {
    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
}

/// How long to measure.
struct TimingSettings: Sendable {
    /// Timed repetitions; the median of them is reported. At least 5.
    var repetitions: Int
    /// Each repetition runs at least this long.
    var minimumRepetitionSeconds: Double
    /// The warm-up runs at least this long (and at least one call).
    var warmUpSeconds: Double

    /// 7 repetitions of at least 50 ms after a 100 ms warm-up.
    static let standard = TimingSettings(repetitions: 7, minimumRepetitionSeconds: 0.050, warmUpSeconds: 0.100)
    /// 5 repetitions of at least 10 ms after a 10 ms warm-up.
    static let quick = TimingSettings(repetitions: 5, minimumRepetitionSeconds: 0.010, warmUpSeconds: 0.010)
}

/// The outcome of one measurement.
struct Timing: Sendable {
    /// Median seconds per call over the repetitions.
    let medianSeconds: Double
    /// Fastest and slowest repetition's seconds per call.
    let minimumSeconds: Double, maximumSeconds: Double
    /// Repetitions timed.
    let repetitions: Int
    /// Calls in the first timed repetition (later ones may run a few more).
    let callsPerRepetition: Int
}

/// Times `body` under `settings`.
///
/// - Throws: whatever `body` throws; timing stops at the first error.
func measure<E: Error>(_ settings: TimingSettings, _ body: () throws(E) -> Void) throws(E) -> Timing {
    // Warm-up: caches, page faults, lazily created threads; also the calibration.
    var calls = 0
    let warmUpStart = Clock.now()
    var elapsed = 0.0
    repeat {
        try body()
        calls += 1
        elapsed = Clock.now() - warmUpStart
    } while elapsed < settings.warmUpSeconds
    let perCall = elapsed / Double(calls)
    let planned = Swift.max(1, Int((settings.minimumRepetitionSeconds / Swift.max(perCall, 1e-9)).rounded(.up)))

    var samples: [Double] = []
    for _ in 0..<Swift.max(5, settings.repetitions) {
        var count = 0
        let start = Clock.now()
        for _ in 0..<planned { try body() }
        count = planned
        var time = Clock.now() - start
        while time < settings.minimumRepetitionSeconds {
            try body()
            count += 1
            time = Clock.now() - start
        }
        samples.append(time / Double(count))
    }
    samples.sort()
    let middle = samples.count / 2
    let median = samples.count % 2 == 1 ? samples[middle] : (samples[middle - 1] + samples[middle]) / 2
    return Timing(medianSeconds: median, minimumSeconds: samples.first!, maximumSeconds: samples.last!,
                  repetitions: samples.count, callsPerRepetition: planned)
}
