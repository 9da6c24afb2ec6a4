import NIOCore
import NewsroomUpstream
import Testing

@testable import NewsroomServer

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

@Suite("Errors that say what to change")
struct ListenErrorTests {
    @Test("a port in use names the address and the flag of its listener")
    func inUse() {
        let cause = IOError(errnoCode: EADDRINUSE, reason: "bind(descriptor:ptr:bytes:)")
        #expect(
            ListenError(host: "127.0.0.1", port: 8080, listener: .http, cause: cause).description
                == "cannot listen on 127.0.0.1:8080: address already in use — pick another with --port (or NEWSROOM_PORT)"
        )
        #expect(
            ListenError(host: "::1", port: 50051, listener: .grpc, cause: cause).description
                == "cannot listen on [::1]:50051: address already in use — pick another with --grpc-port (or NEWSROOM_GRPC_PORT)"
        )
    }

    @Test("a privileged port and a foreign address say what to change")
    func otherCauses() {
        let denied = ListenError(
            host: "0.0.0.0", port: 80, listener: .http, cause: IOError(errnoCode: EACCES, reason: "bind"))
        #expect(
            denied.description.hasSuffix(
                "permission denied — ports below 1024 need privileges: pick another with --port (or NEWSROOM_PORT)"))
        let foreign = ListenError(
            host: "192.0.2.1", port: 1, listener: .http, cause: IOError(errnoCode: EADDRNOTAVAIL, reason: "bind"))
        #expect(
            foreign.description
                == "cannot listen on 192.0.2.1:1: this machine has no such address — change --host (or NEWSROOM_HOST)")
    }

    @Test("hosted providers without a key are listed; a key or the caller's key takes one off")
    func providersWithoutKeys() {
        var configuration = GenerationManager.Configuration()
        #expect(configuration.hostedProvidersWithoutKeys == ["anthropic", "gemini", "openai", "openai-responses"])
        configuration.providers["openai"]?.apiKey = "sk"
        configuration.providers["anthropic"]?.passCallerKey = true
        #expect(configuration.hostedProvidersWithoutKeys == ["gemini", "openai-responses"])
    }
}
