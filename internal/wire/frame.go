package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Kind says what a frame is for.
type Kind uint8

// Frame kinds.
const (
	KindHandshake    Kind = 1 // connection set-up messages, before anything else
	KindRequest      Kind = 2 // expects a KindResponse with the same ID
	KindResponse     Kind = 3 // answers the request with the same ID; Code/Message set on error
	KindOneWay       Kind = 4 // no response
	KindCancel       Kind = 5 // the caller gave up on request ID
	KindStreamOpen   Kind = 6 // opens stream ID on Route; payload is the opening message
	KindStreamData   Kind = 7 // one message on stream ID
	KindStreamCredit Kind = 8 // payload: uvarint bytes of credit granted to the other side
	KindStreamClose  Kind = 9 // end of stream ID in the sender's direction; Code/Message on error
	kindMax               = KindStreamClose
)

func (k Kind) String() string {
	switch k {
	case KindHandshake:
		return "handshake"
	case KindRequest:
		return "request"
	case KindResponse:
		return "response"
	case KindOneWay:
		return "one-way"
	case KindCancel:
		return "cancel"
	case KindStreamOpen:
		return "stream-open"
	case KindStreamData:
		return "stream-data"
	case KindStreamCredit:
		return "stream-credit"
	case KindStreamClose:
		return "stream-close"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Header is the fixed part of every frame.
type Header struct {
	Kind    Kind
	ID      uint64 // request or stream id
	Route   string // handler name, on requests, one-way messages and stream opens
	Code    string // error code, on failed responses and stream closes
	Message string // error text
	// Timeout is the caller's remaining time in microseconds on requests
	// (0: none), so the handler's context ends when the caller stops waiting.
	Timeout uint64
}

const (
	lenSize       = 4
	headerLenSize = 2
	// MaxHeaderSize bounds the header; routes and error texts are short.
	MaxHeaderSize = 1<<16 - 1
	// MinFrameLimit is the smallest frame limit a reader accepts, enough for
	// any header.
	MinFrameLimit = headerLenSize + MaxHeaderSize
)

// Errors returned by the reader. They are wrapped with details.
var (
	ErrFrameTooLarge = errors.New("frame larger than the limit")
	ErrMalformed     = errors.New("malformed frame")
)

// AppendFrame appends the encoding of one frame to dst.
func AppendFrame(dst []byte, h *Header, payload []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0) // length and header length, filled below
	dst = appendHeader(dst, h)
	hlen := len(dst) - start - lenSize - headerLenSize
	if hlen > MaxHeaderSize {
		return dst[:start], fmt.Errorf("%w: header of %d bytes (route or error text too long)", ErrMalformed, hlen)
	}
	dst = append(dst, payload...)
	n := len(dst) - start - lenSize
	if uint64(n) > 1<<32-1 {
		return dst[:start], fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(n))
	binary.BigEndian.PutUint16(dst[start+lenSize:], uint16(hlen))
	return dst, nil
}

// FrameSize is the encoded size of a frame with this header and payload
// length, for callers that check limits before encoding.
func FrameSize(h *Header, payloadLen int) int {
	return lenSize + headerLenSize + headerSize(h) + payloadLen
}

// Reader reads frames from a stream, refusing any larger than Limit.
type Reader struct {
	r     *bufio.Reader
	limit int
	hdr   [lenSize + headerLenSize]byte
	hbuf  []byte // the last frame's header bytes: decoding copies what it keeps
	// Pooled, when set, says for each frame whether its payload should be
	// taken from the buffer pool (GetBuffer), because whoever receives it
	// gives it back with PutBuffer once done with it.
	Pooled func(h *Header) bool
}

// NewReader reads frames of at most limit bytes (after the length field).
func NewReader(r io.Reader, limit int) *Reader {
	if limit < MinFrameLimit {
		limit = MinFrameLimit
	}
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &Reader{r: br, limit: limit}
}

// SetLimit changes the frame limit, e.g. once a handshake is done.
func (r *Reader) SetLimit(limit int) {
	if limit < MinFrameLimit {
		limit = MinFrameLimit
	}
	r.limit = limit
}

// ReadFrame reads one frame. The payload is a slice the caller owns: a
// fresh one, or one from the buffer pool when Pooled says so, whose capacity
// may exceed its length. A length over the limit is refused before the body
// is read, so a hostile length costs nothing.
func (r *Reader) ReadFrame() (Header, []byte, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		return Header{}, nil, err
	}
	n := int(binary.BigEndian.Uint32(r.hdr[:lenSize]))
	hlen := int(binary.BigEndian.Uint16(r.hdr[lenSize:]))
	if n > r.limit {
		return Header{}, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, r.limit)
	}
	if hlen+headerLenSize > n {
		return Header{}, nil, fmt.Errorf("%w: header length %d exceeds frame length %d", ErrMalformed, hlen, n)
	}
	if cap(r.hbuf) < hlen {
		r.hbuf = make([]byte, hlen)
	}
	r.hbuf = r.hbuf[:hlen]
	if _, err := io.ReadFull(r.r, r.hbuf); err != nil {
		return Header{}, nil, unexpected(err)
	}
	h, err := DecodeHeader(r.hbuf)
	if err != nil {
		return Header{}, nil, err
	}
	size := n - headerLenSize - hlen
	var p []byte
	if r.Pooled != nil && r.Pooled(&h) {
		p = GetBuffer(size)
	} else {
		p = make([]byte, size)
	}
	if _, err := io.ReadFull(r.r, p); err != nil {
		PutBuffer(p)
		return Header{}, nil, unexpected(err)
	}
	return h, p, nil
}

// unexpected turns the end of the stream inside a frame into
// io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Buffered reports whether a frame's first bytes are already buffered, so a
// reader can tell whether the next ReadFrame may block.
func (r *Reader) Buffered() int { return r.r.Buffered() }
