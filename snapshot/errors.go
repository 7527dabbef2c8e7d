package snapshot

import "errors"

// Errors returned by the package. Test with errors.Is; each is wrapped with
// the snapshot, input or chunk it is about.
var (
	// ErrBarrier: a barrier broke the protocol on one input (out of order,
	// repeated, after the input finished, or read from a blocked input). It
	// is a bug in the caller or upstream, not a condition to retry.
	ErrBarrier = errors.New("snapshot: barrier out of protocol")
	// ErrInProgress: Begin while another snapshot is in progress.
	ErrInProgress = errors.New("snapshot: a snapshot is already in progress")
	// ErrNotInProgress: an Ack, Verify or Commit for a snapshot that is not
	// the one in progress (unknown, already committed, or aborted). An ack
	// arriving after its snapshot was aborted gets this error: drop it.
	ErrNotInProgress = errors.New("snapshot: not the snapshot in progress")
	// ErrBadAck: an acknowledgement from a processor that is not a
	// participant, a second one from the same processor, or one naming
	// chunks of another snapshot or processor.
	ErrBadAck = errors.New("snapshot: acknowledgement refused")
	// ErrIncomplete: Verify found the snapshot unusable: acknowledgements
	// missing, chunks not stored, or entry counts that do not add up.
	ErrIncomplete = errors.New("snapshot: incomplete")
	// ErrNotVerified: Commit before a successful Verify.
	ErrNotVerified = errors.New("snapshot: not verified")
	// ErrCorrupt: stored bytes that are not a chunk of this format, or a
	// chunk listed in a manifest that is missing when read back.
	ErrCorrupt = errors.New("snapshot: corrupt or missing chunk")
	// ErrWriterClosed: Put after Close.
	ErrWriterClosed = errors.New("snapshot: writer closed")
	// ErrReadOnly: writing to or clearing a slot of a store opened with
	// OpenNamed, which only reads (and Drops) its named snapshot.
	ErrReadOnly = errors.New("snapshot: store is read-only")
	// ErrNoSnapshot: OpenNamed found no snapshot of that name.
	ErrNoSnapshot = errors.New("snapshot: no such named snapshot")
	// ErrSlotInUse: ClearSlot asked to clear the slot holding the snapshot
	// it was told to keep.
	ErrSlotInUse = errors.New("snapshot: slot holds the snapshot to keep")
)
