package main

import (
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
)

func TestParseStartDevFlagsAcceptsTheSDKsArguments(t *testing.T) {
	// The argument list sdk-core's ephemeral server builds for an `existing-path` CLI, plus the
	// search attributes @temporalio/testing appends (TypedSearchAttributes.toMetadataType spelling).
	o, err := parseStartDevFlags([]string{
		"--port", "7300", "--namespace", "default", "--ip", "127.0.0.1", "--log-format", "pretty", "--log-level", "warn",
		"--dynamic-config-value", "frontend.enableServerVersionCheck=false",
		"--dynamic-config-value", "limit.maxIDLength=255",
		"--db-filename", "/tmp/x.db", "--ui-port", "8400",
		"--search-attribute", "AgentId=Keyword", "--search-attribute", "RunPhase=keyword",
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.Port != 7300 || o.UIPort != 8400 || o.UIIP != "127.0.0.1" || o.Headless || o.DBFilename != "/tmp/x.db" {
		t.Errorf("unexpected options %+v", o)
	}
	if len(o.Namespaces) != 0 {
		t.Errorf("--namespace default must not be registered twice, got extra %v", o.Namespaces)
	}
	for _, name := range []string{"AgentId", "RunPhase"} {
		if o.SearchAttributes[name] != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			t.Errorf("%s: got %v, want Keyword", name, o.SearchAttributes[name])
		}
	}
	if v, ok := o.DynamicConfig["limit.maxIDLength"].(int); !ok || v != 255 {
		t.Errorf("a whole JSON number must become an int, got %#v", o.DynamicConfig["limit.maxIDLength"])
	}
	if v, ok := o.DynamicConfig["frontend.enableServerVersionCheck"].(bool); !ok || v {
		t.Errorf("got %#v, want false", o.DynamicConfig["frontend.enableServerVersionCheck"])
	}
}

func TestParseStartDevFlagsDefaults(t *testing.T) {
	o, err := parseStartDevFlags([]string{"--ip", "localhost", "--port", "65000"})
	if err != nil {
		t.Fatal(err)
	}
	// localhost is read as 127.0.0.1; the UI port is port+1000 capped at the largest port.
	if o.IP != "127.0.0.1" || o.UIPort != 65535 || o.LogLevel != "warn" {
		t.Errorf("unexpected defaults %+v", o)
	}
}

func TestParseStartDevFlagsRejects(t *testing.T) {
	for _, args := range [][]string{
		{"--search-attribute", "AgentId"},
		{"--search-attribute", "AgentId=Nope"},
		{"--search-attribute", "AgentId=Keyword", "--search-attribute", "AgentId=Text"},
		{"--dynamic-config-value", "k={"},
		{"--dynamic-config-value", "k=1 2"},
		{"--log-level", "verbose"},
		{"--log-format", "xml"},
		{"--metrics-port", "9000"},
		{"extra"},
	} {
		if _, err := parseStartDevFlags(args); err == nil {
			t.Errorf("%q: want an error", args)
		}
	}
}

func TestMissingSearchAttributes(t *testing.T) {
	kw, text := enumspb.INDEXED_VALUE_TYPE_KEYWORD, enumspb.INDEXED_VALUE_TYPE_TEXT
	want := map[string]enumspb.IndexedValueType{"AgentId": kw, "RunPhase": kw}
	missing, err := missingSearchAttributes("ns", map[string]enumspb.IndexedValueType{"AgentId": kw}, want)
	if err != nil || len(missing) != 1 || missing["RunPhase"] != kw {
		t.Errorf("got %v, %v; want only RunPhase missing", missing, err)
	}
	if _, err := missingSearchAttributes("ns", map[string]enumspb.IndexedValueType{"AgentId": text}, want); err == nil {
		t.Error("an attribute registered with another type must be an error")
	}
}

func TestLeadingWords(t *testing.T) {
	cases := map[string][]string{
		"server start-dev":               {"server", "start-dev", "--port", "1"},
		"operator cluster health":        {"operator", "cluster", "health", "--address", "a"},
		"operator search-attribute list": {"operator", "search-attribute", "list", "extra"},
		"":                               {"--version"},
	}
	for want, args := range cases {
		if got := leadingWords(args, 3); got != want {
			t.Errorf("leadingWords(%q) = %q, want %q", args, got, want)
		}
	}
}
