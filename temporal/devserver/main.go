// Command temporal-devserver is durable-rlhf's fallback for the Temporal CLI: a Temporal server built
// from go.temporal.io/server at the version Temporal CLI v1.5.1 embeds, answering the subset of the
// CLI's command line that temporal/start-dev.sh, scripts/test.sh, the tests and the SDK's
// `existing-path` dev server use. temporal/provision.sh builds it when `go install` of the CLI fails.
//
//	temporal-devserver --version
//	temporal-devserver server start-dev [flags]          (see startdev_flags.go)
//	temporal-devserver operator cluster health [--address A] [--command-timeout D]
//	temporal-devserver operator search-attribute list [--address A] [--namespace N] [--command-timeout D]
package main

import (
	"fmt"
	"os"
	"strings"
)

const usage = `usage:
  temporal-devserver --version
  temporal-devserver server start-dev [--ip IP] [--port P] [--ui-port U | --headless] [--db-filename F]
      [--namespace N]... [--search-attribute KEY=TYPE]... [--dynamic-config-value KEY=JSON]...
      [--log-level debug|info|warn|error|never] [--log-format text|pretty|json] [--http-port P] [--ui-ip IP]
  temporal-devserver operator cluster health [--address HOST:PORT] [--command-timeout DURATION]
  temporal-devserver operator search-attribute list [--address HOST:PORT] [--namespace N] [--command-timeout DURATION]`

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "temporal-devserver: %v\n", err)
		os.Exit(1)
	}
}

// run dispatches on the leading words of the command line, as the CLI's command tree does.
func run(args []string) error {
	command := leadingWords(args, 3)
	switch {
	case len(args) == 1 && (args[0] == "--version" || args[0] == "-v" || args[0] == "version"):
		fmt.Println(versionLine())
		return nil
	case len(args) == 1 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help"):
		fmt.Println(usage)
		return nil
	case leadingWords(args, 2) == "server start-dev":
		return runStartDev(args[2:])
	case command == "operator cluster health":
		return runClusterHealth(args[3:])
	case command == "operator search-attribute list":
		return runSearchAttributeList(args[3:])
	default:
		return fmt.Errorf("unsupported command %q: this fallback implements only\n%s", strings.Join(args, " "), usage)
	}
}

// leadingWords joins up to n arguments before the first flag.
func leadingWords(args []string, n int) string {
	var words []string
	for _, a := range args {
		if len(words) == n || strings.HasPrefix(a, "-") {
			break
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}
