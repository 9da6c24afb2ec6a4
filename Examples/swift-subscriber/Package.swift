// swift-tools-version: 6.1
import PackageDescription

// A small program that follows one topic with the NewsroomClient library, from this repository.
let package = Package(
    name: "swift-subscriber",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Newsroom", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "SwiftSubscriber",
            dependencies: [
                .product(name: "NewsroomClient", package: "Newsroom"),
                .product(name: "NewsroomCore", package: "Newsroom"),
            ]
        ),
    ]
)
