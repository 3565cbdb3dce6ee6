import Shardwise
import ShardwiseReference
import Dispatch
func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
func time(_ flops: Double, _ body: () -> Void) -> Double {
    var best = 1e9
    for _ in 0..<5 {
        let reps = max(1, Int(100_000_000 / flops))
        let t0 = now()
        for _ in 0..<reps { body() }
        best = min(best, (now() - t0) / Double(reps))
    }
    return flops / best / 1e9
}
let args = CommandLine.arguments
let lanes: Lanes = args.contains("2") ? .fixed(2) : .serial
if args.contains("gemm") {
for (m, n, k) in [(64,64,64),(128,128,128),(256,256,256),(512,512,512),(1024,1024,1024),(25088,32,25),(25088,32,800),(32,10,25088)] {
    let a = (0..<(m*k)).map { _ in Float.random(in: -1...1) }
    let b = (0..<(k*n)).map { _ in Float.random(in: -1...1) }
    var c = [Float](repeating: 0, count: m*n)
    let g = time(2.0*Double(m*n*k)) {
            try! a.withUnsafeBufferPointer { a in try b.withUnsafeBufferPointer { b in try c.withUnsafeMutableBufferPointer { c in
                try GEMM.multiply(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: c, ldc: n, lanes: lanes) } } }
    }
    print("gemm", m, n, k, g)
}
}
if args.contains("conv") {
for (n, h, c, kk, co) in (args.contains("conv1") ? [(32,28,1,5,32)] : [(32,28,1,5,32)]) + (args.contains("conv1") ? [] : [(32,28,32,5,32),(1,56,64,3,64),(8,56,64,3,64),(1,28,128,3,128),(1,14,256,3,256)]) {
    let f = try! Tensor(shape: [kk,kk,c,co]) { _ in Float.random(in: -1...1) }
    let layer = try! Conv2D(try! Conv2DDescriptor(filter: f, padding: .same))
    let x = try! Tensor(shape: [n,h,h,c]) { _ in Float.random(in: -1...1) }
    var y = [Float](repeating: 0, count: n*h*h*co)
    let g = time(2.0*Double(n*h*h*co*kk*kk*c)) { x.withUnsafeBufferPointer { x in y.withUnsafeMutableBufferPointer { y in try! layer.forward(input: x, shape: [n,h,h,c], output: y, lanes: lanes) } } }
    print("conv", n, h, c, kk, co, g)
}
}
