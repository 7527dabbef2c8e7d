package sources

import (
	"context"
	"errors"
	"iter"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// memBoard is a claim board shared by the readers of a test, standing for
// the grid map the processes of a cluster share.
type memBoard struct {
	mu     sync.Mutex
	claims map[string]string
}

func (b *memBoard) mark(_ context.Context, key, member string, _ time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.claims == nil {
		b.claims = map[string]string{}
	}
	b.claims[key] = member
	return nil
}

func (b *memBoard) find(_ context.Context, key string) (string, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m, ok := b.claims[key]
	return m, ok, nil
}

// process is the registry of one simulated process.
type process map[string]*localEntry

func (p process) lookup(name string) (*localEntry, bool) { e, ok := p[name]; return e, ok }

func seqEntry[T any](seq iter.Seq[T]) *localEntry {
	return &localEntry{kind: "iterator", v: seq, elem: reflect.TypeFor[T]()}
}

// newTestLocalReader is a reader of execution key in a process, with the
// test's clock and board.
func newTestLocalReader[T any](t *testing.T, name, key string, p process, board claimBoard, clock *fakeClock) *localReader[T] {
	r := &localReader[T]{kind: "iterator", name: name, lookup: p.lookup, ctx: context.Background(), log: slog.New(slog.DiscardHandler),
		board: board, member: key + "@member", key: key, boardKey: key + "/iterator/" + name, wait: time.Second, now: clock.now,
		open: func(v any) puller[T] {
			next, stop := iter.Pull(v.(iter.Seq[T]))
			return &seqPuller[T]{next: next, halt: stop}
		}}
	r.deadline = clock.now().Add(r.wait)
	t.Cleanup(func() { r.Close() })
	return r
}

func readAll[T any](t *testing.T, r *localReader[T]) (items []T, done bool) {
	t.Helper()
	for range 100 {
		buf, done, err := r.Read(nil, 3)
		require.NoError(t, err)
		for _, it := range buf {
			items = append(items, it.V)
		}
		if done || len(buf) == 0 {
			return items, done
		}
	}
	t.Fatal("the reader keeps reading")
	return nil, false
}

// TestLocalReaderOneReaderPerExecution: of the readers of one execution in
// a process, the first reads everything and the others end, before or
// after it finished; a reader of a process without the name ends once the
// claim is announced.
func TestLocalReaderOneReaderPerExecution(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	board := &memBoard{}
	here := process{"xs": seqEntry(slices.Values([]int{1, 2, 3, 4, 5}))}
	elsewhere := process{}

	first := newTestLocalReader[int](t, "xs", "job/1", here, board, clock)
	second := newTestLocalReader[int](t, "xs", "job/1", here, board, clock)
	remote := newTestLocalReader[int](t, "xs", "job/1", elsewhere, board, clock)

	got, done := readAll(t, remote)
	require.Empty(t, got)
	require.False(t, done, "nobody claimed it yet: the remote reader waits")

	got, done = readAll(t, first)
	require.Equal(t, []int{1, 2, 3, 4, 5}, got)
	require.True(t, done)
	require.NoError(t, first.Close())

	got, done = readAll(t, second)
	require.Empty(t, got)
	require.True(t, done, "a late reader of the same execution does not read it again")

	clock.add(boardPoll)
	got, done = readAll(t, remote)
	require.Empty(t, got)
	require.True(t, done, "the claim is on the board")

	again := newTestLocalReader[int](t, "xs", "job/2", here, board, clock)
	got, done = readAll(t, again)
	require.Equal(t, []int{1, 2, 3, 4, 5}, got, "the next execution iterates again")
	require.True(t, done)
}

// TestLocalReaderNotRegistered: a reader whose name is registered nowhere
// fails with ErrNotRegistered once the wait is over.
func TestLocalReaderNotRegistered(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	r := newTestLocalReader[int](t, "nowhere", "job/1", process{}, &memBoard{}, clock)
	_, done, err := r.Read(nil, 10)
	require.NoError(t, err)
	require.False(t, done)
	clock.add(2 * time.Second)
	_, _, err = r.Read(nil, 10)
	require.ErrorIs(t, err, ErrNotRegistered)
	require.ErrorContains(t, err, `no process running the job registered an iterator called "nowhere" within 1s`)
}

// TestLocalReaderWaitsForAnotherJob: a name read by another job is read
// once that job lets it go, or the reader fails naming the other.
func TestLocalReaderWaitsForAnotherJob(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	p := process{"xs": seqEntry(slices.Values([]int{7, 8}))}
	holder := newTestLocalReader[int](t, "xs", "other/1", p, nil, clock)
	buf, _, err := holder.Read(nil, 1)
	require.NoError(t, err)
	require.Len(t, buf, 1)

	waiting := newTestLocalReader[int](t, "xs", "job/1", p, nil, clock)
	got, done := readAll(t, waiting)
	require.Empty(t, got)
	require.False(t, done)
	require.NoError(t, holder.Close())
	got, done = readAll(t, waiting)
	require.Equal(t, []int{7, 8}, got)
	require.True(t, done)

	late := newTestLocalReader[int](t, "xs", "late/1", p, nil, clock)
	_, _, err = late.Read(nil, 1)
	require.NoError(t, err)
	clock.add(2 * time.Second)
	_, _, err = late.Read(nil, 1)
	require.ErrorContains(t, err, `iterator "xs" is still read by another job (execution job/1) after 1s`)
}

// TestLocalReaderBadRegistration: the wrong kind or element type fails the
// job at once; an iterator that panics fails it too.
func TestLocalReaderBadRegistration(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	p := process{
		"ch":    {kind: "channel", v: (<-chan int)(make(chan int)), elem: reflect.TypeFor[int]()},
		"words": seqEntry(slices.Values([]string{"a"})),
		"boom": seqEntry(iter.Seq[int](func(yield func(int) bool) {
			yield(1)
			panic("no more")
		})),
	}
	_, _, err := newTestLocalReader[int](t, "ch", "j/1", p, nil, clock).Read(nil, 1)
	require.ErrorContains(t, err, `"ch" is registered as a channel, not an iterator`)
	_, _, err = newTestLocalReader[int](t, "words", "j/1", p, nil, clock).Read(nil, 1)
	require.ErrorContains(t, err, `iterator "words" holds string items, the source reads int`)
	_, _, err = newTestLocalReader[int](t, "boom", "j/1", p, nil, clock).Read(nil, 10)
	require.ErrorContains(t, err, `iterator "boom": panicked: no more`)
}

// TestRegister refuses a second registration of a name until the first is
// removed, and nil channels and iterators.
func TestRegister(t *testing.T) {
	t.Parallel()
	unregister, err := RegisterChannel("test-register", make(<-chan int))
	require.NoError(t, err)
	_, err = RegisterSeq("test-register", slices.Values([]int{1}))
	require.ErrorIs(t, err, ErrAlreadyRegistered)
	require.ErrorContains(t, err, `"test-register" (as a channel)`)
	unregister()
	unregister() // idempotent
	unregister, err = RegisterSeq("test-register", slices.Values([]int{1}))
	require.NoError(t, err)
	unregister()

	_, err = RegisterChannel[int]("nil", nil)
	require.ErrorContains(t, err, "nil channel")
	_, err = RegisterSeq[int]("nil", nil)
	require.ErrorContains(t, err, "nil iterator")
	_, err = RegisterSeq("", slices.Values([]int{1}))
	require.ErrorContains(t, err, "empty name")
	require.False(t, errors.Is(err, ErrAlreadyRegistered))
}
