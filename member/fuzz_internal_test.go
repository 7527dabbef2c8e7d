package member

import (
	"bytes"
	"testing"

	"github.com/weir-dev/weir/internal/testkit/fuzzkit"
	"github.com/weir-dev/weir/internal/testkit/hostile"
	"github.com/weir-dev/weir/internal/wire"
)

func handshakeSeed(v any) []byte {
	b, _ := wire.Marshal(v)
	f, _ := wire.AppendFrame(nil, &wire.Header{Kind: wire.KindHandshake}, b)
	return f
}

// FuzzHandshake feeds bytes to the acceptor's and the dialer's first read:
// the frame reader with the handshake's limit, then the message decoders.
func FuzzHandshake(f *testing.F) {
	fuzzkit.Seed(f,
		handshakeSeed(&hsHello{Cluster: "weir", Protocol: protocol, Partitions: 271, From: "a", To: "b", Nonce: make([]byte, 16), Addr: "127.0.0.1:1"}),
		handshakeSeed(&hsReply{From: "b", Nonce: make([]byte, 16), MAC: make([]byte, 32)}),
		handshakeSeed(&hsReply{Refused: "cluster name mismatch"}),
		[]byte{0, 0, 0xff, 0xff, 0, 1, 0x96},
		[]byte("GET / HTTP/1.1\r\n\r\n"),
	)
	f.Fuzz(func(t *testing.T, in []byte) {
		fuzzkit.Decoders(t, in, map[string]func([]byte) error{
			"hello": func(b []byte) error {
				var h hsHello
				return readHandshake(wire.NewReaderSize(bytes.NewReader(b), handshakeLimit, handshakeBuffer), &h)
			},
			"reply": func(b []byte) error {
				var r hsReply
				return readHandshake(wire.NewReaderSize(bytes.NewReader(b), handshakeLimit, handshakeBuffer), &r)
			},
		})
	})
}

// FuzzNodeMeta decodes gossip metadata, which any node that reaches the
// gossip port can set without a secret.
func FuzzNodeMeta(f *testing.F) {
	meta, _ := nodeMeta{ID: "id", Cluster: "weir", Transport: "127.0.0.1:1", Version: Version, Protocol: protocol, Partitions: 271, Services: []string{"map", "job"}}.encode()
	fuzzkit.Seed(f, meta, []byte{0x81, 0xa2, 's', 'v', 0xdc, 0xff, 0xff}, []byte{0xc0})
	f.Fuzz(func(t *testing.T, in []byte) {
		fuzzkit.Decoders(t, in, map[string]func([]byte) error{
			"meta": func(b []byte) error { _, err := decodeMeta(b); return err },
		})
	})
}

// FuzzGossipStream checks gossip streams as the guard does before
// memberlist reads them: a stream it lets through declares no more than
// its limits and what arrived.
func FuzzGossipStream(f *testing.F) {
	header, _ := wire.Marshal(map[string]any{"Nodes": 1, "UserStateLen": 0, "Join": false})
	node, _ := wire.Marshal(map[string]any{"Name": "a", "Addr": []byte{127, 0, 0, 1}, "Port": 1, "Meta": []byte{0x80}, "Incarnation": 1, "State": 0, "Vsn": []byte{1, 5, 2, 0, 0, 0}})
	bomb, _ := wire.Marshal(map[string]any{"Nodes": 1 << 20, "UserStateLen": 0, "Join": false})
	fuzzkit.Seed(f,
		append(append([]byte{mlPushPull}, header...), node...),
		append([]byte{mlPushPull}, bomb...),
		append([]byte{mlLabel, 4, 'w', 'e', 'i', 'r', mlEncrypt}, 0, 0, 1, 0),
		[]byte{mlPing, 0x80},
		[]byte{9, 0x80},
	)
	f.Fuzz(func(t *testing.T, in []byte) {
		fuzzkit.Decoders(t, in, map[string]func([]byte) error{
			"stream": func(b []byte) error {
				got, err := checkGossipStream(bytes.NewReader(b))
				if err == nil && !bytes.HasPrefix(b, got) {
					t.Fatalf("the bytes handed on are not the stream's")
				}
				return err
			},
		})
	})
}

// FuzzMemberRequests decodes the member's own requests (tables,
// migrations, version queries) as their handlers do.
func FuzzMemberRequests(f *testing.F) {
	tm, _ := wire.Marshal(&tableMsg{})
	mm, _ := wire.Marshal(&migrateMsg{})
	fuzzkit.Seed(f, tm, mm, hostile.AmplifiedBatch(1000), []byte{0x81, 0xa1, 't', 0xc0})
	f.Fuzz(func(t *testing.T, in []byte) {
		fuzzkit.Decoders(t, in, map[string]func([]byte) error{
			"table":   fuzzkit.Unmarshal[tableMsg](),
			"migrate": fuzzkit.Unmarshal[migrateMsg](),
			"import":  fuzzkit.Unmarshal[importMsg](),
			"version": fuzzkit.Unmarshal[versionMsg](),
		})
	})
}
