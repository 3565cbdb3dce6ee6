import Testing
import Shardwise
import ShardwiseReference

/// A `[1, height, width, 1]` image holding `1, 2, 3, …` in row-major order: `x[r][c] = r · width + c + 1`.
func ramp(height: Int, width: Int) throws -> Tensor {
    try Tensor(shape: [1, height, width, 1]) { Float($0 + 1) }
}

/// The single-channel 2×2 filter `[1 2; 3 4]` (HWIO `[2, 2, 1, 1]`): `w00 = 1, w01 = 2, w10 = 3, w11 = 4`.
func filter1234() throws -> Tensor {
    try Tensor(shape: [2, 2, 1, 1], scalars: [1, 2, 3, 4])
}

/// Hand-computed convolutions: every expected number is worked out in the comment above it.
@Suite struct ReferenceConvolutionTests {
    @Test func sameEvenKernelStride2NeedsNoPaddingOn4x4() throws {
        // SAME, 4×4, k = 2, s = 2: o = ceil(4/2) = 2, padding max((2-1)·2 + 2 - 4, 0) = 0.
        // Input rows: [1 2 3 4], [5 6 7 8], [9 10 11 12], [13 14 15 16]; output = 1a + 2b + 3c + 4d
        // over each 2×2 block [a b; c d]:
        //   (0,0) 1 + 2·2 + 3·5 + 4·6 = 44       (0,1) 3 + 2·4 + 3·7 + 4·8 = 64
        //   (1,0) 9 + 2·10 + 3·13 + 4·14 = 124   (1,1) 11 + 2·12 + 3·15 + 4·16 = 144
        let conv = try Conv2DDescriptor(filter: try filter1234(), strides: Size2D(2), padding: .same)
        let output = try Reference.conv2D(input: try ramp(height: 4, width: 4), descriptor: conv)
        #expect(output.shape == [1, 2, 2, 1])
        #expect(output.scalars == [44, 64, 124, 144])
    }

    @Test func sameEvenKernelStride2PutsTheExtraPaddingBottomRight() throws {
        // SAME, 5×5, k = 2, s = 2: o = ceil(5/2) = 3, padding (3-1)·2 + 2 - 5 = 1 → 0 before, 1 after.
        // x[r][c] = 5r + c + 1; output (i,j) = 1·x[2i][2j] + 2·x[2i][2j+1] + 3·x[2i+1][2j] + 4·x[2i+1][2j+1],
        // with row 5 and column 5 reading zero:
        //   (0,0) 1 + 2·2 + 3·6 + 4·7 = 51      (0,1) 3 + 2·4 + 3·8 + 4·9 = 71      (0,2) 5 + 3·10 = 35
        //   (1,0) 11 + 2·12 + 3·16 + 4·17 = 151 (1,1) 13 + 2·14 + 3·18 + 4·19 = 171 (1,2) 15 + 3·20 = 75
        //   (2,0) 21 + 2·22 = 65                (2,1) 23 + 2·24 = 71                (2,2) 25
        // (Padding at the top/left instead would make (0,0) = 4·1 = 4.)
        let conv = try Conv2DDescriptor(filter: try filter1234(), strides: Size2D(2), padding: .same)
        let output = try Reference.conv2D(input: try ramp(height: 5, width: 5), descriptor: conv)
        #expect(output.shape == [1, 3, 3, 1])
        #expect(output.scalars == [51, 71, 35, 151, 171, 75, 65, 71, 25])
    }

    @Test func sameOddKernelStride1PadsBothSides() throws {
        // SAME, 3×3, k = 3 of ones, s = 1: padding 2 → 1 before, 1 after. Each output sums its 3×3
        // neighbourhood of [1 2 3; 4 5 6; 7 8 9]:
        //   (0,0) 1+2+4+5 = 12   (0,1) 1+2+3+4+5+6 = 21   (0,2) 2+3+5+6 = 16
        //   (1,0) 1+2+4+5+7+8 = 27   (1,1) 45   (1,2) 2+3+5+6+8+9 = 33
        //   (2,0) 4+5+7+8 = 24   (2,1) 4+5+6+7+8+9 = 39   (2,2) 5+6+8+9 = 28
        let conv = try Conv2DDescriptor(filter: try Tensor(shape: [3, 3, 1, 1], repeating: 1), padding: .same)
        let output = try Reference.conv2D(input: try ramp(height: 3, width: 3), descriptor: conv)
        #expect(output.scalars == [12, 21, 16, 27, 45, 33, 24, 39, 28])
    }

    @Test func validStride2() throws {
        // VALID, 5×5, k = 3 of ones, s = 2: o = (5 - 3)/2 + 1 = 2, windows start at 0 and 2.
        // On the linear ramp x[r][c] = 5r + c + 1 a 3×3 window sums to 9 × its centre:
        //   (0,0) 9·x[1][1] = 9·7 = 63    (0,1) 9·x[1][3] = 9·9 = 81
        //   (1,0) 9·x[3][1] = 9·17 = 153  (1,1) 9·x[3][3] = 9·19 = 171
        let conv = try Conv2DDescriptor(filter: try Tensor(shape: [3, 3, 1, 1], repeating: 1), strides: Size2D(2),
                                        padding: .valid)
        let output = try Reference.conv2D(input: try ramp(height: 5, width: 5), descriptor: conv)
        #expect(output.shape == [1, 2, 2, 1])
        #expect(output.scalars == [63, 81, 153, 171])
    }

    @Test func explicitAsymmetricPadding() throws {
        // 3×3 input x[r][c] = 3r + c + 1, filter [1 2; 3 4], padding top 1, bottom 0, left 0, right 2.
        // Padded 4×5: o_h = 4 - 2 + 1 = 3, o_w = 5 - 2 + 1 = 4. Output (i,j) reads rows i-1, i and
        // columns j, j+1; row -1 and columns 3, 4 are zero.
        //   i=0 (row -1 is padding, so only 3·x[0][j] + 4·x[0][j+1]):
        //     3·1 + 4·2 = 11,  3·2 + 4·3 = 18,  3·3 = 9,  0
        //   i=1: 1·x[0][j] + 2·x[0][j+1] + 3·x[1][j] + 4·x[1][j+1]:
        //     1 + 4 + 12 + 20 = 37,  2 + 6 + 15 + 24 = 47,  3 + 3·6 = 21,  0
        //   i=2: rows 1, 2:
        //     4 + 10 + 21 + 32 = 67,  5 + 12 + 24 + 36 = 77,  6 + 3·9 = 33,  0
        let conv = try Conv2DDescriptor(filter: try filter1234(),
                                        padding: .explicit(top: 1, bottom: 0, left: 0, right: 2))
        let output = try Reference.conv2D(input: try ramp(height: 3, width: 3), descriptor: conv)
        #expect(output.shape == [1, 3, 4, 1])
        #expect(output.scalars == [11, 18, 9, 0, 37, 47, 21, 0, 67, 77, 33, 0])
    }

    @Test func dilation2() throws {
        // VALID, 5×5 ramp x[r][c] = 5r + c + 1, filter [1 2; 3 4] dilated by 2 (spans 3): o = 3.
        // Output (i,j) = 1·x[i][j] + 2·x[i][j+2] + 3·x[i+2][j] + 4·x[i+2][j+2]
        //              = x + 2(x + 2) + 3(x + 10) + 4(x + 12) = 10·x[i][j] + 82:
        //   x = 1, 2, 3 → 92, 102, 112;  x = 6, 7, 8 → 142, 152, 162;  x = 11, 12, 13 → 192, 202, 212.
        let conv = try Conv2DDescriptor(filter: try filter1234(), padding: .valid, dilations: Size2D(2))
        let output = try Reference.conv2D(input: try ramp(height: 5, width: 5), descriptor: conv)
        #expect(output.shape == [1, 3, 3, 1])
        #expect(output.scalars == [92, 102, 112, 142, 152, 162, 192, 202, 212])
    }

    @Test func dilation2Same() throws {
        // SAME, 1×4 row [1 2 3 4], 1×2 filter [1 2] dilated by 2 (spans 3), stride 1:
        // padding along the width (4-1)·1 + 3 - 4 = 2 → 1 left, 1 right. Output j = 1·x[j-1] + 2·x[j+1]:
        //   j=0: 0 + 2·2 = 4,  j=1: 1 + 2·3 = 7,  j=2: 2 + 2·4 = 10,  j=3: 3 + 0 = 3.
        let conv = try Conv2DDescriptor(filter: try Tensor(shape: [1, 2, 1, 1], scalars: [1, 2]), padding: .same,
                                        dilations: Size2D(2))
        let output = try Reference.conv2D(input: try ramp(height: 1, width: 4), descriptor: conv)
        #expect(output.scalars == [4, 7, 10, 3])
    }

    @Test func twoGroupsReadOnlyTheirOwnChannels() throws {
        // One pixel with channels [1 2 3 4]; 1×1 filter [1, 1, 2, 4] (2 input channels per group), groups 2.
        // f[c][o]: c=0 → [1 2 3 4], c=1 → [5 6 7 8]. Outputs 0, 1 (group 0) read channels 0, 1;
        // outputs 2, 3 (group 1) read channels 2, 3:
        //   o0 = 1·1 + 2·5 = 11,  o1 = 1·2 + 2·6 = 14,  o2 = 3·3 + 4·7 = 37,  o3 = 3·4 + 4·8 = 44.
        let filter = try Tensor(shape: [1, 1, 2, 4], scalars: [1, 2, 3, 4, 5, 6, 7, 8])
        let conv = try Conv2DDescriptor(filter: filter, groups: 2)
        let output = try Reference.conv2D(input: try Tensor(shape: [1, 1, 1, 4], scalars: [1, 2, 3, 4]),
                                          descriptor: conv)
        #expect(output.scalars == [11, 14, 37, 44])
    }

    @Test func depthwise() throws {
        // 2×2 image with 2 channels: channel 0 = [1 2; 3 4], channel 1 = [10 20; 30 40] (NHWC interleaved).
        // Depthwise (groups = 2, filter [2, 2, 1, 2]), VALID → one pixel, two channels.
        // Channel 0 taps [1 1; 1 1]: 1 + 2 + 3 + 4 = 10. Channel 1 taps [1 -1; 0 2]: 10 - 20 + 0 + 80 = 70.
        let input = try Tensor(shape: [1, 2, 2, 2], scalars: [1, 10, 2, 20, 3, 30, 4, 40])
        let filter = try Tensor(shape: [2, 2, 1, 2], scalars: [1, 1, 1, -1, 1, 0, 1, 2])
        let conv = try Conv2DDescriptor(filter: filter, padding: .valid, groups: 2)
        let output = try Reference.conv2D(input: input, descriptor: conv)
        #expect(output.shape == [1, 1, 1, 2])
        #expect(output.scalars == [10, 70])
    }

    @Test func biasThenRelu() throws {
        // One pixel [1 2]; 1×1 filter f[c][o]: c=0 → [1 -1 0.5], c=1 → [2 1 -3].
        //   before bias: 1 + 4 = 5,  -1 + 2 = 1,  0.5 - 6 = -5.5
        //   bias [0.5 -2 1]: 5.5, -1, -4.5;  relu: 5.5, 0, 0.
        let filter = try Tensor(shape: [1, 1, 2, 3], scalars: [1, -1, 0.5, 2, 1, -3])
        let conv = try Conv2DDescriptor(filter: filter, bias: try Tensor(shape: [3], scalars: [0.5, -2, 1]),
                                        activation: .relu)
        let output = try Reference.conv2D(input: try Tensor(shape: [1, 1, 1, 2], scalars: [1, 2]), descriptor: conv)
        #expect(output.scalars == [5.5, 0, 0])
    }

    @Test func biasGradientSumsOverBatchAndSpace() throws {
        // [2, 1, 2, 2]: channel 0 holds 1, 2, 3, 4 → 10; channel 1 holds 10, 20, 30, 40 → 100.
        let outputGradient = try Tensor(shape: [2, 1, 2, 2], scalars: [1, 10, 2, 20, 3, 30, 4, 40])
        #expect(try Reference.conv2DBiasGradient(outputGradient: outputGradient).scalars == [10, 100])
    }

    @Test func inputGradientOfStride2SameByHand() throws {
        // The 5×5, k = 2, s = 2 SAME layer above; a gradient of 1 at output (0,0) and 10 at (2,2)
        // flows back through filter [1 2; 3 4] to the cells those outputs read:
        //   (0,0) read x00·1, x01·2, x10·3, x11·4 → 1, 2, 3, 4;  (2,2) read only x44·1 → 10.
        let conv = try Conv2DDescriptor(filter: try filter1234(), strides: Size2D(2), padding: .same)
        var outputGradient = [Float](repeating: 0, count: 9)
        outputGradient[0] = 1
        outputGradient[8] = 10
        let gradient = try Reference.conv2DInputGradient(
            outputGradient: try Tensor(shape: [1, 3, 3, 1], scalars: outputGradient), inputShape: [1, 5, 5, 1],
            descriptor: conv)
        var expected = [Float](repeating: 0, count: 25)
        (expected[0], expected[1], expected[5], expected[6], expected[24]) = (1, 2, 3, 4, 10)
        #expect(gradient.scalars == expected)
    }
}
