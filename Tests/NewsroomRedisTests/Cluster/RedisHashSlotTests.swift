import NIOCore
import NewsroomRedis
import Testing

@Suite struct RedisHashSlotTests {
    @Test(arguments: [
        ("foo", 12182),
        ("bar", 5061),
        ("123456789", 0x31C3 & 0x3FFF),
        ("{user1000}.following", RedisHashSlot.slot(for: "user1000")),
        ("{user1000}.followers", RedisHashSlot.slot(for: "user1000")),
        ("foo{}{bar}", RedisHashSlot.slot(for: "foo{}{bar}")),  // empty tag: the whole key
        ("foo{{bar}}zap", RedisHashSlot.slot(for: "{bar")),  // the tag is "{bar"
        ("foo{bar}{zap}", RedisHashSlot.slot(for: "bar")),  // only the first tag
    ])
    func slots(_ key: String, _ slot: Int) {
        #expect(RedisHashSlot.slot(for: key) == slot)
    }

    @Test func bytesAndStringsAgree() {
        for key in ["", "a", "topic:{t1}:meta", "{", "}{", "\u{1F600}{x}"] {
            #expect(RedisHashSlot.slot(for: ByteBuffer(string: key)) == RedisHashSlot.slot(for: key))
        }
    }

    @Test func keysOfOneTopicShareASlot() {
        let slot = RedisHashSlot.slot(for: "newsroom:{chat-42}:meta")
        #expect(RedisHashSlot.slot(for: "newsroom:{chat-42}:stream") == slot)
        #expect(RedisHashSlot.slot(for: "newsroom:{chat-42}:live") == slot)
    }
}
