package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"google.golang.org/grpc"
)

// ensureSearchAttributes registers, through the running server's operator API, the requested
// search attributes a namespace lacks. prepareStore registers them with a namespace it creates;
// this covers a namespace already in an older SQLite file that was created without them (the
// CLI's dev server leaves such a namespace as it is). The same name with another type is an
// error: a Keyword `AgentId` that silently stayed Text would break every exact-match query.
func ensureSearchAttributes(ctx context.Context, conn grpc.ClientConnInterface, namespaces []string, want map[string]enumspb.IndexedValueType) error {
	if len(want) == 0 {
		return nil
	}
	operator := operatorservice.NewOperatorServiceClient(conn)
	for _, ns := range namespaces {
		listed, err := untilAnswered(ctx, func(ctx context.Context) (*operatorservice.ListSearchAttributesResponse, error) {
			return operator.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
		})
		if err != nil {
			return fmt.Errorf("listing the search attributes of %s: %w", ns, err)
		}
		missing, err := missingSearchAttributes(ns, listed.GetCustomAttributes(), want)
		if err != nil {
			return err
		}
		if len(missing) == 0 {
			continue
		}
		if _, err := operator.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
			Namespace: ns, SearchAttributes: missing,
		}); err != nil {
			return fmt.Errorf("adding search attributes %v to %s: %w", slices.Sorted(maps.Keys(missing)), ns, err)
		}
	}
	return nil
}

// missingSearchAttributes is want minus what the namespace has; a name it has with another type
// is an error.
func missingSearchAttributes(ns string, have, want map[string]enumspb.IndexedValueType) (map[string]enumspb.IndexedValueType, error) {
	missing := map[string]enumspb.IndexedValueType{}
	for name, t := range want {
		got, ok := have[name]
		switch {
		case !ok:
			missing[name] = t
		case got != t:
			return nil, fmt.Errorf("namespace %s has search attribute %s as %s, not %s; use a new --db-filename", ns, name, got, t)
		}
	}
	return missing, nil
}

// untilAnswered retries call while the server finishes starting (Start returns before every
// service has loaded its namespace registry), at most startupGrace in all.
func untilAnswered[T any](ctx context.Context, call func(context.Context) (T, error)) (T, error) {
	const startupGrace = 60 * time.Second
	ctx, cancel := context.WithTimeout(ctx, startupGrace)
	defer cancel()
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 5*time.Second)
		out, err := call(attempt)
		cancelAttempt()
		if err == nil {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return out, fmt.Errorf("no answer within %s: %w", startupGrace, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
