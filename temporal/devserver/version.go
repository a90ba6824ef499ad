package main

import (
	"fmt"

	uiversion "github.com/temporalio/ui-server/v2/server/version"
	"go.temporal.io/server/common/headers"
)

// devserverVersion names this binary in `--version`. It is deliberately not a CLI version:
// temporal/provision.sh recognises the real CLI v1.5.1 by "version 1.5.1", and this is not it.
const devserverVersion = "0.0.0-durable-rlhf-devserver"

// versionLine keeps the CLI's shape ("temporal version X (Server S, UI U)") because callers match
// /^temporal version / (test/infra/services.test.ts); the server and UI versions come from the
// linked modules, so they cannot drift from go.mod.
func versionLine() string {
	return fmt.Sprintf("temporal version %s (Server %s, UI %s)", devserverVersion, headers.ServerVersion, uiversion.UIVersion)
}
