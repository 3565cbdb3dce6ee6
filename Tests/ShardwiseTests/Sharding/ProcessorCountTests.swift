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

    #if os(Linux)
    /// The quota walk over a cgroup tree built in a temporary directory: v2's `cpu.max` and v1's
    /// quota and period files, the tightest of a cgroup and its ancestors, the container's own
    /// root when its path is the host's (no cgroup namespace), and no limit where none is set.
    @Test func cgroupQuotasAreTheTightestFromACgroupUpToTheRoot() throws {
        var template = Array("/tmp/shardwise-cgroup-XXXXXX".utf8CString)
        let root = try #require(template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
            .map { String(cString: $0) })
        defer { removeTree(root) }
        write("200000 100000\n", to: root + "/a/b/cpu.max")
        write("max 100000\n", to: root + "/a/cpu.max")
        write("350000 100000\n", to: root + "/cpu.max")
        write("150000\n", to: root + "/cpu,cpuacct/x/cpu.cfs_quota_us")
        write("100000\n", to: root + "/cpu,cpuacct/x/cpu.cfs_period_us")
        write("-1\n", to: root + "/cpu,cpuacct/cpu.cfs_quota_us")
        write("100000\n", to: root + "/cpu,cpuacct/cpu.cfs_period_us")
        #expect(ProcessorCount.cgroupQuotaCount(membership: "0::/a/b\n", root: root) == 2)
        #expect(ProcessorCount.cgroupQuotaCount(membership: "0::/a\n", root: root) == 3)
        #expect(ProcessorCount.cgroupQuotaCount(membership: "0::/docker/0123abcd\n", root: root) == 3)
        #expect(ProcessorCount.cgroupQuotaCount(membership: "4:cpu,cpuacct:/x\n0::/\n", root: root) == 1)
        #expect(ProcessorCount.cgroupQuotaCount(membership: "4:cpuacct,cpu:/x\n", root: root) == 1)
        #expect(ProcessorCount.cgroupQuotaCount(membership: "4:memory:/x\n", root: root) == nil)
        #expect(ProcessorCount.cgroupQuotaCount(membership: "garbage", root: root) == nil)
        #expect(ProcessorCount.cgroupQuotaCount(membership: "", root: root + "/absent") == nil)
    }

    #endif

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

#if os(Linux)
/// Writes `text` to `path`, making its folders.
fileprivate func write(_ text: String, to path: String) {
    var folder = ""
    for part in path.split(separator: "/").dropLast() {
        folder += "/" + part
        mkdir(folder, 0o755)
    }
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    defer { close(descriptor) }
    _ = Array(text.utf8).withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
}

/// Removes the folder tree at `path` (files and folders only).
fileprivate func removeTree(_ path: String) {
    if let directory = opendir(path) {
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            removeTree(path + "/" + name)
        }
        closedir(directory)
        rmdir(path)
    } else {
        unlink(path)
    }
}

/// The level-1 data cache's geometry as Linux describes it (DataCache.swift).
@Suite struct DataCacheTests {
    /// Found among the cache directories by level and type, whatever its index; nil where the
    /// directory is missing or the data cache is described in part.
    @Test func level1DataCacheIsFoundByLevelAndType() throws {
        var template = Array("/tmp/shardwise-cache-XXXXXX".utf8CString)
        let root = try #require(template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
            .map { String(cString: $0) })
        defer { removeTree(root) }
        for (index, level, type) in [(0, "1", "Instruction"), (1, "1", "Data"), (2, "2", "Unified")] {
            write(level + "\n", to: root + "/full/index\(index)/level")
            write(type + "\n", to: root + "/full/index\(index)/type")
            write("\(index + 1)\n", to: root + "/full/index\(index)/ways_of_associativity")
            write("64\n", to: root + "/full/index\(index)/number_of_sets")
        }
        let found = DataCache.level1(describedUnder: root + "/full")
        #expect(found?.sets == 64 && found?.ways == 2)
        write("1\n", to: root + "/partial/index0/level")
        write("Data\n", to: root + "/partial/index0/type")
        write("64\n", to: root + "/partial/index0/number_of_sets")
        #expect(DataCache.level1(describedUnder: root + "/partial") == nil)
        #expect(DataCache.level1(describedUnder: root + "/absent") == nil)
        #expect(DataCache.level1.sets > 0 && DataCache.level1.ways > 0)
    }
}
#endif
