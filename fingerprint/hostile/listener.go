package hostile

import (
	"errors"
	"net"
	"sync/atomic"
	"time"
)

// Listener is a loopback TCP listener that counts the connections made to
// it: the URL a hostile playlist points ffmpeg at, to show that nothing
// connected. Safe for concurrent use.
type Listener struct {
	ln    net.Listener
	conns atomic.Int32
}

// Listen starts a Listener on a free loopback port.
func Listen() (*Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l := &Listener{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.conns.Add(1)
			c.Close()
		}
	}()
	return l, nil
}

// URL returns an http URL of the listener with the given path ("/x.mp4").
func (l *Listener) URL(path string) string { return "http://" + l.ln.Addr().String() + path }

// Conns returns the connections seen so far; Reset returns them and
// starts counting again from zero.
func (l *Listener) Conns() int { return int(l.conns.Load()) }
func (l *Listener) Reset() int { return int(l.conns.Swap(0)) }

// SeesOwn connects to the listener and waits up to wait for it to count
// the connection: the positive control that shows a zero count means
// something. It returns an error if the connection was not seen.
func (l *Listener) SeesOwn(wait time.Duration) error {
	before := l.Conns()
	if c, err := net.Dial("tcp", l.ln.Addr().String()); err == nil {
		c.Close()
	}
	for deadline := time.Now().Add(wait); l.Conns() == before && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if l.Conns() == before {
		return errors.New("the listener missed a connection of its own")
	}
	return nil
}

// Close stops the listener.
func (l *Listener) Close() error { return l.ln.Close() }
