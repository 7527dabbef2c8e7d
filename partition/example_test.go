package partition_test

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/weir-dev/weir/partition"
)

// A key is routed by its msgpack encoding, the form maps store it in.
func ExampleForKey() {
	key, err := msgpack.Marshal("user-42")
	if err != nil {
		panic(err)
	}
	fmt.Println(partition.ForKey(key, partition.DefaultCount))
	// Output: 214
}

// A member joins: the coordinator computes the target table and the plan of
// copies that gets there.
func ExamplePlan() {
	members := []string{"a", "b", "c"}
	cur := partition.Initial(partition.DefaultCount, members, 1)
	fmt.Println(cur)

	target := partition.Rebalance(cur, append(members, "d"), 1)
	fmt.Println(target)

	owners, copies, toD := 0, 0, 0
	for _, c := range partition.Plan(cur, target) {
		if c.OwnerChanged {
			owners++
		}
		copies += len(c.Added)
		for _, m := range c.Added {
			if m == "d" {
				toD++
			}
		}
	}
	fmt.Printf("%d owners change, %d copies, %d of them to d\n", owners, copies, toD)
	// Output:
	// v1 271 partitions, 3 members, owned {a:91 b:90 c:90}
	// v2 271 partitions, 4 members, owned {a:68 b:68 c:68 d:67}
	// 67 owners change, 134 copies, 134 of them to d
}

// A member crashes: Promote first, which needs no copy and can be published
// at once, then Rebalance to restore the backups.
func ExamplePromote() {
	cur := partition.Initial(partition.DefaultCount, []string{"a", "b", "c", "d"}, 1)
	live := []string{"a", "b", "d"}

	promoted := partition.Promote(cur, live)
	fmt.Println(promoted)

	target := partition.Rebalance(promoted, live, 1)
	fmt.Println(target)
	fmt.Println(len(partition.Plan(promoted, target)), "partitions need a new backup")
	// Output:
	// v2 271 partitions, 3 members, owned {a:91 b:90 d:90}
	// v3 271 partitions, 3 members, owned {a:91 b:90 d:90}
	// 136 partitions need a new backup
}
