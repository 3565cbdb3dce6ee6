// Stochastic gradient descent with optional momentum and weight decay.

/// Stochastic gradient descent: with learning rate η, momentum μ and weight decay λ,
/// each step updates every parameter element `w` with gradient `g` by
///
///     g′ = g + λ·w
///     v  = μ·v + g′        (v starts at zero; skipped when μ = 0, where v = g′)
///     w  = w − η·v
///
/// the rule of PyTorch's `SGD` without dampening or Nesterov. Weight decay applies to every
/// parameter handed to `update`, biases included. Each operation is one Float rounding, in this
/// order, element by element (no fused multiply-add), so a step is bitwise reproducible.
///
/// The optimizer keeps one velocity per parameter *position* in the list it is given: give it
/// the same model's parameters, in the same order, at every step.
public struct SGD: Sendable {
    /// η, the step size.
    public var learningRate: Float
    /// μ in `[0, 1)`; zero is plain SGD.
    public let momentum: Float
    /// λ ≥ 0, the L2 penalty's coefficient (the penalty is `λ/2 · ‖w‖²`).
    public var weightDecay: Float
    /// One velocity per parameter, created at the first step; empty when `momentum` is zero.
    public private(set) var velocities: [Tensor] = []

    /// Creates the optimizer.
    ///
    /// - Throws: `.invalidArgument` unless `learningRate` is finite and positive, `momentum` in
    ///   `[0, 1)` and `weightDecay` finite and not negative.
    public init(learningRate: Float, momentum: Float = 0, weightDecay: Float = 0) throws(ShardwiseError) {
        if !(learningRate.isFinite && learningRate > 0) {
            throw .invalidArgument(argument: "learningRate", reason: "must be finite and positive, got \(learningRate)")
        }
        if !(momentum >= 0 && momentum < 1) {
            throw .invalidArgument(argument: "momentum", reason: "must be in [0, 1), got \(momentum)")
        }
        if !(weightDecay.isFinite && weightDecay >= 0) {
            throw .invalidArgument(argument: "weightDecay", reason: "must be finite and not negative, got \(weightDecay)")
        }
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
    }

    /// Applies one step to `parameters` in place (see the type's documentation for the rule).
    ///
    /// - Parameters:
    ///   - parameters: the tensors to update.
    ///   - gradients: one per parameter, in the same order and shapes.
    /// - Throws: `.elementCountMismatch` when the counts differ, `.shapeMismatch` when a gradient's
    ///   (or a kept velocity's) shape differs from its parameter's. Nothing changes when it throws.
    /// - Complexity: O(total elements), on the calling thread.
    public mutating func update(_ parameters: inout [Tensor], gradients: [Tensor]) throws(ShardwiseError) {
        if gradients.count != parameters.count {
            throw .elementCountMismatch(argument: "gradients", expected: parameters.count, actual: gradients.count)
        }
        for (index, (parameter, gradient)) in zip(parameters, gradients).enumerated() where parameter.shape != gradient.shape {
            throw .shapeMismatch(argument: "gradients[\(index)]", expected: parameter.shape, actual: gradient.shape)
        }
        if momentum > 0 {
            if velocities.isEmpty {
                velocities = try parameters.map { (p) throws(ShardwiseError) in try Tensor(shape: p.shape, repeating: 0) }
            }
            if velocities.count != parameters.count {
                throw .elementCountMismatch(argument: "parameters", expected: velocities.count, actual: parameters.count)
            }
            for (index, (parameter, velocity)) in zip(parameters, velocities).enumerated()
            where parameter.shape != velocity.shape {
                throw .shapeMismatch(argument: "parameters[\(index)]", expected: velocity.shape, actual: parameter.shape)
            }
        }
        let (eta, mu, lambda) = (learningRate, momentum, weightDecay)
        for index in parameters.indices {
            if mu > 0 {
                velocities[index].withUnsafeMutableBufferPointer { v in
                    SGD.step(&parameters[index], gradients[index], velocity: v.baseAddress!, eta: eta, mu: mu, lambda: lambda)
                }
            } else {
                SGD.step(&parameters[index], gradients[index], velocity: nil, eta: eta, mu: mu, lambda: lambda)
            }
        }
    }

    /// One parameter's step, in SIMD; `velocity` is nil when μ = 0.
    private static func step(_ parameter: inout Tensor, _ gradient: Tensor, velocity: UnsafeMutablePointer<Float>?,
                             eta: Float, mu: Float, lambda: Float) {
        let count = parameter.count
        gradient.withUnsafeBufferPointer { g in
            parameter.withUnsafeMutableBufferPointer { w in
                let (g, w) = (g.baseAddress!, w.baseAddress!)
                forEachVectorChunk(count) { offset, n in
                    let weight = Vector.loading(w + offset, count: n)
                    var direction = Vector.loading(g + offset, count: n) + lambda * weight
                    if let velocity {
                        direction = mu * Vector.loading(velocity + offset, count: n) + direction
                        direction.store(to: velocity + offset, count: n)
                    }
                    (weight - eta * direction).store(to: w + offset, count: n)
                }
            }
        }
    }
}
