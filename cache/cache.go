// Package cache defines the cache interface that Patron's route cache and
// users share; cache/lru keeps entries in memory and cache/redis in Redis.
package cache

import (
	"context"
	"time"
)

// Cache stores byte values under string keys. Implementations are safe for
// concurrent use, trace and count every operation, and treat a ttl of zero
// as "no expiry".
type Cache interface {
	// Get returns the value of key and true, or nil and false when key is
	// absent or expired. An error means the backend failed, not a miss.
	Get(ctx context.Context, key string) ([]byte, bool, error)
	// Set stores value under key for ttl.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes key; deleting an absent key is not an error.
	Delete(ctx context.Context, key string) error
	// Purge removes every key this cache owns, and nothing else.
	Purge(ctx context.Context) error
}
