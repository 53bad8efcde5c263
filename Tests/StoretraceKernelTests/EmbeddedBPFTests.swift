@testable import StoretraceBPF
import Testing

/// The decoder of the embedded objects: RFC 4648's test vectors, the
/// characters it refuses, and the objects themselves (ELF, 64-bit, BPF).
@Suite struct EmbeddedBPFTests {
    @Test func rfc4648Vectors() {
        let vectors = ["": "", "Zg==": "f", "Zm8=": "fo", "Zm9v": "foo", "Zm9vYg==": "foob", "Zm9vYmE=": "fooba", "Zm9vYmFy": "foobar"]
        for (text, bytes) in vectors {
            #expect(Base64.decode(text) == Array(bytes.utf8), "\(text)")
        }
        // Without the padding: the same bytes; a lone last character holds none.
        #expect(Base64.decode("Zm9vYg") == Array("foob".utf8))
        #expect(Base64.decode("Zm9vYmE") == Array("fooba".utf8))
        #expect(Base64.decode("Zm9vY") == Array("foo".utf8))
        // Every value of the alphabet, in order: 0x00 0x10 0x83 0x10 0x51 0x87 ...
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        let decoded = Base64.decode(alphabet)
        #expect(decoded?.count == 48)
        #expect(decoded?.prefix(6) == [0x00, 0x10, 0x83, 0x10, 0x51, 0x87])
        #expect(decoded?.suffix(3) == [0xF3, 0xDF, 0xBF])
    }

    @Test func charactersOutsideTheAlphabetAreRefused() {
        for text in ["Zm9v!", "Zm9vYmF\u{0}", "Zm 9v", "Zm9vYmFy-A==", "Zm9-", "é", "Zm\n9v"] {
            #expect(Base64.decode(text) == nil, "\(text.debugDescription)")
        }
        // After the padding nothing is read.
        #expect(Base64.decode("Zg==!!") == Array("f".utf8))
    }

    @Test func embeddedObjectsAreBPFELF() throws {
        #expect(EmbeddedBPF.names == ["storetrace.bpf.o", "storetrace_claim.bpf.o"])
        for name in EmbeddedBPF.names {
            let object = try #require(EmbeddedBPF.object(named: name))
            #expect(object.count > 4096, "\(name)")
            #expect(Array(object.prefix(4)) == [0x7F, 0x45, 0x4C, 0x46], "\(name)") // \x7fELF
            #expect(object[4] == 2, "\(name) 64-bit") // ELFCLASS64
            #expect(object[18] == 247 && object[19] == 0, "\(name) e_machine EM_BPF") // little-endian 247
        }
        #expect(EmbeddedBPF.object(named: "missing.bpf.o") == nil)
    }
}
