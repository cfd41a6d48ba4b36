package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// store keeps the messages of each room in Redis: a hash of message JSON by
// ID, and a sorted set of the IDs by time for the order. Writes are
// idempotent and do not depend on arrival order, because Kafka delivers at
// least once and giphy's update may overtake the original message.
type store struct {
	rdb    *redis.Client
	prefix string
}

func (s store) keys(room string) (order, bodies string) {
	return s.prefix + "room:" + room + ":order", s.prefix + "room:" + room + ":messages"
}

// save writes m, replacing a stored version only when replace is set (an
// update), and returns the version stored now.
func (s store) save(ctx context.Context, m message, replace bool) (message, error) {
	data, err := json.Marshal(m)
	if err != nil {
		return message{}, fmt.Errorf("encoding message: %w", err)
	}
	order, bodies := s.keys(m.Room)
	var stored *redis.StringCmd
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if replace {
			p.HSet(ctx, bodies, m.ID, data)
		} else {
			p.HSetNX(ctx, bodies, m.ID, data) // a redelivery must not undo an update
		}
		p.ZAddNX(ctx, order, redis.Z{Score: float64(m.Time.UnixMilli()), Member: m.ID})
		stored = p.HGet(ctx, bodies, m.ID)
		return nil
	})
	if err != nil {
		return message{}, fmt.Errorf("storing message: %w", err)
	}
	var cur message
	if err := json.Unmarshal([]byte(stored.Val()), &cur); err != nil {
		return message{}, fmt.Errorf("decoding stored message: %w", err)
	}
	return cur, nil
}

// list returns the last limit messages of room, oldest first.
func (s store) list(ctx context.Context, room string, limit int64) ([]message, error) {
	order, bodies := s.keys(room)
	ids, err := s.rdb.ZRange(ctx, order, -limit, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("listing room: %w", err)
	}
	msgs := make([]message, 0, len(ids))
	if len(ids) == 0 {
		return msgs, nil
	}
	vals, err := s.rdb.HMGet(ctx, bodies, ids...).Result()
	if err != nil {
		return nil, fmt.Errorf("reading messages: %w", err)
	}
	for _, v := range vals {
		data, ok := v.(string)
		if !ok {
			continue // both keys are written in one transaction: only a hand-edited hash gets here
		}
		var m message
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			return nil, fmt.Errorf("decoding stored message: %w", err)
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}
