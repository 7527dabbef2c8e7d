package partition

import "slices"

// Promote is the first answer to losing members: it drops every member not in
// live from every row, keeping the order of the rest, so each partition's
// first surviving backup becomes its owner. Nothing is copied, which makes it
// safe to publish at once, before any migration; Rebalance then restores
// balance and backup counts. A row whose replicas all died stays empty: that
// partition's data is lost and Rebalance gives it a fresh, empty owner.
//
// Promote returns cur itself if every member of cur is live, so callers can
// compare pointers to see that there is nothing to publish; otherwise the
// result has version cur.Version()+1.
func Promote(cur *Table, live []string) *Table {
	alive := sortedMembers(live)
	dead := func(m string) bool {
		_, found := slices.BinarySearch(alive, m)
		return !found
	}
	if !slices.ContainsFunc(cur.members, dead) {
		return cur
	}
	rows := slices.Clone(cur.rows)
	for p, row := range rows {
		if slices.ContainsFunc(row, dead) {
			rows[p] = slices.Clip(slices.DeleteFunc(slices.Clone(row), dead))
		}
	}
	return newTable(cur.Version()+1, rows)
}

// sortedMembers is live sorted without duplicates. An empty name is a caller
// bug that would otherwise surface later as an invalid table, far from its
// cause, so it panics here.
func sortedMembers(live []string) []string {
	s := slices.Clone(live)
	slices.Sort(s)
	s = slices.Compact(s)
	if len(s) > 0 && s[0] == "" {
		panic("partition: empty member name")
	}
	return s
}
