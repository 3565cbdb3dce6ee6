// The UCI handwritten digits, read without Foundation and upsampled to 28×28.
//
// The file is 1,797 lines of 65 comma-separated integers: 64 pixels (0…16,
// row-major 8×8) and a label (see Data/digits/README.md). The article's model
// takes 28×28×1 images, so each image is resized bilinearly with half-pixel
// centers (TensorFlow's `half_pixel_centers`, PyTorch's `align_corners=False`):
// output pixel d (0…27) samples source coordinate
//
//     s = (d + 0.5) · 8 / 28 − 0.5,  clamped to [0, 7],
//
// between source pixels i = ⌊s⌋ and min(i + 1, 7) with weight s − i, along each
// axis (rows first, then columns); the result is divided by 16 into [0, 1].

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Shardwise

/// Images and labels, the images NHWC `[count, 28, 28, 1]` flattened.
struct Digits {
    static let side = 28
    static let sourceSide = 8
    static let pixels = side * side

    var images: [Float]
    var labels: [Int]
    var count: Int { labels.count }

    /// Reads the CSV at `path`; returns nil with a message on stderr when it cannot.
    static func load(path: String) -> Digits? {
        guard let file = fopen(path, "rb") else {
            printError("seed-cnn: cannot open \(path) (use --data PATH)\n")
            return nil
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let read = fread(&chunk, 1, chunk.count, file)
            if read <= 0 { break }
            bytes += chunk[0..<read]
        }
        var digits = Digits(images: [], labels: [])
        var row: [Int] = []
        var value: Int?
        for byte in bytes + [UInt8(ascii: "\n")] {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = (value ?? 0) * 10 + Int(byte - UInt8(ascii: "0"))
            case UInt8(ascii: ","), UInt8(ascii: "\n"):
                if let v = value { row.append(v) }
                value = nil
                if byte == UInt8(ascii: "\n") && !row.isEmpty {
                    guard row.count == sourceSide * sourceSide + 1, (0...9).contains(row[64]),
                          row.dropLast().allSatisfy({ (0...16).contains($0) }) else {
                        printError("seed-cnn: \(path): line \(digits.count + 1) is not 64 pixels in 0…16 and a label\n")
                        return nil
                    }
                    digits.images += upsample(row.dropLast().map(Float.init))
                    digits.labels.append(row[64])
                    row = []
                }
            case UInt8(ascii: "\r"), UInt8(ascii: " "): break
            default:
                printError("seed-cnn: \(path): unexpected byte \(byte)\n")
                return nil
            }
        }
        return digits
    }

    /// The bilinear 8×8 → 28×28 resize of the file header, scaled by 1/16.
    static func upsample(_ source: [Float]) -> [Float] {
        let taps = (0..<side).map { d -> (Int, Int, Float) in
            let s = min(max((Float(d) + 0.5) * Float(sourceSide) / Float(side) - 0.5, 0), Float(sourceSide - 1))
            let i = Int(s)  // s ≥ 0, so truncation is the floor
            return (i, min(i + 1, sourceSide - 1), s - Float(i))
        }
        var image = [Float](repeating: 0, count: pixels)
        for (y, (y0, y1, fy)) in taps.enumerated() {
            for (x, (x0, x1, fx)) in taps.enumerated() {
                func at(_ r: Int, _ c: Int) -> Float { source[r * sourceSide + c] }
                let top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * fx
                let bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * fx
                image[y * side + x] = (top + (bottom - top) * fy) / 16
            }
        }
        return image
    }

    /// The samples at `indices`, as a `[indices.count, 28, 28, 1]` tensor and their labels.
    func batch(_ indices: some Collection<Int>) throws(ShardwiseError) -> (images: Tensor, labels: [Int]) {
        var scalars: [Float] = []
        scalars.reserveCapacity(indices.count * Digits.pixels)
        for i in indices { scalars += images[(i * Digits.pixels)..<((i + 1) * Digits.pixels)] }
        return (try Tensor(shape: [indices.count, Digits.side, Digits.side, 1], scalars: scalars), indices.map { labels[$0] })
    }
}
