package snapshot

import "context"

// DeleteChunk removes a stored chunk, as a loss would.
func DeleteChunk(ctx context.Context, s *Store, ref ChunkRef) error {
	mp, err := s.slotMap(ref.Slot)
	if err != nil {
		return err
	}
	return mp.Delete(ctx, ref.key())
}
