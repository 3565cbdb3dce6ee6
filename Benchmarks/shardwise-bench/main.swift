// shardwise-bench: verify every case against the reference, then measure it.
//
// The run, in order:
//   1. parse the command line and the cases (built-in suite or --shapes FILE), and
//      check every case with the library before anything is measured (exit 2 on
//      a bad line, naming the file and line);
//   2. measure the machine: FP32 FMA peak per lane and on all lanes, copy bandwidth;
//   3. for each case: build it, compute the reference once, then at each lane
//      setting run it once into a NaN-filled output and verify that output, compare
//      its bits with the first setting's, and time it; print a progress line;
//   4. print the table; write --json and --svg; exit 0 only if every case verified.

import Dispatch
import Shardwise

// MARK: - 1. Options and cases

let options: Options
do {
    options = try Options.parse(Array(CommandLine.arguments.dropFirst()))
} catch {
    Console.fail("\(error)\nRun 'shardwise-bench --help' for the options.", code: 2)
}
if options.helpRequested {
    Console.say(Options.usage)
    Console.finish(0)
}

var cases: [BenchCase]
do {
    if let path = options.shapesPath {
        guard let text = FileIO.read(path) else { Console.fail("cannot read shapes file '\(path)'", code: 2) }
        cases = try ShapesParser.parse(text, name: path, recordsLines: true)
    } else if options.quick {
        cases = try ShapesParser.parse(BuiltInSuite.quick, name: "built-in quick suite", recordsLines: false)
    } else {
        cases = try ShapesParser.parse(BuiltInSuite.standard, name: "built-in default suite", recordsLines: false)
    }
} catch {
    Console.fail("\(error)", code: 2)
}
for benchCase in cases {
    do {
        try benchCase.validate()
    } catch {
        Console.fail("\(benchCase.origin): invalid \(benchCase.opName) case: \(error)", code: 2)
    }
}
if let filter = options.filter {
    cases = cases.filter { $0.canonical.contains(filter) }
    if cases.isEmpty { Console.fail("no case matches --filter '\(filter)'", code: 2) }
}
if cases.isEmpty { Console.fail("no cases to run", code: 2) }
if options.listOnly {
    for benchCase in cases { Console.say(benchCase.canonical) }
    Console.finish(0)
}
if options.explainOnly {
    for benchCase in cases {
        Console.say(benchCase.canonical)
        for setting in options.lanes {
            do {
                let plan = try makeWorkload(benchCase, seed: benchCase.seed, inputOffset: options.inputOffset).plan(setting.lanes.using(options.executor.executor))
                Console.say("  lanes \(setting): " + plan.explain().split(separator: "\n").joined(separator: "\n    "))
            } catch {
                Console.fail("\(benchCase.origin): \(error)", code: 2)
            }
        }
    }
    Console.finish(0)
}

// MARK: - 2. The machine

let timingSettings = options.quick ? TimingSettings.quick : TimingSettings.standard
/// Multiply-adds the reference may spend on one case before it switches to a sample.
let referenceBudget = options.quick ? 2e7 : 1e8
let cores = Lanes.processorCount
// Many short trials, best taken: on a shared machine a short trial is likelier to run undisturbed.
let peakSeconds = options.quick ? 0.005 : 0.01, peakTrials = options.quick ? 30 : 60

Console.say("shardwise-bench: measuring the machine…")
/// Lane counts whose joint peak is measured: those the run gives (capped at the cores), and all cores.
let peakLaneCounts = Set(options.lanes.map { Swift.min($0.maximum, cores) } + [cores]).filter { $0 > 1 }.sorted()
let machine = MachineProfile(
    cores: cores,
    peakPerLane: MachineProbe.peakPerLane(seconds: peakSeconds, trials: peakTrials),
    jointPeaks: Dictionary(uniqueKeysWithValues: peakLaneCounts.map { lanes in
        (lanes, MachineProbe.peak(onLanes: lanes, executor: options.executor.executor, seconds: peakSeconds, trials: peakTrials))
    }),
    copyBandwidth: MachineProbe.copyBandwidth(trials: options.quick ? 5 : 10),
    executor: options.executor.rawValue,
    targetCPU: Console.environment("SHARDWISE_TARGET_CPU").flatMap { $0.isEmpty ? nil : $0 } ?? "native",
    isa: compiledISA,
    peakLoop: "\(peakChains) chains of SIMD\(PeakVector.scalarCount)<Float>, "
        + (compiledISA == "baseline" ? "multiply then add" : "fused multiply-add"))
Console.say("machine: \(machine.cores) cores · isa \(machine.isa) · target-cpu \(machine.targetCPU) · "
    + "FMA peak \(Format.fixed(machine.peakPerLane, 1)) GFLOP/s per lane, "
    + "\(Format.fixed(machine.peakAllLanes, 1)) on \(machine.cores) lanes (\(machine.peakLoop)) · "
    + "copy \(Format.fixed(machine.copyBandwidth, 1)) GB/s · executor \(machine.executor)"
    + (options.inputOffset.map { " · layer inputs \($0) floats past a 64-byte boundary" } ?? ""))
for lanes in peakLaneCounts {
    let joint = machine.jointPeaks[lanes]!
    Console.say("FMA loop on \(lanes) lanes at once: \(Format.fixed(joint.equalWork, 0)) GFLOP/s with equal work "
        + "(\(Format.fixed(joint.equalWork / machine.peakPerLane, 2))× one lane); lanes' own rates "
        + "\(Format.fixed(joint.slowestLane, 0))–\(Format.fixed(joint.fastestLane, 0)), "
        + "summed \(Format.fixed(joint.summed, 0)) (\(Format.fixed(joint.summed / machine.peakPerLane, 2))×)")
}
Console.say("cases: \(cases.count) × lanes [\(options.lanes.map(\.label).joined(separator: ","))]"
    + (options.quick ? " (quick)" : "") + " · timing: warm-up, median of \(timingSettings.repetitions) "
    + "repetitions ≥ \(Format.fixed(timingSettings.minimumRepetitionSeconds * 1e3, 0)) ms"
    + " · tolerance 8·√K·ε of max|ref|")

// MARK: - 3. The cases

var results: [CaseResult] = []
let total = cases.count * options.lanes.count
for benchCase in cases {
    // validate() passed, so the geometry resolves.
    let flops = (try? benchCase.flops()) ?? 0
    func result(_ setting: LaneSetting) -> CaseResult {
        CaseResult(benchCase: benchCase, setting: setting, flops: flops, peakPerLane: machine.peakPerLane,
                   lanesPeak: machine.peak(onLanes: setting.maximum))
    }
    func report(_ r: CaseResult) {
        results.append(r)
        Console.say(ConsoleReport.progress(r, index: results.count, total: total))
    }

    let workload: any Workload, reference: ReferenceCheck
    // One run of the Double reference, scaled up to the whole output when it was sampled
    // (the samples are whole rows or images, so its cost is linear in what it covers).
    var referenceSeconds: Double?
    do {
        workload = try makeWorkload(benchCase, seed: benchCase.seed, inputOffset: options.inputOffset)
        let start = DispatchTime.now().uptimeNanoseconds
        reference = try workload.reference(budget: referenceBudget)
        referenceSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            * Double(workload.output.count) / Double(Swift.max(1, reference.slices.reduce(0) { $0 + $1.values.count }))
    } catch {
        for setting in options.lanes {
            var r = result(setting)
            r.error = error.description
            report(r)
        }
        continue
    }

    var firstOutput: [Float]?
    for setting in options.lanes {
        var r = result(setting)
        r.fullVerification = reference.isFull
        r.verificationDetail = reference.detail
        r.skinnyBytes = workload.skinnyBytes
        r.referenceSeconds = referenceSeconds
        do {
            let lanes = setting.lanes.using(options.executor.executor)
            r.plan = try workload.plan(lanes)
            r.workspaceBytes = try workload.workspaceBytes(lanes)
            workload.output.update(repeating: .nan)
            try workload.run(lanes)
            let output = UnsafeBufferPointer(workload.output)
            r.verification = Verification(output: output, reference: reference, depth: benchCase.depth)
            if options.lanes.count > 1 {
                if let firstOutput {
                    r.bitwiseEqualAcrossLanes = bitwiseEqual(output, firstOutput)
                } else {
                    firstOutput = Array(output)
                    r.bitwiseEqualAcrossLanes = true
                }
            }
            r.timing = try measure(timingSettings) { () throws(ShardwiseError) in try workload.run(lanes) }
        } catch {
            r.error = error.description
        }
        report(r)
    }
    // Scaling against this case's 1-lane median, where the run has one.
    let settings = results.indices.suffix(options.lanes.count)
    if let oneLane = settings.first(where: { results[$0].setting == .fixed(1) }).flatMap({ results[$0].timing }) {
        for index in settings { results[index].oneLaneSeconds = oneLane.medianSeconds }
    }
}

// MARK: - 4. Reports

Console.say()
Console.say(ConsoleReport.table(results))
let scaling = ConsoleReport.scaling(results, machine: machine)
if !scaling.isEmpty {
    Console.say()
    Console.say(scaling)
}
let failures = results.filter { !$0.verified }
let differing = results.filter { $0.bitwiseEqualAcrossLanes == false }
Console.say()
Console.say("\(results.count - failures.count) of \(results.count) verified"
    + (differing.isEmpty ? "" : "; \(differing.count) differ bitwise from their first lane setting"))

let abovePeak = results.filter { ($0.peakFraction ?? 0) > 1.02 }
if !abovePeak.isEmpty {
    Console.say("note: \(abovePeak.count) result(s) above 100% of the measured peak: the peak measurement was "
        + "disturbed (another process on these cores?); rerun on a quiet machine")
}

var writeFailed = false
if let path = options.jsonPath {
    let document = JSONReport.document(machine: machine, quick: options.quick, shapes: options.shapesPath,
                                       inputOffset: options.inputOffset, results: results)
    if FileIO.write(document, to: path) {
        Console.say("wrote \(path)")
    } else {
        Console.warn("shardwise-bench: cannot write JSON to '\(path)'")
        writeFailed = true
    }
}
if let path = options.svgPath {
    if FileIO.write(Chart.svg(machine: machine, settings: options.lanes, results: results), to: path) {
        Console.say("wrote \(path)")
    } else {
        Console.warn("shardwise-bench: cannot write SVG to '\(path)'")
        writeFailed = true
    }
}
if !failures.isEmpty {
    for r in failures {
        Console.warn("FAILED: \(r.benchCase.origin) \(r.benchCase.canonical) lanes=\(r.setting.label): "
            + (r.error ?? "max rel error \(Format.scientific(r.verification?.maxRelativeError ?? .nan, 2)) "
                + "> tolerance \(Format.scientific(r.verification?.tolerance ?? .nan, 2))"))
    }
}
Console.finish(failures.isEmpty && !writeFailed ? 0 : 1)
