import StoretraceAnalyze
import StoretraceCapture
import StoretraceRecords

/// The mounts that were unhealthy during a capture (`info`): its records
/// through the analyzer `replay` runs, nothing rendered.
public enum CaptureHealth {
    public static func unhealthyMounts(path: String) throws(SessionError) -> [MountHealth] {
        try unhealthyMounts(paths: [path])
    }

    /// The files of one node read as one (`CaptureSet.paths`).
    public static func unhealthyMounts(paths: [String]) throws(SessionError) -> [MountHealth] {
        let pipeline = Pipeline(filter: EventFilter(), consumers: [], merging: false)
        let analyzer = MountHealthAnalyzer(pipeline: pipeline, deliver: false)
        pipeline.add(analyzer)
        for path in paths {
            let reader = try ReplaySession.open(path)
            let feed = CaptureFeed(reader: reader, pipeline: pipeline, printer: nil, since: nil, until: nil)
            do {
                try reader.read(accept: CaptureRecordTypes.isReadable) { record in feed.take(record) }
            } catch {
                throw .readCapture(path: path, reason: "\(error)")
            }
        }
        pipeline.finish()
        return analyzer.unhealthy
    }
}
