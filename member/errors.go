package member

import (
	"errors"
	"fmt"
	"sync"
)

// Errors returned by the member package. Test with errors.Is.
var (
	// ErrClosed: the member has been shut down.
	ErrClosed = errors.New("member is shut down")
	// ErrUnknownMember: no live member has the given ID.
	ErrUnknownMember = errors.New("unknown member")
	// ErrConnectionLost: the connection to a member broke before the
	// response arrived; the request may or may not have been applied.
	ErrConnectionLost = errors.New("connection to member lost")
	// ErrNoHandler: the receiving member has no handler for the route.
	ErrNoHandler = errors.New("no handler for route")
	// ErrNoQuorum: fewer live data members than Config.MinClusterSize.
	ErrNoQuorum = errors.New("cluster has no quorum")
	// ErrRefused: a peer refused the connection (cluster name, secret key,
	// partition count or protocol mismatch); the error says which.
	ErrRefused = errors.New("connection refused by peer")
	// ErrJoin: Start could not join any of the configured members.
	ErrJoin = errors.New("could not join the cluster")
	// ErrNameTaken: Start was refused because a live member of the cluster
	// has the configured name (Start's error wraps ErrJoin too).
	ErrNameTaken = errors.New("member name taken")
	// ErrStreamClosed: the stream was closed by this side or the peer.
	ErrStreamClosed = errors.New("stream closed")
)

// codes maps wire error codes to sentinel errors, so a sentinel returned by a
// handler on one member satisfies errors.Is on the caller's.
var codes = struct {
	sync.RWMutex
	byCode map[string]error
	byErr  map[error]string
}{byCode: map[string]error{}, byErr: map[error]string{}}

// RegisterErrorCode makes err travel between members: when a handler returns
// an error wrapping err, the caller receives a *RemoteError that wraps err.
// Register package sentinels once, at init, on every member.
func RegisterErrorCode(code string, err error) {
	codes.Lock()
	defer codes.Unlock()
	if prev, ok := codes.byCode[code]; ok && prev != err {
		panic(fmt.Sprintf("member: error code %q registered twice", code))
	}
	codes.byCode[code] = err
	codes.byErr[err] = code
}

func init() {
	RegisterErrorCode("closed", ErrClosed)
	RegisterErrorCode("unknown-member", ErrUnknownMember)
	RegisterErrorCode("no-handler", ErrNoHandler)
	RegisterErrorCode("no-quorum", ErrNoQuorum)
}

// ErrorCode returns the wire code of the first registered sentinel err wraps,
// or "" if none: for handlers that report several errors inside one response.
func ErrorCode(err error) string { return errorCode(err) }

// errorCode returns the code of the first registered sentinel err wraps.
func errorCode(err error) string {
	codes.RLock()
	defer codes.RUnlock()
	for e := err; e != nil; {
		if c, ok := codes.byErr[e]; ok {
			return c
		}
		if re, ok := e.(*RemoteError); ok && re.Code != "" {
			return re.Code
		}
		switch x := e.(type) {
		case interface{ Unwrap() error }:
			e = x.Unwrap()
		case interface{ Unwrap() []error }:
			for _, inner := range x.Unwrap() {
				if c := errorCode(inner); c != "" {
					return c
				}
			}
			return ""
		default:
			return ""
		}
	}
	return ""
}

// RemoteError is an error returned by a handler on another member.
type RemoteError struct {
	Member  string // ID of the member that returned it
	Route   string
	Code    string // registered code, "" if the error had none
	Message string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("member %s: %s: %s", e.Member, e.Route, e.Message)
}

// Unwrap returns the registered sentinel for Code, if any.
func (e *RemoteError) Unwrap() error {
	if e.Code == "" {
		return nil
	}
	codes.RLock()
	defer codes.RUnlock()
	return codes.byCode[e.Code]
}
