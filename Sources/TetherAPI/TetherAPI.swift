// The generated `APIProtocol`, `Operations` and `Components` come from openapi.yaml
// (Sources/TetherAPI/openapi.yaml is a symlink to the root file). The SSE live tail
// (`tag: stream`) is filtered out here and served on Hummingbird directly.
