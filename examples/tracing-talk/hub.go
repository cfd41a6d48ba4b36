package main

import (
	"context"
	"sync"
)

// hub fans stored messages out to the Server-Sent Events streams of their
// room. It is a component of chat-api so that shutting the service down ends
// the streams, which would otherwise hold the HTTP server's drain open.
type hub struct {
	mu     sync.Mutex
	subs   map[chan message]string // stream → room
	closed bool
}

func newHub() *hub { return &hub{subs: map[chan message]string{}} }

// subscribe returns the messages of room as they are stored, and the function
// that ends the subscription. The channel is closed when the subscriber falls
// behind or the hub stops: the browser then reconnects and reloads the room,
// so nothing is lost silently.
func (h *hub) subscribe(room string) (<-chan message, func()) {
	ch := make(chan message, 64)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(ch)
		return ch, func() {}
	}
	h.subs[ch] = room
	return ch, func() { h.drop(ch) }
}

func (h *hub) drop(ch chan message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[ch]; ok {
		delete(h.subs, ch)
		close(ch)
	}
}

func (h *hub) publish(m message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch, room := range h.subs {
		if room != m.Room {
			continue
		}
		select {
		case ch <- m:
		default: // too slow: end its stream rather than block the consumer
			delete(h.subs, ch)
			close(ch)
		}
	}
}

// Name implements patron.Namer.
func (h *hub) Name() string { return "sse-hub" }

// Run waits for the service to stop, then ends every stream.
func (h *hub) Run(ctx context.Context) error {
	<-ctx.Done()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		delete(h.subs, ch)
		close(ch)
	}
	return nil
}
