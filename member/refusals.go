package member

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-dev/weir/internal/wire"
)

// refusalInterval is how often refusals of one kind are logged at most.
const refusalInterval = 10 * time.Second

// refusalLog logs the refusal of untrusted input (a connection, a frame, a
// gossip stream) as a summary per interval: the first refusal of an interval
// is logged with its details and the number of others since the last line;
// the rest are only counted. A flood of hostile connections then costs a
// line every refusalInterval, not a line each.
//
// Refusals are summarised per kind (refusalKind), a small fixed set, so one
// flood does not hide a refusal of another kind.
type refusalLog struct {
	log   *slog.Logger
	count atomic.Uint64 // every refusal, for TransportStats

	mu    sync.Mutex // guards kinds
	kinds map[string]*refusalKindLog
}

type refusalKindLog struct {
	last       time.Time
	suppressed int
}

// refuse counts a refusal and logs it unless one of its kind was logged
// less than refusalInterval ago. reason is the refusal's error.
func (r *refusalLog) refuse(msg string, reason error, attrs ...any) {
	r.count.Add(1)
	r.logKind(slog.LevelWarn, refusalKind(reason), msg, append(attrs, "reason", reason)...)
}

// logKind logs msg unless a line of its kind was logged less than
// refusalInterval ago, adding how many were not logged since.
func (r *refusalLog) logKind(level slog.Level, kind, msg string, attrs ...any) {
	r.mu.Lock()
	if r.kinds == nil {
		r.kinds = map[string]*refusalKindLog{}
	}
	k := r.kinds[kind]
	if k == nil {
		k = &refusalKindLog{}
		r.kinds[kind] = k
	}
	now := time.Now()
	if !k.last.IsZero() && now.Sub(k.last) < refusalInterval {
		k.suppressed++
		r.mu.Unlock()
		return
	}
	n := k.suppressed
	k.last, k.suppressed = now, 0
	r.mu.Unlock()
	if n > 0 {
		attrs = append(attrs, "not_logged_since_last_line", n)
	}
	r.log.Log(context.Background(), level, msg, attrs...)
}

// refusalKind sorts refusal reasons into the few kinds logged apart.
func refusalKind(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, wire.ErrFrameTooLarge):
		return "too large"
	case errors.Is(err, wire.ErrMalformed):
		return "malformed"
	case errors.Is(err, wire.ErrInvalidMsgpack):
		return "invalid msgpack"
	case errors.Is(err, errGossipStream):
		return "gossip stream"
	case errors.Is(err, errTooManyPending):
		return "too many pending"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, errAuthFailed):
		return "authentication"
	}
	return "other"
}

// TransportStats counts the member-to-member transport since the member
// started, and what it refused from the network; endpoints of their own
// (HTTP, RESP) report them. Bytes are counted per read and write system
// call, handshakes included; frames per frame read and per buffer flushed.
type TransportStats struct {
	BytesSent, BytesReceived   int64
	FramesSent, FramesReceived int64
	// Connections is the connections open now, both directions.
	Connections int
	// RefusedConnections: transport connections refused at or before the
	// handshake (bad handshake, wrong secret or cluster, too many pending).
	RefusedConnections uint64
	// BadFrames: connections closed after a malformed or oversized frame,
	// or a frame whose bytes stopped coming (ReadTimeout).
	BadFrames uint64
	// RefusedGossipStreams: gossip TCP streams refused before memberlist
	// read them (see Config.SecretKey and the package's security section).
	RefusedGossipStreams uint64
}

// TransportStats returns the member's transport counters and refusal
// counts.
func (m *Member) TransportStats() TransportStats {
	t := m.transport
	tc := &t.stats
	s := TransportStats{
		BytesSent: tc.bytesSent.Load(), BytesReceived: tc.bytesReceived.Load(),
		FramesSent: tc.framesSent.Load(), FramesReceived: tc.framesReceived.Load(),
		RefusedConnections: t.refusedConns.count.Load(),
		BadFrames:          t.badFrames.count.Load(),
	}
	t.mu.Lock()
	s.Connections = len(t.all)
	t.mu.Unlock()
	if g := m.guard; g != nil {
		s.RefusedGossipStreams = g.refused.count.Load()
	}
	return s
}
