import Shardwise
import ShardwiseReference
import Dispatch
func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
for (m, n, k) in [(64,64,64),(128,128,128),(256,256,256),(512,512,512),(1024,1024,1024),(25088,32,25),(25088,32,800),(32,10,25088)] {
    let a = (0..<(m*k)).map { _ in Float.random(in: -1...1) }
    let b = (0..<(k*n)).map { _ in Float.random(in: -1...1) }
    var c = [Float](repeating: 0, count: m*n)
    var best = 1e9
    for _ in 0..<5 {
        let reps = max(1, 200_000_000 / (2*m*n*k))
        let t0 = now()
        for _ in 0..<reps {
            try! a.withUnsafeBufferPointer { a in try b.withUnsafeBufferPointer { b in try c.withUnsafeMutableBufferPointer { c in
                try GEMM.multiply(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: c, ldc: n, lanes: .serial) } } }
        }
        best = min(best, (now() - t0) / Double(reps))
    }
    print(m, n, k, 2.0*Double(m*n*k)/best/1e9)
}
