package server

// Functions that only tests need, kept out of the package proper.

// open returns how many calls are open.
func (c *callCap) open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// inUse returns how many slots are held.
func (s *slots) inUse() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}
