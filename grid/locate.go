package grid

import (
	"errors"
	"fmt"

	"github.com/weir-dev/weir/member"
)

// ErrNoOwner: this member's partition table names no live owner for the
// partition: there is no table yet, or the owner has just left and the
// coordinator has not yet published the table that replaces it.
var ErrNoOwner = errors.New("grid: partition has no live owner")

// Partition returns the partition k belongs to: the one every operation on
// k is routed to, and the one a partitioned DAG edge sends k to (both hash
// the same canonical encoding). It depends only on k and the cluster's
// partition count, never on membership. It fails as Put would for a key
// that cannot be encoded or exceeds the map's key size limit.
func (mp *Map[K, V]) Partition(k K) (int, error) {
	_, p, err := mp.encodeKey(k)
	if err != nil {
		return 0, opError("partition", mp.name, err)
	}
	return p, nil
}

// Owner returns the member that owns k's partition in this member's current
// partition table, the member an operation on k is sent to now. The answer
// can be out of date as soon as it is returned: a migration or a member
// leaving moves the partition, and the map follows it while Owner's caller
// does not. Use it to place work next to data or to explain where a key
// lives, not as a lock. It fails with an error wrapping ErrNoOwner when the
// table names no live owner.
func (mp *Map[K, V]) Owner(k K) (member.Info, error) {
	p, err := mp.Partition(k)
	if err != nil {
		return member.Info{}, err
	}
	m := mp.s.m
	t := m.Partitions()
	if t == nil {
		return member.Info{}, opError("owner", mp.name, fmt.Errorf("%w: no partition table yet", ErrNoOwner))
	}
	id := t.Owner(p)
	if id == "" {
		return member.Info{}, opError("owner", mp.name, fmt.Errorf("%w: partition %d has no owner in table v%d", ErrNoOwner, p, t.Version()))
	}
	info, ok := m.MemberByID(id)
	if !ok {
		return member.Info{}, opError("owner", mp.name, fmt.Errorf("%w: partition %d's owner %s in table v%d is not a live member", ErrNoOwner, p, id, t.Version()))
	}
	return info, nil
}
