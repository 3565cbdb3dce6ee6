// The 4 × 5 dot-product microkernel: the skinny-GEMM tile (few output columns, deep K).
//
// When B has only a handful of columns (a classifier's 10 outputs), the outer-
// product microkernel wastes most of its NR lanes and A's packing costs more than
// the multiply-adds it feeds (each A element meets only N columns). This kernel
// runs vectors along K instead: it reads four rows of A in place and five rows of
// Bᵀ (pre-packed, K contiguous), and keeps 20 vector accumulators, one per output,
// each summing `depth` products lane-wise: 9 loads per 20 FMAs. The caller reduces
// each accumulator to a scalar at the end of K, in a fixed order.
//
// Contract: `a0 … a3` and `b0 … b4` point to `depth` readable floats each
// (`depth` a multiple of the vector width); `partial` holds 20 vectors (row-major
// 4 × 5), which the kernel loads, accumulates into and stores back. Rows or columns
// past the matrix's edge are passed as repeats of a valid pointer and their
// results are ignored, so every output is computed by the same instructions.

/// Accumulates `depth` lanes of 4 × 5 dot products into `partial` (see the file header).
@inline(never)
package func dotMicrokernel4x5V(depth: Int, a0: UnsafePointer<Float>, a1: UnsafePointer<Float>,
                                a2: UnsafePointer<Float>, a3: UnsafePointer<Float>,
                                b0: UnsafePointer<Float>, b1: UnsafePointer<Float>, b2: UnsafePointer<Float>,
                                b3: UnsafePointer<Float>, b4: UnsafePointer<Float>,
                                partial: UnsafeMutablePointer<Float>) {
    let width = Vector.scalarCount
    let p = UnsafeMutableRawPointer(partial)
    let stride = width * 4
    var c00 = p.loadUnaligned(fromByteOffset: 0 * stride, as: Vector.self)
    var c01 = p.loadUnaligned(fromByteOffset: 1 * stride, as: Vector.self)
    var c02 = p.loadUnaligned(fromByteOffset: 2 * stride, as: Vector.self)
    var c03 = p.loadUnaligned(fromByteOffset: 3 * stride, as: Vector.self)
    var c04 = p.loadUnaligned(fromByteOffset: 4 * stride, as: Vector.self)
    var c10 = p.loadUnaligned(fromByteOffset: 5 * stride, as: Vector.self)
    var c11 = p.loadUnaligned(fromByteOffset: 6 * stride, as: Vector.self)
    var c12 = p.loadUnaligned(fromByteOffset: 7 * stride, as: Vector.self)
    var c13 = p.loadUnaligned(fromByteOffset: 8 * stride, as: Vector.self)
    var c14 = p.loadUnaligned(fromByteOffset: 9 * stride, as: Vector.self)
    var c20 = p.loadUnaligned(fromByteOffset: 10 * stride, as: Vector.self)
    var c21 = p.loadUnaligned(fromByteOffset: 11 * stride, as: Vector.self)
    var c22 = p.loadUnaligned(fromByteOffset: 12 * stride, as: Vector.self)
    var c23 = p.loadUnaligned(fromByteOffset: 13 * stride, as: Vector.self)
    var c24 = p.loadUnaligned(fromByteOffset: 14 * stride, as: Vector.self)
    var c30 = p.loadUnaligned(fromByteOffset: 15 * stride, as: Vector.self)
    var c31 = p.loadUnaligned(fromByteOffset: 16 * stride, as: Vector.self)
    var c32 = p.loadUnaligned(fromByteOffset: 17 * stride, as: Vector.self)
    var c33 = p.loadUnaligned(fromByteOffset: 18 * stride, as: Vector.self)
    var c34 = p.loadUnaligned(fromByteOffset: 19 * stride, as: Vector.self)
    var offset = 0
    let end = depth * 4
    while offset < end {
        let x0 = UnsafeRawPointer(a0).loadUnaligned(fromByteOffset: offset, as: Vector.self)
        let x1 = UnsafeRawPointer(a1).loadUnaligned(fromByteOffset: offset, as: Vector.self)
        let x2 = UnsafeRawPointer(a2).loadUnaligned(fromByteOffset: offset, as: Vector.self)
        let x3 = UnsafeRawPointer(a3).loadUnaligned(fromByteOffset: offset, as: Vector.self)
        let y0 = UnsafeRawPointer(b0).loadUnaligned(fromByteOffset: offset, as: Vector.self)
        c00 = multiplyAdd(c00, x0, y0); c10 = multiplyAdd(c10, x1, y0)
        c20 = multiplyAdd(c20, x2, y0); c30 = multiplyAdd(c30, x3, y0)
        let y1 = UnsafeRawPointer(b1).loadUnaligned(fromByteOffset: offset, as: Vector.self)
        c01 = multiplyAdd(c01, x0, y1); c11 = multiplyAdd(c11, x1, y1)
        c21 = multiplyAdd(c21, x2, y1); c31 = multiplyAdd(c31, x3, y1)
        let y2 = UnsafeRawPointer(b2).loadUnaligned(fromByteOffset: offset, as: Vector.self)
        c02 = multiplyAdd(c02, x0, y2); c12 = multiplyAdd(c12, x1, y2)
        c22 = multiplyAdd(c22, x2, y2); c32 = multiplyAdd(c32, x3, y2)
        let y3 = UnsafeRawPointer(b3).loadUnaligned(fromByteOffset: offset, as: Vector.self)
        c03 = multiplyAdd(c03, x0, y3); c13 = multiplyAdd(c13, x1, y3)
        c23 = multiplyAdd(c23, x2, y3); c33 = multiplyAdd(c33, x3, y3)
        let y4 = UnsafeRawPointer(b4).loadUnaligned(fromByteOffset: offset, as: Vector.self)
        c04 = multiplyAdd(c04, x0, y4); c14 = multiplyAdd(c14, x1, y4)
        c24 = multiplyAdd(c24, x2, y4); c34 = multiplyAdd(c34, x3, y4)
        offset += stride
    }
    p.storeBytes(of: c00, toByteOffset: 0 * stride, as: Vector.self)
    p.storeBytes(of: c01, toByteOffset: 1 * stride, as: Vector.self)
    p.storeBytes(of: c02, toByteOffset: 2 * stride, as: Vector.self)
    p.storeBytes(of: c03, toByteOffset: 3 * stride, as: Vector.self)
    p.storeBytes(of: c04, toByteOffset: 4 * stride, as: Vector.self)
    p.storeBytes(of: c10, toByteOffset: 5 * stride, as: Vector.self)
    p.storeBytes(of: c11, toByteOffset: 6 * stride, as: Vector.self)
    p.storeBytes(of: c12, toByteOffset: 7 * stride, as: Vector.self)
    p.storeBytes(of: c13, toByteOffset: 8 * stride, as: Vector.self)
    p.storeBytes(of: c14, toByteOffset: 9 * stride, as: Vector.self)
    p.storeBytes(of: c20, toByteOffset: 10 * stride, as: Vector.self)
    p.storeBytes(of: c21, toByteOffset: 11 * stride, as: Vector.self)
    p.storeBytes(of: c22, toByteOffset: 12 * stride, as: Vector.self)
    p.storeBytes(of: c23, toByteOffset: 13 * stride, as: Vector.self)
    p.storeBytes(of: c24, toByteOffset: 14 * stride, as: Vector.self)
    p.storeBytes(of: c30, toByteOffset: 15 * stride, as: Vector.self)
    p.storeBytes(of: c31, toByteOffset: 16 * stride, as: Vector.self)
    p.storeBytes(of: c32, toByteOffset: 17 * stride, as: Vector.self)
    p.storeBytes(of: c33, toByteOffset: 18 * stride, as: Vector.self)
    p.storeBytes(of: c34, toByteOffset: 19 * stride, as: Vector.self)
}
