import ArgumentParser

/// `newsroom loadtest`: simulated viewers and a publisher against a hub (see NewsroomLoadTest).
struct LoadTest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Load-test a hub with many simulated clients.")

    func run() async throws {
        throw ValidationError("not implemented yet")
    }
}
