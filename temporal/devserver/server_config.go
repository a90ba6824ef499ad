package main

import (
	"net"
	"time"

	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/primitives"
)

// clusterName is the one cluster this server is; namespaces record it as their active cluster.
const clusterName = "active"

// servicePorts are the gRPC ports of the four services this one process runs.
type servicePorts map[primitives.ServiceName]int

// allocateServicePorts keeps the frontend on the requested port and gives the internal services
// free ones (clients only ever talk to the frontend).
func allocateServicePorts(ip string, frontend int) (servicePorts, error) {
	ports := servicePorts{primitives.FrontendService: frontend}
	for _, s := range []primitives.ServiceName{primitives.HistoryService, primitives.MatchingService, primitives.WorkerService} {
		p, err := freePort(ip)
		if err != nil {
			return nil, err
		}
		ports[s] = p
	}
	return ports, nil
}

// dialIP is the address the services use to reach each other: the bind IP, except that a
// wildcard bind (0.0.0.0, ::) is reached on loopback.
func dialIP(bindIP string) string {
	if ip := net.ParseIP(bindIP); ip != nil && ip.IsUnspecified() {
		return "127.0.0.1"
	}
	return bindIP
}

// serverConfig is the static configuration of a single-process, single-shard server on SQLite,
// the shape of the server's development-sqlite.yaml without the YAML.
func serverConfig(o *startDevOptions, sql *config.SQL, ports servicePorts) *config.Config {
	c := &config.Config{}
	c.Global.Membership.MaxJoinDuration = 30 * time.Second
	c.Global.Membership.BroadcastAddress = dialIP(o.IP)

	c.Persistence.DefaultStore = storeName
	c.Persistence.VisibilityStore = storeName
	// One shard: SQLite serialises writes anyway, and the shard count can never change later.
	c.Persistence.NumHistoryShards = 1
	c.Persistence.DataStores = map[string]config.DataStore{storeName: {SQL: sql}}

	frontendAddress := hostPort(dialIP(o.IP), o.Port)
	info := cluster.ClusterInformation{Enabled: true, InitialFailoverVersion: 1, RPCAddress: frontendAddress}
	if o.HTTPPort > 0 {
		info.HTTPAddress = hostPort(dialIP(o.IP), o.HTTPPort)
	}
	c.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation:       map[string]cluster.ClusterInformation{clusterName: info},
	}
	// No cross-cluster forwarding: there is no other cluster.
	c.DCRedirectionPolicy.Policy = "noop"

	c.Services = make(map[string]config.Service, len(ports))
	for name, port := range ports {
		var s config.Service
		s.RPC.GRPCPort = port
		s.RPC.BindOnIP = o.IP
		if name == primitives.FrontendService {
			s.RPC.HTTPPort = o.HTTPPort
		}
		c.Services[string(name)] = s
	}

	c.Archival.History.State = "disabled"
	c.Archival.Visibility.State = "disabled"
	c.NamespaceDefaults.Archival.History.State = "disabled"
	c.NamespaceDefaults.Archival.Visibility.State = "disabled"
	// The worker service (schedules, batch jobs) reaches the frontend through this.
	c.PublicClient.HostPort = frontendAddress
	return c
}

// staticHosts tells each service where the others are, instead of a gossip ring.
func staticHosts(o *startDevOptions, ports servicePorts) map[primitives.ServiceName]static.Hosts {
	hosts := make(map[primitives.ServiceName]static.Hosts, len(ports))
	for name, port := range ports {
		hosts[name] = static.SingleLocalHost(hostPort(dialIP(o.IP), port))
	}
	return hosts
}

// devDynamicConfigDefaults are the dev-server settings the CLI v1.5.1 applies too
// (temporalcli/commands.server.go, devserver/server.go), each for the same reason:
var devDynamicConfigDefaults = dynamicconfig.StaticClient{
	// Search attributes added at run time are visible on the next read, not after the cache's
	// refresh interval: a test that registers one and starts a workflow with it must not race.
	dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): true,
	// With that cache bypassed every read hits the store; raise the persistence rate limits
	// (defaults 2000 and 9000) keeping their ratio.
	dynamicconfig.FrontendPersistenceMaxQPS.Key(): 10000,
	dynamicconfig.HistoryPersistenceMaxQPS.Key():  45000,
	// List/count queries back the Web UI and our API's run listing; the default visibility rate
	// (10 per second per instance) throttles a UI page that polls.
	dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
}

// dynamicConfig is the defaults overlaid with --dynamic-config-value settings. Keys match the
// server's setting names exactly (StaticClient does not fold case).
func dynamicConfig(o *startDevOptions) dynamicconfig.StaticClient {
	overrides := o.DynamicConfig
	dc := make(dynamicconfig.StaticClient, len(devDynamicConfigDefaults)+len(overrides)+1)
	for k, v := range devDynamicConfigDefaults {
		dc[k] = v
	}
	if o.HTTPPort == 0 {
		// Nexus callbacks arrive over the frontend's HTTP API; without --http-port the server turns
		// Nexus off itself, with a warning in every log. Say it here instead (the CLI always opens
		// an HTTP port; this project uses no Nexus).
		dc[dynamicconfig.EnableNexus.Key()] = false
	}
	for k, v := range overrides {
		dc[dynamicconfig.Key(k)] = v
	}
	return dc
}
