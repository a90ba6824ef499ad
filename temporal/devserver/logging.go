package main

import (
	"fmt"

	"go.temporal.io/server/common/log"
	"go.uber.org/zap"
)

// zapLevel checks a CLI log level. The server's own parser (log.ParseZapLevel) silently turns an
// unknown word into info, so a typo would flood the log; here it is an error instead.
func zapLevel(level string) (string, error) {
	switch level {
	case "debug", "info", "warn", "error", "never":
		return level, nil
	}
	return "", fmt.Errorf("--log-level %q: want debug, info, warn, error or never", level)
}

// zapEncoding maps the CLI's log formats to zap encodings: text and pretty are both meant for people.
func zapEncoding(format string) (string, error) {
	switch format {
	case "text", "pretty":
		return "console", nil
	case "json":
		return "json", nil
	}
	return "", fmt.Errorf("--log-format %q: want text, pretty or json", format)
}

// serverLogger is the server's structured logger on stderr at the requested level ("never": none).
func serverLogger(o *startDevOptions) log.Logger {
	if o.LogLevel == "never" {
		return log.NewZapLogger(zap.NewNop())
	}
	encoding, _ := zapEncoding(o.LogFormat) // validated in parseStartDevFlags
	return log.NewZapLogger(log.BuildZapLogger(log.Config{Level: o.LogLevel, Format: encoding}))
}
