package resp

import (
	"errors"
	"io"
)

// redcon parses what a client sends (redcon.Reader), and trusts it: a
// command announcing 2^31 arguments makes it count to 2^31 on every read
// until the arguments have come, and its buffer grows, and is parsed again
// from the start on each read, until a command is complete. So the bytes
// pass, on their way to redcon, through guardReader, which follows the
// framing only (argument counts and bulk lengths, not the commands) and
// refuses before redcon sees them:
//
//   - an argument count over MaxArgs, a bulk length over MaxRequest, an
//     inline command (telnet style) longer than maxInline;
//   - more than MaxRequest bytes without a complete command in between.
//
// It also reads the rest of a long bulk string in one go, rather than as it
// trickles in, so that redcon parses a long command a few times (as its
// buffer doubles), not once per network read.
type guardReader struct {
	r       io.Reader
	limits  Limits
	pending int // bytes read since the last complete command

	state   guardState
	num     int64 // the number being read
	neg     bool
	args    int64 // bulks still to come in this command
	left    int64 // bytes of the current bulk still to come, CRLF included
	inlined int   // bytes of the current inline command
}

type guardState uint8

const (
	atCommand guardState = iota // before a command
	inCount                     // in "*<count>\r\n"
	atBulk                      // before a "$"
	inLength                    // in "$<length>\r\n"
	inBulk                      // in a bulk's bytes
	inInline                    // in an inline command, up to "\n"
)

// maxInline bounds an inline command, as Redis does.
const maxInline = 64 << 10

// longBulk is the bulk size from which the rest of a bulk is read in one go.
const longBulk = 64 << 10

// errTooLarge: the client sent more than MaxRequest bytes without
// completing a command.
var errTooLarge = errors.New("request too large")

// errFraming is a framing error; the message is the reply.
type errFraming struct{ msg string }

func (e *errFraming) Error() string { return e.msg }

func (g *guardReader) Read(p []byte) (int, error) {
	if g.pending >= g.limits.MaxRequest {
		return 0, errTooLarge
	}
	if len(p) > g.limits.MaxRequest-g.pending {
		p = p[:g.limits.MaxRequest-g.pending]
	}
	var n int
	var err error
	if g.state == inBulk && g.left > longBulk {
		n, err = io.ReadFull(g.r, p[:min(int64(len(p)), g.left)])
	} else {
		n, err = g.r.Read(p)
	}
	if ferr := g.follow(p[:n]); ferr != nil {
		return 0, ferr
	}
	return n, err
}

// follow advances the framing over b.
func (g *guardReader) follow(b []byte) error {
	for i := 0; i < len(b); i++ {
		g.pending++
		c := b[i]
		switch g.state {
		case atCommand:
			switch c {
			case '*':
				g.state, g.num, g.neg = inCount, 0, false
			case '\r', '\n':
				g.pending = 0 // an empty line: nothing pending
			default:
				g.state, g.inlined = inInline, 1
			}
		case inCount, inLength:
			switch {
			case c >= '0' && c <= '9':
				g.num = g.num*10 + int64(c-'0')
				if g.num > int64(g.limits.MaxRequest) && g.state == inLength {
					return &errFraming{"ERR Protocol error: invalid bulk length"}
				}
				if g.num > int64(g.limits.MaxArgs) && g.state == inCount {
					return &errFraming{"ERR Protocol error: invalid multibulk length"}
				}
			case c == '-':
				g.neg = true
			case c == '\r':
			case c == '\n':
				if g.neg {
					return nil // redcon answers the protocol error
				}
				if g.state == inCount {
					g.args = g.num
					g.state = atBulk
				} else {
					g.left = g.num + 2
					g.state = inBulk
				}
				g.num = 0
				g.doneIfComplete()
			default:
				return nil // not a number: redcon answers the protocol error
			}
		case atBulk:
			if c != '$' {
				return nil // redcon answers the protocol error
			}
			g.state, g.num, g.neg = inLength, 0, false
		case inBulk:
			// Skip what this chunk holds of the bulk at once.
			skip := min(g.left, int64(len(b)-i))
			g.left -= skip
			g.pending += int(skip) - 1
			i += int(skip) - 1
			if g.left == 0 {
				g.args--
				g.state = atBulk
				g.doneIfComplete()
			}
		case inInline:
			g.inlined++
			if c == '\n' {
				g.state, g.pending = atCommand, 0
			} else if g.inlined > maxInline {
				return &errFraming{"ERR Protocol error: too big inline request"}
			}
		}
	}
	return nil
}

// doneIfComplete ends the command once its last bulk has come.
func (g *guardReader) doneIfComplete() {
	if g.state == atBulk && g.args <= 0 {
		g.state, g.pending = atCommand, 0
	}
}
