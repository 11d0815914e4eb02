package metrics

// PendingSize is how many challenge creation times c remembers.
func PendingSize(c *Collector) int { return c.pending.size() }
