import StoretraceFixtures
import Testing
@testable import StoretraceDecode
@testable import StoretraceRender

@Suite struct ClaimRenderTests {
    func text(_ builder: ClaimBuilder) throws -> String {
        var out = OutputBuffer()
        try builder.withRecord { TextRenderer(color: false, utcOffsetSeconds: 0, clock: clock).renderClaim($0, into: &out) }
        return String(decoding: out.bytes, as: UTF8.self)
    }

    func json(_ builder: ClaimBuilder, enrichment: SnapshotEnrichment? = nil) throws -> String {
        var out = OutputBuffer()
        try builder.withRecord { JSONRenderer(clock: clock, enrichment: enrichment).renderClaim($0, into: &out) }
        return String(decoding: out.bytes, as: UTF8.self)
    }

    @Test func grantedAndRefusedClaimsAsText() throws {
        #expect(try text(ClaimBuilder()) ==
            "14:07:31.123456  python3[812]" + String(repeating: " ", count: 11) + "mnt:4026531832" + String(repeating: " ", count: 13) + "claim(7:0, holder=0xffff888103c4e400) = 0\n")
        var refused = ClaimBuilder()
        refused.comm = "mount\u{1B}[2J"
        refused.pid = 815
        refused.ret = -16
        #expect(try text(refused) ==
            "14:07:31.123456  mount\\x1b[2J[815]" + String(repeating: " ", count: 6) + "mnt:4026531832" + String(repeating: " ", count: 13) + "claim(7:0, holder=0xffff888103c4e400) = -1 EBUSY\n")
    }

    @Test func claimAsJSON() throws {
        #expect(try json(ClaimBuilder()) == #"{"time":"2026-11-23T14:07:31.123456789Z","type":"claim","pid":812,"tid":812,"comm":"python3","uid":0,"mntns":4026531832,"ret":0,"errno":null,"dev":"7:0","holder":"0xffff888103c4e400"}"# + "\n")
        var refused = ClaimBuilder()
        refused.ret = -16
        refused.mntns = 4_026_532_201
        let enrichment = SnapshotEnrichment(NodeSnapshotIndex(smallNodeSnapshot()))
        #expect(try json(refused, enrichment: enrichment).contains(#""mntns":4026532201,"mntns_owner":{"pid":812,"comm":"sleep"},"ret":-16,"errno":"EBUSY","dev":"7:0""#))
    }
}
