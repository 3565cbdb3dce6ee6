// A lane executor with a start latency of microseconds instead of tens of them.
//
// Dispatch's `concurrentPerform` parks its worker threads between calls; waking one
// costs mostly 10–30 µs on this project's machine (more before lanes stopped sleeping
// in the join, see `ShardClaims`), up to 10 % of a 0.5 ms layer split in two. This
// executor keeps one thread per extra lane, and after each call they spin
// for a short while (`spinNanoseconds`, 100 µs by default) watching for the next
// call before they go to sleep on a condition variable. Back-to-back layer calls —
// a network's forward pass, a training loop — then start their lanes at once. The
// price is the spinning: up to `spinNanoseconds` of a core per worker after each
// call, which is why Dispatch stays the default and this is opt-in
// (`Lanes.automatic.using(SpinningLaneExecutor.shared)`).
//
// Protocol: each call is a `Job` (body, iteration count, an atomic next-index and
// an atomic count of unfinished iterations). The caller publishes it under a mutex
// and bumps an atomic generation; workers that see the generation change take the
// job under the same mutex and claim iterations until none remain; the caller runs
// iterations too and returns when the unfinished count reaches zero. A worker that
// arrives late holds its own job, finds no iteration left, and never touches a
// newer one. Sleep is the usual Dekker pair: a worker registers as a sleeper and then
// re-reads the generation under the mutex; the caller bumps the generation and then
// reads the sleeper count; with sequentially consistent atomics one of them sees the
// other, so no wake-up is lost.

import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Lanes on long-lived threads that spin briefly between calls: microsecond start latency.
public final class SpinningLaneExecutor: LaneExecutor, @unchecked Sendable {
    // @unchecked: `current` is read and written only under `mutex`; every other field is
    // immutable or atomic.

    /// One worker per processor beyond the caller's, spinning 100 µs after each call.
    public static let shared = SpinningLaneExecutor(workers: Lanes.processorCount - 1, spinNanoseconds: 100_000)

    /// A few microseconds while the workers spin; the planner prices lanes by it.
    public var startLatencySeconds: Double { 3e-6 }

    /// Worker threads (the caller is one more lane).
    public let workers: Int
    /// How long a worker watches for the next call before it sleeps.
    public let spinNanoseconds: UInt64

    private final class Job: @unchecked Sendable {
        // @unchecked: `body` and `count` are immutable; the counters are atomic.
        let body: @Sendable (Int) -> Void
        let count: Int
        let next = Atomic<Int>(0)
        let unfinished: Atomic<Int>

        init(count: Int, body: @escaping @Sendable (Int) -> Void) {
            self.body = body
            self.count = count
            unfinished = Atomic(count)
        }

        /// Claims and runs iterations until none are left.
        func work() {
            while true {
                let index = next.add(1, ordering: .relaxed).oldValue
                if index >= count { return }
                body(index)
                unfinished.subtract(1, ordering: .releasing)
            }
        }
    }

    private let generation = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let callers = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var current: Job?

    private init(workers: Int, spinNanoseconds: UInt64) {
        self.workers = Swift.max(0, workers)
        self.spinNanoseconds = spinNanoseconds
        pthread_mutex_init(mutex, nil)
        pthread_mutex_init(callers, nil)
        pthread_cond_init(wake, nil)
        for _ in 0..<self.workers {
            #if os(Linux)
            var thread = pthread_t()
            #else
            var thread: pthread_t?
            #endif
            let context = Unmanaged.passRetained(self).toOpaque()
            _ = pthread_create(&thread, nil, { context in
                #if os(Linux)
                let context = context!
                #endif
                Unmanaged<SpinningLaneExecutor>.fromOpaque(context).takeRetainedValue().workerLoop()
                return nil
            }, context)
            #if os(Linux)
            pthread_detach(thread)
            #else
            pthread_detach(thread!)
            #endif
        }
    }

    /// Runs `body(0) … body(count - 1)` on the caller and the workers, and waits for all.
    public func run(count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        // A call from inside one of this executor's lanes would wait on itself: run it here.
        if LaneContext.isInsideLane {
            for index in 0..<count { body(index) }
            return
        }
        // One call at a time: a second caller waits for the first to finish.
        pthread_mutex_lock(callers)
        defer { pthread_mutex_unlock(callers) }
        let job = Job(count: count, body: body)
        pthread_mutex_lock(mutex)
        current = job
        pthread_mutex_unlock(mutex)
        generation.add(1, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            pthread_mutex_lock(mutex)
            pthread_cond_broadcast(wake)
            pthread_mutex_unlock(mutex)
        }
        job.work()
        // Wait for the lanes still running; yield now and then, in case a worker was descheduled.
        var spins = 0
        while job.unfinished.load(ordering: .acquiring) > 0 {
            spins += 1
            if spins & 1023 == 0 { sched_yield() }
        }
        pthread_mutex_lock(mutex)
        current = nil
        pthread_mutex_unlock(mutex)
    }

    private func workerLoop() {
        var seen = generation.load(ordering: .sequentiallyConsistent)
        while true {
            let start = DispatchTime.now().uptimeNanoseconds
            var spins = 0
            while generation.load(ordering: .sequentiallyConsistent) == seen {
                spins += 1
                if spins & 255 == 0 && DispatchTime.now().uptimeNanoseconds - start > spinNanoseconds {
                    sleep(whileGenerationIs: seen)
                }
            }
            seen = generation.load(ordering: .sequentiallyConsistent)
            pthread_mutex_lock(mutex)
            let job = current
            pthread_mutex_unlock(mutex)
            job?.work()
        }
    }

    private func sleep(whileGenerationIs seen: Int) {
        pthread_mutex_lock(mutex)
        sleepers.add(1, ordering: .sequentiallyConsistent)
        while generation.load(ordering: .sequentiallyConsistent) == seen {
            pthread_cond_wait(wake, mutex)
        }
        sleepers.subtract(1, ordering: .sequentiallyConsistent)
        pthread_mutex_unlock(mutex)
    }
}
