// Lanes: how many threads a sharded call may use, and what runs them.
//
// A layer splits its work into ranges (see ShardPlan) and hands lane i its range;
// the executor runs the lanes. Dispatch's `concurrentPerform` is the default.
// A sharded call made from inside a lane runs serially: nested calls must not
// multiply the threads (a layer called from a user's own concurrentPerform, say).

import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `count` lanes of one sharded call.
///
/// Conforming types must call `body` exactly once for each index in `0..<count`
/// and return only when all calls have returned. They may run the calls on any
/// threads, in any order, concurrently.
public protocol LaneExecutor: Sendable {
    /// Runs `body(0) … body(count - 1)` and waits for all of them.
    func run(count: Int, _ body: @escaping @Sendable (Int) -> Void)
    /// How much later than the first lane the others start, in seconds: the planner's price
    /// for using more than one lane. The default is Dispatch's, 30 µs.
    var startLatencySeconds: Double { get }
}

extension LaneExecutor {
    /// Dispatch's measured start latency of a second lane: 15–60 µs here.
    public var startLatencySeconds: Double { 30e-6 }
}

/// The default executor: `DispatchQueue.concurrentPerform`.
public struct DispatchLaneExecutor: LaneExecutor {
    /// Creates the executor.
    public init() {}

    /// Runs the lanes on Dispatch's worker threads (the caller runs some of them).
    public func run(count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        DispatchQueue.concurrentPerform(iterations: count, execute: body)
    }
}

/// How many lanes a call may use, and the executor that runs them.
public struct Lanes: Sendable {
    enum Policy: Sendable, Hashable { case serial, fixed(Int), automatic }
    let policy: Policy
    /// The executor that runs the lanes.
    public let executor: any LaneExecutor

    init(policy: Policy, executor: any LaneExecutor) {
        self.policy = policy
        self.executor = executor
    }

    /// One lane, on the caller's thread.
    public static let serial = Lanes(policy: .serial, executor: DispatchLaneExecutor())
    /// As many lanes as active processors; the planner may use fewer when splitting does not pay.
    public static let automatic = Lanes(policy: .automatic, executor: DispatchLaneExecutor())

    /// Exactly `count` lanes where the work divides that finely (the plan may use fewer
    /// when there are fewer units of work than lanes, and never more than 4,096); `count`
    /// below one is an error at call time.
    public static func fixed(_ count: Int) -> Lanes {
        Lanes(policy: .fixed(count), executor: DispatchLaneExecutor())
    }

    /// The same lane count, run by `executor`.
    public func using(_ executor: any LaneExecutor) -> Lanes {
        Lanes(policy: policy, executor: executor)
    }

    /// Whether the planner may choose fewer lanes than the maximum when splitting does not pay.
    package var isAutomatic: Bool { policy == .automatic }

    /// The most lanes this call may use: 1 when called from inside a lane.
    ///
    /// - Throws: `ShardwiseError.nonPositiveSize` for `fixed(n)` with `n < 1`.
    package func maximum() throws(ShardwiseError) -> Int {
        // Validate first: `fixed(0)` is an error wherever the call is made, inside a lane or not.
        if case .fixed(let n) = policy, n < 1 { throw .nonPositiveSize(argument: "lanes", value: n) }
        if LaneContext.isInsideLane { return 1 }
        switch policy {
        case .serial: return 1
        case .fixed(let n): return Swift.min(n, Lanes.limit)
        case .automatic: return Swift.min(Lanes.processorCount, Lanes.limit)
        }
    }

    /// The most lanes any plan uses. A plan holds one shard per lane, and a shape can be planned
    /// without being allocated (`Conv2D.plan(forInput:)`), so without a cap `fixed(Int.max)` on a
    /// huge planned shape asked for billions of shards and aborted on the allocation.
    package static let limit = 4096

    /// The active processor count, read once (glibc answers `sysconf` by reading /sys: ~5 µs).
    public static let processorCount: Int = Swift.max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    /// Runs `body` once per lane index in `0..<count` with this executor; with one lane, on
    /// the caller's thread. Inside `body`, nested sharded calls run serially.
    package func run(count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        if count == 1 {
            body(0)
            return
        }
        executor.run(count: count) { lane in
            LaneContext.enter()
            defer { LaneContext.leave() }
            body(lane)
        }
    }
}

/// A thread-local depth counter: non-zero on a thread that is running a lane.
enum LaneContext {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    private static var depth: Int {
        get { Int(bitPattern: pthread_getspecific(key)) }
        set { pthread_setspecific(key, UnsafeRawPointer(bitPattern: newValue)) }
    }

    static var isInsideLane: Bool { depth > 0 }
    static func enter() { depth += 1 }
    static func leave() { depth -= 1 }
}
