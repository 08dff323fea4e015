package server

import (
	"net"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// loadingServer returns a grpc.Server that serves only health checking,
// reporting NOT_SERVING for each service and "": what Run serves on its
// address while the index loads, so that a probe sees the process up but
// not ready.
func loadingServer(opts ...grpc.ServerOption) *grpc.Server {
	gs := grpc.NewServer(opts...)
	hs := health.NewServer()
	for _, name := range append(ServiceNames(), "") {
		hs.SetServingStatus(name, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	healthpb.RegisterHealthServer(gs, hs)
	return gs
}

// handoff accepts the connections of one listener and hands each to the
// current phase: a net.Listener that one grpc.Server serves. Switching the
// phase lets a second server take over the address without closing it, as
// Run does when the index has loaded. Safe for concurrent use.
type handoff struct {
	lis  net.Listener
	dead chan struct{} // closed when lis fails; err says why
	err  error

	mu  sync.Mutex
	cur *phase
}

// phase is one server's view of a handoff's listener. Closing it (as
// grpc.Server.Stop does) ends its Accept but leaves the listener open.
type phase struct {
	h     *handoff
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newHandoff(lis net.Listener) *handoff {
	h := &handoff{lis: lis, dead: make(chan struct{})}
	h.cur = h.newPhase()
	go h.acceptLoop()
	return h
}

func (h *handoff) newPhase() *phase {
	return &phase{h: h, conns: make(chan net.Conn), done: make(chan struct{})}
}

// current returns the phase that receives connections now.
func (h *handoff) current() *phase {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cur
}

// next makes a new phase current and closes the old one.
func (h *handoff) next() *phase {
	h.mu.Lock()
	old := h.cur
	h.cur = h.newPhase()
	p := h.cur
	h.mu.Unlock()
	old.Close()
	return p
}

// Close closes the listener: every phase's Accept fails.
func (h *handoff) Close() error { return h.lis.Close() }

func (h *handoff) acceptLoop() {
	for {
		c, err := h.lis.Accept()
		if err != nil {
			h.err = err
			close(h.dead)
			return
		}
	deliver:
		for {
			p := h.current()
			select {
			case p.conns <- c:
				break deliver
			case <-p.done:
				if h.current() != p {
					continue // handed over meanwhile: give it to the new phase
				}
				c.Close() // no server takes connections any more
				break deliver
			}
		}
	}
}

func (p *phase) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	case <-p.h.dead:
		return nil, p.h.err
	}
}

func (p *phase) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}

func (p *phase) Addr() net.Addr { return p.h.lis.Addr() }
