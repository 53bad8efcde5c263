import CStoretraceABI
import Foundation
import Testing
@testable import StoretraceDecode

/// SyscallDescription against the two other places that know what the
/// arguments of a call mean: the BPF program's string slots (st_string_slot
/// in storetrace_abi.h, which bpf/storetrace.bpf.c reads its strings by) and
/// the field tables of docs/events.md.
@Suite struct SyscallDescriptionTests {
    @Test func stringSlotsAreTheBPFProgramsSlots() {
        for kind in SyscallKind.allCases {
            let description = SyscallDescription.of(kind)
            #expect(description.kind == kind)
            #expect(Int(st_string_count(UInt32(kind.rawValue))) == description.strings.count, "\(kind)")
            for slot in 0..<SyscallLayout.maxStrings {
                let abi = st_string_slot(UInt32(kind.rawValue), UInt32(slot))
                let expected = slot < description.strings.count
                    ? description.strings[slot].abiValue
                    : UInt8(ST_SLOT_NONE.rawValue)
                #expect(abi == expected, "\(kind) slot \(slot): ABI 0x\(String(abi, radix: 16))")
            }
        }
    }

    @Test func kindsOutsideTheABIHaveNoStrings() {
        for kind: UInt32 in [0, UInt32(ST_KIND_MAX.rawValue) + 1, 0xffff] {
            #expect(st_string_count(kind) == 0)
        }
    }

    /// Each argument that shows a string reads it from the slot filled from
    /// that argument, and every slot is shown by exactly one argument.
    @Test func argumentsReadTheirOwnSlots() {
        for kind in SyscallKind.allCases {
            let description = SyscallDescription.of(kind)
            var shown = [Int](repeating: 0, count: description.strings.count)
            for argument in description.arguments {
                #expect((0..<6).contains(argument.register), "\(kind) \(argument.name)")
                switch argument.role {
                case .string(let slot):
                    #expect(description.strings[slot].argument == argument.register, "\(kind) \(argument.name)")
                    #expect(description.strings[slot].source != .fileName, "\(kind) \(argument.name)")
                    shown[slot] += 1
                case .fd(let slot):
                    #expect(description.strings[slot] == .init(.fileName, argument: argument.register), "\(kind) \(argument.name)")
                    shown[slot] += 1
                case .file(_, let slot):
                    #expect(description.strings[slot] == .init(.fileName, argument: argument.register), "\(kind) \(argument.name)")
                default:
                    break
                }
            }
            #expect(shown.allSatisfy { $0 == 1 }, "\(kind): \(shown)")
        }
    }

    /// The copies keep the file read from in slot 0 and `detail.copy.in`:
    /// sendfile's input is its second argument.
    @Test func copiesKeepTheInputFileFirst() {
        for kind in SyscallKind.allCases where kind.movesData {
            let description = SyscallDescription.of(kind)
            let files = description.arguments.compactMap { argument -> (SyscallDescription.CopyFile, Int, Int)? in
                if case .file(let which, let slot) = argument.role { return (which, slot, argument.register) }
                return nil
            }
            #expect(files.count == 2)
            #expect(files.first?.0 == .input && files.first?.1 == 0)
            #expect(files.last?.0 == .output && files.last?.1 == 1)
            #expect(files.first?.2 == (kind == .sendfile ? 1 : 0))
            #expect(files.last?.2 == (kind == .sendfile ? 0 : 2))
        }
    }

    /// Only the text view shows mount_setattr's size; only JSON has the file objects.
    @Test func renderersSeeTheirOwnArguments() {
        let setattr = SyscallDescription.of(.mountSetattr).arguments
        #expect(setattr.filter { !$0.inJSON }.map(\.name.description) == ["size"])
        let copy = SyscallDescription.of(.copyFileRange).arguments
        #expect(copy.filter { !$0.inText }.map(\.name.description) == ["file_in", "file_out"])
        for kind in SyscallKind.allCases {
            #expect(SyscallDescription.of(kind).arguments.allSatisfy { $0.inJSON || $0.inText })
        }
    }

    /// The JSON fields of each kind, in order, are the ones docs/events.md lists.
    @Test func jsonFieldsAreTheDocumentedOnes() throws {
        let documented = try Self.documentedFields()
        #expect(Set(documented.keys) == Set(SyscallKind.allCases.map { $0.name.description }))
        for kind in SyscallKind.allCases {
            var fields: [String] = []
            for argument in SyscallDescription.of(kind).arguments where argument.inJSON {
                if case .mountAttr = argument.role {
                    fields += ["attr_set", "attr_clr", "propagation"]
                } else {
                    fields.append(argument.name.description)
                }
            }
            #expect(fields == documented[kind.name.description], "\(kind)")
        }
    }

    /// `| \`mount\` | \`source\`, \`target\`, ... |` rows of the syscall table:
    /// the backquoted names outside parentheses, before a " — " remark.
    static func documentedFields() throws -> [String: [String]] {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../docs/events.md").standardized.path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard let start = text.range(of: "| type | fields |\n|---|---|\n") else { return [:] }
        var result: [String: [String]] = [:]
        for line in text[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
            guard line.hasPrefix("| `") else { break }
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == 2 else { continue }
            let type = cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            var fieldsText = cells[1]
            if let remark = fieldsText.range(of: " — ") { fieldsText = String(fieldsText[..<remark.lowerBound]) }
            var depth = 0, inName = false, name = "", names: [String] = []
            for character in fieldsText {
                switch character {
                case "(": depth += 1
                case ")": depth -= 1
                case "`" where depth == 0:
                    if inName { names.append(name); name = "" }
                    inName.toggle()
                default:
                    if inName { name.append(character) }
                }
            }
            result[type] = names
        }
        return result
    }
}
