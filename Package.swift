// swift-tools-version:6.0
import PackageDescription

// Module map (see docs/architecture.md):
//   CStoretraceABI   header-only C: the event records BPF writes (shared with bpf/*.bpf.c)
//   CLibbpf          system library: Debian's libbpf-dev
//   CStoretraceSys   C shim: raw syscalls Swift cannot call directly (new mount API, ...)
//   StoretraceBPF    the compiled BPF object, embedded by the CompileBPF plugin
//   StoretraceBytes  the one bounds-checked integer reader (ByteReader), below
//                    both the decoders and the capture container
//   StoretraceDecode pure decoding: bytes in, typed events out; flag and errno tables
//   StoretraceRecords the record model: source kinds, raw records, losses, the
//                    RecordSource protocol, capture record types and their codecs
//   StoretraceKernel kernel I/O: libbpf loader, ring/perf buffers, epoll, probes
//   CStoretraceCRC   C: CRC-32C with the CPU's instruction (SSE4.2, ARMv8 CRC)
//   CZstd            system library: Debian's libzstd-dev (capture chunks' codec)
//   StoretraceCapture the capture file format: chunked, checksummed, self-describing
//   StoretraceAnalyze analyzers over decoded events: mount operations assembled from calls, summaries
//   StoretraceRender terminal text and JSON lines
//   StoretraceSession wires sources to sinks: filters, counters, signals
//   StoretraceExport timelines for Perfetto (protobuf) and the Trace Event JSON (`export`)
//   StoretraceReport the HTML incident report (`storetrace report`): a consumer of the replay pipeline
//   storetrace      thin ArgumentParser CLI, one file per subcommand
// The per-event modules (decode, the tracer, analyzers, render, the pipeline,
// the capture reader) are
// built without the runtime's exclusivity checks in release builds: a check on
// each access to a class's stored property was 5 % of `replay --json`
// (BENCHMARKS.md). Debug builds keep them, and the compile-time checks stay.
let perEventPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "storetrace",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "storetrace", targets: ["storetrace"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
    ],
    targets: [
        .target(name: "CStoretraceABI"),
        // Linked statically (its module.modulemap names the archives), so no
        // pkgConfig: pkg-config's `-lbpf` would link the shared library too.
        .systemLibrary(
            name: "CLibbpf",
            providers: [.apt(["libbpf-dev", "libelf-dev", "zlib1g-dev"])]
        ),
        .target(name: "CStoretraceSys"),
        .executableTarget(name: "bpf-embed"),
        .plugin(
            name: "CompileBPF",
            capability: .buildTool(),
            dependencies: ["bpf-embed"]
        ),
        .target(
            name: "StoretraceBPF",
            plugins: ["CompileBPF"]
        ),
        .target(name: "StoretraceBytes", swiftSettings: perEventPath),
        .target(
            name: "StoretraceDecode",
            dependencies: ["CStoretraceABI", "StoretraceBytes"],
            swiftSettings: perEventPath
        ),
        .target(
            name: "StoretraceRecords",
            dependencies: ["CStoretraceABI", "StoretraceBytes", "StoretraceDecode", "StoretraceCapture"],
            swiftSettings: perEventPath
        ),
        .target(
            name: "StoretraceKernel",
            dependencies: [
                "CLibbpf", "CStoretraceABI", "CStoretraceSys", "StoretraceBPF", "StoretraceDecode", "StoretraceRecords",
                "StoretraceCapture",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: perEventPath
        ),
        .target(name: "CStoretraceCRC"),
        .systemLibrary(
            name: "CZstd",
            providers: [.apt(["libzstd-dev"])]
        ),
        .target(name: "StoretraceCapture", dependencies: ["CStoretraceCRC", "CZstd", "StoretraceBytes"],
                swiftSettings: perEventPath),
        .target(
            name: "StoretraceAnalyze",
            dependencies: ["StoretraceDecode"],
            swiftSettings: perEventPath
        ),
        .target(
            name: "StoretraceRender",
            dependencies: ["StoretraceDecode", "StoretraceAnalyze"],
            swiftSettings: perEventPath
        ),
        .target(
            name: "StoretraceSession",
            dependencies: ["StoretraceKernel", "StoretraceDecode", "StoretraceRender", "StoretraceCapture", "StoretraceRecords",
                           "StoretraceAnalyze"],
            swiftSettings: perEventPath
        ),
        .target(
            name: "StoretraceExport",
            dependencies: ["StoretraceSession", "StoretraceRender", "StoretraceDecode", "StoretraceAnalyze", "StoretraceRecords"]
        ),
        .target(
            name: "StoretraceReport",
            dependencies: ["StoretraceSession", "StoretraceRender", "StoretraceDecode", "StoretraceAnalyze", "StoretraceRecords",
                           "StoretraceCapture"]
        ),
        .executableTarget(
            name: "storetrace",
            dependencies: [
                "StoretraceSession", "StoretraceExport", "StoretraceReport", "StoretraceKernel", "StoretraceDecode", "StoretraceRender",
                "StoretraceCapture", "StoretraceRecords", "StoretraceAnalyze",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // --static-swift-stdlib links with -export-dynamic (for dlsym
            // lookups by Foundation, which storetrace does not link): every
            // symbol of our objects would be exported, and so kept by
            // --gc-sections whether used or not.
            linkerSettings: [.unsafeFlags(["-Xlinker", "--no-export-dynamic"])]
        ),
        .target(name: "CAllocCounter", path: "Tests/CAllocCounter"),
        .target(name: "CUAPI", path: "Tests/CUAPI"),
        .target(name: "StoretraceFixtures", dependencies: ["StoretraceDecode", "StoretraceAnalyze", "StoretraceRender"],
                path: "Tests/StoretraceFixtures"),
        .testTarget(
            name: "StoretraceDecodeTests",
            dependencies: ["StoretraceDecode", "StoretraceFixtures", "CStoretraceABI", "CUAPI"]
        ),
        .testTarget(name: "StoretraceBytesTests", dependencies: ["StoretraceBytes"]),
        .testTarget(
            name: "StoretraceCaptureTests",
            dependencies: ["StoretraceCapture", "StoretraceBytes"]
        ),
        .testTarget(
            name: "StoretraceAnalyzeTests",
            dependencies: ["StoretraceAnalyze", "StoretraceDecode", "StoretraceRender", "StoretraceFixtures"]
        ),
        .testTarget(
            name: "StoretraceRenderTests",
            dependencies: ["StoretraceRender", "StoretraceAnalyze", "StoretraceDecode", "StoretraceFixtures", "CStoretraceABI"]
        ),
        .testTarget(
            name: "StoretraceRecordsTests",
            dependencies: ["StoretraceRecords", "StoretraceCapture", "StoretraceDecode", "StoretraceFixtures", "CStoretraceABI"]
        ),
        .testTarget(
            name: "StoretraceSessionTests",
            dependencies: ["StoretraceSession", "StoretraceRecords", "StoretraceCapture", "StoretraceDecode",
                           "StoretraceRender", "StoretraceFixtures"],
            // Read by path (#filePath), not bundled: captures and the outputs they replay to.
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "StoretraceExportTests",
            dependencies: ["StoretraceExport", "StoretraceSession", "StoretraceRender", "StoretraceDecode", "StoretraceRecords",
                           "StoretraceAnalyze", "StoretraceFixtures"],
            // decode_trace.py is run by path, not bundled.
            exclude: ["decode_trace.py"]
        ),
        .testTarget(
            name: "StoretraceReportTests",
            dependencies: ["StoretraceReport", "StoretraceSession", "StoretraceRender", "StoretraceDecode", "StoretraceRecords",
                           "StoretraceFixtures"]
        ),
        .testTarget(
            name: "StoretraceKernelTests",
            dependencies: [
                "StoretraceKernel", "StoretraceSession", "StoretraceDecode", "StoretraceRender", "StoretraceRecords",
                "StoretraceAnalyze", "StoretraceFixtures", "CStoretraceSys", "CAllocCounter", "CLibbpf", "StoretraceBPF",
            ]
        ),
    ],
    swiftLanguageModes: [.v5]
)
