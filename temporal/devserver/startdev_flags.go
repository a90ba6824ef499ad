package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
)

// startDevOptions is what `server start-dev` accepts: the CLI v1.5.1 flags our scripts, the tests and
// the SDK's ephemeral server pass (sdk-core crates/sdk-core/src/ephemeral_server/mod.rs builds
// --port --namespace --ip --log-format --log-level --dynamic-config-value --db-filename
// --ui-port|--headless --search-attribute). Defaults are the CLI's.
type startDevOptions struct {
	// IP the frontend (and, unless UIIP is set, the Web UI) binds to. "localhost" is read as
	// 127.0.0.1 because the server's membership needs an IP, not a name (the CLI does the same).
	IP string
	// Port of the frontend gRPC service; 7233 is Temporal's well-known port.
	Port int
	// HTTPPort of the frontend's HTTP API; 0 leaves it off (nothing in this project uses it).
	HTTPPort int
	// UIPort of the Web UI; 0 means Port+1000, the CLI's default.
	UIPort int
	// UIIP the Web UI binds to; empty means IP.
	UIIP string
	// Headless starts no Web UI.
	Headless bool
	// DBFilename is the SQLite file; empty keeps everything in memory (lost on exit).
	DBFilename string
	// Namespaces to register besides "default", which always exists (as with the CLI).
	Namespaces []string
	// SearchAttributes to register on every namespace, by name.
	SearchAttributes map[string]enumspb.IndexedValueType
	// DynamicConfig values, on top of devDynamicConfigDefaults.
	DynamicConfig map[string]any
	// LogLevel is debug|info|warn|error|never; warn by default because the server is chatty at info.
	LogLevel string
	// LogFormat is text|pretty (human-readable console lines) or json.
	LogFormat string
}

// repeatedFlag collects every occurrence of a flag that may be given more than once.
type repeatedFlag []string

func (r *repeatedFlag) String() string     { return strings.Join(*r, ",") }
func (r *repeatedFlag) Set(v string) error { *r = append(*r, v); return nil }

func parseStartDevFlags(args []string) (*startDevOptions, error) {
	o := &startDevOptions{}
	var namespaces, searchAttributes, dynamicConfig repeatedFlag
	fs := flag.NewFlagSet("server start-dev", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.IP, "ip", "localhost", "frontend bind IP")
	fs.IntVar(&o.Port, "port", 7233, "frontend gRPC port")
	fs.IntVar(&o.HTTPPort, "http-port", 0, "frontend HTTP port (0: off)")
	fs.IntVar(&o.UIPort, "ui-port", 0, "Web UI port (0: port+1000)")
	fs.StringVar(&o.UIIP, "ui-ip", "", "Web UI bind IP (empty: --ip)")
	fs.BoolVar(&o.Headless, "headless", false, "no Web UI")
	fs.StringVar(&o.DBFilename, "db-filename", "", "SQLite file (empty: in memory)")
	fs.Var(&namespaces, "namespace", "extra namespace (repeatable)")
	fs.Var(&searchAttributes, "search-attribute", "KEY=TYPE (repeatable)")
	fs.Var(&dynamicConfig, "dynamic-config-value", "KEY=JSON (repeatable)")
	fs.StringVar(&o.LogLevel, "log-level", "warn", "debug|info|warn|error|never")
	fs.StringVar(&o.LogFormat, "log-format", "text", "text|pretty|json")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("server start-dev: %w", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("server start-dev: unexpected arguments %q", fs.Args())
	}
	if o.IP == "localhost" {
		o.IP = "127.0.0.1"
	}
	if o.UIIP == "" {
		o.UIIP = o.IP
	}
	if o.UIPort == 0 {
		o.UIPort = min(o.Port+1000, 65535)
	}
	o.Namespaces = withoutDefaultNamespace(namespaces)
	var err error
	if o.SearchAttributes, err = parseSearchAttributes(searchAttributes); err != nil {
		return nil, err
	}
	if o.DynamicConfig, err = parseDynamicConfig(dynamicConfig); err != nil {
		return nil, err
	}
	if _, err := zapLevel(o.LogLevel); err != nil {
		return nil, err
	}
	if _, err := zapEncoding(o.LogFormat); err != nil {
		return nil, err
	}
	return o, nil
}

// withoutDefaultNamespace drops "default" and repeats: the SDK passes --namespace default.
func withoutDefaultNamespace(names []string) []string {
	seen := map[string]bool{defaultNamespace: true}
	var out []string
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// splitKeyValue splits "KEY=VALUE" at the first "=".
func splitKeyValue(flagName, kv string) (string, string, error) {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || k == "" {
		return "", "", fmt.Errorf("--%s %q: want KEY=VALUE", flagName, kv)
	}
	return k, v, nil
}

// parseSearchAttributes reads NAME=TYPE; TYPE is matched case-insensitively against the API's
// short names (Keyword, Text, Int, Double, Bool, Datetime, KeywordList), as the CLI does, so the
// SDK's "Keyword" and a user's "keyword" both work.
func parseSearchAttributes(pairs []string) (map[string]enumspb.IndexedValueType, error) {
	out := make(map[string]enumspb.IndexedValueType, len(pairs))
	for _, kv := range pairs {
		name, typeName, err := splitKeyValue("search-attribute", kv)
		if err != nil {
			return nil, err
		}
		t, ok := indexedValueType(typeName)
		if !ok {
			return nil, fmt.Errorf("--search-attribute %q: unknown type %q", kv, typeName)
		}
		if prev, dup := out[name]; dup && prev != t {
			return nil, fmt.Errorf("--search-attribute %q: %s is already given as %s", kv, name, prev)
		}
		out[name] = t
	}
	return out, nil
}

func indexedValueType(name string) (enumspb.IndexedValueType, bool) {
	for short, value := range enumspb.IndexedValueType_shorthandValue {
		if strings.EqualFold(short, name) && value != int32(enumspb.INDEXED_VALUE_TYPE_UNSPECIFIED) {
			return enumspb.IndexedValueType(value), true
		}
	}
	return enumspb.INDEXED_VALUE_TYPE_UNSPECIFIED, false
}

// parseDynamicConfig reads KEY=JSON. Whole JSON numbers become int, because the server's typed
// settings read an int setting only from a Go int (not float64, not json.Number).
func parseDynamicConfig(pairs []string) (map[string]any, error) {
	out := make(map[string]any, len(pairs))
	for _, kv := range pairs {
		key, raw, err := splitKeyValue("dynamic-config-value", kv)
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
		dec.UseNumber()
		var value any
		if err := dec.Decode(&value); err != nil {
			return nil, fmt.Errorf("--dynamic-config-value %q: the value is not JSON: %w", kv, err)
		}
		if dec.More() {
			return nil, errors.New("--dynamic-config-value " + kv + ": trailing data after the JSON value")
		}
		if n, ok := value.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				value = int(i)
			} else if f, err := n.Float64(); err == nil {
				value = f
			}
		}
		out[key] = value
	}
	return out, nil
}
