import Glibc
import StoretraceDecode
import SystemPackage

/// `storetrace doctor` checks for the kernel-side sources: the tracefs
/// instance, its clock, the default tracepoints and the function tracer's
/// default functions. Changes nothing: the probe instance is removed before
/// returning, and stale instances are only listed, never removed, here.
/// NodeProbe.run (doctor) runs these with the tracefs mount it already holds.
public enum SourceProbes {
    public static func run(tracefs: TracefsMount) -> [ProbeResult] {
        var results: [ProbeResult] = []
        // Stale: no run holds the instance's lock (see TracefsInstance).
        let stale = TracefsInstance.staleInstances(tracefs: tracefs)
        if !stale.isEmpty {
            results.append(.init(name: "stale instances", state: .missing,
                                 detail: "left by killed runs: \(stale.joined(separator: ", ")); `storetrace doctor --cleanup` removes them"))
        }

        // An instance with nothing enabled: only creation and removal are probed.
        var options = TracefsInstanceOptions()
        options.events = []
        options.functions = []
        let instance: TracefsInstance
        do {
            instance = try TracefsInstance(tracefs: tracefs, options: options)
        } catch {
            results.append(.init(name: "tracefs instance", state: .refused, detail: error.description))
            return results
        }
        let clocks = TraceClockList((try? readFile(instance.file("trace_clock"))) ?? "").available
        let failures = instance.close()
        if failures.isEmpty {
            results.append(.init(name: "tracefs instance", state: .ok,
                                 detail: "can create and remove instances/\(instance.name)"))
        } else {
            results.append(.init(name: "tracefs instance", state: .refused,
                                 detail: failures.map(\.description).joined(separator: "; ")))
        }
        if clocks.contains("mono") {
            results.append(.init(name: "trace clock mono", state: .ok,
                                 detail: "ftrace events use CLOCK_MONOTONIC, like the BPF events"))
        } else {
            results.append(.init(name: "trace clock mono", state: .missing,
                                 detail: "trace_clock offers \(clocks.joined(separator: " ")); ftrace times will not line up exactly with other sources"))
        }

        for text in TracefsInstanceOptions.defaultEvents {
            guard let event = TraceEventName(text) else { continue }
            if tracefs.exists(event.directory) {
                results.append(.init(name: "event \(event)", state: .ok, detail: "tracepoint present"))
            } else {
                results.append(.init(name: "event \(event)", state: .missing, detail: "no such tracepoint in this kernel; skipped"))
            }
        }

        let listPath = tracefs.path + "/available_filter_functions"
        switch TracefsFiles.read(listPath) {
        case .success(let list):
            let present = FilterFunctionList.present(TracefsInstanceOptions.defaultFunctions, in: list)
            for name in TracefsInstanceOptions.defaultFunctions {
                results.append(present.contains(name)
                    ? .init(name: "function \(name)", state: .ok, detail: "in available_filter_functions")
                    : .init(name: "function \(name)", state: .missing, detail: "not in available_filter_functions (not built, a module not loaded, or inlined)"))
            }
        case .failure(let failure):
            let detail = "the kernel refused reading \(listPath): \(failure.symbolicDescription); the function tracer cannot run here"
            for name in TracefsInstanceOptions.defaultFunctions {
                results.append(.init(name: "function \(name)", state: .refused, detail: detail))
            }
        }
        return results
    }

}
