package grid

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func readAll(t *testing.T, j *journal, from uint64) ([]uint64, uint64) {
	t.Helper()
	events, next, err := j.read(from, 100)
	require.NoError(t, err)
	var seqs []uint64
	for _, e := range events {
		seqs = append(seqs, e.Seq)
	}
	return seqs, next
}

// An owner's events become readable only once their writes have finished,
// in sequence order, whichever write finishes first.
func TestJournalOwnerEventsWaitForTheirWrites(t *testing.T) {
	t.Parallel()
	j := newJournal(10)
	for range 3 {
		j.append(rawEvent{Type: Added})
	}
	seqs, next := readAll(t, j, 0)
	require.Empty(t, seqs, "nothing is readable before its backups answered")
	require.Equal(t, uint64(0), next)
	wake := j.waitAfter(0)

	j.reveal([]uint64{1}) // the second write finished first
	seqs, _ = readAll(t, j, 0)
	require.Empty(t, seqs, "event 1 waits for event 0")
	select {
	case <-wake:
		t.Fatal("woke before anything became readable")
	default:
	}

	j.reveal([]uint64{0})
	<-wake
	seqs, next = readAll(t, j, 0)
	require.Equal(t, []uint64{0, 1}, seqs)
	require.Equal(t, uint64(2), next)

	j.reveal([]uint64{2})
	seqs, next = readAll(t, j, next)
	require.Equal(t, []uint64{2}, seqs)
	require.Equal(t, uint64(3), next)
}

// A backup's events are readable at once, including the very first (whose
// sequence is 0): a backup promoted after receiving only that event must
// not keep it hidden, nor everything the new owner appends after it.
func TestJournalPromotedBackupShowsWhatItHolds(t *testing.T) {
	t.Parallel()
	j := newJournal(10)
	j.replicate(rawEvent{Seq: 0, Type: Added})
	seqs, next := readAll(t, j, 0)
	require.Equal(t, []uint64{0}, seqs)
	require.Equal(t, uint64(1), next)

	// Promoted: it appends as the owner, from where the old owner stopped.
	s := j.append(rawEvent{Type: Updated})
	require.Equal(t, uint64(1), s)
	j.reveal([]uint64{s})
	seqs, _ = readAll(t, j, 1)
	require.Equal(t, []uint64{1}, seqs)
}

// A backup follows the owner's numbering: a sequence that does not follow
// its own drops what it held rather than renumber the event.
func TestJournalBackupTakesTheOwnersNumbers(t *testing.T) {
	t.Parallel()
	j := newJournal(10)
	for s := range uint64(3) {
		j.replicate(rawEvent{Seq: s})
	}
	j.replicate(rawEvent{Seq: 7})
	oldest, next := j.bounds()
	require.Equal(t, uint64(7), oldest)
	require.Equal(t, uint64(8), next)
	_, _, err := j.read(2, 10)
	require.ErrorIs(t, err, ErrStaleSequence)

	j.replicate(rawEvent{Seq: 1}) // an owner whose journal started over
	seqs, next := readAll(t, j, 1)
	require.Equal(t, []uint64{1}, seqs)
	require.Equal(t, uint64(2), next)
}
