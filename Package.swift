// swift-tools-version: 6.2
//
// Shardwise: hand-written SIMD kernels for convolution and dense layers, split
// inside themselves across CPU cores. No package dependencies, ever.

import PackageDescription

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Code generation: the target CPU
//
// The kernels are written with Swift's SIMD types; what they compile to depends
// entirely on the target CPU (without one, `SIMD16<Float>.addingProduct` becomes
// sixteen calls to `fmaf`). `SHARDWISE_TARGET_CPU` picks it:
//
//   native (default)  the CPU this build runs on; vector width read from /proc/cpuinfo
//   skylake-avx512, znver4, icelake-server, sapphirerapids, cascadelake
//                     AVX-512 (SIMD16 microkernels). `skylake-avx512` runs on both
//                     Intel and AMD Zen 4 machines: use it for binaries you carry.
//   haswell, skylake, znver2, znver3
//                     AVX2 + FMA (SIMD8 microkernels)
//   portable          no -target-cpu flag: baseline x86-64 (SSE2, SIMD4, separate
//                     multiply and add, never a per-lane `fmaf` call) or arm64 (NEON)
//
// The manifest passes the chosen CPU to swiftc and defines one of
// SHARDWISE_AVX512 / SHARDWISE_AVX2 (vector width) and SHARDWISE_FMA (fused
// multiply-add is a single instruction), which select the blocking table in
// Sources/Shardwise/GEMM/Blocking.swift.

let environment = Context.environment
let targetCPU = environment["SHARDWISE_TARGET_CPU"].flatMap { $0.isEmpty ? nil : $0 } ?? "native"

enum VectorISA { case avx512, avx2, baseline }

func nativeISA() -> VectorISA {
    #if arch(x86_64)
    guard let file = fopen("/proc/cpuinfo", "r") else { return .baseline }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let read = fread(&chunk, 1, chunk.count, file)
        if read <= 0 { break }
        bytes += chunk[0..<read]
    }
    let text = String(decoding: bytes, as: UTF8.self)
    let flagsLine = text.split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
    let flags = Set(flagsLine.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init))
    if flags.contains("avx512f") { return .avx512 }
    if flags.contains("avx2") && flags.contains("fma") { return .avx2 }
    return .baseline
    #else
    return .baseline
    #endif
}

let avx512CPUs: Set<String> = ["skylake-avx512", "cascadelake", "cooperlake", "icelake-server",
                               "icelake-client", "tigerlake", "sapphirerapids", "emeraldrapids",
                               "graniterapids", "znver4", "znver5"]
let avx2CPUs: Set<String> = ["haswell", "broadwell", "skylake", "alderlake", "raptorlake",
                             "znver1", "znver2", "znver3"]

let isa: VectorISA
if targetCPU == "portable" {
    isa = .baseline
} else if targetCPU == "native" {
    isa = nativeISA()
} else if avx512CPUs.contains(targetCPU) {
    isa = .avx512
} else if avx2CPUs.contains(targetCPU) {
    isa = .avx2
} else {
    isa = .baseline
}

var kernelSettings: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
if targetCPU != "portable" {
    kernelSettings.append(.unsafeFlags(["-target-cpu", targetCPU]))
}
switch isa {
case .avx512: kernelSettings += [.define("SHARDWISE_AVX512"), .define("SHARDWISE_FMA")]
case .avx2: kernelSettings += [.define("SHARDWISE_AVX2"), .define("SHARDWISE_FMA")]
case .baseline: break
}

// MARK: - Package

let package = Package(
    name: "Shardwise",
    // Linux has no deployment target; on Apple platforms the spinning lane executor needs the
    // Synchronization module's atomics (macOS 15, iOS 18).
    platforms: [.macOS(.v15), .iOS(.v18)],
    products: [
        .library(name: "Shardwise", targets: ["Shardwise"]),
        .library(name: "ShardwiseReference", targets: ["ShardwiseReference"]),
        .executable(name: "shardwise-bench", targets: ["shardwise-bench"]),
        .executable(name: "seed-cnn", targets: ["seed-cnn"]),
    ],
    targets: [
        // MARK: Public modules
        .target(name: "Shardwise", swiftSettings: kernelSettings),
        .target(name: "ShardwiseReference", dependencies: ["Shardwise"]),

        // MARK: Executables
        .executableTarget(
            name: "shardwise-bench",
            dependencies: ["Shardwise", "ShardwiseReference"],
            path: "Benchmarks/shardwise-bench",
            swiftSettings: kernelSettings),
        .executableTarget(name: "seed-cnn", dependencies: ["Shardwise"], swiftSettings: kernelSettings),

        // MARK: Tests
        .target(name: "ShardwiseTestSupport", dependencies: ["Shardwise", "ShardwiseReference"]),
        .testTarget(
            name: "ShardwiseTests",
            dependencies: ["Shardwise", "ShardwiseReference", "ShardwiseTestSupport"]),
        .testTarget(
            name: "ShardwiseReferenceTests",
            dependencies: ["Shardwise", "ShardwiseReference", "ShardwiseTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
