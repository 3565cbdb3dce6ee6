import Testing
import Shardwise

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct ProcessorCountTests {
    @Test func cpuListsCountEveryProcessorOnce() {
        #expect(ProcessorCount.countCPUList("0") == 1)
        #expect(ProcessorCount.countCPUList("0-1") == 2)
        #expect(ProcessorCount.countCPUList("\t0-3,8,10-11\n") == 7)
        #expect(ProcessorCount.countCPUList(" 5-5 ") == 1)
        for malformed in ["", "3-1", "a", "1-", "-2", "0-1-2", "1,,x"] {
            #expect(ProcessorCount.countCPUList(Substring(malformed)) == nil, "\(malformed)")
        }
    }

    @Test func quotasRoundDownToAtLeastOneAndUnlimitedIsNoLimit() {
        #expect(ProcessorCount.quotaCount(v2: "400000 100000\n") == 4)
        #expect(ProcessorCount.quotaCount(v2: "150000 100000") == 1)
        #expect(ProcessorCount.quotaCount(v2: "50000 100000") == 1)
        #expect(ProcessorCount.quotaCount(v2: "max 100000") == nil)
        #expect(ProcessorCount.quotaCount(v2: "100000") == nil)
        #expect(ProcessorCount.quotaCount(quota: "-1\n", period: "100000\n") == nil)
        #expect(ProcessorCount.quotaCount(quota: "250000\n", period: "100000\n") == 2)
        #expect(ProcessorCount.quotaCount(quota: "1000", period: "0") == nil)
    }

    /// The usable count is at least one and never above the online processors, and `automatic`
    /// gives exactly that many lanes.
    @Test func usableProcessorsAreBoundedByTheOnlineOnes() throws {
        let online = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        #expect((1...Swift.max(1, online)).contains(Lanes.processorCount))
        #expect(try Lanes.automatic.maximum() == Swift.min(Lanes.processorCount, 4096))
        #if os(Linux)
        if let allowed = ProcessorCount.affinityCount() { #expect(Lanes.processorCount <= allowed) }
        if let quota = ProcessorCount.cgroupQuotaCount() { #expect(Lanes.processorCount <= quota) }
        #endif
    }
}
