// ProcessorCount: how many processors this process may really use, which is what
// `Lanes.automatic` runs on.
//
// `sysconf(_SC_NPROCESSORS_ONLN)` counts the machine's online processors, not the
// process's. On Linux a process is often given fewer: an affinity mask (`taskset`,
// `docker --cpuset-cpus`, Kubernetes' static CPU manager, Slurm), or a CPU-time quota
// (`docker --cpus`, a Kubernetes CPU limit). A container given 4 CPUs of a 64-core host
// would otherwise run 64 lanes on 4 processors: sixteen threads time-sliced on each, and
// every lane that finishes early spinning (see `ShardClaims.leave()`) while the lanes it
// waits for are descheduled.
//
// So on Linux the count is the least of
// - the online processors,
// - the processors in this process's affinity mask (`Cpus_allowed_list` in
//   /proc/self/status; Swift does not import `sched_getaffinity`, a _GNU_SOURCE symbol),
// - the CPU quota of this process's cgroup and of each cgroup above it, quota ÷ period
//   rounded down (cgroup v2 `cpu.max`, or v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`):
//   2 lanes under a quota of 1.5 CPUs would both be throttled for a quarter of each period,
//   and a lane that finishes first spins for the other,
// and never below one. Files that are missing or unreadable impose no limit. Elsewhere
// (macOS) it is the online count. It is read once per process, a few file reads.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The processors this process may use; see the essay above.
package enum ProcessorCount {
    /// The count, computed once.
    package static let usable: Int = {
        let online = Swift.max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        #if os(Linux)
        return Swift.max(1, [online, affinityCount(), cgroupQuotaCount()].compactMap { $0 }.min()!)
        #else
        return online
        #endif
    }()

    #if os(Linux)
    /// The processors in `/proc/self/status`'s `Cpus_allowed_list`, or nil if unreadable.
    package static func affinityCount() -> Int? {
        guard let status = readSmallFile("/proc/self/status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("Cpus_allowed_list:") {
            return countCPUList(line.dropFirst("Cpus_allowed_list:".count))
        }
        return nil
    }

    /// The tightest CPU quota of this process's cgroup and its ancestors, in whole processors
    /// (at least one), or nil if none is set or none can be read: `membership` is
    /// /proc/self/cgroup's text (read when nil), the cgroup file systems mounted under `root`.
    package static func cgroupQuotaCount(membership: String? = nil, root: String = "/sys/fs/cgroup") -> Int? {
        guard let membership = membership ?? readSmallFile("/proc/self/cgroup") else { return nil }
        var quotas: [Int] = []
        // Lines are `id:controllers:path`; v2's is `0::path`, v1's cpu line names `cpu`.
        for line in membership.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            var path = String(fields[2])
            while true {
                let below = path == "/" ? "" : path
                if fields[1].isEmpty {
                    if let text = readSmallFile(root + below + "/cpu.max"), let count = quotaCount(v2: text) {
                        quotas.append(count)
                    }
                } else if fields[1].split(separator: ",").contains("cpu") {
                    for mount in [root + "/cpu", root + "/cpu,cpuacct"] {
                        if let quota = readSmallFile(mount + below + "/cpu.cfs_quota_us"),
                           let period = readSmallFile(mount + below + "/cpu.cfs_period_us"),
                           let count = quotaCount(quota: quota, period: period) {
                            quotas.append(count)
                        }
                    }
                }
                guard path != "/", let slash = path.lastIndex(of: "/") else { break }
                path = slash == path.startIndex ? "/" : String(path[..<slash])
            }
        }
        return quotas.min()
    }

    /// The contents of a small text file (at most 64 KiB read), or nil if it cannot be opened.
    static func readSmallFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 16 {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += chunk[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
    #endif

    /// The number of processors in a kernel CPU list such as `0-3,8,10-11` (7), or nil if it
    /// does not parse.
    package static func countCPUList(_ text: Substring) -> Int? {
        var count = 0
        for range in text.split(separator: ",") {
            let ends = range.split(separator: "-", omittingEmptySubsequences: false)
                .map { Int($0.filter { !$0.isWhitespace }) }
            guard let first = ends.first ?? nil, let last = ends.last ?? nil, ends.count <= 2, first <= last
            else { return nil }
            count += last - first + 1
        }
        return count > 0 ? count : nil
    }

    /// Processors allowed by a cgroup v2 `cpu.max` text, `quota period` or `max period`.
    package static func quotaCount(v2 text: String) -> Int? {
        let fields = text.split(whereSeparator: \.isWhitespace)
        guard fields.count == 2 else { return nil }
        return quotaCount(quota: String(fields[0]), period: String(fields[1]))
    }

    /// ⌊quota ÷ period⌋ but at least one, or nil when the quota is unlimited (`max`, `-1`) or
    /// either does not parse.
    package static func quotaCount(quota: String, period: String) -> Int? {
        guard let quota = Int(quota.filter { !$0.isWhitespace }), let period = Int(period.filter { !$0.isWhitespace }),
              quota > 0, period > 0 else { return nil }
        return Swift.max(1, quota / period)
    }
}
