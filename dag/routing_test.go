package dag_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/keys"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

type tagged struct {
	Src int // global index of the emitting instance
	Seq int
	Key string
}

type routed struct {
	Item     tagged
	Consumer int // global index of the receiving instance
	Member   string
}

type routingParams struct {
	Routing     string
	Distributed bool
	PerSource   int
	Bag         string
}

const routingPar = 2

func init() {
	dag.Register("test.routing", func(p routingParams) (*dag.DAG, error) {
		d := dag.New()
		src := d.AddVertex("source", dag.GeneratorPerInstanceP(func(ctx *dag.Context, n int64) (tagged, bool) {
			return tagged{Src: ctx.GlobalIndex, Seq: int(n), Key: fmt.Sprintf("k%d", n%37)}, n < int64(p.PerSource)
		})).LocalParallelism(routingPar)
		sink := d.AddVertex("sink", dag.SinkP(func(ctx *dag.Context, items []tagged) error {
			for _, it := range items {
				bagFor(p.Bag).Add("", routed{Item: it, Consumer: ctx.GlobalIndex, Member: ctx.MemberID()})
			}
			return nil
		})).LocalParallelism(routingPar)
		e := dag.Between[tagged](src, sink)
		switch p.Routing {
		case "unicast":
		case "isolated":
			e.Isolated()
		case "partitioned":
			dag.PartitionBy(e, func(t tagged) string { return t.Key })
		case "broadcast":
			e.Broadcast()
		case "all-to-one":
			e.AllToOne()
		}
		if p.Distributed {
			e.Distributed()
		}
		return d, nil
	})
}

func TestRouting(t *testing.T) {
	t.Parallel()
	for _, members := range []int{1, 3} {
		c := clustertest.Start(t, members, member.Config{})
		ids := clustertest.DataMembers(c.Members())
		slices.Sort(ids) // the plan orders members by ID
		memberOf := func(global int) string { return ids[global/routingPar] }
		total := members * routingPar
		const per = 3000
		for _, tc := range []struct {
			routing     string
			distributed bool
		}{
			{"unicast", false}, {"unicast", true}, {"isolated", false}, {"partitioned", false},
			{"partitioned", true}, {"broadcast", false}, {"broadcast", true}, {"all-to-one", true},
		} {
			t.Run(fmt.Sprintf("members=%d/%s/distributed=%v", members, tc.routing, tc.distributed), func(t *testing.T) {
				ctx := ctxT(t, 60*time.Second)
				name := newBag(t)
				job, err := dag.Submit(ctx, c.Members()[0], "test.routing", routingParams{Routing: tc.routing, Distributed: tc.distributed, PerSource: per, Bag: name})
				require.NoError(t, err)
				require.NoError(t, job.Wait(ctx))
				// received[item] lists the consumers that got it.
				received := map[tagged][]int{}
				for _, v := range bagFor(name).All() {
					r := v.(routed)
					require.Equal(t, memberOf(r.Consumer), r.Member)
					received[r.Item] = append(received[r.Item], r.Consumer)
				}
				require.Len(t, received, total*per, "every item arrived")
				for it, consumers := range received {
					slices.Sort(consumers)
					srcMember := memberOf(it.Src)
					switch {
					case tc.routing == "broadcast" && tc.distributed:
						require.Len(t, consumers, total, "a broadcast item reaches every instance")
					case tc.routing == "broadcast":
						require.Len(t, consumers, routingPar)
						for _, c := range consumers {
							require.Equal(t, srcMember, memberOf(c), "a local broadcast stays on the member")
						}
					default:
						require.Len(t, consumers, 1, "item %+v delivered once", it)
						got := consumers[0]
						switch tc.routing {
						case "isolated":
							require.Equal(t, it.Src, got, "instance i feeds instance i")
						case "unicast":
							if !tc.distributed {
								require.Equal(t, srcMember, memberOf(got), "a local edge stays on the member")
							}
						case "all-to-one":
							require.Equal(t, 0, got, "one instance in the cluster receives everything")
						case "partitioned":
							want := expectedInstance(t, c.Members()[0], ids, it.Key, tc.distributed, srcMember)
							require.Equal(t, want, got, "key %s", it.Key)
						}
					}
				}
			})
		}
	}
}

// expectedInstance is where a partitioned edge must deliver key: on the
// member owning its partition (distributed) or the source's member (local),
// at local index partition % parallelism.
func expectedInstance(t *testing.T, m *member.Member, ids []string, key string, distributed bool, srcMember string) int {
	kb, err := keys.Encode(key)
	require.NoError(t, err)
	p := keys.Partition(kb, m.PartitionCount())
	owner := srcMember
	if distributed {
		owner = m.Partitions().Owner(p)
	}
	return slices.Index(ids, owner)*routingPar + p%routingPar
}
