// seed-cnn: the article's small CNN trained end to end on Shardwise's sharded layers.
//
//   conv 5×5 1→32 SAME ReLU → conv 5×5 32→32 SAME ReLU → 2×2 max-pool → flatten
//   (32·14·14 = 6,272) → dense 10 → softmax cross-entropy, SGD, batches of 32×28×28×1,
//
// on the UCI handwritten digits upsampled to 28×28 (Digits.swift). The file's
// samples are shuffled once with the fixed seed `splitSeed`, whatever `--seed`
// says: the first 1,500 of that order train, the other 297 test. (The file is in
// writer order; its last 297 samples alone, a few writers the training set never
// saw, gave 91–92 %.) Each epoch visits the training set in a seeded
// Fisher–Yates order, in batches of 32 (the last 28 samples of an epoch's order
// are skipped). One seed decides the initial weights and the order, so the
// final weights are the same bits for every lane count: compare the printed
// checksum (FNV-1a over the parameters' bit patterns).

import Dispatch
import Shardwise
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let usage = """
    usage: seed-cnn [--lanes N|auto] [--executor dispatch|spin] [--iterations N] [--seed N]
                    [--learning-rate X] [--momentum X] [--data PATH]

      --lanes N|auto       lanes per layer call (default auto: one per processor)
      --executor NAME      what runs the lanes: dispatch (default) or spin (SpinningLaneExecutor)
      --iterations N       SGD steps of 32 images (default 300)
      --seed N             initial weights and batch order (default 1)
      --learning-rate X    SGD step size (default 0.01)
      --momentum X         SGD momentum in [0, 1) (default 0.9)
      --data PATH          the digits CSV (default Data/digits/digits.csv)
      --malloc-defaults    keep glibc's malloc thresholds (default: keep freed memory in the process)

    """

/// Writes `message` to standard error (file descriptor 2; Glibc's `stderr` is not concurrency-safe).
func printError(_ message: String) {
    var text = message
    text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
}

struct Options {
    var lanes = Lanes.automatic, lanesDescription = "auto"
    var spinning = false
    var iterations = 300, seed: UInt64 = 1, learningRate: Float = 0.01, momentum: Float = 0.9
    var dataPath = "Data/digits/digits.csv"
    var mallocDefaults = false

    /// Parses the command line; prints usage and exits on `--help` or a bad argument.
    init(_ arguments: [String]) {
        var rest = arguments[...]
        func fail(_ message: String) -> Never {
            printError("seed-cnn: \(message)\n\n\(usage)")
            exit(2)
        }
        func value(_ flag: String) -> String {
            guard let v = rest.popFirst() else { fail("\(flag) needs a value") }
            return v
        }
        while let flag = rest.popFirst() {
            switch flag {
            case "--help", "-h":
                print(usage, terminator: "")
                exit(0)
            case "--lanes":
                let v = value(flag)
                if v == "auto" {
                    (lanes, lanesDescription) = (.automatic, "auto")
                } else if let n = Int(v), n >= 1 {
                    (lanes, lanesDescription) = (.fixed(n), v)
                } else { fail("--lanes takes a positive integer or auto, got \(v)") }
            case "--executor":
                switch value(flag) {
                case "dispatch": spinning = false
                case "spin": spinning = true
                case let other: fail("--executor takes dispatch or spin, got \(other)")
                }
            case "--iterations":
                guard let n = Int(value(flag)), n >= 1 else { fail("--iterations takes a positive integer") }
                iterations = n
            case "--seed":
                guard let n = UInt64(value(flag)) else { fail("--seed takes an unsigned integer") }
                seed = n
            case "--learning-rate":
                guard let x = Float(value(flag)), x > 0, x.isFinite else { fail("--learning-rate takes a positive number") }
                learningRate = x
            case "--momentum":
                guard let x = Float(value(flag)), x >= 0, x < 1 else { fail("--momentum takes a number in [0, 1)") }
                momentum = x
            case "--data":
                dataPath = value(flag)
            case "--malloc-defaults":
                mallocDefaults = true
            default:
                fail("unknown argument \(flag)")
            }
        }
        if spinning {
            lanes = lanes.using(SpinningLaneExecutor.shared)
            lanesDescription += " (spinning executor)"
        }
    }
}

/// Tells glibc to keep freed memory in the process: allocations up to 64 MiB come from the heap
/// rather than fresh mappings, and the heap is trimmed only past 256 MiB free.
///
/// A training step allocates a new tensor per layer output and per gradient (3.2 MB each here,
/// about ten per step). With glibc's adaptive defaults those blocks went back to the kernel when
/// freed and came back as page faults, zero-filled page by page: a tenth of a step on 1 lane, and
/// on the calling thread only, so more on 2. Measured here (100 iterations, three interleaved runs
/// each, against `--malloc-defaults`): 1,105–1,155 → 1,322–1,375 images/s on 1 lane,
/// 1,650–1,690 → 2,115–2,158 on 2; the weights are the same bits. `mallopt` is
/// in <malloc.h>, which the Glibc module does not import, so it is looked up by name. Any
/// program using Shardwise can do the same (or set `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=…`).
func keepFreedMemoryInProcess() {
    #if canImport(Glibc)
    typealias MallocOption = @convention(c) (Int32, Int32) -> Int32
    guard let symbol = dlsym(nil, "mallopt") else { return }
    let mallopt = unsafeBitCast(symbol, to: MallocOption.self)
    let trimThreshold: Int32 = -1, mmapThreshold: Int32 = -3  // M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
    _ = mallopt(mmapThreshold, 64 << 20)
    _ = mallopt(trimThreshold, 256 << 20)
    #endif
}

/// The seed of the fixed train/test split.
let splitSeed: UInt64 = 0x5EED_D161

/// `array` in a Fisher–Yates order drawn from `generator` (written out: the standard library's
/// `shuffle(using:)` does not promise its algorithm, and the order must be reproducible).
func shuffled(_ array: [Int], using generator: inout SplitMix64) -> [Int] {
    var result = array
    for i in stride(from: result.count - 1, to: 0, by: -1) {
        result.swapAt(i, Int(generator.next() % UInt64(i + 1)))
    }
    return result
}

/// The article's model with He-uniform weights and zero biases drawn from `generator`.
func articleModel(using generator: inout SplitMix64) throws(ShardwiseError) -> Sequential {
    func conv(_ inputChannels: Int) throws(ShardwiseError) -> Sequential.Layer {
        .conv2D(try Conv2DDescriptor(
            filter: try Tensor(randomWeights: [5, 5, inputChannels, 32], initialization: .heUniform, using: &generator),
            bias: try Tensor(shape: [32]), padding: .same, activation: .relu))
    }
    let dense = try DenseDescriptor(
        weight: try Tensor(randomWeights: [32 * 14 * 14, 10], initialization: .glorotUniform, using: &generator),
        bias: try Tensor(shape: [10]))
    return try Sequential([try conv(1), try conv(32), .maxPool2x2, .flatten, .dense(dense)])
}

/// FNV-1a (64-bit) over the little-endian bytes of every parameter's bit patterns.
func checksum(_ parameters: [Tensor]) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for tensor in parameters {
        for value in tensor.scalars {
            var bits = value.bitPattern
            for _ in 0..<4 {
                hash = (hash ^ UInt64(bits & 0xFF)) &* 0x0000_0100_0000_01B3
                bits >>= 8
            }
        }
    }
    return hash
}

/// The fraction of `indices` the model classifies correctly, 32 at a time.
func accuracy(of model: Sequential, on data: Digits, indices: [Int], lanes: Lanes) throws(ShardwiseError) -> Double {
    var correct = 0
    for start in stride(from: 0, to: indices.count, by: 32) {
        let (images, labels) = try data.batch(indices[start..<min(start + 32, indices.count)])
        let logits = try model(images, lanes: lanes)
        for (row, label) in labels.enumerated() {
            let scores = logits.scalars[(row * 10)..<((row + 1) * 10)]
            if scores.indices.max(by: { scores[$0] < scores[$1] })! - row * 10 == label { correct += 1 }
        }
    }
    return Double(correct) / Double(indices.count)
}

func run(_ options: Options) throws(ShardwiseError) {
    if !options.mallocDefaults { keepFreedMemoryInProcess() }
    guard let data = Digits.load(path: options.dataPath) else { exit(1) }
    let trainCount = 1500, batchSize = 32
    var splitGenerator = SplitMix64(seed: splitSeed)
    let split = shuffled(Array(0..<data.count), using: &splitGenerator)
    let trainIndices = Array(split[..<trainCount]), testIndices = Array(split[trainCount...])
    var generator = SplitMix64(seed: options.seed)
    var model = try articleModel(using: &generator)
    var sgd = try SGD(learningRate: options.learningRate, momentum: options.momentum)
    print("seed-cnn: \(trainIndices.count) training and \(testIndices.count) test digits, 28×28; "
        + "\(model.parameters.reduce(0) { $0 + $1.count }) parameters; lanes \(options.lanesDescription) "
        + "(\(Lanes.processorCount) processors); seed \(options.seed); SGD η \(options.learningRate) μ \(options.momentum)"
        + (options.mallocDefaults ? "; glibc malloc defaults" : ""))

    var order: [Int] = [], position = 0
    var trainingNanoseconds: UInt64 = 0
    for iteration in 1...options.iterations {
        if position + batchSize > order.count {  // a new epoch
            order = shuffled(trainIndices, using: &generator)
            position = 0
        }
        let (images, labels) = try data.batch(order[position..<(position + batchSize)])
        position += batchSize
        let start = DispatchTime.now().uptimeNanoseconds
        let loss = try model.trainingStep(input: images, labels: labels, optimizer: &sgd, lanes: options.lanes)
        trainingNanoseconds += DispatchTime.now().uptimeNanoseconds - start
        if iteration % 10 == 0 || iteration == 1 {
            print("iteration \(iteration): loss \(loss)")
        }
    }
    let seconds = Double(trainingNanoseconds) / 1e9
    let testAccuracy = try accuracy(of: model, on: data, indices: testIndices, lanes: options.lanes)
    print("test accuracy: \(Double(Int(testAccuracy * 10000)) / 100) % (\(testIndices.count) digits)")
    print("training: \(Int(Double(options.iterations * batchSize) / seconds)) images/s "
        + "(\(options.iterations) iterations in \(Double(Int(seconds * 100)) / 100) s), lanes \(options.lanesDescription)")
    let hash = String(checksum(model.parameters), radix: 16)
    print("weights checksum (FNV-1a 64): \(String(repeating: "0", count: 16 - hash.count) + hash)")
}

do {
    try run(Options(Array(CommandLine.arguments.dropFirst())))
} catch {
    printError("seed-cnn: \(error)\n")
    exit(1)
}
