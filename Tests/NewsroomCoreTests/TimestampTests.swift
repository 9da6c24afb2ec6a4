import NewsroomCore
import Testing

@Suite struct TimestampTests {
    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (Int64(1_795_613_908_123), "2026-11-25T13:38:28.123Z"),
        (Int64(951_782_400_000), "2000-02-29T00:00:00.000Z"),
        (Int64(-1), "1969-12-31T23:59:59.999Z"),
    ])
    func formatsRFC3339WithMilliseconds(_ millis: Int64, _ expected: String) {
        #expect(Timestamp(millisecondsSince1970: millis).description == expected)
        #expect(Timestamp(rfc3339: expected)?.millisecondsSince1970 == millis)
    }

    @Test func parsesOffsetsAndRejectsGarbage() {
        #expect(Timestamp(rfc3339: "2026-11-25T14:38:28.5+01:00")?.millisecondsSince1970 == 1_795_613_908_500)
        #expect(Timestamp(rfc3339: "yesterday") == nil)
        #expect(Timestamp(rfc3339: "2026-13-25T14:38:28Z") == nil)
    }

    @Test func nowIsRecent() {
        #expect(Timestamp.now().millisecondsSince1970 > 1_700_000_000_000)
    }
}
