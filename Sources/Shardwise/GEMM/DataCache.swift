// DataCache: the level-1 data cache's sets and ways, read once at run time.
//
// The blocking table (Blocking.swift) is fixed at compile time from the target CPU, but one of
// its decisions depends on a cache that the target does not name: whether the microkernel reads
// A's rows in place. At each depth step a register tile reads one cache line from each of its MR
// rows, and goes on reading each line for 16 steps. Rows a multiple of 4 KB apart put all MR of
// those lines into one L1 set; where the set has fewer ways than MR, each line is evicted by
// another before its floats are used, and every load comes from L2.
//
// AVX-512 machines differ exactly there, with the same compile-time target: Zen 4's L1 is
// 32 KB of 8 ways, Zen 5's 48 KB of 12. On Zen 4, 1024³ ran 99 GFLOP/s with A's 4 KB-apart rows
// read in place and 108 packed (the packed block's pitch is not a power of two); on Zen 5 the
// twelve rows fit, and in place had measured faster (Blocking.readsAInPlace).
//
// On Linux the caches are described under /sys/devices/system/cpu/cpu0/cache/index*/ (level,
// type, number_of_sets, ways_of_associativity). Elsewhere, or where those files cannot be read,
// the guess is 64 sets of 8 ways (Zen 4's, Skylake's): the smaller guess only ever packs an A
// that could have been read in place, never the reverse.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The level-1 data cache of the processor this process runs on; see the essay above.
package enum DataCache {
    /// Sets and ways of the level-1 data cache, read once (a few small file reads on Linux).
    package static let level1: (sets: Int, ways: Int) = {
        #if os(Linux)
        if let found = level1(describedUnder: "/sys/devices/system/cpu/cpu0/cache") { return found }
        #endif
        return fallback
    }()

    /// The geometry assumed where none can be read: 64 sets of 8 ways.
    package static let fallback = (sets: 64, ways: 8)

    #if os(Linux)
    /// The level-1 data cache among the `index0`, `index1`, … directories under `directory`
    /// (Linux's sysfs layout), or nil if none is described there in full.
    package static func level1(describedUnder directory: String) -> (sets: Int, ways: Int)? {
        for index in 0..<8 {
            let path = directory + "/index\(index)/"
            func field(_ name: String) -> String? {
                ProcessorCount.readSmallFile(path + name).map { $0.filter { !$0.isWhitespace } }
            }
            guard let level = field("level") else { break }
            guard level == "1", field("type") == "Data" else { continue }
            guard let sets = field("number_of_sets").flatMap({ Int($0) }),
                  let ways = field("ways_of_associativity").flatMap({ Int($0) }), sets > 0, ways > 0
            else { return nil }
            return (sets, ways)
        }
        return nil
    }
    #endif
}
