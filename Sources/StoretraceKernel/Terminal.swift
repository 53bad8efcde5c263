import CStoretraceSys
import Glibc

/// The terminal `storetrace top` draws on: the alternate screen (what was
/// on the terminal comes back at the end), the cursor hidden, no line
/// wrap, and input in raw mode (keys one by one, unechoed; Ctrl-C a byte,
/// so a stop always takes the session's clean-up path). `leave` undoes all
/// of it; so does a crash (the C side's handlers, `st_terminal_enter`),
/// before the runtime's own handler reports it.
public final class Terminal {
    /// Where keys come from: nil when standard input is not a terminal (no keys).
    public let inputFD: Int32?
    public let outputFD: Int32
    public private(set) var active = false

    /// Alternate screen, cursor hidden, no autowrap (writing the last
    /// column of the last row must not scroll), cleared.
    static let enterSequence = "\u{1B}[?1049h\u{1B}[?25l\u{1B}[?7l\u{1B}[0m\u{1B}[H\u{1B}[2J"
    /// Attributes reset, autowrap and the cursor back, the normal screen.
    static let leaveSequence = "\u{1B}[0m\u{1B}[?7h\u{1B}[?25h\u{1B}[?1049l"

    /// `input`: taken for keys only if it is a terminal.
    public init(input: Int32, output: Int32) {
        inputFD = isatty(input) == 1 ? input : nil
        outputFD = output
    }

    deinit { leave() }

    public static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    public func enter() throws(KernelError) {
        guard !active else { return }
        let enter = Array(Self.enterSequence.utf8), leave = Array(Self.leaveSequence.utf8)
        let result = enter.withUnsafeBufferPointer { enterBytes in
            leave.withUnsafeBufferPointer { leaveBytes in
                enterBytes.withMemoryRebound(to: CChar.self) { enterChars in
                    leaveBytes.withMemoryRebound(to: CChar.self) { leaveChars in
                        st_terminal_enter(inputFD ?? -1, outputFD, enterChars.baseAddress, enterChars.count,
                                          leaveChars.baseAddress, leaveChars.count)
                    }
                }
            }
        }
        if result != 0 { throw .system("setting up the terminal (tcsetattr)") }
        active = true
    }

    /// Back to the normal screen and the settings from before; idempotent.
    public func leave() {
        guard active else { return }
        active = false
        st_terminal_leave()
    }

    /// Columns and rows now; nil when the output is not a terminal.
    public var size: (columns: Int, rows: Int)? {
        var columns: UInt16 = 0, rows: UInt16 = 0
        guard st_terminal_size(outputFD, &columns, &rows) == 0, columns > 0, rows > 0 else { return nil }
        return (Int(columns), Int(rows))
    }

    /// Writes all of `bytes`; the errno of a failed write (EIO: the terminal went away).
    public func write(_ bytes: [UInt8]) -> Int32? {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(outputFD, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN {
                    var ready = pollfd(fd: outputFD, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&ready, 1, 1000)
                    continue
                }
                return errno
            }
            offset += written
        }
        return nil
    }

    /// What the keyboard sent since the last read; nil at end of input or
    /// on an error (the terminal went away).
    public func readInput() -> [UInt8]? {
        guard let fd = inputFD else { return nil }
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count < 0 && errno == EAGAIN { return [] }
            return count > 0 ? Array(buffer[0..<count]) : nil
        }
    }
}
