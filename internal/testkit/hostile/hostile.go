// Package hostile sends what an attacker would to a weir member: handshakes
// left unfinished, frames that declare more than they send, requests that
// decode into far more than their bytes, and memberlist push/pull headers
// that declare a million nodes. Tests aim it at members they started, on
// loopback, and check that the member refuses the bytes cheaply and keeps
// serving.
package hostile

import (
	"encoding/binary"
	"fmt"
	"net"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/weir-dev/weir/internal/wire"
)

// Protocol is the transport protocol version the handshake speaks; a test
// replaying the attacks against an older build sets it to that build's.
var Protocol = 2

// Handshake dials a member's transport without a secret and completes the
// handshake as member "intruder", returning the connection ready for
// frames. cluster, partitions and memberID must be the member's.
func Handshake(addr, cluster, memberID string, partitions int) (net.Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (net.Conn, error) {
		_ = nc.Close()
		return nil, fmt.Errorf("handshake with %s: %w", addr, err)
	}
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	r := wire.NewReader(nc, 1<<16)
	hello := map[string]any{"c": cluster, "p": Protocol, "n": partitions, "f": "intruder", "t": memberID, "o": make([]byte, 16)}
	if err := writeHandshake(nc, hello); err != nil {
		return fail(err)
	}
	for _, step := range []string{"welcome", "ready"} {
		_, p, err := r.ReadFrame()
		if err != nil {
			return fail(err)
		}
		var reply map[string]any
		if err := msgpack.Unmarshal(p, &reply); err != nil {
			return fail(err)
		}
		if reason, _ := reply["r"].(string); reason != "" {
			return fail(fmt.Errorf("refused at %s: %s", step, reason))
		}
		if step == "welcome" {
			if err := writeHandshake(nc, map[string]any{}); err != nil {
				return fail(err)
			}
		}
	}
	_ = nc.SetDeadline(time.Time{})
	return nc, nil
}

func writeHandshake(nc net.Conn, v any) error {
	b, err := msgpack.Marshal(v)
	if err != nil {
		return err
	}
	f, err := wire.AppendFrame(nil, &wire.Header{Kind: wire.KindHandshake}, b)
	if err != nil {
		return err
	}
	_, err = nc.Write(f)
	return err
}

// StalledFrame writes the start of a frame that declares size bytes and
// sends only sent of them, then nothing more.
func StalledFrame(nc net.Conn, size, sent int) error {
	h := wire.Header{Kind: wire.KindRequest, ID: 1, Route: "map.batch"}
	f, err := wire.AppendFrame(nil, &h, make([]byte, sent))
	if err != nil {
		return err
	}
	binary.BigEndian.PutUint32(f, uint32(size))
	_, err = nc.Write(f)
	return err
}

// AmplifiedBatch is the payload of a map.batch request whose n operations
// are all nil: n bytes that each decode into a whole operation.
func AmplifiedBatch(n int) []byte {
	b := []byte{0x81, 0xa1, 'o', 0xdd}
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	for range n {
		b = append(b, 0xc0)
	}
	return b
}

// Request writes one request frame on route with id and payload.
func Request(nc net.Conn, id uint64, route string, payload []byte) error {
	f, err := wire.AppendFrame(nil, &wire.Header{Kind: wire.KindRequest, ID: id, Route: route}, payload)
	if err != nil {
		return err
	}
	_, err = nc.Write(f)
	return err
}

// PushPullBomb opens a gossip stream to a member without a secret and sends
// a memberlist push/pull header declaring nodes nodes, and none of them.
// The connection is returned open; the caller closes it.
func PushPullBomb(gossipAddr string, nodes int) (net.Conn, error) {
	nc, err := net.DialTimeout("tcp", gossipAddr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	// memberlist's pushPullMsg type, then its header as go-msgpack writes it.
	header, err := msgpack.Marshal(map[string]any{"Nodes": nodes, "UserStateLen": 0, "Join": false})
	if err != nil {
		_ = nc.Close()
		return nil, err
	}
	if _, err := nc.Write(append([]byte{6}, header...)); err != nil {
		_ = nc.Close()
		return nil, err
	}
	return nc, nil
}
