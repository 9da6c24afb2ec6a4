import Testing

@testable import NewsroomHTTP

/// Path segments and query parameters of a request target, split on their ASCII delimiters.
@Suite struct RequestTargetTests {
    @Test func segmentsAndQuery() {
        let target = RequestTarget("/v1/topics/demo/events?after=3&policy=drop_oldest")
        #expect(target.segments == ["v1", "topics", "demo", "events"])
        #expect(target.query == ["after": "3", "policy": "drop_oldest"])
    }

    @Test func emptySegmentsAndPairsAreSkipped() {
        let target = RequestTarget("//v1///topics/?&&a=1&&")
        #expect(target.segments == ["v1", "topics"])
        #expect(target.query == ["a": "1"])
    }

    @Test func pathSegmentsArePercentDecodedButPlusIsNotASpace() {
        let target = RequestTarget("/v1/topics/chat%3A42/a+b/%61bc")
        #expect(target.segments == ["v1", "topics", "chat:42", "a+b", "abc"])
    }

    @Test func aMalformedEscapeInASegmentIsKeptAsItIs() {
        #expect(RequestTarget("/v1/topics/bad%4").segments == ["v1", "topics", "bad%4"])
        #expect(RequestTarget("/v1/topics/bad%zz").segments == ["v1", "topics", "bad%zz"])
    }

    @Test func queryValuesAreFormDecodedAndTheFirstOfARepeatedKeyWins() {
        let target = RequestTarget("/x?q=a+b%21&token=t%3D1&q=second&flag&=v&bad=%zz&%zz=dropped")
        #expect(target.query["q"] == "a b!")
        #expect(target.query["token"] == "t=1")  // only the first `=` splits
        #expect(target.query["flag"] == "")
        #expect(target.query[""] == "v")
        #expect(target.query["bad"] == "")  // a malformed value reads as empty
        #expect(target.query.count == 5)  // a malformed key drops its pair
    }

    @Test func nonASCIIBytesStayWhole() {
        // A `?` or `/` byte never occurs inside a multi-byte UTF-8 character; a combining mark after a
        // delimiter does not hide it (the target is split by bytes, not by grapheme clusters).
        let target = RequestTarget("/v1/topics/caf\u{E9}/\u{301}x?k=\u{301}")
        #expect(target.segments == ["v1", "topics", "caf\u{E9}", "\u{301}x"])
        #expect(target.query == ["k": "\u{301}"])
    }

    @Test func noPathOrNoQuery() {
        #expect(RequestTarget("/").segments.isEmpty)
        #expect(RequestTarget("/").query.isEmpty)
        #expect(RequestTarget("?a=1").segments.isEmpty)
        #expect(RequestTarget("?a=1").query == ["a": "1"])
        #expect(RequestTarget("/a?").query.isEmpty)
    }
}
