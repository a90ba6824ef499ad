package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	uiserver "github.com/temporalio/ui-server/v2/server"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/temporal"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// runStartDev runs `server start-dev` until SIGINT or SIGTERM, then stops the UI and the server
// (which closes the SQLite file cleanly) and returns.
func runStartDev(args []string) error {
	o, err := parseStartDevFlags(args)
	if err != nil {
		return err
	}
	// Caught from here on: a SIGTERM that arrives while the server starts stops it cleanly once it
	// has started, instead of killing the process in the middle of writing the SQLite file.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	if err := checkPorts(o); err != nil {
		return err
	}
	ports, err := allocateServicePorts(o.IP, o.Port)
	if err != nil {
		return err
	}
	namespaces := append([]string{defaultNamespace}, o.Namespaces...)
	sql := sqliteConfig(o.DBFilename)
	if err := prepareStore(sql, o.DBFilename, namespaces, o.SearchAttributes, clusterName); err != nil {
		return err
	}

	server, err := newServer(o, sql, ports)
	if err != nil {
		return fmt.Errorf("building the server: %w", err)
	}
	if err := server.Start(); err != nil {
		return fmt.Errorf("starting the server: %w", err)
	}
	defer func() { _ = server.Stop() }()

	uiFailed := make(chan error, 1)
	if !o.Headless {
		ui := newWebUI(o)
		defer ui.Stop()
		go serveWebUI(ui, uiFailed)
	}

	if err := registerMissingSearchAttributes(o, namespaces); err != nil {
		return err
	}
	printBanner(o)

	select {
	case <-stop:
		fmt.Println("Stopping server...")
		return nil
	case err := <-uiFailed:
		return fmt.Errorf("the Web UI stopped: %w", err)
	}
}

// checkPorts fails before anything is written when a port the caller chose is taken.
func checkPorts(o *startDevOptions) error {
	if err := requirePortFree("--port", o.IP, o.Port); err != nil {
		return err
	}
	if o.HTTPPort > 0 {
		if err := requirePortFree("--http-port", o.IP, o.HTTPPort); err != nil {
			return err
		}
	}
	if !o.Headless {
		return requirePortFree("--ui-port", o.UIIP, o.UIPort)
	}
	return nil
}

func newServer(o *startDevOptions, sql *config.SQL, ports servicePorts) (temporal.Server, error) {
	return temporal.NewServer(
		temporal.WithConfig(serverConfig(o, sql, ports)),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(staticHosts(o, ports)),
		temporal.WithLogger(serverLogger(o)),
		temporal.WithDynamicConfigClient(dynamicConfig(o)),
		// A dev server has no auth: every caller may do everything (as with the CLI's).
		temporal.WithAuthorizer(authorization.NewNoopAuthorizer()),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return authorization.NewNoopClaimMapper() }),
	)
}

// serveWebUI runs the UI's blocking Start. It returns nil after Stop; a failure to listen is
// fatal inside the UI server itself (it logs and exits), so only a config error arrives here.
func serveWebUI(ui *uiserver.Server, failed chan<- error) {
	if err := ui.Start(); err != nil {
		failed <- err
	}
}

// registerMissingSearchAttributes connects to our own frontend and runs ensureSearchAttributes.
func registerMissingSearchAttributes(o *startDevOptions, namespaces []string) error {
	conn, err := grpc.NewClient(hostPort(dialIP(o.IP), o.Port), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("connecting to our own frontend: %w", err)
	}
	defer func() { _ = conn.Close() }()
	return ensureSearchAttributes(context.Background(), conn, namespaces, o.SearchAttributes)
}

// printBanner tells a person where things are, in the CLI's words (scripts read nothing from it).
func printBanner(o *startDevOptions) {
	fmt.Printf("%s\n\n", versionLine())
	fmt.Printf("%-8s %s\n", "Server:", hostPort(o.IP, o.Port))
	if o.HTTPPort > 0 {
		fmt.Printf("%-8s %s\n", "HTTP:", hostPort(o.IP, o.HTTPPort))
	}
	if !o.Headless {
		fmt.Printf("%-8s http://%s\n", "UI:", hostPort(o.UIIP, o.UIPort))
	}
	if o.DBFilename == "" {
		fmt.Printf("%-8s in memory (lost on exit)\n", "Store:")
	} else {
		fmt.Printf("%-8s %s\n", "Store:", o.DBFilename)
	}
}
