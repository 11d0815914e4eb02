package sqlitestore

// Statements reports how many SQL statements s's methods have run, for the
// round-trip test (the Watch poller's statements are not counted).
func Statements(s *Store) int64 { return s.statements.Load() }
