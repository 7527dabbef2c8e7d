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
	// MinFrameLimit is a frame limit enough for any header.
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
//
// Memory follows the bytes that arrive, not the lengths a frame declares:
// a header or payload over growStep bytes is read into a buffer that grows
// as its bytes come, so a peer that declares a large frame and stops costs
// what it sent, not what it declared.
type Reader struct {
	r       *bufio.Reader
	limit   int
	hdr     [lenSize + headerLenSize]byte
	hbuf    []byte // the last frame's header bytes: decoding copies what it keeps
	inFrame bool   // some bytes of the frame being read have arrived
	// Pooled, when set, says for each frame whether its payload should be
	// taken from the buffer pool (GetBuffer), because whoever receives it
	// gives it back with PutBuffer once done with it.
	Pooled func(h *Header) bool
}

// growStep is the largest buffer allocated before its bytes arrive (the
// largest usual frame, so those take one allocation as before); past
// it, a buffer grows by doubling as bytes come in.
const growStep = 256 << 10

// DefaultBufferSize is the read buffer of NewReader.
const DefaultBufferSize = 64 << 10

// NewReader reads frames of at most limit bytes (after the length field),
// through a buffer of DefaultBufferSize bytes.
func NewReader(r io.Reader, limit int) *Reader {
	return NewReaderSize(r, limit, DefaultBufferSize)
}

// NewReaderSize is NewReader with a read buffer of size bytes (at least
// 16), for connections that are not trusted yet and should cost little.
// A limit under MinFrameLimit refuses frames whose header would not fit.
func NewReaderSize(r io.Reader, limit, size int) *Reader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, size)
	}
	return &Reader{r: br, limit: max(limit, lenSize+headerLenSize)}
}

// Rebuffer reads from src through a buffer of size bytes from now on, e.g.
// once a handshake, read through a small buffer, is done. It does nothing
// while bytes are buffered, since they would be lost.
func (r *Reader) Rebuffer(src io.Reader, size int) {
	if r.r.Buffered() == 0 {
		r.r = bufio.NewReaderSize(src, size)
	}
}

// SetLimit changes the frame limit, e.g. once a handshake is done.
func (r *Reader) SetLimit(limit int) {
	r.limit = max(limit, lenSize+headerLenSize)
}

// InFrame reports whether the reader is inside a frame: some of its bytes
// arrived and ReadFrame waits for the rest. Between frames it is false, so a
// caller's read deadline can tell an idle connection from a stalled frame.
// It is meant to be read by the goroutine calling ReadFrame (from inside the
// underlying io.Reader).
func (r *Reader) InFrame() bool { return r.inFrame }

// ReadFrame reads one frame. The payload is a slice the caller owns: a
// fresh one, or one from the buffer pool when Pooled says so, whose capacity
// may exceed its length. A length over the limit is refused before the body
// is read, so a hostile length costs nothing.
func (r *Reader) ReadFrame() (Header, []byte, error) {
	r.inFrame = false
	if _, err := r.r.Peek(1); err != nil {
		return Header{}, nil, err
	}
	r.inFrame = true
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		return Header{}, nil, unexpected(err)
	}
	n := int(binary.BigEndian.Uint32(r.hdr[:lenSize]))
	hlen := int(binary.BigEndian.Uint16(r.hdr[lenSize:]))
	if n > r.limit {
		return Header{}, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, r.limit)
	}
	if hlen+headerLenSize > n {
		return Header{}, nil, fmt.Errorf("%w: header length %d exceeds frame length %d", ErrMalformed, hlen, n)
	}
	var err error
	if r.hbuf, err = readGrowing(r.r, r.hbuf[:0], hlen); err != nil {
		return Header{}, nil, unexpected(err)
	}
	h, err := DecodeHeader(r.hbuf)
	if err != nil {
		return Header{}, nil, err
	}
	size := n - headerLenSize - hlen
	var p []byte
	if r.Pooled != nil && size <= maxPooled && r.Pooled(&h) {
		p = GetBuffer(size)
		if _, err := io.ReadFull(r.r, p); err != nil {
			PutBuffer(p)
			return Header{}, nil, unexpected(err)
		}
	} else if p, err = readGrowing(r.r, nil, size); err != nil {
		return Header{}, nil, unexpected(err)
	}
	r.inFrame = false
	return h, p, nil
}

// readGrowing appends n bytes from r to dst, allocating at most growStep
// bytes (or dst's spare capacity) ahead of the bytes that arrived.
func readGrowing(r io.Reader, dst []byte, n int) ([]byte, error) {
	if dst == nil || cap(dst)-len(dst) < min(n, growStep) {
		dst = append(make([]byte, 0, len(dst)+min(n, growStep)), dst...)
	}
	end := len(dst) + n
	for len(dst) < end {
		if len(dst) == cap(dst) {
			grown := make([]byte, len(dst), min(end, 2*cap(dst)))
			copy(grown, dst)
			dst = grown
		}
		k, err := io.ReadFull(r, dst[len(dst):min(end, cap(dst))])
		dst = dst[:len(dst)+k]
		if err != nil {
			return dst, err
		}
	}
	return dst, nil
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
