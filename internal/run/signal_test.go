package run

import "testing"

func TestSignal(t *testing.T) {
	var s Signal
	s.Broadcast() // nobody waits: nothing to close, nothing kept
	first := s.Wait()
	if s.Wait() != first {
		t.Fatal("two waits before a broadcast got different channels")
	}
	select {
	case <-first:
		t.Fatal("the channel closed before a broadcast")
	default:
	}
	s.Broadcast()
	select {
	case <-first:
	default:
		t.Fatal("a broadcast left a waiter's channel open")
	}
	next := s.Wait()
	select {
	case <-next:
		t.Fatal("a wait after the broadcast got a closed channel: it would miss the next change")
	default:
	}
}
