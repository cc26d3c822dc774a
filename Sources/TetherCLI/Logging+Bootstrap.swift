import Logging

/// Diagnostics go to stderr at `level`; stdout is for output people and scripts parse.
func bootstrapLogging(level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}
