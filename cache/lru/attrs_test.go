package lru

import (
	"go.opentelemetry.io/otel/attribute"

	"github.com/patron-go/patron/cache"
)

func attrs(name, op, result string) []attribute.KeyValue {
	return []attribute.KeyValue{cache.NameKey.String(name), cache.OperationKey.String(op), cache.ResultKey.String(result)}
}
