// Cases: what the benchmark measures, in one line format, and its parser.
//
// A case is one line of `key=value` pairs separated by spaces; `#` starts a
// comment, blank lines are skipped:
//
//   op=gemm  m=… n=… k=… [transA=0|1] [transB=0|1]
//   op=conv  n=… h=… w=… c=… kh=… kw=… k=… [stride=S|HxW] [pad=same|valid|t,b,l,r]
//            [dilation=D|HxW] [groups=…] [act=none|relu|relu6]
//   op=dense batch=… in=… out=… [act=none|relu|relu6]
//
// For conv, `c` is the input channels and `k` the output channels. Convolution
// and dense cases always carry a bias (fused into the write-back, as in a model).
// The built-in suites below use this same format and this same parser, so there
// is exactly one way to describe a case; `--shapes FILE` reads more of them.
//
// Every case has a canonical text: every key in a fixed order, defaults spelled
// out (`op=gemm m=64 n=64 k=64 transA=0 transB=0`). `--filter` matches it and the
// JSON report records it, so a case keeps one name across runs and files.

import Shardwise

// MARK: - The case model

/// The shape of a GEMM case: `C[m×n] = op(A)[m×k] · op(B)[k×n]`.
struct GEMMCase: Sendable, Hashable {
    var m: Int, n: Int, k: Int
    /// A is stored `k × m` and used transposed.
    var transposeA = false
    /// B is stored `n × k` and used transposed.
    var transposeB = false
}

/// The shape of a convolution case: an NHWC input `n×h×w×c`, a `kh×kw` HWIO filter to `k` channels.
struct ConvCase: Sendable, Hashable {
    var batch: Int, height: Int, width: Int, inputChannels: Int
    var kernelHeight: Int, kernelWidth: Int, outputChannels: Int
    var strides = Size2D(1)
    var padding = Padding.same
    var dilations = Size2D(1)
    var groups = 1
    var activation = Activation.none

    /// The NHWC input shape.
    var inputShape: [Int] { [batch, height, width, inputChannels] }
}

/// The shape of a dense case: `[batch, in] · [in, out]`.
struct DenseCase: Sendable, Hashable {
    var batch: Int, inputs: Int, outputs: Int
    var activation = Activation.none
}

/// One operation to verify and time.
enum Operation: Sendable, Hashable {
    case gemm(GEMMCase)
    case conv(ConvCase)
    case dense(DenseCase)
}

/// A case as read from a suite: the operation and where it came from.
struct BenchCase: Sendable {
    let operation: Operation
    /// The line in the `--shapes` file, or nil for a built-in suite.
    let sourceLine: Int?
    /// Where the case came from, for error messages: `FILE:LINE` or `built-in suite, line N`.
    let origin: String

    /// The op's name as the line format spells it.
    var opName: String {
        switch operation {
        case .gemm: return "gemm"
        case .conv: return "conv"
        case .dense: return "dense"
        }
    }

    /// Every key in a fixed order, defaults spelled out; the case's name in filters and reports.
    var canonical: String {
        switch operation {
        case let .gemm(g):
            return "op=gemm m=\(g.m) n=\(g.n) k=\(g.k) transA=\(g.transposeA ? 1 : 0) transB=\(g.transposeB ? 1 : 0)"
        case let .conv(c):
            return "op=conv n=\(c.batch) h=\(c.height) w=\(c.width) c=\(c.inputChannels) kh=\(c.kernelHeight) "
                + "kw=\(c.kernelWidth) k=\(c.outputChannels) stride=\(c.strides) pad=\(c.padding) "
                + "dilation=\(c.dilations) groups=\(c.groups) act=\(c.activation)"
        case let .dense(d):
            return "op=dense batch=\(d.batch) in=\(d.inputs) out=\(d.outputs) act=\(d.activation)"
        }
    }

    /// The seed of the case's operands: FNV-1a of its canonical text, so a case gets the same
    /// data whatever else runs (a `--filter` rerun of a failure sees the same numbers).
    var seed: UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in canonical.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash
    }

    /// A compact label for the table and the chart: `gemm 512×3072×768`, `conv 32×28×28×32 5×5→32 same`.
    var label: String {
        switch operation {
        case let .gemm(g):
            var text = "gemm \(g.m)×\(g.n)×\(g.k)"
            if g.transposeA { text += " Aᵀ" }
            if g.transposeB { text += " Bᵀ" }
            return text
        case let .conv(c):
            var text = "conv \(c.batch)×\(c.height)×\(c.width)×\(c.inputChannels) "
                + "\(c.kernelHeight)×\(c.kernelWidth)→\(c.outputChannels) \(c.padding)"
            if c.strides != Size2D(1) { text += " s\(c.strides)" }
            if c.dilations != Size2D(1) { text += " d\(c.dilations)" }
            if c.groups != 1 { text += " g\(c.groups)" }
            if c.activation != .none { text += " \(c.activation)" }
            return text
        case let .dense(d):
            var text = "dense \(d.batch)×\(d.inputs)→\(d.outputs)"
            if d.activation != .none { text += " \(d.activation)" }
            return text
        }
    }

    /// The length of each output element's dot product (the GEMM's K): it sets the error tolerance.
    var depth: Int {
        switch operation {
        case let .gemm(g): return g.k
        case let .conv(c): return c.kernelHeight * c.kernelWidth * (c.inputChannels / c.groups)
        case let .dense(d): return d.inputs
        }
    }

    /// Floating-point operations of one call (multiply and add counted separately; bias and
    /// activation not counted): gemm 2·m·n·k, conv 2·N·OH·OW·Cout·KH·KW·Cin/groups, dense 2·batch·in·out.
    ///
    /// - Throws: what the output geometry throws (only for cases that fail `validate()`).
    func flops() throws(ShardwiseError) -> Double {
        switch operation {
        case let .gemm(g):
            return 2 * Double(g.m) * Double(g.n) * Double(g.k)
        case let .conv(c):
            let geometry = try ConvolutionGeometry(
                input: Size2D(height: c.height, width: c.width),
                kernel: Size2D(height: c.kernelHeight, width: c.kernelWidth),
                strides: c.strides, dilations: c.dilations, padding: c.padding)
            return 2 * Double(c.batch) * Double(geometry.height.output) * Double(geometry.width.output)
                * Double(c.outputChannels) * Double(depth)
        case let .dense(d):
            return 2 * Double(d.batch) * Double(d.inputs) * Double(d.outputs)
        }
    }

    /// Checks that the library accepts the case: builds its descriptor (with a zero filter) and
    /// resolves its output shape, so a bad line fails before anything is measured.
    ///
    /// - Throws: the library's `ShardwiseError` (its description names the fault).
    func validate() throws(ShardwiseError) {
        switch operation {
        case let .gemm(g):
            try GEMM.validate(transposeA: g.transposeA, transposeB: g.transposeB, m: g.m, n: g.n, k: g.k,
                              a: g.m * g.k, lda: g.transposeA ? g.m : g.k, b: g.k * g.n,
                              ldb: g.transposeB ? g.k : g.n, c: g.m * g.n, ldc: g.n, bias: nil, activation: .none)
        case let .conv(c):
            // The filter is [KH, KW, Cin/groups, Cout]; the descriptor checks only that groups divide
            // Cout, and Cin/groups would silently truncate, so the bench checks Cin itself.
            if c.inputChannels % c.groups != 0 {
                throw .invalidGroups(groups: c.groups, inputChannels: c.inputChannels, outputChannels: c.outputChannels)
            }
            let descriptor = try Conv2DDescriptor(
                filter: try Tensor(shape: [c.kernelHeight, c.kernelWidth, c.inputChannels / c.groups, c.outputChannels]),
                strides: c.strides, padding: c.padding, dilations: c.dilations, groups: c.groups,
                activation: c.activation)
            _ = try descriptor.outputShape(forInput: c.inputShape)
        case let .dense(d):
            let descriptor = try DenseDescriptor(weight: try Tensor(shape: [d.inputs, d.outputs]), activation: d.activation)
            _ = try descriptor.outputShape(forInput: [d.batch, d.inputs])
        }
    }
}

// MARK: - Built-in suites

/// The suites compiled into the binary, in the same line format `--shapes` reads.
enum BuiltInSuite {
    /// The default suite: square GEMMs, the GEMMs of the article's CNN, the article's layers at
    /// batch 32, ResNet-style convolutions, and the article's classifier.
    static let standard = """
        # GEMM, m × n × k: square, a transformer projection, and the article's model as GEMMs
        op=gemm m=64 n=64 k=64
        op=gemm m=128 n=128 k=128
        op=gemm m=256 n=256 k=256
        op=gemm m=512 n=512 k=512
        op=gemm m=1024 n=1024 k=1024
        op=gemm m=2048 n=2048 k=2048
        op=gemm m=512 n=3072 k=768
        op=gemm m=25088 n=32 k=25
        op=gemm m=25088 n=32 k=800
        op=gemm m=32 n=10 k=25088

        # The article's two convolutions at batch 32
        op=conv n=32 h=28 w=28 c=1 kh=5 kw=5 k=32 pad=same
        op=conv n=32 h=28 w=28 c=32 kh=5 kw=5 k=32 pad=same

        # ResNet-style convolutions
        op=conv n=1 h=56 w=56 c=64 kh=3 kw=3 k=64 pad=same
        op=conv n=8 h=56 w=56 c=64 kh=3 kw=3 k=64 pad=same
        op=conv n=1 h=28 w=28 c=128 kh=3 kw=3 k=128 pad=same
        op=conv n=1 h=14 w=14 c=256 kh=3 kw=3 k=256 pad=same
        op=conv n=1 h=224 w=224 c=3 kh=7 kw=7 k=64 stride=2 pad=same
        op=conv n=1 h=56 w=56 c=64 kh=1 kw=1 k=256 pad=same
        op=conv n=1 h=56 w=56 c=128 kh=3 kw=3 k=128 stride=2 pad=same

        # Depthwise (MobileNet-style, direct kernel), groups = channels
        op=conv n=1 h=112 w=112 c=32 kh=3 kw=3 k=32 pad=same groups=32
        op=conv n=8 h=28 w=28 c=256 kh=3 kw=3 k=256 stride=2 pad=same groups=256

        # The article's classifier: 28·28·32 features to 10 classes
        op=dense batch=32 in=25088 out=10
        """

    /// The `--quick` suite: small cases that still cover each op.
    static let quick = """
        op=gemm m=64 n=64 k=64
        op=gemm m=256 n=256 k=256
        op=conv n=8 h=28 w=28 c=1 kh=5 kw=5 k=32 pad=same
        op=conv n=8 h=28 w=28 c=32 kh=5 kw=5 k=32 pad=same
        op=dense batch=32 in=6272 out=10
        op=conv n=1 h=56 w=56 c=32 kh=3 kw=3 k=32 pad=same groups=32
        """
}

// MARK: - The parser

/// A malformed line of a suite: where, and what is wrong.
struct ShapesError: Error, CustomStringConvertible {
    /// `FILE:LINE` (or the built-in suite's name and line).
    let location: String
    let message: String

    var description: String { "\(location): \(message)" }
}

/// Parses the line format of the file header.
enum ShapesParser {
    /// Keys each op accepts, and which of them are required.
    static let keys: [String: (required: [String], optional: [String])] = [
        "gemm": (["m", "n", "k"], ["transA", "transB"]),
        "conv": (["n", "h", "w", "c", "kh", "kw", "k"], ["stride", "pad", "dilation", "groups", "act"]),
        "dense": (["batch", "in", "out"], ["act"]),
    ]

    /// Parses every case in `text`.
    ///
    /// - Parameters:
    ///   - name: the file's path, or a suite's name, for error messages.
    ///   - recordsLines: whether cases keep their line number as `sourceLine` (true for `--shapes`).
    /// - Throws: `ShapesError` at the first malformed line.
    static func parse(_ text: String, name: String, recordsLines: Bool) throws(ShapesError) -> [BenchCase] {
        var cases: [BenchCase] = []
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let location = "\(name):\(lineNumber)"
            let content = rawLine.prefix { $0 != "#" }
            let tokens = content.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if tokens.isEmpty { continue }
            let operation = try parseLine(tokens.map(String.init), location: location)
            cases.append(BenchCase(operation: operation, sourceLine: recordsLines ? lineNumber : nil, origin: location))
        }
        return cases
    }

    /// Parses the tokens of one non-empty line.
    static func parseLine(_ tokens: [String], location: String) throws(ShapesError) -> Operation {
        func fail(_ message: String) -> ShapesError { ShapesError(location: location, message: message) }
        var pairs: [String: String] = [:]
        for token in tokens {
            guard let equals = token.firstIndex(of: "="), equals != token.startIndex else {
                throw fail("expected key=value, got '\(token)'")
            }
            let key = String(token[..<equals]), value = String(token[token.index(after: equals)...])
            if value.isEmpty { throw fail("key '\(key)' has no value") }
            if pairs[key] != nil { throw fail("key '\(key)' appears twice") }
            pairs[key] = value
        }
        guard let op = pairs.removeValue(forKey: "op") else {
            throw fail("missing required key 'op' (gemm, conv or dense)")
        }
        guard let allowed = keys[op] else { throw fail("unknown op '\(op)' (expected gemm, conv or dense)") }
        for key in pairs.keys.sorted() where !allowed.required.contains(key) && !allowed.optional.contains(key) {
            throw fail("unknown key '\(key)' for op=\(op) (known: \((allowed.required + allowed.optional).joined(separator: ", ")))")
        }
        for key in allowed.required where pairs[key] == nil {
            throw fail("missing required key '\(key)' for op=\(op)")
        }

        func positive(_ key: String) throws(ShapesError) -> Int {
            let text = pairs[key]!
            guard let value = Int(text) else { throw fail("\(key)=\(text) is not an integer") }
            if value < 1 { throw fail("\(key)=\(text) must be at least 1") }
            return value
        }
        func flag(_ key: String) throws(ShapesError) -> Bool {
            switch pairs[key] {
            case nil, "0": return false
            case "1": return true
            case let text?: throw fail("\(key)=\(text) must be 0 or 1")
            }
        }
        func size(_ key: String) throws(ShapesError) -> Size2D {
            guard let text = pairs[key] else { return Size2D(1) }
            let parts = text.split(separator: "x", omittingEmptySubsequences: false)
            let values = parts.compactMap { Int($0) }
            guard (parts.count == 1 || parts.count == 2), values.count == parts.count else {
                throw fail("\(key)=\(text) must be an integer or HxW")
            }
            if values.contains(where: { $0 < 1 }) { throw fail("\(key)=\(text) must be at least 1") }
            return values.count == 1 ? Size2D(values[0]) : Size2D(height: values[0], width: values[1])
        }
        func activation() throws(ShapesError) -> Activation {
            switch pairs["act"] {
            case nil, "none": return .none
            case "relu": return .relu
            case "relu6": return .relu6
            case let text?: throw fail("act=\(text) must be none, relu or relu6")
            }
        }
        func padding() throws(ShapesError) -> Padding {
            switch pairs["pad"] {
            case nil, "same": return .same
            case "valid": return .valid
            case let text?:
                let values = text.split(separator: ",", omittingEmptySubsequences: false).compactMap { Int($0) }
                guard values.count == 4, text.split(separator: ",", omittingEmptySubsequences: false).count == 4 else {
                    throw fail("pad=\(text) must be same, valid or top,bottom,left,right")
                }
                if values.contains(where: { $0 < 0 }) { throw fail("pad=\(text) must not be negative") }
                return .explicit(top: values[0], bottom: values[1], left: values[2], right: values[3])
            }
        }

        switch op {
        case "gemm":
            return .gemm(GEMMCase(m: try positive("m"), n: try positive("n"), k: try positive("k"),
                                  transposeA: try flag("transA"), transposeB: try flag("transB")))
        case "conv":
            return .conv(ConvCase(
                batch: try positive("n"), height: try positive("h"), width: try positive("w"),
                inputChannels: try positive("c"), kernelHeight: try positive("kh"), kernelWidth: try positive("kw"),
                outputChannels: try positive("k"), strides: try size("stride"), padding: try padding(),
                dilations: try size("dilation"), groups: pairs["groups"] == nil ? 1 : try positive("groups"),
                activation: try activation()))
        default:
            return .dense(DenseCase(batch: try positive("batch"), inputs: try positive("in"),
                                    outputs: try positive("out"), activation: try activation()))
        }
    }
}
