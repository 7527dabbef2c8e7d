package clustertest

import "go.uber.org/goleak"

// LeakOptions are the goleak options for packages that start members. Every
// goroutine weir starts is joined on shutdown; these ignore goroutines of
// memberlist that are not: its package-level metrics sink, and a probe in
// progress when the member shut down, which ends by itself within the probe
// timeout (longer than goleak waits when the failure detector has backed off).
func LeakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/hashicorp/go-metrics.(*InmemSink).run"),
		goleak.IgnoreAnyFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
		goleak.IgnoreAnyFunction("github.com/hashicorp/memberlist.(*Memberlist).sendPingAndWaitForAck"),
	}
}
