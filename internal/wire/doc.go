// Package wire is the byte format of weir's member-to-member transport and the
// safe decoding of untrusted msgpack.
//
// A frame is
//
//	uint32 big-endian  n: the number of bytes that follow
//	uint16 big-endian  h: the header length
//	h bytes            the header, a msgpack array [kind, id, route, code, message]
//	n-2-h bytes        the payload, opaque to the transport
//
// The length is checked against a configured maximum before any byte of the
// body is read or allocated, so a peer cannot make a member allocate more than
// the limit with a forged length. The header is encoded and decoded by hand:
// it is on every frame, and the hand-written decoder checks every length
// against the bytes that remain.
//
// msgpack/v5 trusts the lengths it reads: a five-byte array header can ask
// for billions of elements. Unmarshal first walks the encoded value and
// rejects any string, binary, array or map whose declared size exceeds the
// bytes left, then decodes; bytes from the network go through it, never
// through msgpack.Unmarshal directly.
package wire
