import NewsroomRedis
import Testing

@Suite struct ConfigurationTests {
    @Test func parsesAFullURL() throws {
        let configuration = try RedisClient.Configuration(url: "redis://alice:s%40cret@cache.internal:6380/3")
        #expect(configuration.host == "cache.internal")
        #expect(configuration.port == 6380)
        #expect(configuration.username == "alice")
        #expect(configuration.password == "s@cret")
        #expect(configuration.database == 3)
        #expect(configuration.tls == nil)
    }

    @Test func parsesShortForms() throws {
        let plain = try RedisClient.Configuration(url: "redis://localhost")
        #expect(plain.host == "localhost" && plain.port == 6379 && plain.database == 0)
        #expect(plain.username == nil && plain.password == nil)

        let passwordOnly = try RedisClient.Configuration(url: "redis://:pw@10.0.0.1:7000")
        #expect(passwordOnly.username == nil && passwordOnly.password == "pw" && passwordOnly.port == 7000)

        let ipv6 = try RedisClient.Configuration(url: "rediss://[::1]:6390/1")
        #expect(ipv6.host == "::1" && ipv6.port == 6390 && ipv6.database == 1 && ipv6.tls != nil)

        let trailing = try RedisClient.Configuration(url: "redis://h:1/")
        #expect(trailing.database == 0)
    }

    @Test(arguments: [
        "http://localhost", "redis://", "redis://:6379", "redis://h:0", "redis://h:99999", "redis://h:x",
        "redis://h/db", "redis://h/-1", "redis://u:%zz@h", "redis://[::1",
    ])
    func rejectsBadURLs(_ url: String) {
        #expect {
            _ = try RedisClient.Configuration(url: url)
        } throws: { error in
            (error as? RedisError)?.code == .invalidURL
        }
    }
}
