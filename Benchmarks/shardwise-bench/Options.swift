// Options: the command line, parsed without Foundation.
//
// Flags take their value as the next argument or after `=` (`--lanes 1,2` or
// `--lanes=1,2`). A bad flag is a usage error: message, exit code 2.

import Shardwise

/// `--executor`: the library's default Dispatch executor, or its spinning one.
enum ExecutorChoice: String, Sendable {
    case dispatch
    case spin

    /// The executor the benchmark hands the library.
    var executor: any LaneExecutor {
        switch self {
        case .dispatch: return DispatchLaneExecutor()
        case .spin: return SpinningLaneExecutor.shared
        }
    }
}

/// One entry of `--lanes`: a fixed lane count, or the library's automatic choice.
enum LaneSetting: Sendable, Hashable {
    case fixed(Int)
    case automatic

    /// The `Lanes` value the benchmark passes to the library.
    var lanes: Lanes {
        switch self {
        case .fixed(let n): return .fixed(n)
        case .automatic: return .automatic
        }
    }

    /// The most lanes the call may use: `n`, or every core for `auto`. Peak fractions are
    /// relative to this many lanes' peak (what the call was given, not what its plan used).
    var maximum: Int {
        switch self {
        case .fixed(let n): return n
        case .automatic: return Lanes.processorCount
        }
    }

    /// `1`, `2`, … or `auto`.
    var label: String {
        switch self {
        case .fixed(let n): return "\(n)"
        case .automatic: return "auto"
        }
    }
}

/// The parsed command line.
struct Options {
    /// A short pass: the quick suite (unless `--shapes`), fewer and shorter repetitions.
    var quick = false
    /// Only cases whose canonical text contains this.
    var filter: String?
    /// The lane settings each case runs at, in order.
    var lanes: [LaneSetting] = Options.defaultLanes
    /// A shapes file replacing the built-in suite.
    var shapesPath: String?
    /// Where to write the JSON report.
    var jsonPath: String?
    /// Where to write the SVG chart.
    var svgPath: String?
    /// Print the selected cases and exit, measuring nothing.
    var listOnly = false
    /// `--executor`: what runs the lanes.
    var executor = ExecutorChoice.dispatch
    /// `--input-offset`: floats from a 64-byte boundary to each layer's input, or nil to leave it
    /// where the `Tensor` holding it lies.
    var inputOffset: Int?
    /// `--explain`: print each case's plan for each lane setting (the planner's candidates) and exit.
    var explainOnly = false
    /// Print the usage and exit.
    var helpRequested = false

    /// One lane and every core (just one entry on a one-core machine).
    static var defaultLanes: [LaneSetting] {
        Lanes.processorCount > 1 ? [.fixed(1), .fixed(Lanes.processorCount)] : [.fixed(1)]
    }

    static let usage = """
        usage: shardwise-bench [options]

        Verifies every case against the Double reference (ShardwiseReference), then times it:
        a warm-up, then the median of at least 5 repetitions of at least 50 ms each (--quick:
        5 repetitions of at least 10 ms). Reports GFLOP/s and the fraction of this machine's
        measured FP32 FMA peak for the lanes the call was given. Exits 0 only if every case
        verified; 1 if one did not (or a report could not be written); 2 for a usage error or
        a malformed shapes file.

        options:
          --quick            a short pass (under a minute): the quick suite, shorter timing
          --filter TEXT      only cases whose canonical text contains TEXT,
                             e.g. 'op=conv', 'm=512 ', 'stride=2'
          --executor NAME    what runs the lanes: dispatch (DispatchQueue.concurrentPerform, the
                             library's default) or spin (SpinningLaneExecutor.shared)
          --input-offset N   place each layer's input N floats (0-15) past a 64-byte boundary
                             (default: where its Tensor's array lies, usually 16-byte aligned)
          --lanes LIST       comma-separated lane counts, each run with Lanes.fixed(n);
                             'auto' means Lanes.automatic (default: 1,<cores>)
          --shapes FILE      read the cases from FILE instead of the built-in suite
          --json PATH        write the machine block and every result as JSON
          --svg PATH         write a chart of GFLOP/s per case and lane count, peaks drawn
          --list             print the selected cases (canonical text, a valid shapes file) and exit
          --explain          print the plan chosen for each case and lane setting, with the
                             planner's estimate for every candidate, and exit (nothing is timed)
          --help             this text

        shapes file: one case per line, key=value pairs separated by spaces, '#' comments:
          op=gemm  m=… n=… k=… [transA=1] [transB=1]
          op=conv  n=… h=… w=… c=… kh=… kw=… k=… [stride=S|HxW] [pad=same|valid|t,b,l,r]
                   [dilation=D|HxW] [groups=G] [act=none|relu|relu6]
          op=dense batch=… in=… out=… [act=none|relu|relu6]
        (conv: c input channels, k output channels; conv and dense include a bias)
        Benchmarks/shapes/resnet50.txt is an example.
        """

    /// Parses `arguments` (without the program name).
    ///
    /// - Throws: a `UsageError` describing the first bad argument.
    static func parse(_ arguments: [String]) throws(UsageError) -> Options {
        var options = Options()
        var index = 0
        func value(for flag: String, inline: String?) throws(UsageError) -> String {
            if let inline { return inline }
            index += 1
            guard index < arguments.count else { throw UsageError(message: "\(flag) needs a value") }
            return arguments[index]
        }
        while index < arguments.count {
            let argument = arguments[index]
            var flag = argument, inline: String?
            if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
                flag = String(argument[..<equals])
                inline = String(argument[argument.index(after: equals)...])
            }
            switch flag {
            case "--quick": options.quick = true
            case "--list": options.listOnly = true
            case "--explain": options.explainOnly = true
            case "--help", "-h": options.helpRequested = true
            case "--filter": options.filter = try value(for: flag, inline: inline)
            case "--shapes": options.shapesPath = try value(for: flag, inline: inline)
            case "--json": options.jsonPath = try value(for: flag, inline: inline)
            case "--svg": options.svgPath = try value(for: flag, inline: inline)
            case "--lanes": options.lanes = try parseLanes(try value(for: flag, inline: inline))
            case "--input-offset":
                let text = try value(for: flag, inline: inline)
                guard let offset = Int(text), (0..<16).contains(offset) else {
                    throw UsageError(message: "--input-offset: '\(text)' is not a whole number of floats from 0 to 15")
                }
                options.inputOffset = offset
            case "--executor":
                let name = try value(for: flag, inline: inline)
                guard let choice = ExecutorChoice(rawValue: name) else {
                    throw UsageError(message: "--executor: '\(name)' is neither 'dispatch' nor 'spin'")
                }
                options.executor = choice
            default: throw UsageError(message: "unknown argument '\(argument)'")
            }
            if inline != nil && ["--quick", "--list", "--explain", "--help"].contains(flag) {
                throw UsageError(message: "\(flag) takes no value")
            }
            index += 1
        }
        return options
    }

    /// Parses `1,2,auto` into lane settings, dropping repeats.
    static func parseLanes(_ text: String) throws(UsageError) -> [LaneSetting] {
        var settings: [LaneSetting] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let setting: LaneSetting
            if part == "auto" {
                setting = .automatic
            } else if let n = Int(part), n >= 1 {
                setting = .fixed(n)
            } else {
                throw UsageError(message: "--lanes: '\(part)' is neither a lane count of at least 1 nor 'auto'")
            }
            if !settings.contains(setting) { settings.append(setting) }
        }
        return settings
    }
}

/// A bad command line.
struct UsageError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
