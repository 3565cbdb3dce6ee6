// Lanes: how many threads a sharded call may use, and what runs them.
//
// A layer splits its work into shards (see ShardPlan); the executor runs the
// lanes, and each lane claims shards until none is left. Dispatch's
// `concurrentPerform` is the default.
// A sharded call made from inside a lane runs serially: nested calls must not
// multiply the threads (a layer called from a user's own concurrentPerform, say).

import Dispatch
import Synchronization

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
    /// Dispatch's start latency of a second lane, as the planner prices it: 30 µs. Timestamps inside
    /// back-to-back 2-lane calls here put the worker's start mostly 10–30 µs after the caller's,
    /// now and then more (earlier sessions saw up to 60 µs, before lanes stopped sleeping in the
    /// join).
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
    /// One lane per processor this process may use (`processorCount`: on Linux its affinity mask
    /// and CPU quota count); the planner may use fewer when splitting does not pay.
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

    /// The processors this process may use, read once: on Linux the least of the online
    /// processors, those in its affinity mask and its cgroup's CPU quota (whole processors, rounded
    /// down); elsewhere the online processors. `automatic` uses this many lanes.
    public static var processorCount: Int { ProcessorCount.usable }

    /// Runs `plan.laneCount` lanes that claim the plan's shards in order until none is left. A
    /// lane that claims one calls `body` once, with `next`, which returns the lane's next shard or
    /// nil; a lane that starts after the others have taken every shard does not call `body` (so
    /// it sets up no workspace). A lane that runs out of shards waits, spinning, for the lanes
    /// still working (see `ShardClaims.leave()`). With one lane, everything runs on the caller's
    /// thread.
    package func run(_ plan: ShardPlan, _ body: @escaping @Sendable (_ next: () -> LaneShard?) -> Void) {
        if plan.laneCount == 1 {
            var index = 0
            body {
                defer { index += 1 }
                return index < plan.shards.count ? plan.shards[index] : nil
            }
            return
        }
        let claims = ShardClaims(count: plan.shards.count)
        run(count: plan.laneCount) { _ in
            claims.enter()
            if let first = claims.claim() {
                var pending: Int? = first
                body {
                    // The shard claimed on entry first; after it, claim one at a time, when asked.
                    if let index = pending {
                        pending = nil
                        return plan.shards[index]
                    }
                    return claims.claim().map { plan.shards[$0] }
                }
            }
            claims.leave()
        }
    }

    /// The fewest floats a memory-bound pass gives each lane: about 60 µs of pooling or
    /// activation backward here, twice Dispatch's usual start latency.
    package static let minimumFloatsPerLane = 1 << 16

    /// Runs a memory-bound pass over `0 ..< extent` independent units of `floatsPerUnit` floats
    /// each (window rows, element blocks): `body` gets consecutive ranges of units, split among
    /// lanes only where each lane gets at least `minimumFloatsPerLane` floats. Units do not
    /// interact, so the result is the same for every split.
    ///
    /// - Throws: `ShardwiseError.nonPositiveSize` for `fixed(n)` with `n < 1`.
    package func forEachRange(extent: Int, floatsPerUnit: Int,
                              _ body: @escaping @Sendable (Range<Int>) -> Void) throws(ShardwiseError) {
        let count = Swift.min(try maximum(), extent * floatsPerUnit / Lanes.minimumFloatsPerLane, extent)
        if count <= 1 {
            if extent > 0 { body(0..<extent) }
            return
        }
        let shards = ShardPlan.guidedRanges(extent: extent, unit: 1, lanes: count)
            .map { LaneShard(rows: $0, columns: 0..<1) }
        run(ShardPlan(strategy: .rows, shards: shards, laneCount: count)) { next in
            while let shard = next() { body(shard.rows) }
        }
    }

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

/// The shards of one call, claimed in order by its lanes, and who is still working on them.
///
/// A lane that runs out of shards spins until every lane that has started is done, instead
/// of returning at once. Returning, it would block in the executor's join: the caller's
/// thread sleeps and must be woken when the last lane ends, and on this 2-core VM that
/// wake-up cost 20–40 µs per call (2-lane 1×56×56×64 3×3 convolution: 0.528 → 0.495 ms;
/// 256³ GEMM: 0.125 → 0.086 ms). The spin is bounded (`spinLimitSeconds`) so that a
/// lane preempted on a busy machine costs the others a sleep, not a core.
final class ShardClaims: Sendable {
    private let next = Atomic<Int>(0)
    private let count: Int

    private let started = Atomic<Int>(0)
    private let finished = Atomic<Int>(0)

    init(count: Int) { self.count = count }

    /// The longest a lane spins for the others before it returns to the executor.
    static let spinLimitSeconds = 200e-6

    /// Counts a lane in, before it claims its first shard.
    func enter() { started.add(1, ordering: .relaxed) }

    /// Counts a lane out, then spins until every lane that has entered is out too (or for at
    /// most `spinLimitSeconds`).
    func leave() {
        finished.add(1, ordering: .releasing)
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(Self.spinLimitSeconds * 1e9)
        var spins = 0
        while finished.load(ordering: .acquiring) < started.load(ordering: .acquiring) {
            spins += 1
            if spins % 1024 == 0 && DispatchTime.now().uptimeNanoseconds > deadline { return }
        }
    }

    /// The index of a shard no other lane has claimed, or nil when all are taken.
    func claim() -> Int? {
        // Relaxed: the executor's join orders every lane's writes before the caller reads them.
        let index = next.add(1, ordering: .relaxed).oldValue
        return index < count ? index : nil
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
