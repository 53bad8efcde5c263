import Foundation
import PackagePlugin

/// Compiles bpf/*.bpf.c with the toolchain's clang (which has the BPF
/// target) and embeds the objects into the target as Swift source, so the
/// built `storetrace` is one self-contained file.
///
/// One command does both (bpf-embed runs clang): a build command's output
/// that is not source becomes a resource of the target, and a target with
/// resources gets SwiftPM's `Bundle.module` accessor, which imports
/// Foundation, and with it ICU's 30 MB of data, into the binary.
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
            .map { bpfDirectory.appending(path: $0) }
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
        let clangFlags = [
            "-g", "-O2", "-target", "bpf", "-mcpu=v2", "-D__TARGET_ARCH_\(targetArch)",
            "-I", "/usr/include/\(multiarch)",
            "-I", abiInclude.path, "-I", bpfDirectory.path,
            "-Wall", "-Werror",
        ]
        let swiftFile = work.appending(path: "EmbeddedBPFObjects.swift")
        var arguments = ["--output", swiftFile.path, "--clang", clang.path, "--object-directory", work.path]
        arguments += clangFlags.flatMap { ["--clang-flag", $0] }
        arguments += sources.map(\.path)
        return [.buildCommand(
            displayName: "Compiling and embedding BPF programs \(sources.map(\.lastPathComponent).joined(separator: ", "))",
            executable: embed,
            arguments: arguments,
            inputFiles: sources + headers,
            outputFiles: [swiftFile]
        )]
    }
}
