import Dispatch
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Shardwise
import ShardwiseTestSupport

/// Runs the lanes one after another on the caller's thread, the last index first: the first
/// lane to run claims every shard, and the others find none left.
struct OneAfterAnotherExecutor: LaneExecutor {
    func run(count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        for lane in (0..<count).reversed() { body(lane) }
    }
}

/// Runs the lanes concurrently, every lane but the first starting `delayMicroseconds` late:
/// longer than a finished lane spins for the others, so that lane returns before they end.
struct LateStartExecutor: LaneExecutor {
    var delayMicroseconds = 2_000
    func run(count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        DispatchQueue.concurrentPerform(iterations: count) { lane in
            if lane > 0 {
                let deadline = DispatchTime.now() + .microseconds(delayMicroseconds)
                _ = DispatchSemaphore(value: 0).wait(timeout: deadline)
            }
            body(lane)
        }
    }
}

/// Runs lane 0 on the caller and every other lane on a thread of its own, so that all lanes run
/// at once even on one core (the OS time-slices them).
struct ThreadPerLaneExecutor: LaneExecutor {
    func run(count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        final class Start: @unchecked Sendable {
            // @unchecked: immutable after init, handed to one thread.
            let body: @Sendable (Int) -> Void, lane: Int
            init(_ body: @escaping @Sendable (Int) -> Void, _ lane: Int) { self.body = body; self.lane = lane }
        }
        var threads: [pthread_t] = []
        for lane in 1..<Swift.max(1, count) {
            #if canImport(Glibc)
            var thread = pthread_t()
            #else
            var thread: pthread_t?
            #endif
            let start = Unmanaged.passRetained(Start(body, lane)).toOpaque()
            let created = pthread_create(&thread, nil, { context in
                let start = Unmanaged<Start>.fromOpaque(context!).takeRetainedValue()
                start.body(start.lane)
                return nil
            }, start)
            precondition(created == 0, "pthread_create failed")
            #if canImport(Glibc)
            threads.append(thread)
            #else
            threads.append(thread!)
            #endif
        }
        body(0)
        for thread in threads { pthread_join(thread, nil) }
    }
}

/// Lanes claim shards as they come free, so how the executor schedules them must never change
/// the result: every shard is computed exactly once, with the same bits, even when one lane does
/// all of them or when the others start long after the first has finished.
@Suite struct ShardClaimTests {
    @Test func convolutionsGiveTheSameBitsWhoeverClaimsTheShards() throws {
        var c = ConvCase()
        c.batch = 2; c.height = 13; c.width = 29; c.inputChannels = 3; c.outputChannels = 70; c.activation = .relu
        let lanes: [Lanes] = [.serial, .fixed(3).using(OneAfterAnotherExecutor()), .fixed(2).using(LateStartExecutor()),
                              .fixed(5).using(LateStartExecutor(delayMicroseconds: 300))]
        #expect(try checkConv(c, seed: 60, lanes: lanes) == nil)
        c.strides = Size2D(2)  // the packed (im2col) path rather than the band
        #expect(try checkConv(c, seed: 61, lanes: lanes) == nil)
    }

    @Test func gemmGivesTheSameBitsWhoeverClaimsTheShards() throws {
        let lanes = [Lanes.serial, .fixed(4).using(OneAfterAnotherExecutor()), .fixed(3).using(LateStartExecutor())]
        let results = try gemmBits(m: 131, n: 97, k: 75, seed: 62, lanes: lanes)
        #expect(results.allSatisfy { $0 == results[0] })
        #expect(!results[0].contains(Float.nan.bitPattern))
    }

    /// A lane claims its next shard only when it asks for it: while the first lane holds its first
    /// shard, the second lane must get the other one. (A version that claimed a lane's next shard
    /// as it handed out the current one gave the caller both shards of a 2-lane plan before the
    /// second lane had started: correct results at one lane's speed.)
    @Test func aLaneClaimsOneShardAtATime() throws {
        final class Count: Sendable { let value = Atomic<Int>(0) }
        let lanesWithAShard = Count()
        let claimed = Recorder<Int>()
        let plan = ShardPlan.split(rows: 48, columns: 32, lanes: 2, strategy: .rows)
        try #require(plan.shards.count == 2)
        Lanes.fixed(2).using(ThreadPerLaneExecutor()).run(plan) { next in
            guard let first = next() else { return }
            lanesWithAShard.value.add(1, ordering: .relaxed)
            claimed.record(first.rows.lowerBound)
            // Hold the first shard until the other lane has one too (or two seconds pass).
            let deadline = DispatchTime.now().uptimeNanoseconds + 2_000_000_000
            while lanesWithAShard.value.load(ordering: .relaxed) < 2 && DispatchTime.now().uptimeNanoseconds < deadline {}
            while let shard = next() { claimed.record(shard.rows.lowerBound) }
        }
        #expect(lanesWithAShard.value.load(ordering: .relaxed) == 2)
        #expect(claimed.values.sorted() == plan.shards.map(\.rows.lowerBound))
    }
}
