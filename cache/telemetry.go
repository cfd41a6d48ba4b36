package cache

import "go.opentelemetry.io/otel/attribute"

// Telemetry shared by every Cache in Patron (cache/lru, cache/redis), so
// that dashboards work whatever the backend.
//
// Each operation increments the OperationsMetric counter (unit
// "{operation}") with the attributes NameKey (the cache's name, by default
// its backend: "lru", "redis"), OperationKey (one of the Operation*
// values) and ResultKey (one of the Result* values); failed operations also
// carry error.type. The hit ratio of a cache is therefore
//
//	cache.operations{cache.operation="get",cache.result="hit"} /
//	cache.operations{cache.operation="get"}
//
// Each operation also gets a span named "cache.<operation>" (for example
// "cache.get") carrying the same attributes: INTERNAL for in-memory caches,
// which only start one when the caller's span is sampled (so a hit costs
// nothing more when tracing is off), and CLIENT with the database semantic
// conventions for networked ones. Keys and values are never recorded: keys
// can hold user data (a route cache key holds the query string).
const (
	OperationsMetric = "cache.operations"

	NameKey      = attribute.Key("cache.name")
	OperationKey = attribute.Key("cache.operation")
	ResultKey    = attribute.Key("cache.result")
)

// Values of OperationKey.
const (
	OperationGet    = "get"
	OperationSet    = "set"
	OperationDelete = "delete"
	OperationPurge  = "purge"
)

// Values of ResultKey: a Get answers hit or miss, other operations ok; any
// failed operation answers error.
const (
	ResultHit   = "hit"
	ResultMiss  = "miss"
	ResultOK    = "ok"
	ResultError = "error"
)
