import Dispatch
import Testing
import Shardwise
import ShardwiseTestSupport

/// The spinning executor keeps the `LaneExecutor` contract (every index exactly once, all done
/// on return) across many back-to-back calls, calls after its workers went to sleep, and calls
/// from several threads at once; layers run on it give the same bits as on Dispatch.
@Suite struct SpinningLaneExecutorTests {
    let executor = SpinningLaneExecutor.shared

    @Test func everyIndexRunsExactlyOnce() {
        for count in [1, 2, 3, 7, 64] {
            for _ in 0..<50 {
                let recorder = Recorder<Int>()
                executor.run(count: count) { recorder.record($0) }
                #expect(recorder.values.sorted() == Array(0..<count), "count \(count)")
            }
        }
    }

    @Test func wakesAfterItsWorkersSleep() {
        for _ in 0..<3 {
            // Longer than the spin window: the workers are asleep when the next call comes.
            usleepMicroseconds(2 * Int(executor.spinNanoseconds / 1000) + 1000)
            let recorder = Recorder<Int>()
            executor.run(count: 4) { recorder.record($0) }
            #expect(recorder.values.sorted() == [0, 1, 2, 3])
        }
    }

    @Test func callsFromSeveralThreadsAtOnce() {
        let totals = Recorder<Int>()
        DispatchQueue.concurrentPerform(iterations: 6) { caller in
            let recorder = Recorder<Int>()
            executor.run(count: 5) { recorder.record($0 + caller * 100) }
            totals.record(recorder.values.reduce(0, +))
        }
        #expect(totals.values.sorted() == (0..<6).map { 10 + 500 * $0 })
    }

    @Test func layersGiveTheSameBitsAsOnDispatch() throws {
        var c = ConvCase()
        c.batch = 2; c.height = 17; c.width = 23; c.inputChannels = 9; c.outputChannels = 40
        let lanes: [Lanes] = [.fixed(2), .fixed(2).using(executor), .fixed(5).using(executor), .automatic.using(executor)]
        #expect(try checkConv(c, seed: 12, lanes: lanes) == nil)
    }
}

/// Sleeps the calling thread.
private func usleepMicroseconds(_ microseconds: Int) {
    let deadline = DispatchTime.now() + .microseconds(microseconds)
    _ = DispatchSemaphore(value: 0).wait(timeout: deadline)
}
