import Testing
import Shardwise
import ShardwiseReference

@Suite struct ReferenceTrainingTests {
    @Test func reluBackwardPassesWherePositive() throws {
        let output = try Tensor(shape: [4], scalars: [2, 0, -1, 0.5])
        let gradient = try Reference.reluBackward(output: output,
                                                  outputGradient: try Tensor(shape: [4], scalars: [1, 2, 3, 4]))
        #expect(gradient.scalars == [1, 0, 0, 4])
    }

    // A 5×5 single-channel image with ties; the last row and column (all 100) are dropped by the floor.
    //   r0:  1  3  3  0  100
    //   r1:  2  3  1  1  100
    //   r2:  5  5 -1 -2  100
    //   r3:  5  4 -3 -1  100
    //   r4: 100 100 100 100 100
    // Windows (first maximum in row-major order):
    //   (0,0) {1 3; 2 3} → 3 at (0,1)     (0,1) {3 0; 1 1} → 3 at (0,2)
    //   (1,0) {5 5; 5 4} → 5 at (2,0)     (1,1) {-1 -2; -3 -1} → -1 at (2,2)
    static let image: [Float] = [1, 3, 3, 0, 100, 2, 3, 1, 1, 100, 5, 5, -1, -2, 100, 5, 4, -3, -1, 100,
                                 100, 100, 100, 100, 100]

    @Test func maxPoolWithTiesAndOddExtent() throws {
        let output = try Reference.maxPool2x2(input: try Tensor(shape: [1, 5, 5, 1], scalars: Self.image))
        #expect(output.shape == [1, 2, 2, 1])
        #expect(output.scalars == [3, 3, 5, -1])
    }

    @Test func maxPoolBackwardRoutesToTheFirstMaximum() throws {
        // Gradients 10, 20, 30, 40 go to (0,1), (0,2), (2,0), (2,2): flat 1, 2, 10, 12.
        let gradient = try Reference.maxPool2x2Backward(
            input: try Tensor(shape: [1, 5, 5, 1], scalars: Self.image),
            outputGradient: try Tensor(shape: [1, 2, 2, 1], scalars: [10, 20, 30, 40]))
        var expected = [Float](repeating: 0, count: 25)
        (expected[1], expected[2], expected[10], expected[12]) = (10, 20, 30, 40)
        #expect(gradient.scalars == expected)
    }

    @Test func maxPoolKeepsChannelsApart() throws {
        // 2×2 image, 2 channels: channel 0 = [1 4; 2 3] → 4, channel 1 = [-1 -4; -2 -3] → -1.
        let input = try Tensor(shape: [1, 2, 2, 2], scalars: [1, -1, 4, -4, 2, -2, 3, -3])
        #expect(try Reference.maxPool2x2(input: input).scalars == [4, -1])
        let gradient = try Reference.maxPool2x2Backward(input: input,
                                                        outputGradient: try Tensor(shape: [1, 1, 1, 2], scalars: [5, 7]))
        #expect(gradient.scalars == [0, 7, 5, 0, 0, 0, 0, 0])
    }

    @Test func softmaxCrossEntropyByHand() throws {
        // Row 0: logits [2 0], label 0. softmax = [1, e⁻²] / (1 + e⁻²) = [0.8807970779778823, 0.11920292202211755];
        //   loss = log(1 + e⁻²) = 0.12692801104297263.
        // Row 1: logits [0 0], label 1. softmax = [0.5 0.5]; loss = log 2 = 0.6931471805599453.
        // Mean loss = (0.12692801104297263 + 0.6931471805599453) / 2 = 0.41003759580145896.
        // Gradient = (softmax − onehot) / 2:
        //   row 0: [(0.8807970779778823 − 1)/2, 0.11920292202211755/2] = [-0.059601461011, 0.059601461011]
        //   row 1: [0.25, -0.25]
        let (loss, gradient) = try Reference.softmaxCrossEntropy(
            logits: try Tensor(shape: [2, 2], scalars: [2, 0, 0, 0]), labels: [0, 1])
        #expect(abs(loss - 0.41003759580145896) < 1e-12)
        let expected: [Float] = [-0.059601461011, 0.059601461011, 0.25, -0.25]
        for (actual, wanted) in zip(gradient.scalars, expected) {
            #expect(abs(actual - wanted) < 1e-7)
        }
    }

    @Test func softmaxCrossEntropyOfHugeLogitsStaysFinite() throws {
        // Row 0: [1000 1000 1000 1000], label 1: softmax uniform, loss log 4 = 1.3862943611198906.
        // Row 1: [1000 0 0 0], label 1: log(1 + 3e⁻¹⁰⁰⁰) − (0 − 1000) = 1000 (e⁻¹⁰⁰⁰ underflows to 0).
        // Mean: (1.3862943611198906 + 1000) / 2 = 500.6931471805599.
        // Gradient / 2: row 0 [0.125 -0.375 0.125 0.125]; row 1 softmax [1 0 0 0] → [0.5 -0.5 0 0].
        let (loss, gradient) = try Reference.softmaxCrossEntropy(
            logits: try Tensor(shape: [2, 4], scalars: [1000, 1000, 1000, 1000, 1000, 0, 0, 0]), labels: [1, 1])
        #expect(loss.isFinite)
        #expect(abs(loss - 500.6931471805599) < 1e-9)
        #expect(gradient.scalars == [0.125, -0.375, 0.125, 0.125, 0.5, -0.5, 0, 0])
    }
}
