package member

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/scrypt"

	"github.com/weir-dev/weir/internal/wire"
)

// The transport handshake, before any other frame:
//
//	dialer   -> hello   {cluster, protocol, partitions, from, to, nonceA}
//	acceptor -> welcome {from, nonceB} or {refused: reason}
//	dialer   -> proof   {mac(proof)}
//	acceptor -> ready   {mac(welcome)} or {refused: reason}
//
// Without a secret the MACs are empty and only names are checked. With one,
// each side proves knowledge of the key by a MAC over both nonces and both
// IDs, so a replayed handshake fails. The dialer proves first: whoever
// connects to a member gets no MAC to try guesses of the secret against
// until it sent a valid one itself. The key is stretched from the secret
// with scrypt (stretchSecret), so a MAC seen on the network costs an
// attacker a scrypt run per guess. The handshake authenticates; TLS
// (Config.TLS) encrypts.
type hsHello struct {
	Cluster    string `msgpack:"c"`
	Protocol   int    `msgpack:"p"`
	Partitions int    `msgpack:"n"`
	From       string `msgpack:"f"`
	To         string `msgpack:"t"`
	Nonce      []byte `msgpack:"o"`
	Addr       string `msgpack:"a,omitempty"` // the dialer's transport address
}

type hsReply struct {
	From    string `msgpack:"f,omitempty"`
	Nonce   []byte `msgpack:"o,omitempty"`
	MAC     []byte `msgpack:"m,omitempty"`
	Refused string `msgpack:"r,omitempty"`
	// Stale: refused because the dialer wanted another member, one that
	// is gone from this address (restarted with a new ID, or replaced).
	Stale bool `msgpack:"s,omitempty"`
}

// errAuthFailed is a handshake whose peer did not prove the secret.
var errAuthFailed = errors.New("authentication failed")

// errMismatch marks a refusal no retry can fix: the peer said why it
// refused (cluster name, protocol, partition count, secret key).
var errMismatch = errors.New("configuration mismatch")

// handshakeLimit bounds frames before the peer is authenticated, and
// handshakeBuffer the read buffer of a connection until then: a pending
// handshake costs little.
const (
	handshakeLimit  = 4 << 10
	handshakeBuffer = 1 << 10
)

func (t *transport) mac(label string, dialer, acceptor string, nonceA, nonceB []byte) []byte {
	if t.authKey == nil {
		return nil
	}
	h := hmac.New(sha256.New, t.authKey)
	for _, part := range [][]byte{[]byte(label), []byte(t.m.cfg.ClusterName), []byte(dialer), []byte(acceptor), nonceA, nonceB} {
		var n [4]byte
		n[0], n[1], n[2], n[3] = byte(len(part)>>24), byte(len(part)>>16), byte(len(part)>>8), byte(len(part))
		h.Write(n[:])
		h.Write(part)
	}
	return h.Sum(nil)
}

func writeHandshake(nc net.Conn, v any) error {
	b, err := wire.Marshal(v)
	if err != nil {
		return err
	}
	frame, err := wire.AppendFrame(nil, &wire.Header{Kind: wire.KindHandshake}, b)
	if err != nil {
		return err
	}
	_, err = nc.Write(frame)
	return err
}

func readHandshake(r *wire.Reader, v any) error {
	h, p, err := r.ReadFrame()
	if err != nil {
		return err
	}
	if h.Kind != wire.KindHandshake {
		return fmt.Errorf("expected a handshake frame, got %s", h.Kind)
	}
	return wire.Unmarshal(p, v)
}

func nonce() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b
}

// dialHandshake runs the dialer's side; it returns the reader positioned
// after the handshake.
func (t *transport) dialHandshake(nc net.Conn, peer string) (*wire.Reader, error) {
	m := t.m
	_ = nc.SetDeadline(time.Now().Add(m.cfg.DialTimeout))
	defer func() { _ = nc.SetDeadline(time.Time{}) }()
	r := wire.NewReaderSize(nc, handshakeLimit, handshakeBuffer)
	hello := hsHello{Cluster: m.cfg.ClusterName, Protocol: protocol, Partitions: m.cfg.PartitionCount, From: m.id, To: peer, Nonce: nonce(), Addr: t.addr}
	// A connection that breaks during the handshake is lost, as one that
	// breaks later is: callers retry it, and a job restarts rather than
	// fails (a member killed mid-handshake resets it). A refusal, which no
	// retry fixes, comes as an answer instead.
	if err := writeHandshake(nc, &hello); err != nil {
		return nil, handshakeBroke(peer, err, "")
	}
	var welcome hsReply
	if err := readHandshake(r, &welcome); err != nil {
		return nil, handshakeBroke(peer, err, " (the peer may belong to another cluster or use another secret key)")
	}
	if welcome.Stale {
		// Not a mismatch no retry can fix: the member is gone from there,
		// and a fresher view will say so.
		return nil, fmt.Errorf("%w %s: %s: %s", ErrUnknownMember, peer, nc.RemoteAddr(), welcome.Refused)
	}
	if welcome.Refused != "" {
		return nil, fmt.Errorf("%w: member %s at %s: %s%w", ErrRefused, peer, nc.RemoteAddr(), welcome.Refused, silent{errMismatch})
	}
	if welcome.From != peer {
		return nil, fmt.Errorf("%w: %s is member %s, expected %s", ErrRefused, nc.RemoteAddr(), welcome.From, peer)
	}
	if len(welcome.Nonce) < 16 {
		return nil, fmt.Errorf("%w: member %s at %s sent an incomplete welcome", ErrRefused, peer, nc.RemoteAddr())
	}
	proof := hsReply{MAC: t.mac("proof", m.id, peer, hello.Nonce, welcome.Nonce)}
	if err := writeHandshake(nc, &proof); err != nil {
		return nil, handshakeBroke(peer, err, "")
	}
	var ready hsReply
	if err := readHandshake(r, &ready); err != nil {
		return nil, handshakeBroke(peer, err, "")
	}
	if ready.Refused != "" {
		return nil, fmt.Errorf("%w: member %s at %s: %s%w", ErrRefused, peer, nc.RemoteAddr(), ready.Refused, silent{errMismatch})
	}
	if want := t.mac("welcome", m.id, peer, hello.Nonce, welcome.Nonce); !hmac.Equal(want, ready.MAC) {
		return nil, fmt.Errorf("%w: member %s at %s failed authentication: secret key mismatch%w", ErrRefused, peer, nc.RemoteAddr(), silent{errMismatch})
	}
	return r, nil
}

// handshakeBroke describes a dialer's handshake that failed on err. A
// connection that broke (closed, reset, timed out) is lost, as one that
// breaks later is: callers retry, and a job restarts rather than fails (a
// member killed mid-handshake resets it). Anything else the peer sent is
// not a weir answer, and hint says what may explain it.
func handshakeBroke(peer string, err error, hint string) error {
	var ne net.Error
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.As(err, &ne) {
		return fmt.Errorf("%w %s: handshake: %w%s", ErrConnectionLost, peer, err, hint)
	}
	return fmt.Errorf("handshake with member %s: %w%s", peer, err, hint)
}

// peerInfo is who the dialer says it is.
type peerInfo struct{ ID, Addr string }

// acceptHandshake runs the acceptor's side. A refusal is sent to the peer
// with its reason and returned, for the log.
func (t *transport) acceptHandshake(nc net.Conn) (*wire.Reader, peerInfo, error) {
	m := t.m
	_ = nc.SetDeadline(time.Now().Add(m.cfg.DialTimeout))
	defer func() { _ = nc.SetDeadline(time.Time{}) }()
	r := wire.NewReaderSize(nc, handshakeLimit, handshakeBuffer)
	var hello hsHello
	if err := readHandshake(r, &hello); err != nil {
		return nil, peerInfo{}, fmt.Errorf("not a weir handshake: %w", err)
	}
	from := peerInfo{ID: hello.From, Addr: hello.Addr}
	refuse := func(reason string) (*wire.Reader, peerInfo, error) {
		_ = writeHandshake(nc, &hsReply{Refused: reason, Stale: hello.To != m.id})
		return nil, from, fmt.Errorf("%s", reason)
	}
	switch {
	case hello.Cluster != m.cfg.ClusterName:
		return refuse(fmt.Sprintf("cluster name mismatch: member %s is in cluster %q, the dialer in %q", m.id, m.cfg.ClusterName, hello.Cluster))
	case hello.Protocol != protocol:
		return refuse(fmt.Sprintf("protocol mismatch: member %s speaks %d, the dialer %d", m.id, protocol, hello.Protocol))
	case hello.Partitions != m.cfg.PartitionCount:
		return refuse(fmt.Sprintf("partition count mismatch: member %s has %d, the dialer %d", m.id, m.cfg.PartitionCount, hello.Partitions))
	case hello.To != m.id:
		return refuse(fmt.Sprintf("wrong member: this is %s, the dialer wanted %s (stale address)", m.id, hello.To))
	case hello.From == "" || len(hello.Nonce) < 16:
		return refuse("incomplete hello")
	}
	welcome := hsReply{From: m.id, Nonce: nonce()}
	if err := writeHandshake(nc, &welcome); err != nil {
		return nil, from, err
	}
	var proof hsReply
	if err := readHandshake(r, &proof); err != nil {
		return nil, from, fmt.Errorf("handshake: %w", err)
	}
	if want := t.mac("proof", hello.From, m.id, hello.Nonce, welcome.Nonce); !hmac.Equal(want, proof.MAC) {
		_, _, _ = refuse("authentication failed: secret key mismatch")
		return nil, from, fmt.Errorf("%w: secret key mismatch", errAuthFailed)
	}
	ready := hsReply{MAC: t.mac("welcome", hello.From, m.id, hello.Nonce, welcome.Nonce)}
	if err := writeHandshake(nc, &ready); err != nil {
		return nil, from, err
	}
	return r, from, nil
}

// deriveKey derives a purpose-specific key from the member's stretched
// secret (stretchSecret).
func deriveKey(key []byte, purpose string) []byte {
	if len(key) == 0 {
		return nil
	}
	h := hmac.New(sha256.New, key)
	h.Write([]byte("weir " + purpose))
	return h.Sum(nil)
}

// scrypt's cost: about 100 ms and 32 MiB once per process and secret on a
// current core, and as much for every guess an attacker tries against a
// MAC or a gossip packet it captured (the parameters scrypt's authors
// recommend for interactive logins, 2017).
const (
	scryptN = 1 << 15
	scryptR = 8
	scryptP = 1
)

// stretched caches stretchSecret's results: members of one process (tests,
// in-process clusters) share a secret, and each stretch costs 32 MiB.
var stretched sync.Map // sha256(cluster, secret) -> []byte

// stretchSecret turns the configured secret into the key the transport and
// gossip keys are derived from, with scrypt salted by the cluster name.
func stretchSecret(secret []byte, cluster string) ([]byte, error) {
	if len(secret) == 0 {
		return nil, nil
	}
	id := sha256.Sum256(append(append([]byte(cluster), 0), secret...))
	if k, ok := stretched.Load(id); ok {
		return k.([]byte), nil
	}
	k, err := scrypt.Key(secret, []byte("weir/"+cluster), scryptN, scryptR, scryptP, 32)
	if err != nil {
		return nil, fmt.Errorf("stretching the secret key: %w", err)
	}
	stretched.Store(id, k)
	return k, nil
}

// silent wraps an error for errors.Is without adding to the message.
type silent struct{ err error }

func (s silent) Error() string { return "" }
func (s silent) Unwrap() error { return s.err }

// mismatched reports whether err is a refusal no retry can fix: the peer
// named a configuration mismatch, or the TLS handshake failed on a
// certificate (signed by another CA, expired, for another name) on either
// side: the peer's TLS alert arrives as a "remote error".
func mismatched(err error) bool {
	var verify *tls.CertificateVerificationError
	var remote *net.OpError
	return errors.Is(err, errMismatch) || errors.As(err, &verify) ||
		errors.As(err, &remote) && remote.Op == "remote error"
}
