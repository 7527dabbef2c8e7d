package grid

import (
	"errors"
	"fmt"

	"github.com/weir-dev/weir/member"
)

// Errors returned by maps. Test with errors.Is; they keep their identity
// when they come back from another member.
var (
	// ErrClosed: the member the map belongs to has shut down.
	ErrClosed = errors.New("grid: member is shut down")
	// ErrNoQuorum: the member's side of the cluster has fewer data members
	// than member.Config.MinClusterSize, so writes are refused rather than
	// acknowledged and lost when the sides merge. It wraps
	// member.ErrNoQuorum.
	ErrNoQuorum = fmt.Errorf("grid: write refused: %w", member.ErrNoQuorum)
	// ErrTooLarge: a key or value is larger than the map's limit.
	ErrTooLarge = errors.New("grid: key or value too large")
	// ErrWrongType: a stored value could not be decoded into the map's value
	// type (another program wrote it with another type).
	ErrWrongType = errors.New("grid: stored value has another type")
	// ErrStaleSequence: a journal read asked for events the ring no longer
	// holds; the error says the oldest sequence still available.
	ErrStaleSequence = errors.New("grid: journal sequence no longer available")
	// ErrNoJournal: the map was not created with a journal.
	ErrNoJournal = errors.New("grid: map has no event journal")
	// ErrConfigMismatch: the map was already defined with other storage
	// options (journal, TTL, entry limit) on another member.
	ErrConfigMismatch = errors.New("grid: map defined with other options elsewhere")
	// ErrUnknownProcessor: no entry processor of that name is registered on
	// the member owning the key.
	ErrUnknownProcessor = errors.New("grid: unknown entry processor")

	// errWrongOwner: the member asked is not (or no longer) the partition's
	// owner; the client refreshes its table and retries.
	errWrongOwner = errors.New("grid: not the partition owner")
	// errBackupFailed: the owner applied a write but a backup did not
	// acknowledge it; the client retries, and the owner re-replicates.
	errBackupFailed = errors.New("grid: backup not acknowledged")
)

func init() {
	for code, err := range map[string]error{
		"grid.closed":          ErrClosed,
		"grid.no-quorum":       ErrNoQuorum,
		"grid.too-large":       ErrTooLarge,
		"grid.wrong-type":      ErrWrongType,
		"grid.stale-sequence":  ErrStaleSequence,
		"grid.no-journal":      ErrNoJournal,
		"grid.config-mismatch": ErrConfigMismatch,
		"grid.no-processor":    ErrUnknownProcessor,
		"grid.wrong-owner":     errWrongOwner,
		"grid.backup-failed":   errBackupFailed,
	} {
		member.RegisterErrorCode(code, err)
	}
}

// retryable reports whether an operation failed in a way a retry on a
// fresher partition table can fix.
func retryable(err error) bool {
	return errors.Is(err, errWrongOwner) || errors.Is(err, errBackupFailed) ||
		errors.Is(err, member.ErrConnectionLost) || errors.Is(err, member.ErrUnknownMember) ||
		errors.Is(err, errNoTable)
}

var errNoTable = errors.New("grid: no partition table yet")

func opError(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s %q: %w", op, name, err)
}
