// The BLIS five-loop driver, for one lane's sub-range of C.
//
//   JC: columns in steps of NC   (B block for L3; skipped when B is pre-packed)
//    PC: depth in steps of KC    (one rank-KC update; B block packed here)
//     IC: rows in steps of MC    (A block packed here, L2-resident)
//      JR: columns in steps of NR  (one B micropanel, reused by every IR step)
//       IR: rows in steps of MR    (the microkernel, then the write-back)
//
// The driver knows nothing of lanes: it computes exactly the rows and columns it
// is given, with the workspace it is given. Sharding decides the ranges; layers
// compose the two. Because KC blocking is fixed by the table (not by the range),
// an element of C sees the same sequence of operations whichever lane owns it.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The right-hand operand of a GEMM: pre-packed weights, or a matrix packed block by block.
package enum BOperand: @unchecked Sendable {
    // @unchecked: every case refers to memory that is read-only during the call.
    /// Weights packed once (a layer's filters).
    case packed(PackedMatrix)
    /// A strided matrix, packed per KC × NC block.
    case strided(StridedMatrix)
    /// A convolution's patch matrix (rows: pixels, columns: taps), packed per block: the
    /// filter gradient's right-hand side.
    case patches(Im2ColPanelSource)

    /// Whether each lane packs B blocks into its workspace.
    package var packsPerCall: Bool {
        if case .packed = self { return false }
        return true
    }
}

/// Scratch memory for one lane of a GEMM: a packed A block, a packed B block and a tile.
package struct GEMMWorkspace {
    package let aBlock: UnsafeMutablePointer<Float>
    package let bBlock: UnsafeMutablePointer<Float>?
    package let tile: UnsafeMutablePointer<Float>

    /// The floats one lane needs for rows `m`, columns `n`, depth `k`.
    package static func floatCount(rows m: Int, columns n: Int, depth k: Int, packsB: Bool) -> (a: Int, b: Int, tile: Int) {
        let mr = Blocking.mr, nr = Blocking.nr
        let aRows = Swift.min(Blocking.mc, (m + mr - 1) / mr * mr)
        let a = aRows * Blocking.aPitch
        // The B block, plus one vector of slack for im2col's whole-vector copies.
        let b = packsB ? Swift.min(Blocking.kc, k) * Swift.min(Blocking.nc, (n + nr - 1) / nr * nr) + Vector.scalarCount : 0
        return (a, b, mr * nr)
    }

    /// Bytes `withWorkspace` allocates for one lane.
    package static func byteCount(rows m: Int, columns n: Int, depth k: Int, packsB: Bool) -> Int {
        let f = floatCount(rows: m, columns: n, depth: k, packsB: packsB)
        return (f.a + f.b + f.tile) * MemoryLayout<Float>.stride
    }

    /// Runs `body` with a workspace for one lane, carved from this thread's cached buffer.
    package static func withWorkspace<R>(rows m: Int, columns n: Int, depth k: Int, packsB: Bool,
                                         _ body: (GEMMWorkspace) throws -> R) rethrows -> R {
        let f = floatCount(rows: m, columns: n, depth: k, packsB: packsB)
        return try WorkspaceCache.withBuffer(floats: f.a + f.b + f.tile) { base in
            try body(GEMMWorkspace(aBlock: base, bBlock: f.b > 0 ? base + f.a : nil, tile: base + f.a + f.b))
        }
    }
}

/// One reusable, 64-byte-aligned scratch buffer per thread.
///
/// A GEMM's workspace is bounded (at most MC × aPitch + KC × NC floats, about 4.2 MB), but
/// allocating it on every call costs more than a small multiply: above glibc's mmap
/// threshold each allocation is a fresh mapping, zero-filled page by page. So each thread
/// keeps the largest buffer it has needed and reuses it; the buffer is freed when the
/// thread exits. A call made while the buffer is in use on the same thread (re-entrancy)
/// gets a temporary one instead.
enum WorkspaceCache {
    private final class Buffer {
        var base: UnsafeMutableRawPointer?
        var floats = 0
        var inUse = false
        deinit { base?.deallocate() }
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { pointer in
            #if os(Linux)
            guard let pointer else { return }
            #endif
            Unmanaged<AnyObject>.fromOpaque(pointer).release()
        }
        return key
    }()

    private static var current: Buffer {
        if let pointer = pthread_getspecific(key) {
            return Unmanaged<Buffer>.fromOpaque(pointer).takeUnretainedValue()
        }
        let buffer = Buffer()
        pthread_setspecific(key, Unmanaged.passRetained(buffer).toOpaque())
        return buffer
    }

    /// Runs `body` with at least `floats` floats of scratch memory (contents undefined).
    static func withBuffer<R>(floats: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        let buffer = current
        if buffer.inUse {
            let raw = UnsafeMutableRawPointer.allocate(byteCount: floats * 4, alignment: 64)
            defer { raw.deallocate() }
            return try body(raw.bindMemory(to: Float.self, capacity: floats))
        }
        if buffer.floats < floats {
            buffer.base?.deallocate()
            buffer.base = .allocate(byteCount: floats * 4, alignment: 64)
            buffer.floats = floats
        }
        buffer.inUse = true
        defer { buffer.inUse = false }
        return try body(buffer.base!.bindMemory(to: Float.self, capacity: floats))
    }
}

/// Computes `C[rows, columns] = epilogue(A[rows, 0..<depth] · B[0..<depth, columns])`.
///
/// With a packed B, `columns.lowerBound` must be a multiple of NR.
package func gemmRange<A: APanelSource>(rows: Range<Int>, columns: Range<Int>, depth: Int, a: A, b: BOperand,
                                        c: UnsafeMutablePointer<Float>, ldc: Int, epilogue: Epilogue,
                                        workspace: GEMMWorkspace) {
    let mr = Blocking.mr, nr = Blocking.nr
    let nc: Int
    if case .packed = b { nc = columns.count } else { nc = Blocking.nc }
    for jc in stride(from: columns.lowerBound, to: columns.upperBound, by: nc) {
        let jcEnd = Swift.min(jc + nc, columns.upperBound)
        for pc in stride(from: 0, to: depth, by: Blocking.kc) {
            let kc = Swift.min(Blocking.kc, depth - pc)
            let phase = DepthPhase(first: pc == 0, last: pc + kc == depth)
            // The B block: micropanel p of this (jc, pc) block lies at bBlock + p · NR · kc.
            let bBlock: UnsafePointer<Float>
            switch b {
            case .packed(let packed):
                bBlock = UnsafePointer(packed.block(k0: pc) + (jc / nr) * nr * kc)
            case .strided(let matrix):
                matrix.packBBlock(k0: pc, depth: kc, columns: jc..<jcEnd, into: workspace.bBlock!)
                bBlock = UnsafePointer(workspace.bBlock!)
            case .patches(let patches):
                patches.packBBlock(k0: pc, depth: kc, columns: jc..<jcEnd, into: workspace.bBlock!)
                bBlock = UnsafePointer(workspace.bBlock!)
            }
            for ic in stride(from: rows.lowerBound, to: rows.upperBound, by: Blocking.mc) {
                let mc = Swift.min(Blocking.mc, rows.upperBound - ic)
                for ir in stride(from: 0, to: mc, by: mr) {
                    a.packMicropanel(row0: ic + ir, rows: Swift.min(mr, mc - ir), k0: pc, depth: kc,
                                     into: workspace.aBlock + ir * Blocking.aPitch)
                }
                for jr in stride(from: jc, to: jcEnd, by: nr) {
                    let bPanel = bBlock + ((jr - jc) / nr) * nr * kc
                    let n = Swift.min(nr, jcEnd - jr)
                    for ir in stride(from: 0, to: mc, by: mr) {
                        Blocking.microkernel(depth: kc, a: workspace.aBlock + ir * Blocking.aPitch, b: bPanel,
                                             tile: workspace.tile)
                        writeBack(tile: workspace.tile, rows: Swift.min(mr, mc - ir), columns: n,
                                  c: c + (ic + ir) * ldc + jr, ldc: ldc, column0: jr, epilogue: epilogue, phase: phase)
                    }
                }
            }
        }
    }
}
