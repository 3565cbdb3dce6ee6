// A sequential model: layers in a list, a forward pass that keeps what the
// backward pass needs, a backward pass that returns the parameter gradients,
// and an update that rebuilds the layers from the new parameters.
//
// What the backward pass needs is exactly the list of activations: the input
// and each layer's output. A convolution's filter gradient needs its input; a
// fused activation's backward needs its output (see ActivationBackward.swift);
// max pooling re-decides its windows from its input; flatten needs only the
// shape. So `forward` returns a `Trace` holding those tensors and nothing else,
// and `backward` walks it from the last layer to the first.
//
// `Conv2D` and `Dense` pack their weights when they are created and are
// immutable afterwards, so an update does not patch them: it builds new layers
// from the new parameters. Packing a layer's weights costs one pass over them,
// small beside a batch's forward and backward passes.
//
// Every step is deterministic: the layers' kernels give the same bits for any
// lane count, and everything else here runs on the calling thread in a fixed order.

/// A stack of layers applied in order, trainable with `SGD`.
///
/// ```swift
/// var model = try Sequential([.conv2D(c1), .maxPool2x2, .flatten, .dense(d1)])
/// var sgd = try SGD(learningRate: 0.05)
/// let loss = try model.trainingStep(input: images, labels: labels, optimizer: &sgd)
/// let logits = try model(testImages)
/// ```
public struct Sequential: Sendable {
    /// One layer of the model. A convolution's or dense layer's fused activation is trained
    /// through as well; `.relu` is the same ReLU as a separate layer.
    public enum Layer: Sendable, Hashable {
        /// A 2-D convolution over NHWC activations.
        case conv2D(Conv2DDescriptor)
        /// `max(x, 0)`, element-wise.
        case relu
        /// 2×2 max pooling, stride 2, VALID (`MaxPool2x2`).
        case maxPool2x2
        /// `[N, …]` to `[N, product of the rest]`.
        case flatten
        /// A fully connected layer.
        case dense(DenseDescriptor)

        /// The layer's trainable tensors: a filter or weight, then the bias if there is one.
        public var parameters: [Tensor] {
            switch self {
            case .conv2D(let d): return [d.filter] + (d.bias.map { [$0] } ?? [])
            case .dense(let d): return [d.weight] + (d.bias.map { [$0] } ?? [])
            case .relu, .maxPool2x2, .flatten: return []
            }
        }
    }

    /// A layer ready to run, its weights packed.
    enum Stage: Sendable {
        case conv2D(Conv2D), relu, maxPool2x2, flatten, dense(Dense)
    }

    /// What a forward pass keeps for the backward pass.
    public struct Trace: Sendable {
        /// The model's input, then each layer's output: `activations[i + 1]` is layer `i`'s output.
        public let activations: [Tensor]
        /// The last layer's output (for a classifier, the logits).
        public var output: Tensor { activations[activations.count - 1] }
    }

    private var stages: [Stage]

    /// Creates the model and packs its layers' weights.
    ///
    /// - Throws: what `Conv2D.init` and `Dense.init` throw.
    public init(_ layers: [Layer]) throws(ShardwiseError) {
        stages = []
        for layer in layers { stages.append(try Stage(layer)) }
    }

    /// The layers, with their current parameters.
    public var layers: [Layer] { stages.map(\.layer) }

    /// Every trainable tensor, layer by layer in order (filter or weight, then bias).
    public var parameters: [Tensor] { layers.flatMap(\.parameters) }

    /// Replaces the parameters (in the order of `parameters`) and rebuilds the layers.
    ///
    /// - Throws: `.elementCountMismatch` for the wrong number of tensors, `.shapeMismatch` when a
    ///   tensor's shape differs from the one it replaces. The model is unchanged when it throws.
    public mutating func setParameters(_ newParameters: [Tensor]) throws(ShardwiseError) {
        let old = parameters
        if newParameters.count != old.count {
            throw .elementCountMismatch(argument: "parameters", expected: old.count, actual: newParameters.count)
        }
        for (index, (new, current)) in zip(newParameters, old).enumerated() where new.shape != current.shape {
            throw .shapeMismatch(argument: "parameters[\(index)]", expected: current.shape, actual: new.shape)
        }
        var remaining = newParameters[...]
        var rebuilt: [Stage] = []
        for layer in layers {
            rebuilt.append(try Stage(layer.replacingParameters(&remaining)))
        }
        stages = rebuilt
    }

    /// Runs the model and returns its output, keeping nothing.
    ///
    /// - Throws: what the layers throw for `input`'s shape.
    public func callAsFunction(_ input: Tensor, lanes: Lanes = .automatic) throws(ShardwiseError) -> Tensor {
        var x = input
        for stage in stages { x = try stage.forward(x, lanes: lanes) }
        return x
    }

    /// Runs the model and keeps every activation for `backward`.
    ///
    /// - Throws: what the layers throw for `input`'s shape.
    public func forward(_ input: Tensor, lanes: Lanes = .automatic) throws(ShardwiseError) -> Trace {
        var activations = [input]
        for stage in stages { activations.append(try stage.forward(activations[activations.count - 1], lanes: lanes)) }
        return Trace(activations: activations)
    }

    /// The gradients of the loss with respect to `parameters`, in the same order.
    ///
    /// The gradient with respect to the model's input is not computed: the walk stops at the
    /// first layer with parameters.
    ///
    /// - Parameters:
    ///   - trace: this model's forward pass (with these parameters).
    ///   - outputGradient: the loss's gradient with respect to `trace.output`.
    /// - Throws: `.elementCountMismatch` when `trace` has the wrong number of activations,
    ///   `.shapeMismatch` for an `outputGradient` of another shape, and what the layers throw.
    public func backward(_ trace: Trace, outputGradient: Tensor, lanes: Lanes = .automatic) throws(ShardwiseError) -> [Tensor] {
        let activations = trace.activations
        if activations.count != stages.count + 1 {
            throw .elementCountMismatch(argument: "trace.activations", expected: stages.count + 1, actual: activations.count)
        }
        if outputGradient.shape != activations[stages.count].shape {
            throw .shapeMismatch(argument: "outputGradient", expected: activations[stages.count].shape,
                                 actual: outputGradient.shape)
        }
        let firstTrainable = stages.firstIndex { !$0.layer.parameters.isEmpty } ?? stages.count
        var gradient = outputGradient
        var perLayer = [[Tensor]](repeating: [], count: stages.count)
        for index in stride(from: stages.count - 1, through: firstTrainable, by: -1) {
            let result = try stages[index].backward(input: activations[index], output: activations[index + 1],
                                                    outputGradient: gradient,
                                                    needsInputGradient: index > firstTrainable, lanes: lanes)
            perLayer[index] = result.parameters
            if let input = result.input { gradient = input }
        }
        return perLayer.flatMap { $0 }
    }

    /// Applies one optimizer step with `gradients` (as `backward` returns them) and rebuilds the layers.
    ///
    /// - Throws: what `SGD.update` and `setParameters` throw. The model is unchanged when it throws.
    public mutating func update(gradients: [Tensor], optimizer: inout SGD) throws(ShardwiseError) {
        var newParameters = parameters
        try optimizer.update(&newParameters, gradients: gradients)
        try setParameters(newParameters)
    }

    /// One training step of a classifier: forward, softmax cross-entropy against `labels`,
    /// backward, update.
    ///
    /// - Returns: the batch's mean loss, before the update.
    /// - Throws: what `forward`, `SoftmaxCrossEntropy.lossAndGradient`, `backward` and `update` throw.
    @discardableResult
    public mutating func trainingStep(input: Tensor, labels: [Int], optimizer: inout SGD,
                                      lanes: Lanes = .automatic) throws(ShardwiseError) -> Float {
        let trace = try forward(input, lanes: lanes)
        let (loss, gradient) = try SoftmaxCrossEntropy.lossAndGradient(logits: trace.output, labels: labels)
        try update(gradients: try backward(trace, outputGradient: gradient, lanes: lanes), optimizer: &optimizer)
        return loss
    }
}

// MARK: - One layer's passes

extension Sequential.Layer {
    /// The same layer with its parameters taken, in order, from the front of `parameters`.
    func replacingParameters(_ parameters: inout ArraySlice<Tensor>) throws(ShardwiseError) -> Self {
        func next() -> Tensor { parameters.removeFirst() }
        switch self {
        case .conv2D(let d):
            let filter = next()
            return .conv2D(try Conv2DDescriptor(filter: filter, bias: d.bias.map { _ in next() }, strides: d.strides,
                                                padding: d.padding, dilations: d.dilations, groups: d.groups,
                                                activation: d.activation))
        case .dense(let d):
            let weight = next()
            return .dense(try DenseDescriptor(weight: weight, bias: d.bias.map { _ in next() }, activation: d.activation))
        case .relu, .maxPool2x2, .flatten:
            return self
        }
    }
}

extension Sequential.Stage {
    init(_ layer: Sequential.Layer) throws(ShardwiseError) {
        switch layer {
        case .conv2D(let d): self = .conv2D(try Conv2D(d))
        case .relu: self = .relu
        case .maxPool2x2: self = .maxPool2x2
        case .flatten: self = .flatten
        case .dense(let d): self = .dense(try Dense(d))
        }
    }

    var layer: Sequential.Layer {
        switch self {
        case .conv2D(let c): return .conv2D(c.descriptor)
        case .relu: return .relu
        case .maxPool2x2: return .maxPool2x2
        case .flatten: return .flatten
        case .dense(let d): return .dense(d.descriptor)
        }
    }

    func forward(_ x: Tensor, lanes: Lanes) throws(ShardwiseError) -> Tensor {
        switch self {
        case .conv2D(let c): return try c(x, lanes: lanes)
        case .relu: return Activation.relu.apply(to: x)
        case .maxPool2x2: return try MaxPool2x2.forward(x, lanes: lanes)
        case .flatten: return try Tensor(shape: [x.shape[0], x.count / x.shape[0]], scalars: x.scalars)
        case .dense(let d): return try d(x, lanes: lanes)
        }
    }

    /// The gradient with respect to the layer's input (nil when not needed and not free) and
    /// its parameters' gradients, from its forward `input` and `output`.
    func backward(input: Tensor, output: Tensor, outputGradient: Tensor, needsInputGradient: Bool,
                  lanes: Lanes) throws(ShardwiseError) -> (input: Tensor?, parameters: [Tensor]) {
        switch self {
        case .conv2D(let c):
            let g = try c.descriptor.activation.backward(output: output, outputGradient: outputGradient, lanes: lanes)
            var parameters = [try c.filterGradient(input: input, outputGradient: g, lanes: lanes)]
            if c.descriptor.bias != nil { parameters.append(try c.biasGradient(outputGradient: g)) }
            let inputGradient = needsInputGradient
                ? try c.inputGradient(outputGradient: g, inputShape: input.shape, lanes: lanes) : nil
            return (inputGradient, parameters)
        case .dense(let d):
            let g = try d.descriptor.activation.backward(output: output, outputGradient: outputGradient, lanes: lanes)
            let r = try d.gradients(input: input, outputGradient: g, lanes: lanes)
            return (r.input, d.descriptor.bias != nil ? [r.weight, r.bias] : [r.weight])
        case .relu:
            return (try Activation.relu.backward(output: output, outputGradient: outputGradient, lanes: lanes), [])
        case .maxPool2x2:
            return (try MaxPool2x2.backward(input: input, outputGradient: outputGradient, lanes: lanes), [])
        case .flatten:
            return (try Tensor(shape: input.shape, scalars: outputGradient.scalars), [])
        }
    }
}
