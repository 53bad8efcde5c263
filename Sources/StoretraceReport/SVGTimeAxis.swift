import StoretraceRender

/// Where times go across the page: every chart of a report shares one
/// horizontal scale (the span of the events shown), so the timeline and the
/// copy charts line up, and the page's script zooms them together. Elements
/// that move with the zoom carry their time (`data-t`, ns after `origin`)
/// and duration (`data-d`); the script lays them out again with the same
/// arithmetic as here.
struct TimeScale {
    /// CLOCK_MONOTONIC ns at the left edge.
    let origin: UInt64
    /// Nanoseconds across the plot (at least 1).
    let span: UInt64

    static let width = 1200.0
    /// Where the plot starts (the labels are left of it) and how wide it is.
    static let plotX = 210.0
    static let plotWidth = 970.0
    /// The narrowest a mark is drawn, px.
    static let minimumWidth = 2.0

    init(first: UInt64, last: UInt64) {
        origin = first
        span = max(last &- first, 1)
    }

    /// ns after the origin (negative for a derived event stamped earlier).
    func offset(_ time: UInt64) -> Int64 { Int64(bitPattern: time &- origin) }

    func x(_ time: UInt64) -> Double { Self.plotX + Double(offset(time)) * Self.plotWidth / Double(span) }

    func width(_ duration: UInt64) -> Double { max(Self.minimumWidth, Double(duration) * Self.plotWidth / Double(span)) }

    /// ` x="…" width="…" data-t="…" data-d="…"`: a zoomable element's place.
    func appendPlace(start: UInt64, duration: UInt64, into out: inout OutputBuffer) {
        out.attribute("x", x(start))
        out.attribute("width", width(duration))
        out.attribute("data-t", decimal: offset(start))
        out.attribute("data-d", decimal: duration)
    }

    /// The opening tag of a chart on this scale: `svg.tl` with what the
    /// script needs to zoom it.
    func appendSVGStart(id: String, height: Double, label: String, into out: inout OutputBuffer) {
        out.append(string: "<svg class=\"tl\" id=\"" + id + "\" role=\"img\" aria-label=\"")
        out.appendHTML(rendered: label)
        out.append("\" viewBox=\"0 0 ")
        out.appendFixed(Self.width)
        out.append(UInt8(ascii: " "))
        out.appendFixed(height)
        out.append(UInt8(ascii: "\""))
        out.attribute("data-span", decimal: span)
        out.attribute("data-x", Self.plotX)
        out.attribute("data-w", Self.plotWidth)
        out.append(" xmlns=\"http://www.w3.org/2000/svg\">")
        // What is drawn outside the plot (zoomed away) is clipped.
        out.append(string: "<clipPath id=\"" + id + "-clip\"><rect")
        out.attribute("x", Self.plotX)
        out.attribute("y", 0)
        out.attribute("width", Self.plotWidth)
        out.attribute("height", height)
        out.append("/></clipPath>")
    }

    /// Grid lines from `top` to `bottom` with their labels at `labelY`:
    /// "+0.50 s" after the origin. The script redraws them on a zoom.
    func appendAxis(top: Double, bottom: Double, labelY: Double, into out: inout OutputBuffer) {
        out.append("<g class=\"axis\"")
        out.attribute("data-top", top)
        out.attribute("data-bottom", bottom)
        out.attribute("data-label-y", labelY)
        out.append(">")
        let step = Self.tickStep(span)
        var tick: UInt64 = 0
        while tick <= span {
            let x = Self.plotX + Double(tick) * Self.plotWidth / Double(span)
            out.append("<line")
            out.attribute("x1", x)
            out.attribute("x2", x)
            out.attribute("y1", top)
            out.attribute("y2", bottom)
            out.append("/><text")
            out.attribute("x", x)
            out.attribute("y", labelY)
            out.append(">")
            out.append(string: Self.offsetText(tick, step: step))
            out.append("</text>")
            let (next, overflow) = tick.addingReportingOverflow(step)
            if overflow { break }
            tick = next
        }
        out.append("</g>")
    }

    /// The grid step for `span` ns: 1, 2 or 5 × 10ⁿ ns, the smallest with
    /// at most 10 steps across (the script's `niceStep`).
    static func tickStep(_ span: UInt64) -> UInt64 {
        var power: UInt64 = 1
        while true {
            for factor: UInt64 in [1, 2, 5] {
                let (step, overflow) = power.multipliedReportingOverflow(by: factor)
                if overflow || span / step <= 10 { return overflow ? .max : step }
            }
            let (next, overflow) = power.multipliedReportingOverflow(by: 10)
            if overflow { return .max }
            power = next
        }
    }

    /// "+1.25 s": `nanoseconds` after the origin, with as many decimals as
    /// the step needs (the script's `offsetText`).
    static func offsetText(_ nanoseconds: UInt64, step: UInt64) -> String {
        var decimals = 0
        var unit = step
        while decimals < 9 && unit % 1_000_000_000 != 0 {
            unit = unit &* 10
            decimals += 1
        }
        var text = "+" + String(nanoseconds / 1_000_000_000)
        if decimals > 0 {
            let fraction = String(nanoseconds % 1_000_000_000)
            text += "." + String((String(repeating: "0", count: 9 - fraction.count) + fraction).prefix(decimals))
        }
        return text + " s"
    }
}

extension OutputBuffer {
    /// ` name="12.50"`: an SVG attribute with a coordinate.
    mutating func attribute(_ name: StaticString, _ value: Double) {
        append(UInt8(ascii: " "))
        append(name)
        append("=\"")
        appendFixed(value)
        append(UInt8(ascii: "\""))
    }

    /// ` name="1234"`.
    mutating func attribute<T: BinaryInteger>(_ name: StaticString, decimal value: T) {
        append(UInt8(ascii: " "))
        append(name)
        append("=\"")
        appendDecimal(value)
        append(UInt8(ascii: "\""))
    }

    /// A coordinate with two decimals ("210.00", "-3.50"): what SVG
    /// attributes take, never an exponent.
    mutating func appendFixed(_ value: Double) {
        guard value.isFinite else {
            append(UInt8(ascii: "0"))
            return
        }
        // Far off the plot (zoomed away) it is clipped: keep the text short.
        let hundredths = Int64((min(max(value, -1e12), 1e12) * 100).rounded())
        if hundredths < 0 { append(UInt8(ascii: "-")) }
        let magnitude = hundredths.magnitude
        appendDecimal(magnitude / 100)
        append(UInt8(ascii: "."))
        appendDecimal(Int(magnitude % 100), width: 2)
    }
}
