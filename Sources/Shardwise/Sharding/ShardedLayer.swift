/// A layer whose forward pass is split among lanes by a plan: `Conv2D` and `Dense`.
///
/// A layer composes the two halves of the library: it asks the planner for a plan
/// (which lane owns which block of its output) and hands each lane its block of a
/// kernel call. These three queries and the buffer-form forward pass are what a
/// caller needs to schedule, budget and run any layer the same way.
public protocol ShardedLayer: Sendable {
    /// The plan a call with an input of `shape` would use.
    func plan(forInput shape: [Int], lanes: Lanes) throws(ShardwiseError) -> ShardPlan
    /// Bytes of workspace a call with an input of `shape` allocates, over all its lanes.
    func workspaceBytes(forInput shape: [Int], lanes: Lanes) throws(ShardwiseError) -> Int
    /// Runs the layer on caller memory: `input` holds a tensor of `shape`, `output` receives the result.
    func forward(input: UnsafeBufferPointer<Float>, shape: [Int], output: UnsafeMutableBufferPointer<Float>,
                 lanes: Lanes) throws(ShardwiseError)
}

extension Conv2D: ShardedLayer {}
extension Dense: ShardedLayer {}
