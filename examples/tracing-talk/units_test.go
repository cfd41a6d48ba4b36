package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/patron-go/patron/component/kafka"
	"github.com/patron-go/patron/patrontest/testenv"
)

func TestMessageValidate(t *testing.T) {
	long := strings.Repeat("x", maxTextLen+1)
	for _, tc := range []struct {
		name string
		m    message
		ok   bool
	}{
		{"valid", message{Room: "lobby", Author: " ada ", Text: " hi "}, true},
		{"room with space", message{Room: "a b", Author: "a", Text: "b"}, false},
		{"room too long", message{Room: strings.Repeat("r", 65), Author: "a", Text: "b"}, false},
		{"room with key separator", message{Room: "a:b", Author: "a", Text: "b"}, false},
		{"no author", message{Room: "lobby", Author: "  ", Text: "b"}, false},
		{"no text", message{Room: "lobby", Author: "a"}, false},
		{"text too long", message{Room: "lobby", Author: "a", Text: long}, false},
		{"invalid UTF-8", message{Room: "lobby", Author: "a", Text: "\xff"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m
			err := m.validate()
			if (err == nil) != tc.ok {
				t.Fatalf("validate() = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && (m.Author != "ada" || m.Text != "hi") {
				t.Errorf("not trimmed: %+v", m)
			}
		})
	}
}

func TestGiphyWord(t *testing.T) {
	for text, want := range map[string]string{
		"/giphy cats":        "cats",
		"/giphy  cats dogs ": "cats",
		"/giphy ":            "",
		"/giphy":             "",
		"/giphycats":         "",
		"hello /giphy cats":  "",
	} {
		got, ok := giphyWord(text)
		if got != want || ok != (want != "") {
			t.Errorf("giphyWord(%q) = %q, %v; want %q", text, got, ok, want)
		}
	}
}

// TestStore proves the property storage relies on: whatever the order and
// number of deliveries of a message and its update, the update is what stays.
func TestStore(t *testing.T) {
	t.Run("miniredis", func(t *testing.T) {
		mr := miniredis.RunT(t)
		testStore(t, mr.Addr())
	})
	t.Run("redis", func(t *testing.T) {
		testenv.RequireTCP(t, "redis", testenv.RedisAddr)
		testStore(t, testenv.RedisAddr)
	})
}

func testStore(t *testing.T, addr string) {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	s := store{rdb: rdb, prefix: "tracing-talk-test-" + uuid.NewString() + ":"}
	ctx := t.Context()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	first := message{ID: "1", Room: "r", Author: "a", Text: "/giphy cats", Time: t0}
	enriched := first
	enriched.Image = "http://images/cats.svg"
	second := message{ID: "2", Room: "r", Author: "b", Text: "hi", Time: t0.Add(time.Second)}
	t.Cleanup(func() {
		order, bodies := s.keys("r")
		_ = rdb.Del(context.Background(), order, bodies).Err()
	})

	save := func(m message, replace bool) message {
		t.Helper()
		got, err := s.save(ctx, m, replace)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	// The update overtakes the original, then the original is redelivered.
	if got := save(second, false); got != second {
		t.Fatalf("save(second) = %+v", got)
	}
	if got := save(enriched, true); got != enriched {
		t.Fatalf("save(enriched) = %+v", got)
	}
	if got := save(first, false); got != enriched {
		t.Fatalf("late original: stored %+v, want the update kept", got)
	}
	if got := save(enriched, true); got != enriched {
		t.Fatalf("redelivered update: stored %+v", got)
	}

	msgs, err := s.list(ctx, "r", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0] != enriched || msgs[1] != second {
		t.Fatalf("list = %+v, want [enriched, second] in time order", msgs)
	}
	if msgs, err := s.list(ctx, "r", 1); err != nil || len(msgs) != 1 || msgs[0] != second {
		t.Fatalf("list(limit 1) = %+v, %v, want the last message", msgs, err)
	}
	if msgs, err := s.list(ctx, "empty", 100); err != nil || msgs == nil || len(msgs) != 0 {
		t.Fatalf("list(empty room) = %#v, %v, want an empty, non-nil list (JSON [])", msgs, err)
	}
}

func TestHub(t *testing.T) {
	h := newHub()
	lobby, leave := h.subscribe("lobby")
	other, _ := h.subscribe("other")

	h.publish(message{ID: "1", Room: "lobby"})
	if m := <-lobby; m.ID != "1" {
		t.Fatalf("lobby got %+v", m)
	}
	select {
	case m := <-other:
		t.Fatalf("another room got %+v", m)
	default:
	}

	// A subscriber that stops reading loses its stream, not the hub's time.
	for i := range cap(lobby) + 1 {
		h.publish(message{ID: string(rune('a' + i%26)), Room: "lobby"})
	}
	n := 0
	for range lobby {
		n++
	}
	if n != cap(lobby) {
		t.Fatalf("slow subscriber got %d messages before its stream ended, want %d", n, cap(lobby))
	}
	leave() // after the hub dropped it: must not close twice

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := h.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-other; ok {
		t.Fatal("stream still open after the hub stopped")
	}
	if _, ok := <-func() <-chan message { ch, _ := h.subscribe("lobby"); return ch }(); ok {
		t.Fatal("subscription after stop is open")
	}
}

// A message that is not JSON is an error for the consumer's failure
// strategy (logged and skipped by default), never a panic.
func TestHandlersRejectMalformedMessages(t *testing.T) {
	bad := &kafka.Message{Topic: topicMessage, Value: []byte("not json")}
	s := &storage{}
	if err := s.handle(t.Context(), bad); err == nil {
		t.Error("storage accepted a malformed message")
	}
	if err := s.handle(t.Context(), &kafka.Message{Topic: topicMessage, Value: []byte(`{"id":"1","room":"a:b"}`)}); err == nil {
		t.Error("storage accepted a message with an invalid room")
	}
	if err := (&giphy{}).handle(t.Context(), bad); err == nil {
		t.Error("giphy accepted a malformed message")
	}
	if err := (&chatAPI{hub: newHub()}).stored(t.Context(), bad); err == nil {
		t.Error("chat-api accepted a malformed message")
	}
}
