import Glibc
import StoretraceCapture
import StoretraceKernel

/// Why a session ended, as the summary line says it ("stopped by SIGINT").
public enum StopReason: Equatable, Sendable, CustomStringConvertible {
    /// The sources ran dry (replay reached the end of the capture).
    case end
    case signal(Int32)
    case duration
    case maxSize
    /// The reader of the output went away (EPIPE: `| head`).
    case closedOutput
    case outputError
    case diskFull
    case captureWriteError
    /// `q` in `storetrace top`.
    case quitKey

    public var description: String {
        switch self {
        case .end: "end"
        case .signal(let number): number == SIGINT ? "SIGINT" : number == SIGTERM ? "SIGTERM" : "SIGHUP"
        case .duration: "--duration"
        case .maxSize: "--max-size"
        case .closedOutput: "closed output"
        case .outputError: "output error"
        case .diskFull: "a full disk"
        case .captureWriteError: "a capture write error"
        case .quitKey: "q"
        }
    }
}

/// What a session can fail with, each a one-line message for the CLI.
public enum SessionError: Error, CustomStringConvertible {
    /// Tracing could not start, or a source failed.
    case kernel(KernelError)
    /// `record` could not create its capture.
    case createCapture(CaptureError, path: String)
    /// Writing the capture failed after it started (a full disk); what was
    /// flushed before stays readable.
    case writeCapture(CaptureError)
    /// `replay` or `info` could not open a capture.
    case openCapture(CaptureError, path: String)
    /// Reading a capture failed, or it cannot be decoded here.
    case readCapture(path: String, reason: String)
    /// Writing the rendered events failed (not EPIPE).
    case output(errno: Int32)
    /// Every requested source was refused.
    case noSource(String)
    /// --max-size (or a ring's --rotate) cannot hold what every capture
    /// starts with (the node snapshot, the schemas, the ftrace formats): `start` bytes.
    case maxSizeBelowStart(path: String, limit: UInt64, start: UInt64, option: String = "--max-size")
    /// `--metrics-file` could not be written when the session started (`MetricsExporter.failureLine`).
    case writeMetrics(String)

    public var description: String {
        switch self {
        case .kernel(let error):
            return error.description
        case .createCapture(let error, let path):
            if case .fileExists = error { return "\(error.description(path: path)); add --force to replace it" }
            return "cannot create the capture: \(error.description(path: path))"
        case .writeCapture(let error):
            if case .diskFull = error { return "\(error)" }
            return "\(error); every chunk written before is readable"
        case .openCapture(let error, let path):
            return error.description(path: path)
        case .readCapture(let path, let reason):
            return "\(path): \(reason)"
        case .output(let errno):
            return KernelError.system(call: "write to output", errno: .init(rawValue: errno)).description
        case .noSource(let what):
            return KernelError.missingFeature(what).description
        case .maxSizeBelowStart(let path, let limit, let start, let option):
            return "\(path): \(option) \(limit) bytes is smaller than the start of the capture (node snapshot, schemas and formats: \(start) bytes); give at least \(start)"
        case .writeMetrics(let line):
            return line
        }
    }
}
