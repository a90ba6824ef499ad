package main

import (
	"fmt"
	"net"
	"strconv"
)

// hostPort joins an IP and a port, bracketing IPv6 addresses.
func hostPort(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }

// freePort asks the kernel for an unused TCP port on ip. The history, matching and worker services
// need gRPC ports of their own that nobody configures; there is a small window between closing
// this probe and the service binding the port, which the CLI's dev server accepts as well.
func freePort(ip string) (int, error) {
	l, err := net.Listen("tcp", hostPort(ip, 0))
	if err != nil {
		return 0, fmt.Errorf("finding a free port on %s: %w", ip, err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// requirePortFree fails early, with the flag's name, when a configured port is taken, instead of
// letting the server fail later with a less direct bind error.
func requirePortFree(what, ip string, port int) error {
	l, err := net.Listen("tcp", hostPort(ip, port))
	if err != nil {
		return fmt.Errorf("%s %s is not free: %w", what, hostPort(ip, port), err)
	}
	return l.Close()
}
