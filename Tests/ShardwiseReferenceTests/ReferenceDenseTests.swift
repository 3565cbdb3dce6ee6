import Testing
import Shardwise
import ShardwiseReference

@Suite struct ReferenceDenseTests {
    // x = [1 2 3; 4 5 6], W = [1 2; 3 4; 5 6]:
    //   x·W = [1+6+15  2+8+18; 4+15+30  8+20+36] = [22 28; 49 64]
    //   + b [-30 0.5] = [-8 28.5; 19 64.5];  relu → [0 28.5; 19 64.5].
    static let weight: [Float] = [1, 2, 3, 4, 5, 6]
    static let expected: [Float] = [0, 28.5, 19, 64.5]

    func layer() throws -> DenseDescriptor {
        try DenseDescriptor(weight: try Tensor(shape: [3, 2], scalars: Self.weight),
                            bias: try Tensor(shape: [2], scalars: [-30, 0.5]), activation: .relu)
    }

    @Test func matrixInput() throws {
        let output = try Reference.dense(input: try Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6]),
                                         descriptor: try layer())
        #expect(output.shape == [2, 2])
        #expect(output.scalars == Self.expected)
    }

    @Test func nhwcInputIsFlattenedPerSample() throws {
        // [2, 1, 3, 1] holds the same numbers; each sample flattens to its 3 values.
        let output = try Reference.dense(input: try Tensor(shape: [2, 1, 3, 1], scalars: [1, 2, 3, 4, 5, 6]),
                                         descriptor: try layer())
        #expect(output.scalars == Self.expected)
    }

    @Test func gradientsByHand() throws {
        // x = [1 2 3; 4 5 6], W = [1 2; 3 4; 5 6], dY = [1 0; 0 -1]:
        //   dX = dY·Wᵀ = [1 3 5; -2 -4 -6]
        //   dW = xᵀ·dY = [1·1 + 4·0  1·0 + 4·(-1); …] = [1 -4; 2 -5; 3 -6]
        //   db = [1 + 0, 0 - 1] = [1 -1]
        let input = try Tensor(shape: [2, 1, 3], scalars: [1, 2, 3, 4, 5, 6])
        let gradients = try Reference.denseGradients(
            input: input, weight: try Tensor(shape: [3, 2], scalars: Self.weight),
            outputGradient: try Tensor(shape: [2, 2], scalars: [1, 0, 0, -1]))
        #expect(gradients.input.shape == [2, 1, 3])
        #expect(gradients.input.scalars == [1, 3, 5, -2, -4, -6])
        #expect(gradients.weight.shape == [3, 2])
        #expect(gradients.weight.scalars == [1, -4, 2, -5, 3, -6])
        #expect(gradients.bias.scalars == [1, -1])
    }
}
