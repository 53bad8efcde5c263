import Foundation
import PackagePlugin

/// Compiles bpf/*.bpf.c with the toolchain's clang (which has the BPF
/// target) and embeds the object into the target as Swift source, so the
/// built `storetrace` is one self-contained file.
@main
struct CompileBPF: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let package = context.package.directoryURL
        let bpfDirectory = package.appending(path: "bpf")
        let abiInclude = package.appending(path: "Sources/CStoretraceABI/include")
        let work = context.pluginWorkDirectoryURL
        let clang = try context.tool(named: "clang").url
        let embed = try context.tool(named: "bpf-embed").url

        let sources = try FileManager.default.contentsOfDirectory(atPath: bpfDirectory.path)
            .filter { $0.hasSuffix(".bpf.c") }
            .sorted()
        let headers = try FileManager.default.contentsOfDirectory(atPath: bpfDirectory.path)
            .filter { $0.hasSuffix(".h") }
            .map { bpfDirectory.appending(path: $0) }
            + [abiInclude.appending(path: "storetrace_abi.h")]

        // The target architecture also names pt_regs' registers for kprobes
        // (bpf_tracing.h's PT_REGS_PARM1 and PT_REGS_RC).
        #if arch(x86_64)
        let multiarch = "x86_64-linux-gnu"
        let targetArch = "x86"
        #elseif arch(arm64)
        let multiarch = "aarch64-linux-gnu"
        let targetArch = "arm64"
        #else
        let multiarch = "unknown-linux-gnu"
        let targetArch = "unknown"
        #endif

        var commands: [Command] = []
        var objects: [URL] = []
        for source in sources {
            let object = work.appending(path: source.replacingOccurrences(of: ".c", with: ".o"))
            objects.append(object)
            commands.append(.buildCommand(
                displayName: "Compiling BPF program \(source)",
                executable: clang,
                arguments: [
                    "-g", "-O2", "-target", "bpf", "-mcpu=v2", "-D__TARGET_ARCH_\(targetArch)",
                    "-I", "/usr/include/\(multiarch)",
                    "-I", abiInclude.path, "-I", bpfDirectory.path,
                    "-Wall", "-Werror",
                    "-c", bpfDirectory.appending(path: source).path,
                    "-o", object.path,
                ],
                inputFiles: [bpfDirectory.appending(path: source)] + headers,
                outputFiles: [object]
            ))
        }
        let swiftFile = work.appending(path: "EmbeddedBPFObjects.swift")
        commands.append(.buildCommand(
            displayName: "Embedding BPF objects",
            executable: embed,
            arguments: [swiftFile.path] + objects.map(\.path),
            inputFiles: objects,
            outputFiles: [swiftFile]
        ))
        return commands
    }
}
