package main

import (
	"strings"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
)

// newWebUI is the Temporal Web UI (github.com/temporalio/ui-server, the version the CLI v1.5.1
// embeds, assets included) serving o.UIIP:o.UIPort against our frontend.
func newWebUI(o *startDevOptions) *uiserver.Server {
	return uiserver.NewServer(uioptions.WithConfigProvider(&uiconfig.Config{
		// The UI server joins Host and Port with a plain colon, so an IPv6 host needs its brackets.
		Host:                bracketIPv6(o.UIIP),
		Port:                o.UIPort,
		TemporalGRPCAddress: hostPort(dialIP(o.IP), o.Port),
		EnableUI:            true,
		// Plain http on loopback: the CSRF cookie must not require https.
		CORS: uiconfig.CORS{CookieInsecure: true},
		// The UI's request log would drown the server's warnings in dev.log.
		HideLogs: true,
	}))
}

func bracketIPv6(ip string) string {
	if strings.Contains(ip, ":") {
		return "[" + ip + "]"
	}
	return ip
}
