package member

import (
	"fmt"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/weir-dev/weir/internal/wire"
)

// Version is the weir protocol version members exchange; a member refuses
// peers whose major protocol differs.
const Version = "0.1.0"

// protocol is bumped on incompatible changes to the transport or gossip.
const protocol = 2 // 2: the dialer proves first in the transport handshake

// Info describes a live member.
type Info struct {
	ID            string    // unique per process start
	Name          string    // configured name, unique among live members
	GossipAddr    string    // memberlist address, what Join takes
	TransportAddr string    // member-to-member TCP address
	Lite          bool      // owns no partitions
	Leaving       bool      // shutting down gracefully; partitions are moving off it
	StartedAt     time.Time // orders members by age: the oldest is coordinator
	Version       string
	Services      []string // names of the services the member serves
}

func (i Info) String() string {
	kind := ""
	if i.Lite {
		kind = " lite"
	}
	return fmt.Sprintf("%s(%s %s%s)", i.Name, i.ID, i.GossipAddr, kind)
}

// older reports whether i joined before o; ties broken by ID so every member
// agrees on one order.
func (i Info) older(o Info) bool {
	if !i.StartedAt.Equal(o.StartedAt) {
		return i.StartedAt.Before(o.StartedAt)
	}
	return i.ID < o.ID
}

// nodeMeta is what a member gossips about itself, in memberlist's node meta
// (at most 512 bytes), encoded with msgpack. Short keys keep it small.
type nodeMeta struct {
	ID         string `msgpack:"i"`
	Cluster    string `msgpack:"c"`
	Transport  string `msgpack:"t"`
	Started    int64  `msgpack:"s"` // unix nanoseconds
	Version    string `msgpack:"v"`
	Protocol   int    `msgpack:"p"`
	Partitions int    `msgpack:"n"`
	Lite       bool   `msgpack:"l,omitempty"`
	Leaving    bool   `msgpack:"x,omitempty"`
	// Services names the services the member serves (Service.Name).
	Services []string `msgpack:"sv,omitempty"`
}

func (m nodeMeta) encode() ([]byte, error) {
	b, err := wire.Marshal(&m)
	if err != nil {
		return nil, err
	}
	if len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("member metadata is %d bytes, limit %d (shorten Name or ClusterName)", len(b), memberlist.MetaMaxSize)
	}
	return b, nil
}

func decodeMeta(b []byte) (nodeMeta, error) {
	var m nodeMeta
	if err := wire.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("bad member metadata: %w", err)
	}
	if m.ID == "" || m.Transport == "" {
		return m, fmt.Errorf("bad member metadata: missing ID or transport address")
	}
	return m, nil
}

func infoOf(n *memberlist.Node) (Info, nodeMeta, error) {
	meta, err := decodeMeta(n.Meta)
	if err != nil {
		return Info{}, meta, fmt.Errorf("node %s at %s: %w", n.Name, n.Address(), err)
	}
	return Info{
		ID:            meta.ID,
		Name:          n.Name,
		GossipAddr:    n.Address(),
		TransportAddr: meta.Transport,
		Lite:          meta.Lite,
		Leaving:       meta.Leaving,
		StartedAt:     time.Unix(0, meta.Started),
		Version:       meta.Version,
		Services:      meta.Services,
	}, meta, nil
}
