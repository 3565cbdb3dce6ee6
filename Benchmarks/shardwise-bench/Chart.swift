// Chart: GFLOP/s per case and lane setting as an SVG of grouped horizontal bars.
//
// One group per case (label on the left, so long case names stay readable), one
// bar per lane setting, each bar labelled with GFLOP/s and its fraction of peak.
// The peak of each lane count given (per-lane peak × lanes) is a dashed vertical
// line in that setting's colour. A case that failed verification is marked ✗.
// Plain SVG 1.1 text, no scripts or external fonts.

enum Chart {
    /// Bar colours, one per lane setting in `--lanes` order (Tableau 10).
    static let palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7"]

    /// The SVG document for `results`, grouped by case in the order the cases ran.
    static func svg(machine: MachineProfile, settings: [LaneSetting], results: [CaseResult]) -> String {
        // Group results by case, keeping the run order.
        var groups: [(label: String, results: [CaseResult])] = []
        var indexOfCase: [String: Int] = [:]
        for r in results {
            let key = r.benchCase.canonical + "#\(r.benchCase.origin)"
            if let index = indexOfCase[key] {
                groups[index].results.append(r)
            } else {
                indexOfCase[key] = groups.count
                groups.append((r.benchCase.label, [r]))
            }
        }

        let charWidth = 7.2, fontSize = 12.0
        let barHeight = 14.0, barGap = 3.0, groupGap = 14.0
        let labelWidth = Double(groups.map(\.label.count).max() ?? 10) * charWidth + 24
        let plotLeft = labelWidth, plotWidth = 720.0, valueRoom = 140.0
        let width = plotLeft + plotWidth + valueRoom
        let top = 96.0
        let groupHeight = Double(settings.count) * (barHeight + barGap) - barGap + groupGap
        let plotHeight = Double(groups.count) * groupHeight
        let height = top + plotHeight + 48

        let maxima = Array(Set(settings.map(\.maximum))).sorted()
        let highest = Swift.max(results.compactMap(\.gflops).max() ?? 0, machine.peakPerLane * Double(maxima.last ?? 1))
        let (axisMax, step) = niceAxis(highest * 1.04)
        func x(_ gflops: Double) -> Double { plotLeft + plotWidth * Swift.min(gflops, axisMax) / axisMax }

        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(n(width))" height="\(n(height))" \
            viewBox="0 0 \(n(width)) \(n(height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" \
            font-size="\(n(fontSize))">
            <rect width="100%" height="100%" fill="white"/>

            """
        let title = "Shardwise: GFLOP/s per case and lane count"
        let subtitle = "\(machine.cores) cores · \(machine.isa) · target \(machine.targetCPU) · "
            + "peak \(Format.fixed(machine.peakPerLane, 1)) GFLOP/s per lane, "
            + "\(Format.fixed(machine.peakAllLanes, 1)) all lanes · copy \(Format.fixed(machine.copyBandwidth, 1)) GB/s"
        svg += text(16, 24, title, size: 16, weight: "bold")
        svg += text(16, 44, subtitle, size: 12, fill: "#444")

        // Legend: one swatch per lane setting.
        var legendX = 16.0
        for (i, setting) in settings.enumerated() {
            svg += "<rect x=\"\(n(legendX))\" y=\"56\" width=\"12\" height=\"12\" fill=\"\(color(i))\"/>\n"
            let label = setting == .automatic ? "lanes auto" : "lanes \(setting.label)"
            svg += text(legendX + 17, 66, label)
            legendX += 17 + Double(label.count) * charWidth + 18
        }
        svg += text(legendX, 66, "dashed: peak for that many lanes · ✗ failed verification", fill: "#444")

        // Alternating group bands, then the grid and axis.
        for g in groups.indices where g % 2 == 1 {
            svg += "<rect x=\"0\" y=\"\(n(top + Double(g) * groupHeight - groupGap / 2))\" width=\"\(n(width))\" "
                + "height=\"\(n(groupHeight))\" fill=\"#f4f4f4\"/>\n"
        }
        var tick = 0.0
        while tick <= axisMax + step / 2 {
            svg += "<line x1=\"\(n(x(tick)))\" y1=\"\(n(top - 8))\" x2=\"\(n(x(tick)))\" y2=\"\(n(top + plotHeight))\" "
                + "stroke=\"#ddd\"/>\n"
            svg += text(x(tick), top + plotHeight + 16, Format.compact(tick), anchor: "middle", fill: "#444")
            tick += step
        }
        svg += text(plotLeft + plotWidth / 2, top + plotHeight + 36, "GFLOP/s (median)", anchor: "middle")
        svg += "<line x1=\"\(n(plotLeft))\" y1=\"\(n(top - 8))\" x2=\"\(n(plotLeft))\" y2=\"\(n(top + plotHeight))\" "
            + "stroke=\"#333\"/>\n"

        // Peak lines, under the bars and their labels.
        for maximum in maxima {
            let slot = settings.firstIndex { $0.maximum == maximum } ?? 0
            let peak = machine.peakPerLane * Double(maximum)
            svg += "<line x1=\"\(n(x(peak)))\" y1=\"\(n(top - 14))\" x2=\"\(n(x(peak)))\" y2=\"\(n(top + plotHeight))\" "
                + "stroke=\"\(color(slot))\" stroke-width=\"2\" stroke-dasharray=\"6,4\"/>\n"
            svg += text(x(peak) + 4, top - 16, "peak × \(maximum): \(Format.fixed(peak, 0))", size: 11,
                        fill: color(slot))
        }
        // Bars.
        for (g, group) in groups.enumerated() {
            let groupTop = top + Double(g) * groupHeight
            let barsHeight = groupHeight - groupGap
            svg += text(plotLeft - 10, groupTop + barsHeight / 2 + 4, group.label, anchor: "end", monospace: true)
            for r in group.results {
                guard let slot = settings.firstIndex(of: r.setting) else { continue }
                let y = groupTop + Double(slot) * (barHeight + barGap)
                let mark = r.verified ? "" : "✗ "
                guard let gflops = r.gflops, let fraction = r.peakFraction else {
                    svg += text(plotLeft + 6, y + barHeight - 3, "\(mark)\(r.error == nil ? "not timed" : "error")",
                                fill: "#c00")
                    continue
                }
                svg += "<rect x=\"\(n(plotLeft))\" y=\"\(n(y))\" width=\"\(n(Swift.max(1, x(gflops) - plotLeft)))\" "
                    + "height=\"\(n(barHeight))\" fill=\"\(color(slot))\""
                    + (r.verified ? "" : " stroke=\"#c00\" stroke-width=\"2\"") + ">"
                    + "<title>\(escape(r.benchCase.canonical)) lanes=\(r.setting.label): "
                    + "\(Format.fixed(gflops, 1)) GFLOP/s</title></rect>\n"
                svg += text(x(gflops) + 5, y + barHeight - 3,
                            "\(mark)\(Format.fixed(gflops, 1)) (\(Format.fixed(fraction * 100, 0))%)",
                            size: 11, fill: r.verified ? "#222" : "#c00", halo: true)
            }
        }

        return svg + "</svg>\n"
    }

    /// A rounded axis maximum and tick step (1, 2 or 5 × a power of ten) for values up to `value`.
    static func niceAxis(_ value: Double) -> (maximum: Double, step: Double) {
        let target = Swift.max(value, 1) / 8
        var power = 1.0
        while power * 10 <= target { power *= 10 }
        while power > target { power /= 10 }
        let step = [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= target } ?? 10 * power
        return ((Swift.max(value, 1) / step).rounded(.up) * step, step)
    }

    private static func color(_ slot: Int) -> String { palette[slot % palette.count] }

    /// A coordinate with at most one decimal.
    private static func n(_ value: Double) -> String {
        let text = Format.fixed(value, 1)
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }

    /// A `<text>` element; `halo` outlines it in white so it stays legible over lines.
    private static func text(_ x: Double, _ y: Double, _ content: String, size: Double? = nil, weight: String? = nil,
                             anchor: String? = nil, fill: String? = nil, monospace: Bool = false,
                             halo: Bool = false) -> String {
        var attributes = "x=\"\(n(x))\" y=\"\(n(y))\""
        if let size { attributes += " font-size=\"\(n(size))\"" }
        if let weight { attributes += " font-weight=\"\(weight)\"" }
        if let anchor { attributes += " text-anchor=\"\(anchor)\"" }
        if let fill { attributes += " fill=\"\(fill)\"" }
        if halo { attributes += " stroke=\"white\" stroke-width=\"3\" paint-order=\"stroke\"" }
        if monospace { attributes += " font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\"" }
        return "<text \(attributes)>\(escape(content))</text>\n"
    }

    /// `text` with XML's special characters escaped.
    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }
}
