package partition

import "fmt"

// CheckPlacement reports, as an error naming the first problem found,
// whether t places every partition as a settled cluster of the given data
// members would hold it: an owner and min(backupCount, len(members)-1)
// backups, all of them among members, and owners balanced (each member owns
// within one partition of every other; one owning nothing counts). It says
// nothing about how t compares with the table Rebalance would make.
func (t *Table) CheckPlacement(members []string, backupCount int) error {
	want := min(backupCount, len(members)-1)
	in := make(map[string]bool, len(members))
	for _, id := range members {
		in[id] = true
	}
	owned := make(map[string]int, len(members))
	for p, row := range t.rows {
		if len(row) != want+1 {
			return fmt.Errorf("table v%d: partition %d has %d backups, want %d", t.version, p, max(len(row)-1, 0), want)
		}
		for _, id := range row {
			if !in[id] {
				return fmt.Errorf("table v%d: partition %d is held by %s, not one of the data members", t.version, p, id)
			}
		}
		owned[row[0]]++
	}
	lo, hi := len(t.rows), 0
	for _, id := range members {
		lo, hi = min(lo, owned[id]), max(hi, owned[id])
	}
	if hi-lo > 1 {
		return fmt.Errorf("table v%d: unbalanced, members own %d to %d partitions", t.version, lo, hi)
	}
	return nil
}
