extension Duration {
    /// The duration in seconds, for rates and ratios (never for display: `Samples.ms`).
    var inSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
