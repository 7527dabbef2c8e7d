package sources

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// A journal that ends before what the reader has read is not the journal
// it read: the reader waits for the real one, and fails, saying so, if it
// does not come back.
func TestJournalReaderWaitsForAJournalThatAnswersBehind(t *testing.T) {
	t.Parallel()
	m := clustertest.Start(t, 1, member.Config{}).Members()[0]
	r := &journalReader[string, int]{m: grid.GetMap[string, int](m, "behind", grid.WithJournal(10)),
		parts: []int{7}, next: []uint64{100}, known: []bool{true}, behind: make([]time.Time, 1)}
	require.NoError(t, r.answeredBehind(0, 5), "the first answer from behind is waited out")
	require.NoError(t, r.answeredBehind(0, 5))
	require.Equal(t, uint64(100), r.next[0], "the reader moved back")
	r.behind[0] = time.Now().Add(-journalBehindLimit - time.Second)
	err := r.answeredBehind(0, 5)
	require.ErrorContains(t, err, "map behind partition 7: the journal ends at sequence 5, before 100")
}
