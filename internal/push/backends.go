package push

import (
	"sync"
	"time"
)

// Backends is the set of PostgreSQL backend pids of this instance's pool. A notification
// carries the pid of the backend that sent it, so an instance can tell the events it
// produced from those of other instances: each event is then forwarded to comet-server.ru
// by exactly one instance, not by every instance that LISTENs.
type Backends struct {
	mu   sync.RWMutex
	pids map[uint32]struct{}
	// Linger keeps a closed connection's pid a while: its last transaction's notification
	// may reach the LISTEN loop after the connection closed.
	Linger time.Duration
}

// NewBackends returns an empty set.
func NewBackends() *Backends { return &Backends{pids: map[uint32]struct{}{}, Linger: time.Minute} }

// Add records an opened connection's pid (pgxpool AfterConnect).
func (b *Backends) Add(pid uint32) {
	b.mu.Lock()
	b.pids[pid] = struct{}{}
	b.mu.Unlock()
}

// Remove forgets a closed connection's pid after Linger (pgxpool BeforeClose).
func (b *Backends) Remove(pid uint32) {
	time.AfterFunc(b.Linger, func() {
		b.mu.Lock()
		delete(b.pids, pid)
		b.mu.Unlock()
	})
}

// Has reports whether pid is (or recently was) one of ours.
func (b *Backends) Has(pid uint32) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	_, ok := b.pids[pid]
	return ok
}
