/// Durations and byte sizes as a user writes them ("10ms", "64M"), read
/// exactly (integer arithmetic, no floating point) and overflow-checked: a
/// value that does not fit is an error, never a trap. The CLI's typed
/// option values wrap these.
public enum QuantityError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    /// Not digits with at most one decimal point before the unit.
    case notANumber
    /// A bare number where a unit is required; `units` lists them.
    case missingUnit(units: String)
    case unknownUnit(String, units: String)
    /// More than the type holds (`limit` says how much that is).
    case tooLarge(limit: String)
    /// A size of zero bytes.
    case zero
    /// A fraction where only whole numbers make sense (byte sizes).
    case fraction

    public var description: String {
        switch self {
        case .empty: return "empty"
        case .notANumber: return "not a number"
        case .missingUnit(let units): return "a unit is required: \(units)"
        case .unknownUnit(let unit, let units): return "unknown unit '\(unit)'; use \(units)"
        case .tooLarge(let limit): return "too large (at most \(limit))"
        case .zero: return "must be more than 0 bytes"
        case .fraction: return "must be a whole number"
        }
    }
}

/// A decimal number split from its unit: "1.5ms" is 1, 5 (one digit), "ms".
struct DecimalWithUnit {
    var whole: UInt64 = 0
    var fraction: UInt64 = 0
    /// Digits of `fraction` kept (at most 19, the rest are below any unit's resolution).
    var fractionDigits = 0
    var unit: String
    /// The whole part did not fit 64 bits: `scaled` says so for its caller's limit.
    var overflowed = false

    init(_ text: String) throws(QuantityError) {
        guard !text.isEmpty else { throw .empty }
        let utf8 = Substring(text).utf8
        var index = utf8.startIndex
        var digits = 0
        while index < utf8.endIndex, let digit = Self.digit(utf8[index]) {
            let (times10, overflow1) = whole.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(digit)
            if overflow1 || overflow2 { overflowed = true }
            whole = sum
            digits += 1
            index = utf8.index(after: index)
        }
        if index < utf8.endIndex, utf8[index] == UInt8(ascii: ".") {
            index = utf8.index(after: index)
            while index < utf8.endIndex, let digit = Self.digit(utf8[index]) {
                if fractionDigits < 19 {
                    fraction = fraction * 10 + digit
                    fractionDigits += 1
                }
                digits += 1
                index = utf8.index(after: index)
            }
        }
        guard digits > 0 else { throw .notANumber }
        unit = String(decoding: utf8[index...], as: UTF8.self)
    }

    private static func digit(_ byte: UInt8) -> UInt64? {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") ? UInt64(byte - UInt8(ascii: "0")) : nil
    }

    var isZero: Bool { whole == 0 && fraction == 0 && !overflowed }

    /// The value times `scale`, the fraction's digits below 1 dropped; nil if it overflows.
    func scaled(by scale: UInt64) -> UInt64? {
        let (wholePart, overflow) = whole.multipliedReportingOverflow(by: scale)
        if overflow || overflowed { return nil }
        var fractionPart: UInt64 = 0
        if fractionDigits > 0 {
            var divisor: UInt64 = 1
            for _ in 0..<fractionDigits { divisor *= 10 }
            // fraction < divisor, so the quotient is below scale: it fits.
            fractionPart = divisor.dividingFullWidth(fraction.multipliedFullWidth(by: scale)).quotient
        }
        let (sum, overflow2) = wholePart.addingReportingOverflow(fractionPart)
        return overflow2 ? nil : sum
    }
}

public enum DurationText {
    /// The units a duration takes, as error messages and help list them.
    public static let units = "ns, us (or µs), ms, s, m, h"

    private static let scales: [(unit: String, nanoseconds: UInt64)] = [
        ("ns", 1), ("us", 1_000), ("µs", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000),
        ("m", 60_000_000_000), ("h", 3_600_000_000_000),
    ]

    /// "10ms" -> 10_000_000; "1.5s" -> 1_500_000_000. A unit is required,
    /// except for 0, which is the same in every unit.
    public static func nanoseconds(_ text: String) throws(QuantityError) -> UInt64 {
        let number = try DecimalWithUnit(text)
        guard !number.unit.isEmpty else {
            if number.isZero { return 0 }
            throw .missingUnit(units: units)
        }
        let unit = number.unit
        guard let scale = scales.first(where: { $0.unit == unit })?.nanoseconds else {
            throw .unknownUnit(unit, units: units)
        }
        guard let value = number.scaled(by: scale) else {
            throw .tooLarge(limit: "\(UInt64.max / 3_600_000_000_000)h")
        }
        return value
    }
}

public enum ByteSizeText {
    /// The units a size takes: binary multiples, any case.
    public static let units = "K, M, G (or KiB, MiB, GiB)"

    private static let scales: [(unit: String, bytes: UInt64)] = [
        ("k", 1 << 10), ("kb", 1 << 10), ("kib", 1 << 10),
        ("m", 1 << 20), ("mb", 1 << 20), ("mib", 1 << 20),
        ("g", 1 << 30), ("gb", 1 << 30), ("gib", 1 << 30),
    ]

    /// "8M" -> 8_388_608. Whole numbers only, more than 0. A bare number is
    /// bytes only if `bareBytes` (the options that document it).
    public static func bytes(_ text: String, bareBytes: Bool) throws(QuantityError) -> UInt64 {
        let number = try DecimalWithUnit(text)
        guard number.fractionDigits == 0 else { throw .fraction }
        guard !number.isZero else { throw .zero }
        let scale: UInt64
        if number.unit.isEmpty {
            guard bareBytes else { throw .missingUnit(units: units) }
            scale = 1
        } else {
            let unit = number.unit.lowercased()
            guard let found = scales.first(where: { $0.unit == unit })?.bytes else {
                throw .unknownUnit(number.unit, units: bareBytes ? "bytes, " + units : units)
            }
            scale = found
        }
        guard let value = number.scaled(by: scale) else { throw .tooLarge(limit: "\(UInt64.max >> 30)G") }
        return value
    }
}
