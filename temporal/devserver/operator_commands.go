package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// workflowServiceName is the gRPC health-check service the frontend reports on (what the SDK's
// CheckHealth and `temporal operator cluster health` ask about).
const workflowServiceName = "temporal.api.workflowservice.v1.WorkflowService"

// clientFlags are the connection flags the two operator commands share with the CLI.
type clientFlags struct {
	address   string
	namespace string
	timeout   time.Duration
}

func parseClientFlags(command string, args []string, withNamespace bool) (*clientFlags, error) {
	c := &clientFlags{}
	fs := flag.NewFlagSet(command, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.address, "address", "127.0.0.1:7233", "frontend host:port")
	fs.DurationVar(&c.timeout, "command-timeout", 10*time.Second, "overall time limit (0: none)")
	if withNamespace {
		fs.StringVar(&c.namespace, "namespace", defaultNamespace, "namespace")
	}
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%s: %w", command, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%s: unexpected arguments %q", command, fs.Args())
	}
	return c, nil
}

// withConnection dials the frontend in plain text (dev servers have no TLS) and runs fn under the
// command timeout.
func withConnection(c *clientFlags, fn func(context.Context, *grpc.ClientConn) error) error {
	conn, err := grpc.NewClient(c.address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", c.address, err)
	}
	defer func() { _ = conn.Close() }()
	ctx := context.Background()
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	return fn(ctx, conn)
}

// runClusterHealth prints SERVING and exits 0 when the frontend reports its workflow service as
// serving; anything else is an error (exit 1), which is what temporal/start-dev.sh polls for.
func runClusterHealth(args []string) error {
	c, err := parseClientFlags("operator cluster health", args, false)
	if err != nil {
		return err
	}
	return withConnection(c, func(ctx context.Context, conn *grpc.ClientConn) error {
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: workflowServiceName})
		if err != nil {
			return fmt.Errorf("failed checking cluster health: %w", err)
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("cluster health: %s", resp.GetStatus())
		}
		fmt.Println("SERVING")
		return nil
	})
}

// runSearchAttributeList prints one "Name Type" line per search attribute of the namespace,
// system ones first, each group sorted (the CLI prints a table with the same two columns).
func runSearchAttributeList(args []string) error {
	c, err := parseClientFlags("operator search-attribute list", args, true)
	if err != nil {
		return err
	}
	return withConnection(c, func(ctx context.Context, conn *grpc.ClientConn) error {
		resp, err := operatorservice.NewOperatorServiceClient(conn).ListSearchAttributes(ctx,
			&operatorservice.ListSearchAttributesRequest{Namespace: c.namespace})
		if err != nil {
			return fmt.Errorf("unable to list search attributes: %w", err)
		}
		fmt.Printf("%-40s %s\n", "Name", "Type")
		for _, group := range []map[string]enumspb.IndexedValueType{resp.GetSystemAttributes(), resp.GetCustomAttributes()} {
			names := make([]string, 0, len(group))
			for name := range group {
				names = append(names, name)
			}
			slices.Sort(names)
			for _, name := range names {
				fmt.Printf("%-40s %s\n", name, group[name])
			}
		}
		return nil
	})
}
