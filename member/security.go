package member

import (
	"net"
	"strings"
)

// warnIfExposed warns, once at start, when the member listens on an address
// other machines can reach and has no SecretKey: anyone who reaches it can
// then join the cluster, read and write its maps and submit jobs.
func (m *Member) warnIfExposed() {
	if len(m.cfg.SecretKey) > 0 {
		return
	}
	var exposed []string
	for _, addr := range []string{m.cfg.BindAddr, m.cfg.TransportAddr} {
		host, _, err := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			exposed = append(exposed, addr)
		}
	}
	if len(exposed) == 0 {
		return
	}
	m.log.Warn("SECURITY: this member listens on "+strings.Join(exposed, " and ")+" without a secret key: "+
		"anyone who can reach these addresses can join the cluster, read and change every map and run jobs. "+
		"Set Config.SecretKey (weir member: $WEIR_SECRET) on every member, and TLS for traffic on untrusted networks; "+
		"see the security section of package member's documentation",
		"bind", m.cfg.BindAddr, "transport", m.cfg.TransportAddr)
}
