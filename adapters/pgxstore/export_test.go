package pgxstore

// Uncounted reports how many of s's waiters wait to be counted because
// their challenge did not exist when they watched it.
func Uncounted(s *Store) int {
	s.listener.mu.Lock()
	defer s.listener.mu.Unlock()
	return len(s.listener.uncounted)
}
