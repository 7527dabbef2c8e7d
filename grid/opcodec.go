package grid

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Single-key requests and their responses are the grid's hottest messages,
// so they have a hand-written binary form instead of reflection-driven
// msgpack: a format byte, a flags byte saying which optional fields follow,
// then fields as varints and length-prefixed bytes, in a fixed order. Every
// length is checked against the bytes that remain.

const opFormat = 1

// Flags of optional opRequest fields.
const (
	fValue = 1 << iota
	fOld
	fTTL
	fProc
	fReq
	fCfg
	fNear
	fMerge
)

// opRetry, in the operation's byte, marks a retried request (the flags
// byte is full; operation codes are small).
const opRetry = 0x80

var errBadOp = errors.New("grid: malformed operation message")

func appendOp(b []byte, op *opRequest) []byte {
	var flags byte
	if op.Value != nil {
		flags |= fValue
	}
	if op.Old != nil {
		flags |= fOld
	}
	if op.TTL != 0 {
		flags |= fTTL
	}
	if op.Proc != "" {
		flags |= fProc
	}
	if op.Req.valid() {
		flags |= fReq
	}
	if !op.Cfg.isZero() {
		flags |= fCfg
	}
	if op.Near {
		flags |= fNear
	}
	if op.Upd != 0 || op.Exp != 0 {
		flags |= fMerge
	}
	code := byte(op.Op)
	if op.Retry {
		code |= opRetry
	}
	b = append(b, opFormat, flags, code)
	b = appendStr(b, op.Map)
	b = binary.AppendUvarint(b, uint64(op.Part))
	b = binary.AppendUvarint(b, op.Table)
	b = appendBin(b, op.Key)
	if flags&fValue != 0 {
		b = appendBin(b, op.Value)
	}
	if flags&fOld != 0 {
		b = appendBin(b, op.Old)
	}
	if flags&fTTL != 0 {
		b = binary.AppendVarint(b, op.TTL)
	}
	if flags&fProc != 0 {
		b = appendStr(b, op.Proc)
	}
	if flags&fReq != 0 {
		b = appendStr(b, op.Req.Client)
		b = binary.AppendUvarint(b, op.Req.Seq)
	}
	if flags&fCfg != 0 {
		b = binary.AppendVarint(b, int64(op.Cfg.JournalCapacity))
		b = binary.AppendVarint(b, op.Cfg.TTL)
		b = binary.AppendVarint(b, op.Cfg.MaxIdle)
		b = binary.AppendVarint(b, int64(op.Cfg.MaxEntries))
	}
	if flags&fMerge != 0 {
		b = binary.AppendVarint(b, op.Upd)
		b = binary.AppendVarint(b, op.Exp)
	}
	return b
}

func parseOp(b []byte, op *opRequest) error {
	r := reader{b: b}
	if r.byte() != opFormat {
		return fmt.Errorf("%w: unknown format", errBadOp)
	}
	flags := r.byte()
	code := r.byte()
	op.Op, op.Retry = opCode(code&^opRetry), code&opRetry != 0
	op.Map = r.str()
	op.Part = int(r.uvarint())
	op.Table = r.uvarint()
	op.Key = r.bin()
	if flags&fValue != 0 {
		op.Value = r.bin()
	}
	if flags&fOld != 0 {
		op.Old = r.bin()
	}
	if flags&fTTL != 0 {
		op.TTL = r.varint()
	}
	if flags&fProc != 0 {
		op.Proc = r.str()
	}
	if flags&fReq != 0 {
		op.Req.Client = r.str()
		op.Req.Seq = r.uvarint()
	}
	if flags&fCfg != 0 {
		op.Cfg.JournalCapacity = int(r.varint())
		op.Cfg.TTL = r.varint()
		op.Cfg.MaxIdle = r.varint()
		op.Cfg.MaxEntries = int(r.varint())
	}
	op.Near = flags&fNear != 0
	if flags&fMerge != 0 {
		op.Upd = r.varint()
		op.Exp = r.varint()
	}
	return r.finish()
}

// Flags of opResponse.
const (
	rFound = 1 << iota
	rApplied
	rValue
)

func appendResp(b []byte, resp *opResponse) []byte {
	var flags byte
	if resp.Found {
		flags |= rFound
	}
	if resp.Applied {
		flags |= rApplied
	}
	if resp.Value != nil {
		flags |= rValue
	}
	b = append(b, opFormat, flags)
	b = binary.AppendUvarint(b, resp.Seq)
	if flags&rValue != 0 {
		b = appendBin(b, resp.Value)
	}
	return b
}

func parseResp(b []byte, resp *opResponse) error {
	r := reader{b: b}
	if r.byte() != opFormat {
		return fmt.Errorf("%w: unknown format", errBadOp)
	}
	flags := r.byte()
	resp.Found = flags&rFound != 0
	resp.Applied = flags&rApplied != 0
	resp.Seq = r.uvarint()
	if flags&rValue != 0 {
		resp.Value = r.bin()
	}
	return r.finish()
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBin(b []byte, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// reader decodes the fields in order, remembering the first error; byte
// slices it returns share the message's memory.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errBadOp
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bin() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string { return string(r.bin()) }

func (r *reader) finish() error {
	if r.err == nil && len(r.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", errBadOp, len(r.b))
	}
	return r.err
}
