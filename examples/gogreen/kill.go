package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/weir-dev/weir/member"
)

// killMemberProcess kills (SIGKILL) the process of a member of the
// standalone cluster that m joined: the first one, other than m, whose
// transport port a process of this machine listens on. It reads Linux's
// /proc, so the members must run on this machine, as in the README.
func killMemberProcess(m *member.Member) (string, error) {
	for _, info := range m.Members() {
		if info.ID == m.ID() || info.Lite {
			continue
		}
		host, port, err := net.SplitHostPort(info.TransportAddr)
		if err != nil || !net.ParseIP(host).IsLoopback() {
			continue
		}
		pid, err := listenerPID(port)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return "", fmt.Errorf("kill member %s (process %d): %w", info.Name, pid, err)
		}
		return fmt.Sprintf("member %s (kill -9 of process %d)", info.Name, pid), nil
	}
	return "", fmt.Errorf("--kill-after: no member process of this machine found to kill (the members must listen on 127.0.0.1)")
}

// listenerPID finds the process that listens on a TCP port of this
// machine: the socket's inode in /proc/net/tcp, then the process holding
// it among /proc/*/fd.
func listenerPID(port string) (int, error) {
	p, err := strconv.Atoi(port)
	if err != nil {
		return 0, err
	}
	inode := ""
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 || !strings.HasSuffix(fs[1], fmt.Sprintf(":%04X", p)) || fs[3] != "0A" { // LISTEN
				continue
			}
			inode = fs[9]
			break
		}
		f.Close()
		if inode != "" {
			break
		}
	}
	if inode == "" {
		return 0, fmt.Errorf("no socket listens on port %s", port)
	}
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		if link, err := os.Readlink(fd); err == nil && link == "socket:["+inode+"]" {
			return strconv.Atoi(strings.Split(fd, "/")[2])
		}
	}
	return 0, fmt.Errorf("no process holds the socket of port %s", port)
}
