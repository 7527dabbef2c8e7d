package resp

import (
	"strconv"
	"strings"
)

// replies is a client's output buffer, written in the protocol version the
// client chose with HELLO (2 until then). RESP3 differs where a reply is a
// null, a map or a pushed message; redcon's writer knows RESP2 only, so
// the replies are appended here, in the same wire format.
type replies struct {
	buf   []byte
	proto int
}

func (w *replies) simple(s string) {
	w.buf = append(w.buf, '+')
	w.buf = append(w.buf, s...)
	w.buf = append(w.buf, '\r', '\n')
}

func (w *replies) ok() { w.buf = append(w.buf, "+OK\r\n"...) }

// error writes an error reply; s starts with its code (ERR, WRONGTYPE,
// NOAUTH, ...). Line breaks would end the reply early: they become spaces.
func (w *replies) error(s string) {
	w.buf = append(w.buf, '-')
	w.buf = append(w.buf, strings.NewReplacer("\r", " ", "\n", " ").Replace(s)...)
	w.buf = append(w.buf, '\r', '\n')
}

func (w *replies) int(n int64) {
	w.buf = append(w.buf, ':')
	w.buf = strconv.AppendInt(w.buf, n, 10)
	w.buf = append(w.buf, '\r', '\n')
}

func (w *replies) bulk(s string) {
	w.buf = append(w.buf, '$')
	w.buf = strconv.AppendInt(w.buf, int64(len(s)), 10)
	w.buf = append(w.buf, '\r', '\n')
	w.buf = append(w.buf, s...)
	w.buf = append(w.buf, '\r', '\n')
}

func (w *replies) header(kind byte, n int) {
	w.buf = append(w.buf, kind)
	w.buf = strconv.AppendInt(w.buf, int64(n), 10)
	w.buf = append(w.buf, '\r', '\n')
}

func (w *replies) array(n int) { w.header('*', n) }

// null is a missing value: RESP2's null bulk string, RESP3's null.
func (w *replies) null() {
	if w.proto == 3 {
		w.buf = append(w.buf, "_\r\n"...)
		return
	}
	w.buf = append(w.buf, "$-1\r\n"...)
}

// mapOf starts a map of n pairs: RESP3's map, RESP2's flat array.
func (w *replies) mapOf(n int) {
	if w.proto == 3 {
		w.header('%', n)
		return
	}
	w.header('*', 2*n)
}

// push starts a message the server sends unasked (pub/sub): RESP3's push,
// RESP2's array.
func (w *replies) push(n int) {
	if w.proto == 3 {
		w.header('>', n)
		return
	}
	w.header('*', n)
}

// maybe writes s, or null when !ok.
func (w *replies) maybe(s string, ok bool) {
	if ok {
		w.bulk(s)
	} else {
		w.null()
	}
}
